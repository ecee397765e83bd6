import type { Expr, Stmt } from '../ir/nodes.js';
import type { SourceLoc } from '../common/source-loc.js';
import { bin, i32, let_, localIndex, plus, v } from '../ir/build.js';

/**
 * Which thread holds which element of a block accumulator (passes/blockTile.ts). Both
 * layouts are decided from the accumulator's rows x cols and the workgroup's thread count
 * alone, so every block op of a kernel agrees on them.
 *
 * Portable (WGSL, the interpreter, f32 operands on CUDA): register blocking. Threads form a
 * TR x TC grid (thread li at tr = li / TC, tc = li % TC); each owns a TM x TN micro-tile,
 * rows tr*TM + i (adjacent: one A value serves TN products) and columns tc + j*TC (strided:
 * adjacent threads read adjacent B columns). Per k step a thread reads TM + TN values for
 * TM*TN fmas.
 *
 * Tensor cores: warps form a WR x WC grid, each owning a WM x WN warp tile of
 * (WM/16) x (WN/8) mma.sync m16n8 C fragments (PTX ISA layout: element i of a fragment is
 * row g + 8*(i >> 1), column 2t + (i & 1), g = lane / 4, t = lane % 4).
 */


/** Largest micro-tile side: 8x8 = 64 accumulators per thread is where registers run out. */
const MAX_MICRO = 8;
/** Largest warp tile side the chooser prefers (64x64: 128 accumulators per thread). */
const MAX_WARP_TILE = 64;

export interface PortableShape { readonly kind: 'portable'; readonly TM: number; readonly TN: number; readonly TR: number; readonly TC: number }
export interface WarpShape { readonly kind: 'tensorCores'; readonly WR: number; readonly WC: number; readonly WM: number; readonly WN: number }
export type Shape = PortableShape | WarpShape;

/** Threads that hold elements (the rest skip every block op of this accumulator). */
export const usedThreads = (s: Shape): number => (s.kind === 'portable' ? s.TR * s.TC : s.WR * s.WC * 32);
/** Accumulator elements per participating thread. */
export const perThread = (s: Shape): number => (s.kind === 'portable' ? s.TM * s.TN : (s.WM / 16) * (s.WN / 8) * 4);

/**
 * The layout of a rows x cols accumulator (undefined: the threads cannot hold it): the one
 * choice every block op of that accumulator follows (passes/blockTile.ts).
 */
export function accumulatorShape(rows: number, cols: number, threads: number, tensorCores: boolean): Shape | undefined {
  return tensorCores ? warpShape(rows, cols, threads) : portableShape(rows, cols, threads);
}

/**
 * The micro-tile with the fewest elements per thread that the threads can cover (so the
 * most threads take part), then the squarest, then the wider. Undefined when even 8x8
 * tiles need more threads than the workgroup has.
 */
export function portableShape(rows: number, cols: number, threads: number): PortableShape | undefined {
  let best: PortableShape | undefined;
  const cost = (s: PortableShape) => [s.TM * s.TN, Math.abs(Math.log2(s.TM / s.TN)), s.TM];
  for (let TM = 1; TM <= MAX_MICRO; TM *= 2) {
    for (let TN = 1; TN <= MAX_MICRO; TN *= 2) {
      if (rows % TM || cols % TN || (rows / TM) * (cols / TN) > threads) continue;
      const s: PortableShape = { kind: 'portable', TM, TN, TR: rows / TM, TC: cols / TN };
      if (!best || less(cost(s), cost(best))) best = s;
    }
  }
  return best;
}

/**
 * The warp grid using the most warps, then with warp tiles whose width is a multiple of 16
 * (B fragments in pairs: one ldmatrix.x4), at most 64x64, and as square as possible.
 * Undefined when no warp tile is a multiple of 16 x 8.
 */
export function warpShape(rows: number, cols: number, threads: number): WarpShape | undefined {
  const warps = Math.floor(threads / 32);
  let best: WarpShape | undefined;
  const cost = (s: WarpShape) => [-s.WR * s.WC, s.WN % 16 ? 1 : 0, s.WM > MAX_WARP_TILE || s.WN > MAX_WARP_TILE ? 1 : 0, Math.abs(Math.log2(s.WM / s.WN)), -s.WN];
  for (let WR = 1; WR <= warps; WR++) {
    for (let WC = 1; WR * WC <= warps; WC++) {
      if (rows % WR || cols % WC) continue;
      const s: WarpShape = { kind: 'tensorCores', WR, WC, WM: rows / WR, WN: cols / WC };
      if (s.WM % 16 || s.WN % 8) continue;
      if (!best || less(cost(s), cost(best))) best = s;
    }
  }
  return best;
}

const less = (a: number[], b: number[]): boolean => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
};

/** The calling thread's coordinates (lets, named after `tag`) and where its element j lies. */
export interface Placement {
  readonly lets: Stmt[];
  /** Whether the thread holds elements; undefined when all do. */
  readonly active: Expr | undefined;
  readonly count: number;
  readonly rowOf: (j: number) => Expr;
  readonly colOf: (j: number) => Expr;
}

export function placement(s: Shape, threads: number, tag: string, loc?: SourceLoc): Placement {
  const active = usedThreads(s) < threads ? bin('<', localIndex, i32(usedThreads(s))) : undefined;
  if (s.kind === 'portable') {
    const tr = `${tag}_tr`, tc = `${tag}_tc`;
    return {
      lets: [let_(tr, bin('/', localIndex, i32(s.TC)), loc), let_(tc, bin('%', localIndex, i32(s.TC)), loc)],
      active,
      count: s.TM * s.TN,
      rowOf: (j) => plus(bin('*', v(tr), i32(s.TM)), Math.floor(j / s.TN)),
      colOf: (j) => plus(v(tc), (j % s.TN) * s.TC),
    };
  }
  const c = warpCoords(s, tag, loc);
  const NI = s.WN / 8;
  return {
    lets: c.lets,
    active,
    count: perThread(s),
    rowOf: (j) => plus(c.rowBase, Math.floor(j / 4 / NI) * 16 + ((j & 3) >> 1) * 8),
    colOf: (j) => plus(c.colBase, ((j >> 2) % NI) * 8 + (j & 1)),
  };
}

/**
 * A warp's position: lane, g = lane / 4, t = lane % 4, and the first row (wr*WM + g) and
 * column (wc*WN + 2t) of its fragments' C elements; wm0/wn0 the warp tile's origin.
 */
export function warpCoords(s: WarpShape, tag: string, loc?: SourceLoc) {
  const lane = `${tag}_lane`, warp = `${tag}_warp`, wm0 = `${tag}_wm0`, wn0 = `${tag}_wn0`;
  const lets = [
    let_(lane, bin('&', localIndex, i32(31)), loc),
    let_(warp, bin('>>', localIndex, i32(5)), loc),
    let_(wm0, bin('*', bin('/', v(warp), i32(s.WC)), i32(s.WM)), loc),
    let_(wn0, bin('*', bin('%', v(warp), i32(s.WC)), i32(s.WN)), loc),
  ];
  const g = bin('>>', v(lane), i32(2)), t = bin('&', v(lane), i32(3));
  return {
    lets,
    lane: v(lane), wm0: v(wm0), wn0: v(wn0), g, t,
    rowBase: bin('+', v(wm0), g),
    colBase: bin('+', v(wn0), bin('*', t, i32(2))),
  };
}
