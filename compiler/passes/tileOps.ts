import type { Expr, Kernel, MmaDType, Stmt, TileRef } from '../ir/nodes.js';
import { mmaDepth } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import type { SourceLoc } from '../common/source-loc.js';
import { forEachStmt, mapStmts } from '../ir/walk.js';
import { evalSize } from '../ir/size.js';
import { CompileError } from '../common/errors.js';
import { operandRegister, pow2Factor, valuesGiven } from './alignment.js';
import { FRAGMENT_ELEMS as PER_THREAD } from '../ir/fragmentLayout.js';
import {
  PORTABLE_COLS, PORTABLE_ROWS, fragmentLayout, lane, local, lowerFragmentOperand, lowerMmaFragment, portableElem, resolveCoord,
} from './fragmentOps.js';
import { bin, countedLoop, f32c, i32, let_, plus, v } from '../ir/build.js';

const TENSOR_CORE_TYPES: ReadonlySet<DType> = new Set<MmaDType>(['bf16', 'f16', 'fp8e4m3', 'fp8e5m2']);

/**
 * Lowers the warp tile ops (fragment, mma, accumulateScaled, storeFragment, and the
 * layout-dependent fragment ops of passes/fragmentOps.ts). With
 * `tensorCores`, 16-bit and fp8 operands use CUDA's mma.sync fragment layouts (PTX ISA
 * m16n8k16 / m16n8k32); otherwise every thread computes its 8 outputs with scalar loops
 * reading shared memory (WGSL, the interpreter, and f32 operands on CUDA). Either way the
 * fragment is 8 f32 per thread; which 8 depends on the layout, so all mmas of a kernel
 * lower alike and the other fragment ops follow them.
 */
export function lowerTileOps(k: Kernel, tensorCores: boolean): Kernel {
  const sharedType = new Map(k.shared.map((s) => [s.name, s.dtype]));
  let n = 0;
  const defs = valuesGiven(k.body);
  const mmaTypes = new Set<DType>();
  forEachStmt(k.body, (s) => {
    if (s.k === 'mma') mmaTypes.add(sharedType.get(s.a.buf)!);
    if (s.k === 'mmaFragment') mmaTypes.add(s.dtype);
  });
  const useTensorCores = tensorCores && [...mmaTypes].some((t) => TENSOR_CORE_TYPES.has(t));
  // Runs after specialisation: the workgroup is constants (evalSize throws on a symbol).
  const wgThreads = k.workgroup.reduce((p, w) => p * evalSize(w, {}), 1);
  const body = mapStmts(k.body, (e) => resolveCoord(e, useTensorCores), (s): Stmt | Stmt[] => {
    if (s.k !== 'fragment' && s.k !== 'mma' && s.k !== 'fragmentStore' && s.k !== 'fragmentAccumulate' && s.k !== 'fragmentOperand' && s.k !== 'mmaFragment') return s;
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
    if (s.k === 'fragmentOperand') return lowerFragmentOperand(s, useTensorCores);
    if (s.k === 'mmaFragment') {
      const bt = sharedType.get(s.b.buf)!;
      if (bt !== s.dtype) throw new CompileError(`mmaFragment: B '${s.b.buf}' is ${bt}, the register operand ${s.a} is ${s.dtype}`, s.loc, undefined, 'stage B in the operand type', k.name);
      const rowsAligned = pow2Factor(s.b.offset, defs) >= 3 && pow2Factor(s.b.stride, defs) >= 3;
      return lowerMmaFragment(s, useTensorCores, tag, rowsAligned);
    }
    const rows = fragmentLayout(useTensorCores, `fr${tag}`, s.loc);
    if (s.k === 'fragmentAccumulate') return [...rows.lets, ...accumulateScaled(s, rows.rowOf, tag)];
    return [...rows.lets, ...storeFrag(s.acc, s.dst, rows, s.loc)];
  });
  return { ...k, body };
}

const load = (buf: string, type: DType, index: Expr): Expr => ({ k: 'load', space: 'shared', buf, type, index });
const toF32 = (e: Expr): Expr => (e.type === 'f32' ? e : { k: 'cast', type: 'f32', a: e });

/** B[k][n] as stored: k-major rows ('kn') or transposed ('nk'). */
function bIndex(b: TileRef, layout: 'kn' | 'nk', kIdx: Expr, nIdx: Expr): Expr {
  const [major, minor] = layout === 'kn' ? [kIdx, nIdx] : [nIdx, kIdx];
  return bin('+', bin('+', b.offset, bin('*', major, b.stride)), minor);
}

/** The portable layout's mma: each k step reads the thread's 2 rows of A and 4 columns of B (fragmentOps.layoutOf). */
function mmaLoops(s: Extract<Stmt, { k: 'mma' }>, dtype: DType, tag: string): Stmt[] {
  const { acc, a, b, loc } = s;
  const t = `mma${tag}`, kk = `${t}_k`;
  const layout = fragmentLayout(false, t, loc);
  const body: Stmt[] = [];
  for (let r = 0; r < PORTABLE_ROWS; r++) {
    body.push(let_(`${t}_a${r}`, toF32(load(a.buf, dtype, bin('+', bin('+', a.offset, bin('*', layout.rowOf(portableElem(r, 0)), a.stride)), v(kk)))), loc));
  }
  for (let c = 0; c < PORTABLE_COLS; c++) {
    body.push(let_(`${t}_b${c}`, toF32(load(b.buf, dtype, bIndex(b, s.bLayout, v(kk), layout.colOf(portableElem(0, c))))), loc));
  }
  for (let r = 0; r < PORTABLE_ROWS; r++) {
    for (let c = 0; c < PORTABLE_COLS; c++) {
      const j = portableElem(r, c);
      body.push({ k: 'store', space: 'local', buf: acc, index: i32(j), value: { k: 'call', fn: 'fma', type: 'f32', args: [v(`${t}_a${r}`, 'f32'), v(`${t}_b${c}`, 'f32'), local(acc, j)] }, loc });
    }
  }
  return [...layout.lets, countedLoop(kk, i32(0), i32(mmaDepth(dtype)), i32(1), body, loc)];
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
 * A transposed B ([n][k], K's rows in attention) whose rows are provably 16-byte aligned is
 * one ldmatrix.x4 instead of four loads. A stays word loads: ldmatrix is volatile asm, which
 * would pin loop-invariant A fragments (attention's Q) inside the loop.
 */
function mmaSync(s: Extract<Stmt, { k: 'mma' }>, dtype: MmaDType, tag: string, defs: ReadonlyMap<string, readonly Expr[]>): Stmt[] {
  const { a, b, loc } = s;
  const depth = mmaDepth(dtype);
  const per = depth === 32 ? 4 : 2;
  const need = Math.log2(per);
  const g = `mma${tag}_g`, tk = `mma${tag}_tk`;
  const register = (buf: string, first: Expr, step: Expr | undefined, aligned: boolean): Expr => operandRegister(buf, dtype, first, step, aligned);
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
  let bRegs = (h: number): Expr[] => [bReg(plus(v(g), h * 8), v(tk)), bReg(plus(v(g), h * 8), plus(v(tk), depth / 2))];
  if (s.bLayout === 'nk' && pow2Factor(b.offset, defs) >= need + 2 && pow2Factor(b.stride, defs) >= need + 2) {
    // B stored [n][k] with 16-byte rows: its registers are the 8x8 b16 matrices (n 0-7 | 8-15) x
    // (k 0 | depth/2) as they lie, so one ldmatrix.x4 loads both n8 halves; lane l gives row l % 8 of matrix l / 8.
    const m = bin('>>', lane, i32(3));
    const n = bin('+', bin('*', bin('>>', m, i32(1)), i32(8)), bin('&', lane, i32(7)));
    const names = [0, 1, 2, 3].map((i) => `mma${tag}_b${i}`);
    out.push({ k: 'ldmatrix', count: 4, trans: false, buf: b.buf, rowIndex: bIndex(b, 'nk', bin('*', bin('&', m, i32(1)), i32(depth / 2)), n), results: names, loc });
    bRegs = (h) => [v(names[2 * h], 'u32'), v(names[2 * h + 1], 'u32')];
  }
  for (const h of [0, 1]) out.push({ k: 'mmaSync', dtype, acc: s.acc, accBase: h * 4, a: aNames, b: bRegs(h), loc });
  return out;
}

function storeFrag(acc: string, dst: TileRef, rows: { rowOf: (j: number) => Expr; colOf: (j: number) => Expr }, loc?: SourceLoc): Stmt[] {
  return Array.from({ length: PER_THREAD }, (_, j): Stmt => ({
    k: 'store', space: 'shared', buf: dst.buf, index: bin('+', bin('+', dst.offset, bin('*', rows.rowOf(j), dst.stride)), rows.colOf(j)), value: local(acc, j), loc,
  }));
}
