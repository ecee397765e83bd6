import {
  bf16, f32, localIndex,
  type fp8e4m3, type i32, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';

/**
 * Building blocks of the tiled GEMMs (ops/gemm.ts, ops/moe/grouped_gemm.ts). A block tile
 * is computed by (rows/16) x (cols/16) warps, each owning the 16x16 fragment at
 * (warpRow, warpCol), warps numbered row-major; operands are staged in shared memory by
 * the load helpers, which zero-fill everything outside the matrix so that any shape works.
 * (The fragment itself cannot be passed to a helper, so the K loop with its mma calls
 * stays in the kernel or the helper that declares the fragment.)
 */

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
  dst: Shared<bf16 | f32>, dOff: i32, rs: i32, cs: i32,
  src: Tensor<bf16 | f32, readonly string[]>, base: i32, ld: i32, rows: i32, cols: i32,
  R: i32, C: i32, threads: i32,
): void {
  for (let i = localIndex; i < R * C; i += threads) {
    const r = i / C;
    const c = i % C;
    dst[dOff + r * rs + c * cs] = r < rows && c < cols ? src[base + r * ld + c] : 0;
  }
}

/**
 * loadTile for FP8 (e4m3) sources, dequantised to bf16 on the way into shared memory:
 * element (r, c) = bf16(f32(src[base + r*ld + c]) * scale[sBase + ((sRow0 + r) / sGroup) * sLd]).
 * Activations: sGroup = 1 (one scale per row and 128-wide K group); weights: sGroup = 128
 * (one scale per 128x128 block). The caller keeps the C columns inside one 128-wide K
 * group (BK divides 128), so each row needs one scale; a thread takes 4 consecutive
 * columns of one row and loads that scale once.
 */
export function loadTileFp8(
  dst: Shared<bf16>, dOff: i32, rs: i32, cs: i32,
  src: Tensor<fp8e4m3, readonly string[]>, base: i32, ld: i32, rows: i32, cols: i32,
  scale: Tensor<f32, readonly string[]>, sBase: i32, sLd: i32, sRow0: i32, sGroup: i32,
  R: i32, C: i32, threads: i32,
): void {
  for (let i = localIndex; i < R * (C / 4); i += threads) {
    const r = i / (C / 4);
    const c0 = (i % (C / 4)) * 4;
    const s = r < rows ? scale[sBase + ((sRow0 + r) / sGroup) * sLd] : 0.0;
    for (let v = 0; v < 4; v++) {
      const c = c0 + v;
      dst[dOff + r * rs + c * cs] = bf16(r < rows && c < cols ? f32(src[base + r * ld + c]) * s : 0.0);
    }
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
