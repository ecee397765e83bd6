import type { Expr, Kernel, Stmt, TileRef } from '../ir/nodes.js';
import { FRAG_DIM } from '../ir/nodes.js';
import type { DType, SourceLoc } from '../ir/types.js';
import { forEachStmt, mapStmts } from '../ir/walk.js';
import { CompileError } from '../frontend/errors.js';

/** Each thread of a warp owns 8 of the 16x16 accumulator's 256 elements, on every target. */
const PER_THREAD = 8;

const i32 = (value: number): Expr => ({ k: 'const', type: 'i32', value });
const f32c = (value: number): Expr => ({ k: 'const', type: 'f32', value });
const bin = (op: '+' | '*' | '>>' | '&', a: Expr, b: Expr): Expr => ({ k: 'bin', op, type: 'i32', a, b });
const v = (name: string, type: DType = 'i32'): Expr => ({ k: 'var', name, type });
const lane: Expr = bin('&', { k: 'builtin', type: 'i32', name: 'localIndex', axis: 0 }, i32(31));

/**
 * Lowers the warp tile ops (fragment, mma, storeFragment). `tensorCores` selects CUDA's
 * mma.sync fragment layout (PTX ISA, m16n8k16) for 16-bit operands; otherwise every
 * thread computes its 8 outputs with scalar loops reading shared memory (WGSL, the
 * interpreter, and f32 operands on CUDA). Either way the fragment is 8 f32 per thread.
 */
export function lowerTileOps(k: Kernel, tensorCores: boolean): Kernel {
  const sharedType = new Map(k.shared.map((s) => [s.name, s.dtype]));
  let n = 0;
  // Every value each variable is given, so alignment facts survive the frontend's
  // temporaries and loop counters (`for (kk = 0; ...; kk += 16)`).
  const defs = new Map<string, Expr[]>();
  const give = (name: string, e: Expr) => defs.set(name, [...(defs.get(name) ?? []), e]);
  forEachStmt(k.body, (s) => {
    if (s.k === 'let') give(s.name, s.init);
    if (s.k === 'assign') give(s.name, s.value);
  });
  const wgThreads = k.workgroup.reduce((p, w) => p * (w.k === 'num' ? w.v : 1), 1);
  const body = mapStmts(k.body, (e) => e, (s): Stmt | Stmt[] => {
    if (s.k !== 'fragment' && s.k !== 'mma' && s.k !== 'fragmentStore') return s;
    if (wgThreads % 32 !== 0) throw new CompileError(`tile ops need whole warps: workgroup of ${wgThreads} threads is not a multiple of 32`, s.loc, undefined, 'make the workgroup size a multiple of 32', k.name);
    const tag = n++;
    if (s.k === 'fragment') {
      const zero: Stmt[] = [{ k: 'localArray', name: s.name, type: 'f32', size: { k: 'num', v: PER_THREAD }, loc: s.loc }];
      for (let j = 0; j < PER_THREAD; j++) zero.push({ k: 'store', space: 'local', buf: s.name, index: i32(j), value: f32c(0), loc: s.loc });
      return zero;
    }
    if (s.k === 'mma') {
      const at = sharedType.get(s.a.buf)!;
      const bt = sharedType.get(s.b.buf)!;
      if (at !== bt) throw new CompileError(`mma operands differ in dtype (${at} vs ${bt})`, s.loc, undefined, undefined, k.name);
      if (tensorCores && (at === 'bf16' || at === 'f16')) return mmaSync(s.acc, s.a, s.b, at, tag, defs, s.loc);
      return mmaLoops(s.acc, s.a, s.b, at, tag, s.loc);
    }
    return storeFrag(s.acc, s.dst, tensorCores && hasTensorCoreMma(k), tag, s.loc);
  });
  return { ...k, body };
}

/** The accumulator layout must match how the mma was lowered; all mmas of a kernel lower alike. */
function hasTensorCoreMma(k: Kernel): boolean {
  const types = new Map(k.shared.map((s) => [s.name, s.dtype]));
  let found = false;
  mapStmts(k.body, (e) => e, (s) => {
    if (s.k === 'mma' && (types.get(s.a.buf) === 'bf16' || types.get(s.a.buf) === 'f16')) found = true;
    return s;
  });
  return found;
}

const load = (buf: string, type: DType, index: Expr): Expr => ({ k: 'load', space: 'shared', buf, type, index });
const toF32 = (e: Expr): Expr => (e.type === 'f32' ? e : { k: 'cast', type: 'f32', a: e });
const let_ = (name: string, init: Expr, loc?: SourceLoc): Stmt => ({ k: 'let', name, type: init.type, init, mutable: false, loc });

/**
 * Portable layout: lane owns rows 2*(lane/4) + {0,1} and columns 4*(lane%4) + {0..3}, so
 * each k step reads 2 values of A and 4 of B for 8 FMAs (a 1x8 strip would read 9).
 */
const PORTABLE_ROWS = 2;
const PORTABLE_COLS = 4;
const portableOrigin = (tag: string, loc?: SourceLoc): Stmt[] => [
  let_(`${tag}_row`, bin('*', bin('>>', lane, i32(2)), i32(PORTABLE_ROWS)), loc),
  let_(`${tag}_col`, bin('*', bin('&', lane, i32(3)), i32(PORTABLE_COLS)), loc),
];

function mmaLoops(acc: string, a: TileRef, b: TileRef, dtype: DType, tag: number, loc?: SourceLoc): Stmt[] {
  const t = `mma${tag}`, row = `${t}_row`, col = `${t}_col`, kk = `${t}_k`;
  const body: Stmt[] = [];
  for (let r = 0; r < PORTABLE_ROWS; r++) {
    body.push(let_(`${t}_a${r}`, toF32(load(a.buf, dtype, bin('+', bin('+', a.offset, bin('*', bin('+', v(row), i32(r)), a.stride)), v(kk)))), loc));
  }
  for (let c = 0; c < PORTABLE_COLS; c++) {
    body.push(let_(`${t}_b${c}`, toF32(load(b.buf, dtype, bin('+', bin('+', b.offset, bin('*', v(kk), b.stride)), bin('+', v(col), i32(c))))), loc));
  }
  for (let r = 0; r < PORTABLE_ROWS; r++) {
    for (let c = 0; c < PORTABLE_COLS; c++) {
      const j = r * PORTABLE_COLS + c;
      const old: Expr = { k: 'load', space: 'local', buf: acc, type: 'f32', index: i32(j) };
      body.push({ k: 'store', space: 'local', buf: acc, index: i32(j), value: { k: 'call', fn: 'fma', type: 'f32', args: [v(`${t}_a${r}`, 'f32'), v(`${t}_b${c}`, 'f32'), old] }, loc });
    }
  }
  return [
    ...portableOrigin(t, loc),
    {
      k: 'for', loc,
      init: [{ k: 'let', name: kk, type: 'i32', init: i32(0), mutable: true }],
      cond: { k: 'bin', op: '<', type: 'bool', a: v(kk), b: i32(FRAG_DIM) },
      update: [{ k: 'assign', name: kk, value: bin('+', v(kk), i32(1)) }],
      body,
    },
  ];
}

/** PTX ISA m16n8k16 layouts: g = lane/4, t = lane%4; two n8 halves make the 16x16 tile. */
function mmaSync(acc: string, a: TileRef, b: TileRef, dtype: 'bf16' | 'f16', tag: number, defs: ReadonlyMap<string, readonly Expr[]>, loc?: SourceLoc): Stmt[] {
  const g = `mma${tag}_g`, t2 = `mma${tag}_t2`;
  const at = (r: Expr, c: Expr) => load(a.buf, dtype, bin('+', bin('+', a.offset, bin('*', r, a.stride)), c));
  const bt = (r: Expr, c: Expr) => load(b.buf, dtype, bin('+', bin('+', b.offset, bin('*', r, b.stride)), c));
  const pack = (lo: Expr, hi: Expr): Expr => ({ k: 'call', fn: 'pack2', type: 'u32', args: [lo, hi] });
  const plus = (e: Expr, c: number) => bin('+', e, i32(c));
  // Each A register is two adjacent elements of a row: one 32-bit load when the address
  // is provably even (offset and stride even; t2 always is), else two loads and a pack.
  const pairable = isEven(a.offset, defs) && isEven(a.stride, defs);
  const aReg = (r: Expr, c: Expr): Expr => {
    if (!pairable) return pack(at(r, c), at(r, plus(c, 1)));
    return { k: 'loadPair', type: 'u32', space: 'shared', buf: a.buf, index: bin('+', bin('+', a.offset, bin('*', r, a.stride)), c) };
  };
  const aFrag = [aReg(v(g), v(t2)), aReg(plus(v(g), 8), v(t2)), aReg(v(g), plus(v(t2), 8)), aReg(plus(v(g), 8), plus(v(t2), 8))];
  const out: Stmt[] = [let_(g, bin('>>', lane, i32(2)), loc), let_(t2, bin('*', bin('&', lane, i32(3)), i32(2)), loc)];
  const aNames = aFrag.map((e, i) => {
    const name = `mma${tag}_a${i}`;
    out.push(let_(name, e, loc));
    return v(name, 'u32');
  });
  for (const h of [0, 1]) {
    const col = plus(v(g), h * 8);
    const bFrag = [pack(bt(v(t2), col), bt(plus(v(t2), 1), col)), pack(bt(plus(v(t2), 8), col), bt(plus(v(t2), 9), col))];
    out.push({ k: 'mmaSync', dtype, acc, accBase: h * 4, a: aNames, b: bFrag, loc });
  }
  return out;
}

function storeFrag(acc: string, dst: TileRef, tensorCores: boolean, tag: number, loc?: SourceLoc): Stmt[] {
  const out: Stmt[] = [];
  const put = (j: number, r: Expr, c: Expr) =>
    out.push({ k: 'store', space: 'shared', buf: dst.buf, index: bin('+', bin('+', dst.offset, bin('*', r, dst.stride)), c), value: { k: 'load', space: 'local', buf: acc, type: 'f32', index: i32(j) }, loc });
  if (tensorCores) {
    const g = `st${tag}_g`, t2 = `st${tag}_t2`;
    out.push(let_(g, bin('>>', lane, i32(2)), loc), let_(t2, bin('*', bin('&', lane, i32(3)), i32(2)), loc));
    for (const h of [0, 1]) {
      const c = bin('+', v(t2), i32(h * 8));
      put(h * 4 + 0, v(g), c);
      put(h * 4 + 1, v(g), bin('+', c, i32(1)));
      put(h * 4 + 2, bin('+', v(g), i32(8)), c);
      put(h * 4 + 3, bin('+', v(g), i32(8)), bin('+', c, i32(1)));
    }
  } else {
    out.push(...portableOrigin(`st${tag}`, loc));
    for (let r = 0; r < PORTABLE_ROWS; r++) {
      for (let c = 0; c < PORTABLE_COLS; c++) put(r * PORTABLE_COLS + c, bin('+', v(`st${tag}_row`), i32(r)), bin('+', v(`st${tag}_col`), i32(c)));
    }
  }
  return out;
}

/**
 * Conservative: true only when e is an even integer whenever it is evaluated. A variable
 * is even if every value it is given is even, assuming (inductively) that it is even
 * itself: an even start plus even steps stays even.
 */
function isEven(e: Expr, defs: ReadonlyMap<string, readonly Expr[]>, assumed: ReadonlySet<string> = new Set(), depth = 0): boolean {
  const even = (x: Expr) => isEven(x, defs, assumed, depth + 1);
  if (depth > 32) return false;
  if (e.k === 'const') return typeof e.value === 'number' && e.value % 2 === 0;
  if (e.k === 'var') {
    if (assumed.has(e.name)) return true;
    const given = defs.get(e.name);
    const inner = new Set([...assumed, e.name]);
    return given !== undefined && given.every((x) => isEven(x, defs, inner, depth + 1));
  }
  if (e.k !== 'bin') return false;
  if (e.op === '*' || e.op === '&') return even(e.a) || even(e.b);
  if (e.op === '+' || e.op === '-') return even(e.a) && even(e.b);
  if (e.op === '<<') return (e.b.k === 'const' && (e.b.value as number) > 0) || even(e.a);
  return false;
}
