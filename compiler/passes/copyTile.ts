import type { Expr, Kernel, MathFn, Stmt } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import type { TargetCaps } from '../common/target.js';
import { BYTES, STORAGE_ONLY } from '../ir/types.js';
import { forEachStmt, mapStmtLists, mapStmts } from '../ir/walk.js';
import { bin, countedLoop, i32, localIndex, v } from '../ir/build.js';
import { evalSize } from '../ir/size.js';
import { CompileError } from '../common/errors.js';
import { foldConstants } from './fold.js';
import { pow2Factor, valuesGiven } from './alignment.js';

type TileCopy = Extract<Stmt, { k: 'tileCopy' }>;


/**
 * Lowers copyTile (IR tileCopy) per target, after WGSL's packed-storage legalisation so that
 * each path sees the storage it moves:
 *  - CUDA: 16-byte cp.async chunks with zero-fill (src-size = the bytes inside the matrix), then
 *    commit and wait, when the shared tile is provably 16-byte aligned and its rows a multiple of
 *    16 bytes, and at run time the row stride, c0 and the view offset are multiples of 16 bytes
 *    (uniform, so the workgroup takes one path); otherwise element copies.
 *  - WGSL, packed bf16/f16/fp8 tensors: one 32-bit word per 2 or 4 elements when the row
 *    stride, c0 and the view offset are word multiples (uniform test), else element copies.
 *  - everything else (the interpreter, f32/i32 tensors): element copies.
 * Element copies: thread i moves elements i, i + threads, ...: consecutive threads read
 * consecutive columns.
 */
export function lowerTileCopies(k: Kernel, caps: TargetCaps): Kernel {
  let found = false;
  forEachStmt(k.body, (s) => {
    found ||= s.k === 'tileCopy';
  });
  if (!found) return k;
  const threads = k.workgroup.reduce((p, w) => p * evalSize(w, {}), 1);
  const tensors = new Map(k.tensors.map((t) => [t.name, t]));
  const sharedType = new Map(k.shared.map((s) => [s.name, s.dtype]));
  const defs = valuesGiven(k.body);
  let n = 0;
  const grouped = caps.name === 'cuda' ? mapStmtLists(k.body, oneWaitPerRun) : k.body;
  const body = mapStmts(grouped, (e) => e, (s): Stmt | Stmt[] => {
    if (s.k !== 'tileCopy') return s;
    const g: Gen = { s, tag: `.ct${n++}`, threads, R: size(k, s, s.tileRows, 'rows'), C: size(k, s, s.tileCols, 'cols') };
    const t = tensors.get(s.src)!;
    const elem = element(g, t.dtype, t.packed === true, sharedType.get(s.dst)!);
    if (caps.name === 'cuda') {
      const chunk = 16 / BYTES[t.dtype];
      const aligned = (g.C * BYTES[t.dtype]) % 16 === 0 && pow2Factor(s.dstOffset, defs) >= Math.log2(chunk);
      if (aligned) return [{ k: 'if', cond: runtimeAligned(s, chunk), then: asyncChunks(g, chunk, BYTES[t.dtype]), else: elem, loc: s.loc }];
    }
    // Word copies store unswizzled; swizzled tiles (CUDA only) take the element path.
    if (t.packed && STORAGE_ONLY.has(t.dtype) && !s.swizzle) {
      const per = t.dtype === 'bf16' || t.dtype === 'f16' ? 2 : 4;
      if (g.C % per === 0) return [{ k: 'if', cond: runtimeAligned(s, per), then: words(g, t.dtype, per), else: elem, loc: s.loc }];
    }
    return elem;
  });
  return foldConstants({ ...k, body });
}

/**
 * CUDA: copies that follow each other (lets between them aside) into distinct arrays share
 * one wait, so K and V of an attention tile are in flight together rather than one after the
 * other. The copies of a run issue without committing (marked async, as a pipeline's copies
 * are) and one commit-and-wait follows the run: unconditional, because each copy picks its
 * cp.async or element path at run time, and an empty group completes at once.
 */
function oneWaitPerRun(stmts: readonly Stmt[]): Stmt[] {
  const out: Stmt[] = [];
  for (let i = 0; i < stmts.length; i++) {
    const s = stmts[i];
    if (s.k !== 'tileCopy' || s.async) {
      out.push(s);
      continue;
    }
    let end = i;
    const dsts = new Set([s.dst]);
    for (let j = i + 1; j < stmts.length; j++) {
      const x = stmts[j];
      if (x.k === 'let') continue;
      if (x.k !== 'tileCopy' || x.async || dsts.has(x.dst)) break;
      dsts.add(x.dst);
      end = j;
    }
    if (end === i) {
      out.push(s);
      continue;
    }
    for (let x = i; x <= end; x++) out.push(stmts[x].k === 'tileCopy' ? { ...(stmts[x] as TileCopy), async: true } : stmts[x]);
    out.push({ k: 'asyncCommit', loc: s.loc }, { k: 'asyncWait', pending: 0, loc: s.loc });
    i = end;
  }
  return out;
}

interface Gen { readonly s: TileCopy; readonly tag: string; readonly threads: number; readonly R: number; readonly C: number }

function size(k: Kernel, s: TileCopy, e: Expr, what: string): number {
  if (e.k !== 'const' || typeof e.value !== 'number' || !(e.value > 0)) {
    throw new CompileError(`copyTile dst '${s.dst}': tile ${what} must be a positive compile-time constant, got ${e.k === 'const' ? e.value : 'a runtime value'}`, s.loc, undefined, 'size the shared array with literals, tunables or consts', k.name);
  }
  return e.value;
}

/**
 * Where tile element (r, c) lies in dst (`flat` = r * C + c): row-major, or under the tile's wgmma
 * swizzle (ir/nodes.ts wgmmaSwizzle on its byte offset, in elements): bits [4, 4+s) of the byte
 * offset XOR bits [7, 7+s); rows longer than the swizzle span are stored as column blocks of that
 * span, each all R rows (MN-major wgmma B). A 16-byte chunk stays whole, so cp.async chunks map 1:1.
 */
function dstIndex(g: Gen, r: Expr, c: Expr, flat: Expr, elemBytes: number): Expr {
  const { s } = g;
  if (!s.swizzle) return bin('+', s.dstOffset, flat);
  const W = s.swizzle / elemBytes;
  const index = bin('+', s.dstOffset, g.C > W ? bin('+', bin('+', bin('*', bin('/', c, i32(W)), i32(g.R * W)), bin('*', r, i32(W))), bin('%', c, i32(W))) : flat);
  const l = Math.log2(elemBytes);
  return bin('^', index, bin('<<', bin('&', bin('>>', index, i32(7 - l)), i32(s.swizzle / 16 - 1)), i32(4 - l)));
}

/** The source element index of tile (r, c) given gr = r0 + r, gc = c0 + c. */
const srcIndex = (s: TileCopy, gr: Expr, gc: Expr): Expr => bin('+', bin('+', s.srcOffset, bin('*', gr, s.srcStride)), gc);

/** Uniform: the source rows start on multiples of `n` elements (row stride, c0, view offset). */
function runtimeAligned(s: TileCopy, n: number): Expr {
  const mult = (e: Expr) => bin('==', bin('%', e, i32(n)), i32(0));
  return bin('&&', bin('&&', mult(s.srcStride), mult(s.c0)), mult(s.srcOffset));
}

/**
 * for (i = localIndex; i < count; i += threads) with r = i / perRow, c = (i % perRow) * width,
 * gr = r0 + r, gc = c0 + c declared for `body`.
 */
function strided(g: Gen, count: number, perRow: number, width: number, body: (x: { i: Expr; r: Expr; c: Expr; gr: Expr; gc: Expr }) => Stmt[]): Stmt[] {
  const { s, tag } = g;
  const name = (b: string) => `${b}${tag}`;
  const let_ = (b: string, init: Expr): Stmt => ({ k: 'let', name: name(b), type: 'i32', init, mutable: false, loc: s.loc });
  const i = v(name('i'));
  const c = width === 1 ? bin('%', i, i32(perRow)) : bin('*', bin('%', i, i32(perRow)), i32(width));
  const lets = [let_('r', bin('/', i, i32(perRow))), let_('c', c)];
  const x = { i, r: v(name('r')), c: v(name('c')), gr: v(name('gr')), gc: v(name('gc')) };
  lets.push(let_('gr', bin('+', s.r0, x.r)), let_('gc', bin('+', s.c0, x.c)));
  return [countedLoop(name('i'), localIndex, i32(count), i32(g.threads), [...lets, ...body(x)], s.loc)];
}

const inside = (s: TileCopy, gr: Expr, gc: Expr): Expr => bin('&&', bin('<', gr, s.rows), bin('<', gc, s.cols));

const zero = (t: DType): Expr => (t === 'f32' || t === 'i32' || t === 'u32' ? { k: 'const', type: t, value: 0 } : { k: 'cast', type: t, a: { k: 'const', type: 'f32', value: 0 } });

/** The value of a packed narrow tensor's element at `index` (the word, shifted and decoded). */
function packedElement(buf: string, dtype: DType, index: Expr): Expr {
  const per = dtype === 'bf16' || dtype === 'f16' ? 2 : 4;
  const word: Expr = { k: 'load', space: 'global', buf, type: 'u32', index: bin('>>', index, i32(Math.log2(per))) };
  const shift: Expr = { k: 'cast', type: 'u32', a: bin('*', bin('&', index, i32(per - 1)), i32(32 / per)) };
  return { k: 'call', fn: `unpack_${dtype}` as MathFn, type: 'f32', args: [word, shift] };
}

/** One element per thread and step: the portable path and every fallback. */
function element(g: Gen, dtype: DType, packed: boolean, dstType: DType): Stmt[] {
  const { s } = g;
  return strided(g, g.R * g.C, g.C, 1, ({ i, r, c, gr, gc }) => {
    const at = srcIndex(s, gr, gc);
    const value: Expr = packed ? packedElement(s.src, dtype, at) : { k: 'load', space: 'global', buf: s.src, type: dtype, index: at };
    const dst = dstIndex(g, r, c, i, BYTES[dstType]);
    return [{
      k: 'if', cond: inside(s, gr, gc),
      then: [{ k: 'store', space: 'shared', buf: s.dst, index: dst, value, loc: s.loc }],
      else: [{ k: 'store', space: 'shared', buf: s.dst, index: dst, value: zero(dstType), loc: s.loc }],
      loc: s.loc,
    }];
  });
}

/** WGSL packed storage: one u32 load per `per` elements (the row segment starts on a word). */
function words(g: Gen, dtype: DType, per: number): Stmt[] {
  const { s, tag } = g;
  return strided(g, (g.R * g.C) / per, g.C / per, per, ({ r, c, gr, gc }) => {
    const d = bin('+', s.dstOffset, bin('+', bin('*', r, i32(g.C)), c));
    const w = `w${tag}`;
    const store = (j: number, value: Expr): Stmt => ({ k: 'store', space: 'shared', buf: s.dst, index: bin('+', d, i32(j)), value, loc: s.loc });
    const unpack = (j: number): Expr => ({ k: 'call', fn: `unpack_${dtype}` as MathFn, type: 'f32', args: [v(w, 'u32'), { k: 'const', type: 'u32', value: j * (32 / per) }] });
    const f0: Expr = { k: 'const', type: 'f32', value: 0 };
    const then: Stmt[] = [{ k: 'let', name: w, type: 'u32', init: { k: 'load', space: 'global', buf: s.src, type: 'u32', index: bin('>>', srcIndex(s, gr, gc), i32(Math.log2(per))) }, mutable: false, loc: s.loc }];
    // The word holds gc..gc+per-1; those at or past cols belong to the next row (or padding).
    for (let j = 0; j < per; j++) then.push(store(j, j === 0 ? unpack(0) : { k: 'select', type: 'f32', cond: bin('<', bin('+', gc, i32(j)), s.cols), a: unpack(j), b: f0 }));
    const zeros = Array.from({ length: per }, (_, j) => store(j, f0));
    return [{ k: 'if', cond: inside(s, gr, gc), then, else: zeros, loc: s.loc }];
  });
}

/**
 * CUDA: one 16-byte cp.async per `chunk` elements, the bytes past the matrix (rows or cols)
 * zero-filled by src-size, so a partial chunk never reads past cols; then commit and wait,
 * unless a software pipeline (passes/softwarePipeline.ts) groups and waits for the copies.
 */
function asyncChunks(g: Gen, chunk: number, elemBytes: number): Stmt[] {
  const { s, tag } = g;
  const loop = strided(g, (g.R * g.C) / chunk, g.C / chunk, chunk, ({ r, c, gr, gc }) => {
    const valid = `n${tag}`;
    const inCols: Expr = { k: 'call', fn: 'max', type: 'i32', args: [{ k: 'call', fn: 'min', type: 'i32', args: [bin('-', s.cols, gc), i32(chunk)] }, i32(0)] };
    const n: Expr = { k: 'select', type: 'i32', cond: bin('<', gr, s.rows), a: inCols, b: i32(0) };
    // With nothing to read the address is never dereferenced; index 0 keeps it inside the tensor.
    const from: Expr = { k: 'select', type: 'i32', cond: bin('>', v(valid), i32(0)), a: srcIndex(s, gr, gc), b: i32(0) };
    return [
      { k: 'let', name: valid, type: 'i32', init: n, mutable: false, loc: s.loc },
      { k: 'asyncCopy', dst: s.dst, dstIndex: dstIndex(g, r, c, bin('+', bin('*', r, i32(g.C)), c), elemBytes), src: s.src, srcIndex: from, srcBytes: bin('*', v(valid), i32(elemBytes)), loc: s.loc },
    ];
  });
  return s.async ? loop : [...loop, { k: 'asyncCommit', loc: s.loc }, { k: 'asyncWait', pending: 0, loc: s.loc }];
}
