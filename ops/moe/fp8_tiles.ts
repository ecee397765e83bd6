import {
  accumulateScaled, barrier, fragment, min, mmaTransposedB, storeFragment, workgroupId,
  type bf16, type f32, type fp8e4m3, type i32, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';
import { loadRowScales, loadTile, storeSwiGlu, storeTileBf16, warpCol, warpRow } from '../common/tile.js';

/**
 * The FP8 block-scaled tiles of the grouped GEMMs (ops/moe/grouped_gemm.ts): activations
 * e4m3 with one f32 scale per (row, 128-wide K group), weights e4m3 with one f32 scale per
 * 128x128 block, f32 accumulation.
 *
 * FP8 main loop (DeepGEMM's promotion): the raw e4m3 tiles are staged in shared memory as
 * they are stored (A row-major [BM, BK], weights in their own [N, K] order, read by
 * mmaTransposedB), each 128-deep K block is accumulated unscaled by the FP8 MMA (CUDA:
 * mma.sync m16n8k32 e4m3 on sm_89+; below it, the same fragments converted exactly to f16), and
 * accumulateScaled then adds it to the result times xs[row, block] * ws[n-block, block].
 * BK divides 128, so K tiles never straddle a scale block, and BN divides 128, so a tile's
 * columns share one weight scale per K block. Products of fp8 values are exact; a block's
 * partial sum is rounded once to f32 before scaling, as on the tensor core.
 */

/** Gate/up + SwiGLU tile, FP8: raw e4m3 tiles, FP8 MMA per 128-deep K block, then scaled (see the file comment). */
export function gluTileFp8(
  xq: Tensor<fp8e4m3, readonly string[]>, xs: Tensor<f32, readonly string[]>,
  wg: Tensor<fp8e4m3, readonly string[]>, wu: Tensor<fp8e4m3, readonly string[]>,
  wgs: Tensor<f32, readonly string[]>, wus: Tensor<f32, readonly string[]>, out: Out<bf16, readonly string[]>,
  As: Shared<fp8e4m3>, Bs: Shared<fp8e4m3>, Cs: Shared<f32>, Ss: Shared<f32>,
  e: i32, row0: i32, rows: i32, F: i32, H: i32, HG: i32, FB: i32, BM: i32, BN: i32, BK: i32,
): void {
  const threads = (BM / 16) * (BN / 16) * 32;
  const f0 = workgroupId.x * BN;
  const wm = warpRow(BN);
  const wn = warpCol(BN);
  // Bs is 2BN x BK: gate rows [0, BN), up rows [BN, 2BN), each as stored ([F, H] order).
  const wBase = (e * F + f0) * H;
  const wScale = (e * FB + f0 / 128) * HG;
  const gate = fragment();
  const up = fragment();
  for (let kb = 0; kb < H; kb += 128) {
    const kg = kb / 128;
    const gateBlock = fragment();
    const upBlock = fragment();
    loadRowScales(Ss, xs, row0 * HG + kg, HG, rows, BM, threads);
    for (let k0 = kb; k0 < min(kb + 128, H); k0 += BK) {
      loadTile(As, 0, BK, 1, xq, row0 * H + k0, H, rows, H - k0, BM, BK, threads);
      loadTile(Bs, 0, BK, 1, wg, wBase + k0, H, F - f0, H - k0, BN, BK, threads);
      loadTile(Bs, BN * BK, BK, 1, wu, wBase + k0, H, F - f0, H - k0, BN, BK, threads);
      barrier();
      for (let kk = 0; kk < BK; kk += 32) {
        mmaTransposedB(gateBlock, As, wm * BK + kk, BK, Bs, wn * BK + kk, BK);
        mmaTransposedB(upBlock, As, wm * BK + kk, BK, Bs, (BN + wn) * BK + kk, BK);
      }
      barrier();
    }
    accumulateScaled(gate, gateBlock, Ss, wm, wgs[wScale + kg]);
    accumulateScaled(up, upBlock, Ss, wm, wus[wScale + kg]);
    barrier(); // the next block rewrites Ss
  }
  storeFragment(gate, Cs, wm * 2 * BN + wn, 2 * BN);
  storeFragment(up, Cs, wm * 2 * BN + BN + wn, 2 * BN);
  barrier();
  storeSwiGlu(out, Cs, row0 * F + f0, F, rows, F - f0, BM, BN, threads);
}

/** Down-projection tile, FP8: as gluTileFp8 with one weight. */
export function downTileFp8(
  xq: Tensor<fp8e4m3, readonly string[]>, xs: Tensor<f32, readonly string[]>,
  w: Tensor<fp8e4m3, readonly string[]>, ws: Tensor<f32, readonly string[]>, out: Out<bf16, readonly string[]>,
  As: Shared<fp8e4m3>, Bs: Shared<fp8e4m3>, Cs: Shared<f32>, Ss: Shared<f32>,
  e: i32, row0: i32, rows: i32, N: i32, K: i32, KG: i32, NB: i32, BM: i32, BN: i32, BK: i32,
): void {
  const threads = (BM / 16) * (BN / 16) * 32;
  const n0 = workgroupId.x * BN;
  const wm = warpRow(BN);
  const wn = warpCol(BN);
  const wBase = (e * N + n0) * K;
  const wScale = (e * NB + n0 / 128) * KG;
  const acc = fragment();
  for (let kb = 0; kb < K; kb += 128) {
    const kg = kb / 128;
    const block = fragment();
    loadRowScales(Ss, xs, row0 * KG + kg, KG, rows, BM, threads);
    for (let k0 = kb; k0 < min(kb + 128, K); k0 += BK) {
      loadTile(As, 0, BK, 1, xq, row0 * K + k0, K, rows, K - k0, BM, BK, threads);
      loadTile(Bs, 0, BK, 1, w, wBase + k0, K, N - n0, K - k0, BN, BK, threads);
      barrier();
      for (let kk = 0; kk < BK; kk += 32) {
        mmaTransposedB(block, As, wm * BK + kk, BK, Bs, wn * BK + kk, BK);
      }
      barrier();
    }
    accumulateScaled(acc, block, Ss, wm, ws[wScale + kg]);
    barrier(); // the next block rewrites Ss
  }
  storeFragment(acc, Cs, wm * BN + wn, BN);
  barrier();
  storeTileBf16(out, row0 * N + n0, N, rows, N - n0, Cs, BM, BN, threads);
}

