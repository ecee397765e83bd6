import {
  bf16, localIndex,
  type Dim, type f32, type fp8e4m3, type i32, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';
import { silu } from '../swiglu.js';

/**
 * Building blocks of the tiled GEMMs (ops/gemm.ts, ops/moe/expert_tiles.ts). A block tile
 * is computed by (rows/16) x (cols/16) warps, each owning the 16x16 fragment at
 * (warpRow, warpCol), warps numbered row-major; operands are staged in shared memory by
 * the load helpers, which zero-fill everything outside the matrix so that any shape works.
 * Consecutive threads take consecutive columns, so global reads and writes are coalesced.
 */

type Staged = bf16 | f32 | fp8e4m3;

/**
 * Where a block tile lies in a matrix (a tensor or a view of one): its first row r0 and
 * column c0, and the matrix's valid rows and cols. Elements past them load as zero and
 * are not stored.
 */
export type At = { r0: i32; c0: i32; rows: i32; cols: i32 };

/** An R x C tile moved by `threads` threads (compile-time sizes). */
export type TileShape = { R: i32; C: i32; threads: i32 };

/** Threads of a tileRows x tileCols block tile: one warp per 16x16 fragment (the kernel's workgroup size). */
export function tileThreads(tileRows: i32, tileCols: i32): i32 {
  return (tileRows / 16) * (tileCols / 16) * 32;
}

/** Row offset of the calling warp's 16x16 fragment in a block tile `tileCols` wide. */
export function warpRow(tileCols: i32): i32 {
  return (localIndex / 32 / (tileCols / 16)) * 16;
}

/** Column offset of the calling warp's 16x16 fragment in a block tile `tileCols` wide. */
export function warpCol(tileCols: i32): i32 {
  return ((localIndex / 32) % (tileCols / 16)) * 16;
}

/**
 * dst[r][c] = src[r0 + r][c0 + c], zero outside the matrix. A [N, K] weight block staged
 * this way stays [N, K]: mmaTransposedB reads it along K.
 */
export function loadTile(dst: Shared<Staged, [number, number]>, src: Tensor<Staged, [Dim, Dim]>, at: At, t: TileShape): void {
  for (let i = localIndex; i < t.R * t.C; i += t.threads) {
    const r = i / t.C;
    const c = i % t.C;
    dst[r][c] = at.r0 + r < at.rows && at.c0 + c < at.cols ? src[at.r0 + r][at.c0 + c] : 0;
  }
}

/** dst[r] = src[r0 + r][col] for the tile's R rows, 0 past the valid rows: one scale per tile row. */
export function loadRowScales(dst: Shared<f32>, src: Tensor<f32, [Dim, Dim]>, at: { r0: i32; rows: i32; col: i32 }, R: i32, threads: i32): void {
  for (let r = localIndex; r < R; r += threads) {
    dst[r] = at.r0 + r < at.rows ? src[at.r0 + r][at.col] : 0.0;
  }
}

/** out[r0 + r][c0 + c] = src[r][c] inside the matrix. */
export function storeTile(out: Out<f32, [Dim, Dim]>, src: Shared<f32, [number, number]>, at: At, t: TileShape): void {
  for (let i = localIndex; i < t.R * t.C; i += t.threads) {
    const r = i / t.C;
    const c = i % t.C;
    if (at.r0 + r < at.rows && at.c0 + c < at.cols) {
      out[at.r0 + r][at.c0 + c] = src[r][c];
    }
  }
}

/** storeTile rounding to bf16. */
export function storeTileBf16(out: Out<bf16, [Dim, Dim]>, src: Shared<f32, [number, number]>, at: At, t: TileShape): void {
  for (let i = localIndex; i < t.R * t.C; i += t.threads) {
    const r = i / t.C;
    const c = i % t.C;
    if (at.r0 + r < at.rows && at.c0 + c < at.cols) {
      out[at.r0 + r][at.c0 + c] = bf16(src[r][c]);
    }
  }
}

/**
 * SwiGLU epilogue of a gate/up tile, src[r][0][c] = gate and src[r][1][c] = up (f32):
 * out[r0 + r][c0 + c] = bf16(silu(gate) * up) inside the matrix.
 */
export function storeSwiGlu(out: Out<bf16, [Dim, Dim]>, src: Shared<f32, [number, number, number]>, at: At, t: TileShape): void {
  for (let i = localIndex; i < t.R * t.C; i += t.threads) {
    const r = i / t.C;
    const c = i % t.C;
    if (at.r0 + r < at.rows && at.c0 + c < at.cols) {
      out[at.r0 + r][at.c0 + c] = bf16(silu(src[r][0][c]) * src[r][1][c]);
    }
  }
}
