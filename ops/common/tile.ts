import {
  bf16, f32, localIndex,
  type fp8e4m3, type i32, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';
import { silu } from '../swiglu.js';

/**
 * Building blocks of the tiled GEMMs (ops/gemm.ts, ops/moe/expert_tiles.ts). A block tile
 * is computed by (rows/16) x (cols/16) warps, each owning the 16x16 fragment at
 * (warpRow, warpCol), warps numbered row-major; operands are staged in shared memory by
 * the load helpers, which zero-fill everything outside the matrix so that any shape works.
 */

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
 * Stages an R x C block of a row-major matrix: element (r, c) = src[base + r*ld + c] for
 * r < rows and c < cols, zero elsewhere, stored at dst[dOff + r*rs + c*cs]. rs = C, cs = 1
 * keeps the block row-major; rs = 1, cs = R stores it transposed (a [N, K] weight block
 * read along K becomes the K-major B operand of the MMA). Consecutive threads take
 * consecutive c, so global reads are coalesced either way.
 */
export function loadTile(
  dst: Shared<bf16 | f32 | fp8e4m3>, dOff: i32, rs: i32, cs: i32,
  src: Tensor<bf16 | f32 | fp8e4m3, readonly string[]>, base: i32, ld: i32, rows: i32, cols: i32,
  R: i32, C: i32, threads: i32,
): void {
  for (let i = localIndex; i < R * C; i += threads) {
    const r = i / C;
    const c = i % C;
    dst[dOff + r * rs + c * cs] = r < rows && c < cols ? src[base + r * ld + c] : 0;
  }
}

/** dst[r] = src[base + r*ld] for r < rows, 0 for rows <= r < R: one scale per tile row. */
export function loadRowScales(dst: Shared<f32>, src: Tensor<f32, readonly string[]>, base: i32, ld: i32, rows: i32, R: i32, threads: i32): void {
  for (let r = localIndex; r < R; r += threads) {
    dst[r] = r < rows ? src[base + r * ld] : 0.0;
  }
}

/** Writes an R x C f32 tile (row stride C in shared) to out[base + r*ld + c] for r < rows, c < cols. */
export function storeTile(
  out: Out<f32, readonly string[]>, base: i32, ld: i32, rows: i32, cols: i32,
  src: Shared<f32>, R: i32, C: i32, threads: i32,
): void {
  for (let i = localIndex; i < R * C; i += threads) {
    const r = i / C;
    const c = i % C;
    if (r < rows && c < cols) {
      out[base + r * ld + c] = src[i];
    }
  }
}

/** storeTile rounding to bf16. */
export function storeTileBf16(
  out: Out<bf16, readonly string[]>, base: i32, ld: i32, rows: i32, cols: i32,
  src: Shared<f32>, R: i32, C: i32, threads: i32,
): void {
  for (let i = localIndex; i < R * C; i += threads) {
    const r = i / C;
    const c = i % C;
    if (r < rows && c < cols) {
      out[base + r * ld + c] = bf16(src[i]);
    }
  }
}

/**
 * SwiGLU epilogue from Cs (BM x 2BN: gate columns, then up columns):
 * out[base + r*ld + c] = bf16(silu(gate) * up), in f32, for r < rows, c < cols.
 */
export function storeSwiGlu(
  out: Out<bf16, readonly string[]>, Cs: Shared<f32>, base: i32, ld: i32, rows: i32, cols: i32, BM: i32, BN: i32, threads: i32,
): void {
  for (let i = localIndex; i < BM * BN; i += threads) {
    const r = i / BN;
    const c = i % BN;
    if (r < rows && c < cols) {
      out[base + r * ld + c] = bf16(silu(Cs[r * 2 * BN + c]) * Cs[r * 2 * BN + BN + c]);
    }
  }
}
