import type { Expr, Kernel, MmaDType, Stmt, TileRef } from '../ir/nodes.js';
import { mmaDepth } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import type { SourceLoc } from '../common/source-loc.js';
import { forEachStmt, mapStmts } from '../ir/walk.js';
import { evalSize } from '../ir/size.js';
import { CompileError } from '../common/errors.js';

/** Each thread of a warp owns 8 of the 16x16 accumulator's 256 elements, on every target. */
const PER_THREAD = 8;

const i32 = (value: number): Expr => ({ k: 'const', type: 'i32', value });
const f32c = (value: number): Expr => ({ k: 'const', type: 'f32', value });
const bin = (op: '+' | '*' | '>>' | '&', a: Expr, b: Expr): Expr => ({ k: 'bin', op, type: 'i32', a, b });
const v = (name: string, type: DType = 'i32'): Expr => ({ k: 'var', name, type });
const lane: Expr = bin('&', { k: 'builtin', type: 'i32', name: 'localIndex', axis: 0 }, i32(31));
const TENSOR_CORE_TYPES: ReadonlySet<DType> = new Set<MmaDType>(['bf16', 'f16', 'fp8e4m3', 'fp8e5m2']);

/**
 * Lowers the warp tile ops (fragment, mma, accumulateScaled, storeFragment). With
 * `tensorCores`, 16-bit and fp8 operands use CUDA's mma.sync fragment layouts (PTX ISA
 * m16n8k16 / m16n8k32); otherwise every thread computes its 8 outputs with scalar loops
 * reading shared memory (WGSL, the interpreter, and f32 operands on CUDA). Either way the
 * fragment is 8 f32 per thread; which 8 depends on the layout, so all mmas of a kernel
 * lower alike and the other fragment ops follow them.
 */
export function lowerTileOps(k: Kernel, tensorCores: boolean): Kernel {
  const sharedType = new Map(k.shared.map((s) => [s.name, s.dtype]));
  let n = 0;
  // Every value each variable is given, so alignment facts survive the frontend's
  // temporaries and loop counters (`for (kk = 0; ...; kk += 16)`).
  const defs = new Map<string, Expr[]>();
  const give = (name: string, e: Expr) => defs.set(name, [...(defs.get(name) ?? []), e]);
  const mmaTypes = new Set<DType>();
  forEachStmt(k.body, (s) => {
    if (s.k === 'let') give(s.name, s.init);
    if (s.k === 'assign') give(s.name, s.value);
    if (s.k === 'mma') mmaTypes.add(sharedType.get(s.a.buf)!);
  });
  const useTensorCores = tensorCores && [...mmaTypes].some((t) => TENSOR_CORE_TYPES.has(t));
  // Runs after specialisation: the workgroup is constants (evalSize throws on a symbol).
  const wgThreads = k.workgroup.reduce((p, w) => p * evalSize(w, {}), 1);
  const body = mapStmts(k.body, (e) => e, (s): Stmt | Stmt[] => {
    if (s.k !== 'fragment' && s.k !== 'mma' && s.k !== 'fragmentStore' && s.k !== 'fragmentAccumulate') return s;
    if (wgThreads % 32 !== 0) throw new CompileError(`tile ops need whole warps: workgroup of ${wgThreads} threads is not a multiple of 32`, s.loc, undefined, 'make the workgroup size a multiple of 32', k.name);
    // The '.' keeps these names apart from every DSL identifier (see codegen/naming.ts).
    const tag = `.${n++}`;
    if (s.k === 'fragment') {
      const zero: Stmt[] = [{ k: 'localArray', name: s.name, type: 'f32', size: { k: 'num', v: PER_THREAD }, loc: s.loc }];
      for (let j = 0; j < PER_THREAD; j++) zero.push({ k: 'store', space: 'local', buf: s.name, index: i32(j), value: f32c(0), loc: s.loc });
      return zero;
    }
    if (s.k === 'mma') {
      const at = sharedType.get(s.a.buf)!;
      const bt = sharedType.get(s.b.buf)!;
      if (at !== bt) throw new CompileError(`mma operands differ in dtype (${at} vs ${bt})`, s.loc, undefined, undefined, k.name);
      if (useTensorCores && !TENSOR_CORE_TYPES.has(at)) {
        throw new CompileError(`mma on ${at} operands cannot share a kernel with tensor-core (${[...mmaTypes].join(', ')}) mmas: their fragment layouts differ`, s.loc, undefined, 'use one operand type for every mma of the kernel', k.name);
      }
      if (useTensorCores) return mmaSync(s, at as MmaDType, tag, defs);
      return mmaLoops(s, at, tag);
    }
    const rows = fragmentRows(useTensorCores, `fr${tag}`, s.loc);
    if (s.k === 'fragmentAccumulate') return [...rows.lets, ...accumulateScaled(s, rows.rowOf, tag)];
    return [...rows.lets, ...storeFrag(s.acc, s.dst, rows, s.loc)];
  });
  return { ...k, body };
}

const load = (buf: string, type: DType, index: Expr): Expr => ({ k: 'load', space: 'shared', buf, type, index });
const toF32 = (e: Expr): Expr => (e.type === 'f32' ? e : { k: 'cast', type: 'f32', a: e });
const let_ = (name: string, init: Expr, loc?: SourceLoc): Stmt => ({ k: 'let', name, type: init.type, init, mutable: false, loc });
const local = (buf: string, j: number): Expr => ({ k: 'load', space: 'local', buf, type: 'f32', index: i32(j) });

/**
 * Portable layout: lane owns rows 2*(lane/4) + {0,1} and columns 4*(lane%4) + {0..3}, so
 * each k step reads 2 values of A and 4 of B for 8 FMAs (a 1x8 strip would read 9).
 */
const PORTABLE_ROWS = 2;
const PORTABLE_COLS = 4;

/**
 * The tile row of each of a thread's 8 accumulator elements. Tensor cores (m16n8 C
 * layout, g = lane/4, t = lane%4): element h*4 + i is row g + 8*(i >= 2), column
 * 8h + 2t + (i & 1). Portable: element r*4 + c is row 2g + r, column 4t + c.
 */
function fragmentRows(tensorCores: boolean, tag: string, loc?: SourceLoc): { lets: Stmt[]; rowOf: (j: number) => Expr; colOf: (j: number) => Expr } {
  const g = `${tag}_g`, t = `${tag}_t`;
  const lets = [let_(g, bin('>>', lane, i32(2)), loc), let_(t, bin('&', lane, i32(3)), loc)];
  if (tensorCores) {
    return {
      lets,
      rowOf: (j) => bin('+', v(g), i32((j & 3) >= 2 ? 8 : 0)),
      colOf: (j) => bin('+', bin('*', v(t), i32(2)), i32((j >> 2) * 8 + (j & 1))),
    };
  }
  return {
    lets,
    rowOf: (j) => bin('+', bin('*', v(g), i32(PORTABLE_ROWS)), i32(Math.floor(j / PORTABLE_COLS))),
    colOf: (j) => bin('+', bin('*', v(t), i32(PORTABLE_COLS)), i32(j % PORTABLE_COLS)),
  };
}

/** B[k][n] as stored: k-major rows ('kn') or transposed ('nk'). */
function bIndex(b: TileRef, layout: 'kn' | 'nk', kIdx: Expr, nIdx: Expr): Expr {
  const [major, minor] = layout === 'kn' ? [kIdx, nIdx] : [nIdx, kIdx];
  return bin('+', bin('+', b.offset, bin('*', major, b.stride)), minor);
}

/** The portable layout's mma: each k step reads the thread's 2 rows of A and 4 columns of B (fragmentRows). */
function mmaLoops(s: Extract<Stmt, { k: 'mma' }>, dtype: DType, tag: string): Stmt[] {
  const { acc, a, b, loc } = s;
  const t = `mma${tag}`, kk = `${t}_k`;
  const layout = fragmentRows(false, t, loc);
  const body: Stmt[] = [];
  for (let r = 0; r < PORTABLE_ROWS; r++) {
    body.push(let_(`${t}_a${r}`, toF32(load(a.buf, dtype, bin('+', bin('+', a.offset, bin('*', layout.rowOf(r * PORTABLE_COLS), a.stride)), v(kk)))), loc));
  }
  for (let c = 0; c < PORTABLE_COLS; c++) {
    body.push(let_(`${t}_b${c}`, toF32(load(b.buf, dtype, bIndex(b, s.bLayout, v(kk), layout.colOf(c)))), loc));
  }
  for (let r = 0; r < PORTABLE_ROWS; r++) {
    for (let c = 0; c < PORTABLE_COLS; c++) {
      const j = r * PORTABLE_COLS + c;
      body.push({ k: 'store', space: 'local', buf: acc, index: i32(j), value: { k: 'call', fn: 'fma', type: 'f32', args: [v(`${t}_a${r}`, 'f32'), v(`${t}_b${c}`, 'f32'), local(acc, j)] }, loc });
    }
  }
  return [
    ...layout.lets,
    {
      k: 'for', loc,
      init: [{ k: 'let', name: kk, type: 'i32', init: i32(0), mutable: true }],
      cond: { k: 'bin', op: '<', type: 'bool', a: v(kk), b: i32(mmaDepth(dtype)) },
      update: [{ k: 'assign', name: kk, value: bin('+', v(kk), i32(1)) }],
      body,
    },
  ];
}

/** acc[j] += part[j] * rowScale[offset + row(j)] * scale: one scale product per row. */
function accumulateScaled(s: Extract<Stmt, { k: 'fragmentAccumulate' }>, rowOf: (j: number) => Expr, tag: string): Stmt[] {
  const out: Stmt[] = [let_(`acs${tag}_s`, s.scale, s.loc)];
  const rowScale = new Map<string, Expr>();
  for (let j = 0; j < PER_THREAD; j++) {
    const row = rowOf(j);
    const key = JSON.stringify(row);
    if (!rowScale.has(key)) {
      const name = `acs${tag}_r${rowScale.size}`;
      const scaled: Expr = { k: 'bin', op: '*', type: 'f32', a: load(s.rowScale, 'f32', bin('+', s.rowOffset, row)), b: v(`acs${tag}_s`, 'f32') };
      out.push(let_(name, scaled, s.loc));
      rowScale.set(key, v(name, 'f32'));
    }
    const value: Expr = { k: 'call', fn: 'fma', type: 'f32', args: [local(s.part, j), rowScale.get(key)!, local(s.acc, j)] };
    out.push({ k: 'store', space: 'local', buf: s.acc, index: i32(j), value, loc: s.loc });
  }
  return out;
}

/**
 * PTX ISA layouts, g = lane/4, t = lane%4, each 32-bit register holding `per` elements
 * consecutive along K (2 for 16-bit, 4 for fp8), the lowest k in the low bits:
 *   A (16 x depth, row-major): rows g, g+8, g, g+8 at k = per*t, per*t, per*t + depth/2, same;
 *   B (depth x 8): column g at k = per*t and per*t + depth/2.
 * Two n8 halves make the 16x16 tile. A register is one 32-bit load when its elements are
 * adjacent in memory and the address provably aligned; otherwise element loads are packed.
 */
function mmaSync(s: Extract<Stmt, { k: 'mma' }>, dtype: MmaDType, tag: string, defs: ReadonlyMap<string, readonly Expr[]>): Stmt[] {
  const { a, b, loc } = s;
  const depth = mmaDepth(dtype);
  const per = depth === 32 ? 4 : 2;
  const need = Math.log2(per);
  const g = `mma${tag}_g`, tk = `mma${tag}_tk`;
  const plus = (e: Expr, c: number) => (c === 0 ? e : bin('+', e, i32(c)));
  const register = (buf: string, first: Expr, step: Expr | undefined, aligned: boolean): Expr => {
    if (step === undefined && aligned) return { k: 'loadWord', type: 'u32', space: 'shared', buf, index: first };
    const elems = Array.from({ length: per }, (_, i) => load(buf, dtype, i === 0 ? first : bin('+', first, step ? bin('*', step, i32(i)) : i32(i))));
    return { k: 'call', fn: per === 2 ? 'pack2' : 'pack4', type: 'u32', args: elems };
  };
  const alignedA = pow2Factor(a.offset, defs) >= need && pow2Factor(a.stride, defs) >= need;
  const alignedB = s.bLayout === 'nk' && pow2Factor(b.offset, defs) >= need && pow2Factor(b.stride, defs) >= need;
  const aReg = (row: Expr, k: Expr) => register(a.buf, bin('+', bin('+', a.offset, bin('*', row, a.stride)), k), undefined, alignedA);
  const bReg = (n: Expr, k: Expr) => register(b.buf, bIndex(b, s.bLayout, k, n), s.bLayout === 'kn' ? b.stride : undefined, alignedB);
  const out: Stmt[] = [let_(g, bin('>>', lane, i32(2)), loc), let_(tk, bin('*', bin('&', lane, i32(3)), i32(per)), loc)];
  const aFrag = [aReg(v(g), v(tk)), aReg(plus(v(g), 8), v(tk)), aReg(v(g), plus(v(tk), depth / 2)), aReg(plus(v(g), 8), plus(v(tk), depth / 2))];
  const aNames = aFrag.map((e, i) => {
    const name = `mma${tag}_a${i}`;
    out.push(let_(name, e, loc));
    return v(name, 'u32');
  });
  for (const h of [0, 1]) {
    const col = plus(v(g), h * 8);
    out.push({ k: 'mmaSync', dtype, acc: s.acc, accBase: h * 4, a: aNames, b: [bReg(col, v(tk)), bReg(col, plus(v(tk), depth / 2))], loc });
  }
  return out;
}

function storeFrag(acc: string, dst: TileRef, rows: { rowOf: (j: number) => Expr; colOf: (j: number) => Expr }, loc?: SourceLoc): Stmt[] {
  return Array.from({ length: PER_THREAD }, (_, j): Stmt => ({
    k: 'store', space: 'shared', buf: dst.buf, index: bin('+', bin('+', dst.offset, bin('*', rows.rowOf(j), dst.stride)), rows.colOf(j)), value: local(acc, j), loc,
  }));
}

const MAX_POW2 = 8;
/**
 * Conservative: the largest p (up to MAX_POW2) such that 2^p divides e whenever it is
 * evaluated. A variable's factor is the least over every value it is given, assuming
 * (inductively) its own: an aligned start plus aligned steps stays aligned.
 */
function pow2Factor(e: Expr, defs: ReadonlyMap<string, readonly Expr[]>, assumed: ReadonlySet<string> = new Set(), depth = 0): number {
  const f = (x: Expr) => pow2Factor(x, defs, assumed, depth + 1);
  if (depth > 32) return 0;
  if (e.k === 'const') {
    const n = e.value as number;
    if (typeof n !== 'number' || !Number.isInteger(n)) return 0;
    let p = 0;
    while (p < MAX_POW2 && n % 2 ** (p + 1) === 0) p++;
    return p;
  }
  if (e.k === 'var') {
    if (assumed.has(e.name)) return MAX_POW2;
    const given = defs.get(e.name);
    const inner = new Set([...assumed, e.name]);
    return given === undefined ? 0 : Math.min(...given.map((x) => pow2Factor(x, defs, inner, depth + 1)));
  }
  if (e.k !== 'bin') return 0;
  if (e.op === '*') return Math.min(MAX_POW2, f(e.a) + f(e.b));
  if (e.op === '&') return Math.max(f(e.a), f(e.b));
  if (e.op === '+' || e.op === '-') return Math.min(f(e.a), f(e.b));
  if (e.op === '<<' && e.b.k === 'const') return Math.min(MAX_POW2, f(e.a) + (e.b.value as number));
  return 0;
}
