import type { BlockRef, Expr, Kernel, MmaDType, Stmt } from '../ir/nodes.js';
import { mmaDepth } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import type { SourceLoc } from '../common/source-loc.js';
import { CompileError } from '../common/errors.js';
import { forEachStmt, mapStmts } from '../ir/walk.js';
import { evalSize } from '../ir/size.js';
import { valuesGiven } from './alignment.js';
import { accumulatorShape, placement, type Placement, type Shape } from './blockLayout.js';
import { bin, countedLoop, f32c, i32, let_, v } from '../ir/build.js';
import { renameLocals } from './unroll.js';
import { warpTileMma } from './blockMmaSync.js';

/**
 * Lowers the block tile ops (blockAcc, blockMma, blockStore, blockAccumulate, blockStoreGlobal,
 * blockMap) once the
 * kernel is specialised (the workgroup and every size are constants). With `tensorCores`
 * and 16-bit or fp8 operands, warps share the block as warp tiles of mma.sync fragments
 * (blockMmaSync.ts); otherwise each thread owns a register micro-tile computed with scalar
 * fmas from shared memory (blockLayout.ts). Sizes are checked here: the frontend only sees
 * them as formulas.
 */
export function lowerBlockTiles(k: Kernel, tensorCores: boolean): Kernel {
  let any = false;
  forEachStmt(k.body, (s) => {
    if (s.k === 'blockAcc') any = true;
  });
  if (!any) return k;
  const fail = (msg: string, loc: SourceLoc | undefined, hint?: string): never => {
    throw new CompileError(msg, loc, undefined, hint, k.name);
  };
  const threads = k.workgroup.reduce((p, w) => p * evalSize(w, {}), 1);
  const sharedOf = new Map(k.shared.map((s) => [s.name, s]));
  const tensorType = new Map(k.tensors.map((t) => [t.name, t.dtype]));
  const num = (e: Expr, what: string, loc: SourceLoc | undefined): number =>
    e.k === 'const' && typeof e.value === 'number' ? e.value : fail(`${what} is not a compile-time constant once specialised`, loc, 'size block tiles with literals, tunables or consts');

  const operandTypes = new Set<DType>();
  forEachStmt(k.body, (s) => {
    if (s.k === 'blockMma') operandTypes.add(sharedOf.get(s.a.buf)!.dtype);
  });
  const useTensorCores = tensorCores && [...operandTypes].some((t) => t !== 'f32');
  if (useTensorCores && operandTypes.has('f32')) {
    fail(`block mmas on f32 and on ${[...operandTypes].filter((t) => t !== 'f32').join(', ')} operands cannot share a kernel: their accumulator layouts differ`, k.loc, 'use one operand type for every blockMma of the kernel');
  }

  const accs = new Map<string, { rows: number; cols: number; shape: Shape }>();
  forEachStmt(k.body, (s) => {
    if (s.k !== 'blockAcc') return;
    const rows = num(s.rows, 'blockAccumulator rows', s.loc);
    const cols = num(s.cols, 'blockAccumulator cols', s.loc);
    if (rows <= 0 || cols <= 0 || rows % 16 || cols % 16) fail(`blockAccumulator(${rows}, ${cols}): rows and cols must be positive multiples of 16`, s.loc);
    if (threads % 32) fail(`block tile ops need whole warps: workgroup of ${threads} threads is not a multiple of 32`, s.loc, 'make the workgroup size a multiple of 32');
    // `warps`: a layout fixed by an earlier pass (passes/wgmmaTile.ts: wgmma's accumulator fragment).
    const shape = s.warps ? ({ kind: 'tensorCores', ...s.warps } as const) : accumulatorShape(rows, cols, threads, useTensorCores);
    if (!shape) fail(`blockAccumulator(${rows}, ${cols}) needs more than the workgroup's ${threads} threads (at most 8x8 elements per thread)`, s.loc, 'use a larger workgroup or a smaller block');
    accs.set(s.name, { rows, cols, shape: shape! });
  });
  const accOf = (name: string, loc: SourceLoc | undefined) => accs.get(name) ?? fail(`unknown block accumulator '${name}'`, loc);
  const dims = (r: BlockRef, loc: SourceLoc | undefined, what: string): [number, number] => [num(r.rows, `${what} rows`, loc), num(r.cols, `${what} cols`, loc)];

  const defs = valuesGiven(k.body);
  let n = 0;
  const body = mapStmts(k.body, (e) => e, (s): Stmt | Stmt[] => {
    if (s.k !== 'blockAcc' && s.k !== 'blockMma' && s.k !== 'blockStore' && s.k !== 'blockAccumulate' && s.k !== 'blockStoreGlobal' && s.k !== 'blockMap') return s;
    // The '.' keeps these names apart from every DSL identifier (see codegen/naming.ts).
    const tag = `.b${n++}`;
    if (s.k === 'blockAcc') {
      const { shape } = accOf(s.name, s.loc);
      const { count } = placement(shape, threads, tag);
      const zero: Stmt[] = [{ k: 'localArray', name: s.name, type: 'f32', size: { k: 'num', v: count }, loc: s.loc }];
      for (let j = 0; j < count; j++) zero.push({ k: 'store', space: 'local', buf: s.name, index: i32(j), value: f32c(0), loc: s.loc });
      return zero;
    }
    const acc = accOf(s.acc, s.loc);
    const p = placement(acc.shape, threads, tag, s.loc);
    if (s.k === 'blockMma') {
      const dtype = sharedOf.get(s.a.buf)!.dtype;
      const [ar, K] = dims(s.a, s.loc, 'blockMma a');
      const [b0, b1] = dims(s.b, s.loc, 'blockMma b');
      const [bk, bn] = s.bLayout === 'kn' ? [b0, b1] : [b1, b0];
      const bShape = s.bLayout === 'kn' ? `[K][cols] = [${K}][${acc.cols}]` : `[cols][K] = [${acc.cols}][${K}]`;
      if (ar !== acc.rows) fail(`blockMma a has ${ar} rows, the accumulator ${acc.rows}`, s.loc, `a must be [rows][K] = [${acc.rows}][K]`);
      if (bn !== acc.cols || bk !== K) fail(`blockMma b is [${b0}][${b1}], expected ${bShape}`, s.loc);
      const depth = mmaDepth(dtype);
      if (K % depth) fail(`blockMma K = ${K} is not a multiple of the ${dtype} MMA depth ${depth}`, s.loc);
      if (acc.shape.kind === 'tensorCores') return guard(p, warpTileMma(s, dtype as MmaDType, K, acc.shape, tag, defs));
      return guard(p, [...p.lets, ...microTileMma(s, dtype, K, p, acc.shape.TM, acc.shape.TN, tag)]);
    }
    if (s.k === 'blockStore') {
      const [dr, dc] = dims(s.dst, s.loc, 'storeBlock dst');
      if (dr !== acc.rows || dc !== acc.cols) fail(`storeBlock dst is [${dr}][${dc}], the accumulator [${acc.rows}][${acc.cols}]`, s.loc);
      const store = (j: number): Stmt => ({ k: 'store', space: 'shared', buf: s.dst.buf, index: bin('+', bin('+', s.dst.offset, bin('*', p.rowOf(j), s.dst.stride)), p.colOf(j)), value: local(s.acc, j), loc: s.loc });
      return guard(p, [...p.lets, ...Array.from({ length: p.count }, (_, j) => store(j))]);
    }
    if (s.k === 'blockStoreGlobal') return guard(p, [...p.lets, ...storeGlobal(s, p, tensorType.get(s.out)!, tag)]);
    if (s.k === 'blockMap') {
      for (const other of s.inputs.slice(1)) {
        const o = accOf(other, s.loc);
        if (o.rows !== acc.rows || o.cols !== acc.cols) fail(`blockMap2: '${other}' is ${o.rows}x${o.cols}, '${s.acc}' ${acc.rows}x${acc.cols}`, s.loc, 'map accumulators of one shape');
      }
      return guard(p, Array.from({ length: p.count }, (_, j) => mapElement(s, j, `${tag}_e${j}`)).flat());
    }
    const part = accOf(s.part, s.loc);
    if (part.rows !== acc.rows || part.cols !== acc.cols) fail(`accumulateBlockScaled: part is ${part.rows}x${part.cols}, the accumulator ${acc.rows}x${acc.cols}`, s.loc);
    const scaleRows = evalSize(sharedOf.get(s.rowScale)!.size, k.consts);
    if (scaleRows !== acc.rows) fail(`accumulateBlockScaled rowScale has ${scaleRows} entries, expected one per accumulator row (${acc.rows})`, s.loc);
    return guard(p, [...p.lets, ...accumulateScaled(s, p, tag)]);
  });
  return { ...k, body };
}

const local = (buf: string, j: number): Expr => ({ k: 'load', space: 'local', buf, type: 'f32', index: i32(j) });
const load = (buf: string, type: DType, index: Expr): Expr => ({ k: 'load', space: 'shared', buf, type, index });
const toF32 = (e: Expr): Expr => (e.type === 'f32' ? e : { k: 'cast', type: 'f32', a: e });
const fma = (a: Expr, b: Expr, c: Expr): Expr => ({ k: 'call', fn: 'fma', type: 'f32', args: [a, b, c] });

/** Threads that hold no element of the accumulator skip its ops (warp-uniform on tensor cores). */
function guard(p: Placement, stmts: Stmt[]): Stmt[] {
  return p.active ? [{ k: 'if', cond: p.active, then: stmts, else: [] }] : stmts;
}

/** The portable mma: per k, the thread's TM values of A and TN of B, then TM*TN fmas. */
function microTileMma(s: Extract<Stmt, { k: 'blockMma' }>, dtype: DType, K: number, p: Placement, TM: number, TN: number, tag: string): Stmt[] {
  const { a, b, loc } = s;
  const kk = `${tag}_k`;
  const body: Stmt[] = [];
  for (let i = 0; i < TM; i++) {
    body.push(let_(`${tag}_a${i}`, toF32(load(a.buf, dtype, bin('+', bin('+', a.offset, bin('*', p.rowOf(i * TN), a.stride)), v(kk)))), loc));
  }
  for (let j = 0; j < TN; j++) {
    const col = p.colOf(j);
    const index = s.bLayout === 'kn' ? bin('+', bin('+', b.offset, bin('*', v(kk), b.stride)), col) : bin('+', bin('+', b.offset, bin('*', col, b.stride)), v(kk));
    body.push(let_(`${tag}_b${j}`, toF32(load(b.buf, dtype, index)), loc));
  }
  for (let i = 0; i < TM; i++) {
    for (let j = 0; j < TN; j++) {
      const e = i * TN + j;
      body.push({ k: 'store', space: 'local', buf: s.acc, index: i32(e), value: fma(v(`${tag}_a${i}`, 'f32'), v(`${tag}_b${j}`, 'f32'), local(s.acc, e)), loc });
    }
  }
  return [countedLoop(kk, i32(0), i32(K), i32(1), body, loc)];
}

/** acc[j] += part[j] * rowScale[row(j)] * scale: one scale product per row the thread holds. */
function accumulateScaled(s: Extract<Stmt, { k: 'blockAccumulate' }>, p: Placement, tag: string): Stmt[] {
  const out: Stmt[] = [let_(`${tag}_s`, s.scale, s.loc)];
  const rowScale = new Map<string, Expr>();
  for (let j = 0; j < p.count; j++) {
    const row = p.rowOf(j);
    const key = JSON.stringify(row);
    if (!rowScale.has(key)) {
      const name = `${tag}_r${rowScale.size}`;
      out.push(let_(name, { k: 'bin', op: '*', type: 'f32', a: load(s.rowScale, 'f32', row), b: v(`${tag}_s`, 'f32') }, s.loc));
      rowScale.set(key, v(name, 'f32'));
    }
    out.push({ k: 'store', space: 'local', buf: s.acc, index: i32(j), value: fma(local(s.part, j), rowScale.get(key)!, local(s.acc, j)), loc: s.loc });
  }
  return out;
}

/**
 * The register epilogue: each thread stores the elements it holds, those inside the matrix,
 * cast to the tensor's dtype (bf16: RNE). On WGSL a packed bf16 element store becomes an
 * atomic and/or on its word (passes/legaliseStorage.ts), so threads sharing a word never race.
 */
function storeGlobal(s: Extract<Stmt, { k: 'blockStoreGlobal' }>, p: Placement, dtype: DType, tag: string): Stmt[] {
  const name = (x: string) => `${tag}_${x}`;
  const out: Stmt[] = (['offset', 'stride', 'r0', 'c0', 'rows', 'cols'] as const).map((f) => let_(name(f), s[f], s.loc));
  for (let j = 0; j < p.count; j++) {
    const gr = bin('+', v(name('r0')), p.rowOf(j)), gc = bin('+', v(name('c0')), p.colOf(j));
    const index = bin('+', bin('+', v(name('offset')), bin('*', gr, v(name('stride')))), gc);
    const value = dtype === 'f32' ? local(s.acc, j) : { k: 'cast', type: dtype, a: local(s.acc, j) } as Expr;
    out.push({
      k: 'if', loc: s.loc,
      cond: { k: 'bin', op: '&&', type: 'bool', a: bin('<', gr, v(name('rows'))), b: bin('<', gc, v(name('cols'))) },
      then: [{ k: 'store', space: 'global', buf: s.out, index, value, loc: s.loc }],
      else: [],
    });
  }
  return out;
}

/** One element's copy of a blockMap callback, its names suffixed: the copies share one scope. */
function mapElement(s: Extract<Stmt, { k: 'blockMap' }>, j: number, suffix: string): Stmt[] {
  const params = s.params.map((name, i) => let_(name, local(s.inputs[i], j), s.loc));
  const store: Stmt = { k: 'store', space: 'local', buf: s.acc, index: i32(j), value: v(s.result, 'f32'), loc: s.loc };
  return renameLocals([...params, ...s.body, store], suffix);
}
