import type { Expr, Stmt, TileRef } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import type { SourceLoc } from '../common/source-loc.js';
import { FRAGMENT_ELEMS, rowSlot } from '../ir/fragmentLayout.js';
import { operandRegister } from './alignment.js';
import { bin, countedLoop, i32, let_, localIndex, plus, v } from '../ir/build.js';

/**
 * The per-thread layouts of a warp fragment and the fragment ops that depend on them beyond
 * mma (passes/tileOps.ts): element coordinates (fragmentMap/rowMap), the register A operand
 * (toOperand) and mma with it (mmaFragment). Both layouts keep the facts of
 * ir/fragmentLayout.ts, on which the frontend lowers row reductions and row vectors.
 */

export const lane: Expr = bin('&', localIndex, i32(31));
export const local = (buf: string, j: number, type: DType = 'f32'): Expr => ({ k: 'load', space: 'local', buf, type, index: i32(j) });

/** Portable layout: a thread's 2 rows (2g, 2g+1) by 4 columns (4t..4t+3), the fewest shared reads per FMA. */
export const PORTABLE_ROWS = 2;
export const PORTABLE_COLS = 4;
/** The portable element holding the thread's row r (0..1), column c (0..3): rows follow rowSlot. */
export const portableElem = (r: number, c: number): number => (c >> 1) * 4 + r * 2 + (c & 1);

export interface FragmentLayout {
  readonly rowOf: (j: number) => Expr;
  readonly colOf: (j: number) => Expr;
}

/**
 * The tile row and column of each of a thread's 8 elements, g = lane/4, t = lane%4.
 * Tensor cores (m16n8 C layout of two n8 halves): element h*4 + i is row g + 8*(i >= 2),
 * column 8h + 2t + (i & 1). Portable: element j is row 2g + rowSlot(j), column
 * 4t + 2*(j >> 2) + (j & 1) (portableElem inverts it).
 */
export function layoutOf(tensorCores: boolean, g: Expr, t: Expr): FragmentLayout {
  if (tensorCores) {
    return {
      rowOf: (j) => plus(g, 8 * rowSlot(j)),
      colOf: (j) => plus(bin('*', t, i32(2)), (j >> 2) * 8 + (j & 1)),
    };
  }
  return {
    rowOf: (j) => plus(bin('*', g, i32(PORTABLE_ROWS)), rowSlot(j)),
    colOf: (j) => plus(bin('*', t, i32(PORTABLE_COLS)), 2 * (j >> 2) + (j & 1)),
  };
}

/** The layout on lets of g and t named after `tag` (emitted once per lowered op). */
export function fragmentLayout(tensorCores: boolean, tag: string, loc?: SourceLoc): FragmentLayout & { lets: Stmt[] } {
  const g = `${tag}_g`, t = `${tag}_t`;
  return { lets: [let_(g, bin('>>', lane, i32(2)), loc), let_(t, bin('&', lane, i32(3)), loc)], ...layoutOf(tensorCores, v(g), v(t)) };
}

/** fragmentCoord -> its expression in the kernel's layout (inline: a map's 8 copies share g and t after CSE). */
export function resolveCoord(e: Expr, tensorCores: boolean): Expr {
  if (e.k !== 'fragmentCoord') return e;
  const layout = layoutOf(tensorCores, bin('>>', lane, i32(2)), bin('&', lane, i32(3)));
  return e.axis === 'row' ? layout.rowOf(e.elem) : layout.colOf(e.elem);
}

/**
 * Tensor cores: the m16n8k16 A registers are the C registers of the two n8 halves, pairwise
 * (a_i holds elements 2i, 2i+1: rows g / g+8, k = 2t, 2t+1 (+8)), so each is one pack2 of
 * two rounded elements, no shuffles. Portable: the 8 elements rounded in place (f32), and
 * mmaFragment fetches the other columns of its rows from the 3 lanes holding them.
 */
export function lowerFragmentOperand(s: Extract<Stmt, { k: 'fragmentOperand' }>, tensorCores: boolean): Stmt[] {
  const { loc } = s;
  const narrow = (j: number): Expr => ({ k: 'cast', type: s.dtype, a: local(s.acc, j) });
  if (tensorCores) {
    const out: Stmt[] = [{ k: 'localArray', name: s.name, type: 'u32', size: { k: 'num', v: 4 }, loc }];
    for (let i = 0; i < 4; i++) {
      out.push({ k: 'store', space: 'local', buf: s.name, index: i32(i), value: { k: 'call', fn: 'pack2', type: 'u32', args: [narrow(2 * i), narrow(2 * i + 1)] }, loc });
    }
    return out;
  }
  const out: Stmt[] = [{ k: 'localArray', name: s.name, type: 'f32', size: { k: 'num', v: FRAGMENT_ELEMS }, loc }];
  for (let j = 0; j < FRAGMENT_ELEMS; j++) out.push({ k: 'store', space: 'local', buf: s.name, index: i32(j), value: { k: 'cast', type: 'f32', a: narrow(j) }, loc });
  return out;
}

/** Element index of B[k][n] stored k-major (a row-major V tile [keys][dv]). */
const bAt = (b: TileRef, k: Expr, n: Expr): Expr => bin('+', bin('+', b.offset, bin('*', k, b.stride)), n);

/**
 * acc += A·B, A the register operand, B 16x16 k-major in shared memory. Tensor cores: B's
 * registers (b0: k = 2t, 2t+1 at column g; b1: k + 8) are the transposed 8x8 matrices, so
 * one ldmatrix.x4.trans loads both n8 halves when every 16-byte row is provably aligned
 * (`rowsAligned`); otherwise each register packs two element loads.
 */
export function lowerMmaFragment(s: Extract<Stmt, { k: 'mmaFragment' }>, tensorCores: boolean, tag: string, rowsAligned: boolean): Stmt[] {
  if (!tensorCores) return portableMma(s, tag);
  const { b, loc } = s;
  const g = `mmf${tag}_g`, tk = `mmf${tag}_tk`;
  const out: Stmt[] = [let_(g, bin('>>', lane, i32(2)), loc), let_(tk, bin('*', bin('&', lane, i32(3)), i32(2)), loc)];
  const a = [0, 1, 2, 3].map((i) => local(s.a, i, 'u32'));
  let bRegs: (h: number) => Expr[];
  if (rowsAligned) {
    // Lane l addresses row l % 8 of matrix l / 8: matrices (k 0-7 | 8-15) x (n 0-7 | 8-15), k fastest.
    const m = bin('>>', lane, i32(3)), r = bin('&', lane, i32(7));
    const k = bin('+', bin('*', bin('&', m, i32(1)), i32(8)), r), n0 = bin('*', bin('>>', m, i32(1)), i32(8));
    const names = [0, 1, 2, 3].map((i) => `mmf${tag}_b${i}`);
    out.push({ k: 'ldmatrix', count: 4, trans: true, buf: b.buf, rowIndex: bAt(b, k, n0), results: names, loc });
    bRegs = (h) => [v(names[2 * h], 'u32'), v(names[2 * h + 1], 'u32')];
  } else {
    const reg = (n: Expr, k: Expr) => operandRegister(b.buf, s.dtype, bAt(b, k, n), b.stride, false);
    bRegs = (h) => [reg(plus(v(g), 8 * h), v(tk)), reg(plus(v(g), 8 * h), plus(v(tk), 8))];
  }
  for (const h of [0, 1]) out.push({ k: 'mmaSync', dtype: s.dtype, acc: s.acc, accBase: h * 4, a, b: bRegs(h), loc });
  return out;
}

/**
 * Portable: row r of the thread's A is spread over the 4 lanes t' of its group (columns
 * 4t'..4t'+3), so for each xor mask m the thread takes lane t^m's 8 values by shuffle and
 * runs the 4 k = 4(t^m) + c steps they cover: 32 shuffles (mask 0 is the thread's own),
 * 64 B reads, 128 FMAs per thread. The loop over m stays a loop on WGSL (passes/unroll.ts):
 * its index only addresses lanes and shared memory, never a register.
 */
function portableMma(s: Extract<Stmt, { k: 'mmaFragment' }>, tag: string): Stmt[] {
  const { b, loc } = s;
  const p = `mmf${tag}`, m = `${p}_m`;
  const layout = fragmentLayout(false, p, loc);
  const body: Stmt[] = [];
  const kBase = bin('*', bin('^', v(`${p}_t`), v(m)), i32(4));
  for (let c = 0; c < PORTABLE_COLS; c++) {
    const aVals = [0, 1].map((r) => {
      const result = `${p}_a${r}${c}`;
      body.push({ k: 'subgroup', op: 'shuffleXor', result, type: 'f32', value: local(s.a, portableElem(r, c)), laneMask: v(m), loc });
      return v(result, 'f32');
    });
    const k = plus(kBase, c);
    for (let n = 0; n < PORTABLE_COLS; n++) {
      const bv: Expr = { k: 'cast', type: 'f32', a: { k: 'load', space: 'shared', buf: b.buf, type: s.dtype, index: bAt(b, k, layout.colOf(portableElem(0, n))) } };
      const bName = `${p}_b${c}${n}`;
      body.push(let_(bName, bv, loc));
      for (let r = 0; r < PORTABLE_ROWS; r++) {
        const j = portableElem(r, n);
        body.push({ k: 'store', space: 'local', buf: s.acc, index: i32(j), value: { k: 'call', fn: 'fma', type: 'f32', args: [aVals[r], v(bName, 'f32'), local(s.acc, j)] }, loc });
      }
    }
  }
  return [...layout.lets, countedLoop(m, i32(0), i32(4), i32(1), body, loc)];
}
