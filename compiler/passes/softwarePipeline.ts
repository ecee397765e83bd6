import type { Expr, Kernel, SizeExpr, Stmt } from '../ir/nodes.js';
import type { TargetCaps } from '../common/target.js';
import type { SourceLoc } from '../common/source-loc.js';
import { bin, countedLoop, i32, let_, v } from '../ir/build.js';
import { forEachExpr, forEachStmt, mapStmts } from '../ir/walk.js';
import { evalSize } from '../ir/size.js';
import { CompileError } from '../common/errors.js';

type Pipelined = Extract<Stmt, { k: 'pipelined' }>;
type TileCopy = Extract<Stmt, { k: 'tileCopy' }>;


/**
 * Lowers `pipelined` loops (dsl pipelined). Everywhere: the plain loop, a barrier after the
 * body's leading copyTiles and one at its end. CUDA with stages S >= 2: each copyTile
 * destination becomes S buffers; a prologue issues tiles 0..S-2 (one cp.async group each,
 * empty past the iteration count), then iteration i waits until at most S-2 groups are
 * pending (tile i has landed), synchronises, issues tile i+S-1 into the buffer iteration i-1
 * computed on, commits, and computes on buffer i % S; the epilogue retires the rest. The
 * iteration count is a runtime value (0, 1 and fewer than S work: the groups past it are empty).
 */
export function lowerSoftwarePipelines(k: Kernel, caps: TargetCaps): Kernel {
  const loops: Pipelined[] = [];
  forEachStmt(k.body, (s) => {
    if (s.k === 'pipelined') loops.push(s);
  });
  if (!loops.length) return k;
  const fail = (detail: string, loc: SourceLoc | undefined, hint?: string): never => {
    throw new CompileError(detail, loc, undefined, hint, k.name);
  };
  for (const l of loops) forEachStmt(l.body, (s) => s.k === 'pipelined' && fail('nested pipelined loops are not supported', s.loc, 'pipeline the innermost loop only'));
  const sizes = new Map(k.shared.map((s) => [s.name, evalSize(s.size, {})]));
  const buffered = new Map<string, number>();
  let n = 0;
  const body = mapStmts(k.body, (e) => e, (s): Stmt | Stmt[] => {
    if (s.k !== 'pipelined') return s;
    const p = split(s, fail);
    const stages = s.stages.k === 'const' ? (s.stages.value as number) : fail('pipelined stages is not a compile-time constant after specialisation', s.loc);
    if (!(Number.isInteger(stages) && stages >= 1)) fail(`pipelined stages must be an integer >= 1, got ${stages}`, s.loc, 'use 1 (no overlap), 2 (double buffering) or more');
    // mapStmts hands over a rebuilt statement; the kernel body holds the original (loops are not nested).
    const original = loops[n];
    for (const d of p.dsts) {
      if (usedOutside(k.body, original, d)) {
        fail(`copyTile destination '${d}' of a pipelined loop is used outside the loop`, s.loc, 'a pipelined destination is a staging buffer: keep its reads inside the loop');
      }
    }
    const tag = `.pl${n++}`;
    if (caps.name !== 'cuda' || stages === 1) return plainLoop(s, p);
    for (const d of p.dsts) buffered.set(d, stages);
    return multiBuffered(s, p, stages, sizes, tag, k.name);
  });
  const shared = k.shared.map((a): typeof a => {
    const st = buffered.get(a.name);
    return st ? { ...a, size: { k: 'num', v: st * sizes.get(a.name)! } as SizeExpr } : a;
  });
  return { ...k, shared, body };
}

/** Whether `s` is, or (through if/for) contains, the loop `p`. */
function containsLoop(s: Stmt, p: Pipelined): boolean {
  let found = false;
  forEachStmt([s], (x) => {
    found ||= x === p;
  });
  return found;
}

/** Whether shared array `name` appears anywhere but inside the loop `p`. */
function usedOutside(body: readonly Stmt[], p: Pipelined, name: string): boolean {
  const mentions = (x: Stmt) => !containsLoop(x, p) && JSON.stringify(x).includes(`"${name}"`);
  let found = body.some(mentions);
  forEachStmt(body, (s) => {
    if (s === p || !containsLoop(s, p)) return;
    const parts = s.k === 'if' ? [s.then, s.else] : s.k === 'for' ? [s.init, s.update, s.body] : s.k === 'pipelined' ? [s.body] : [];
    for (const list of parts) if (list.some(mentions)) found = true;
  });
  return found;
}

interface Split { readonly lets: readonly Stmt[]; readonly copies: readonly Stmt[]; readonly compute: readonly Stmt[]; readonly dsts: readonly string[] }

/** The body as its leading copies (with the values they use) and the compute, checked. */
function split(s: Pipelined, fail: (detail: string, loc: SourceLoc | undefined, hint?: string) => never): Split {
  const last = s.body.map((x) => x.k).lastIndexOf('tileCopy');
  if (last < 0) fail('a pipelined loop body must begin with copyTile calls', s.loc, 'for (const k of pipelined(...)) { copyTile(As, ...); copyTile(Bs, ...); ...compute... }');
  const copies = s.body.slice(0, last + 1);
  const compute = s.body.slice(last + 1);
  const dsts: string[] = [];
  for (const x of copies) {
    // Several copies may fill views of one array (gate and up halves): it is buffered whole.
    if (x.k === 'tileCopy') {
      if (!dsts.includes(x.dst)) dsts.push(x.dst);
    } else if (x.k !== 'let') {
      fail(`only copyTile calls and the values they use may precede the compute of a pipelined loop, found '${x.k}'`, x.loc, 'move it after the copies');
    }
  }
  for (const x of copies) {
    if (x.k === 'let') for (const d of dsts) if (JSON.stringify(x.init).includes(`"${d}"`)) fail(`the copies of a pipelined loop read copyTile destination '${d}'`, x.loc);
  }
  const nested = (list: readonly Stmt[], inFor: boolean): void => {
    for (const x of list) {
      if (x.k === 'barrier') fail('barrier() inside a pipelined loop: the loop places its own barriers', x.loc, 'remove it: pipelined synchronises after the copies and at the end of the body');
      if (x.k === 'pipelined') fail('nested pipelined loops are not supported', x.loc, 'pipeline the innermost loop only');
      if (x.k === 'tileCopy') fail(`copyTile into '${x.dst}' after the compute of a pipelined loop began`, x.loc, 'put every copyTile of the loop first in its body');
      if (x.k === 'return' || (!inFor && (x.k === 'break' || x.k === 'continue'))) fail(`'${x.k}' in a pipelined loop body`, x.loc, 'a pipelined loop runs every iteration');
      if ((x.k === 'store' || x.k === 'atomic' || x.k === 'asyncCopy') && dsts.includes(x.k === 'asyncCopy' ? x.dst : x.buf)) {
        fail(`copyTile destination '${x.k === 'asyncCopy' ? x.dst : x.buf}' is written elsewhere in its pipelined loop`, x.loc, 'write results to another shared array');
      }
      if (x.k === 'if') {
        nested(x.then, inFor);
        nested(x.else, inFor);
      }
      if (x.k === 'for') nested([...x.init, ...x.update, ...x.body], true);
    }
  };
  nested(compute, false);
  return { lets: copies.filter((x) => x.k === 'let'), copies, compute, dsts };
}

/** The plain loop: the copies, a barrier, the compute, a barrier. */
function plainLoop(s: Pipelined, p: Split): Stmt[] {
  return [countedLoop(s.index, s.start, s.end, s.step, [...p.copies, { k: 'barrier', loc: s.loc }, ...p.compute, { k: 'barrier', loc: s.loc }], s.loc)];
}

function multiBuffered(s: Pipelined, p: Split, stages: number, sizes: ReadonlyMap<string, number>, tag: string, kernel: string): Stmt[] {
  const loc = s.loc;
  const [start, step, count, i, j, buf] = ['start', 'step', 'n', 'i', 'j', 'buf'].map((b) => `${b}${tag}`);
  // The copies of iteration `it` into buffer `b` (both i32 expressions), when it < n.
  const copies = p.copies.filter((x) => x.k === 'tileCopy');
  const issue = (it: Expr, b: Expr): Stmt => ({
    k: 'if',
    cond: bin('<', it, v(count)),
    then: [
      ...needed([let_(s.index, bin('+', v(start), bin('*', it, v(step))), loc), ...p.lets], copies),
      ...p.copies.flatMap((x): Stmt[] => (x.k === 'tileCopy' ? [intoBuffer(x, b, sizes.get(x.dst)!)] : [])),
    ],
    else: [],
    loc,
  });
  const prologue: Stmt[] = [];
  for (let q = 0; q < stages - 1; q++) prologue.push(issue(i32(q), i32(q)), { k: 'asyncCommit', loc });
  checkReaddressable(p, kernel);
  const offsets = new Map(p.dsts.map((d) => [d, bin('*', v(buf), i32(sizes.get(d)!))]));
  const shift = (name: string, index: Expr): Expr => (offsets.has(name) ? bin('+', index, offsets.get(name)!) : index);
  const compute = mapStmts(p.compute, (e) => (e.k === 'load' || e.k === 'loadWord') && e.space === 'shared' ? { ...e, index: shift(e.buf, e.index) } : e, (x) => (x.k === 'ldmatrix' ? { ...x, rowIndex: shift(x.buf, x.rowIndex) } : x.k === 'wgmma' ? { ...x, a: { ...x.a, index: shift(x.a.buf, x.a.index) }, b: { ...x.b, index: shift(x.b.buf, x.b.index) } } : x));
  const steady = countedLoop(i, i32(0), v(count), i32(1), [
    { k: 'asyncWait', pending: stages - 2, loc },
    { k: 'barrier', loc },
    let_(j, bin('+', v(i), i32(stages - 1)), loc),
    issue(v(j), bin('%', v(j), i32(stages))),
    { k: 'asyncCommit', loc },
    let_(buf, bin('%', v(i), i32(stages)), loc),
    ...needed([let_(s.index, bin('+', v(start), bin('*', v(i), v(step))), loc), ...p.lets], compute),
    ...compute,
  ], loc);
  const span = bin('-', s.end, v(start));
  return [
    let_(start, s.start, loc),
    let_(step, s.step, loc),
    let_(count, { k: 'select', type: 'i32', cond: bin('>', span, i32(0)), a: bin('/', bin('+', span, bin('-', v(step), i32(1))), v(step)), b: i32(0) }, loc),
    ...prologue,
    steady,
    { k: 'asyncWait', pending: 0, loc },
    { k: 'barrier', loc },
  ];
}

/** Statements whose shared-memory operands are all in expressions (load, loadWord) or handled (ldmatrix). */
const READDRESSABLE: ReadonlySet<Stmt['k']> = new Set(['let', 'assign', 'store', 'storePacked', 'if', 'for', 'break', 'continue', 'localArray', 'atomic', 'subgroup', 'mmaSync', 'ldmatrix', 'wgmma', 'wgmmaSync']);

/** Multi-buffering moves every read of a staged array by buf * size: refuse reads it cannot move. */
function checkReaddressable(p: Split, kernel: string): void {
  forEachStmt(p.compute, (x) => {
    const d = p.dsts.find((n) => JSON.stringify(x).includes(`"${n}"`));
    if (d && !READDRESSABLE.has(x.k)) throw new CompileError(`pipelined cannot multi-buffer '${d}': its '${x.k}' statement reads it in a way the pipeline does not re-address`, x.loc, undefined, 'use stages 1 for this loop, or extend passes/softwarePipeline.ts', kernel);
  });
  forEachExpr(p.compute, (e) => {
    const b = (e as { buf?: string }).buf;
    if (b && p.dsts.includes(b) && e.k !== 'load' && e.k !== 'loadWord') throw new CompileError(`pipelined cannot multi-buffer '${b}': a '${e.k}' expression reads it`, e.loc, undefined, 'use stages 1 for this loop', kernel);
  });
}

/**
 * Of the lets before the copies, those `users` read (directly or through each other): the
 * copies and the compute each get their own, as the lets are repeated in several scopes under
 * one name, which dead-code elimination (by name) cannot tell apart.
 */
function needed(lets: readonly Stmt[], users: readonly Stmt[]): Stmt[] {
  const read = new Set<string>();
  const note = (list: readonly Stmt[]) => forEachExpr(list, (e) => {
    if (e.k === 'var') read.add(e.name);
  });
  note(users);
  const out: Stmt[] = [];
  for (const x of [...lets].reverse()) {
    if (x.k === 'let' && read.has(x.name)) {
      out.unshift(x);
      note([x]);
    }
  }
  return out;
}

/** The copy into buffer `b` of its multi-buffered destination, commit and wait left to the pipeline. */
function intoBuffer(x: TileCopy, b: Expr, size: number): Stmt {
  return { ...x, async: true, dstOffset: bin('+', x.dstOffset, bin('*', b, i32(size))) };
}
