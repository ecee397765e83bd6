import {
  accumulateScaled, barrier, fragment, min, mmaTransposedB, storeFragment, workgroupId,
  type bf16, type f32, type fp8e4m3, type Fragment, type i32, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';
import { loadRowScales, loadTile, storeSwiGlu, storeTileBf16, tileThreads, warpCol, warpRow } from '../common/tile.js';

/**
 * The block tiles of the grouped expert GEMMs (ops/moe/grouped_gemm.ts), BF16 and FP8. A
 * workgroup computes a BM x BN output tile of one expert, each warp a 16x16 fragment
 * (gate/up: a gate and an up fragment for the same outputs). Weight tiles are staged as
 * stored ([N, K], a straight copy) and read along K by mmaTransposedB, which gives the
 * tensor cores whole 32-bit registers.
 *
 * FP8 (DeepGEMM's promotion): the raw e4m3 tiles go to the FP8 MMA (CUDA: mma.sync
 * m16n8k32 e4m3 on sm_89+; below it, the same registers converted exactly to f16), each
 * 128-deep K block is accumulated on its own, and accumulateScaled adds it to the result
 * times xs[row, block] * ws[n-block, block]. BK divides 128, so K tiles never straddle a
 * scale block, and BN divides 128, so a tile's columns share one weight scale per block.
 * Products of fp8 values are exact, but the tensor cores of sm_89/sm_90 sum them with fewer
 * mantissa bits than f32 (about 13, by published measurements; the CPU emulator uses f32):
 * promoting every 128 K into the f32 accumulator bounds that error, as in DeepGEMM.
 */

type Operand = bf16 | fp8e4m3;

/** gate += x[rows, k0..k1)·Wgᵀ and up += x·Wuᵀ for the tile's columns f0.., BK at a time; depth = the MMA's K. */
function gateUpSpan(
  gate: Fragment, up: Fragment, x: Tensor<Operand, readonly string[]>, wg: Tensor<Operand, readonly string[]>, wu: Tensor<Operand, readonly string[]>,
  As: Shared<Operand>, Bs: Shared<Operand>, row0: i32, rows: i32, wBase: i32, f0: i32, F: i32, H: i32, k0: i32, k1: i32,
  BM: i32, BN: i32, BK: i32, depth: i32,
): void {
  const threads = tileThreads(BM, BN);
  const wm = warpRow(BN);
  const wn = warpCol(BN);
  // Bs is 2BN x BK: gate rows [0, BN), up rows [BN, 2BN).
  for (let k = k0; k < k1; k += BK) {
    loadTile(As, 0, BK, 1, x, row0 * H + k, H, rows, H - k, BM, BK, threads);
    loadTile(Bs, 0, BK, 1, wg, wBase + k, H, F - f0, H - k, BN, BK, threads);
    loadTile(Bs, BN * BK, BK, 1, wu, wBase + k, H, F - f0, H - k, BN, BK, threads);
    barrier();
    for (let kk = 0; kk < BK; kk += depth) {
      mmaTransposedB(gate, As, wm * BK + kk, BK, Bs, wn * BK + kk, BK);
      mmaTransposedB(up, As, wm * BK + kk, BK, Bs, (BN + wn) * BK + kk, BK);
    }
    barrier();
  }
}

/** acc += x[rows, k0..k1)·Wᵀ for the tile's columns n0.., BK at a time. */
function downSpan(
  acc: Fragment, x: Tensor<Operand, readonly string[]>, w: Tensor<Operand, readonly string[]>, As: Shared<Operand>, Bs: Shared<Operand>,
  row0: i32, rows: i32, wBase: i32, n0: i32, N: i32, K: i32, k0: i32, k1: i32, BM: i32, BN: i32, BK: i32, depth: i32,
): void {
  const threads = tileThreads(BM, BN);
  const wm = warpRow(BN);
  const wn = warpCol(BN);
  for (let k = k0; k < k1; k += BK) {
    loadTile(As, 0, BK, 1, x, row0 * K + k, K, rows, K - k, BM, BK, threads);
    loadTile(Bs, 0, BK, 1, w, wBase + k, K, N - n0, K - k, BN, BK, threads);
    barrier();
    for (let kk = 0; kk < BK; kk += depth) {
      mmaTransposedB(acc, As, wm * BK + kk, BK, Bs, wn * BK + kk, BK);
    }
    barrier();
  }
}

/** out[rows, f0..] = bf16(silu(gate) * up) through Cs (BM x 2BN). */
function gateUpEpilogue(gate: Fragment, up: Fragment, Cs: Shared<f32>, out: Out<bf16, readonly string[]>, row0: i32, rows: i32, f0: i32, F: i32, BM: i32, BN: i32): void {
  const wm = warpRow(BN);
  const wn = warpCol(BN);
  storeFragment(gate, Cs, wm * 2 * BN + wn, 2 * BN);
  storeFragment(up, Cs, wm * 2 * BN + BN + wn, 2 * BN);
  barrier();
  storeSwiGlu(out, Cs, row0 * F + f0, F, rows, F - f0, BM, BN, tileThreads(BM, BN));
}

/** out[rows, n0..] = bf16(acc) through Cs (BM x BN). */
function downEpilogue(acc: Fragment, Cs: Shared<f32>, out: Out<bf16, readonly string[]>, row0: i32, rows: i32, n0: i32, N: i32, BM: i32, BN: i32): void {
  storeFragment(acc, Cs, warpRow(BN) * BN + warpCol(BN), BN);
  barrier();
  storeTileBf16(out, row0 * N + n0, N, rows, N - n0, Cs, BM, BN, tileThreads(BM, BN));
}

/** Gate/up + SwiGLU tile, BF16: a BM x BN tile of h, rows row0.. of x (rows valid), expert e. */
export function gluTileBf16(
  x: Tensor<bf16, readonly string[]>, wg: Tensor<bf16, readonly string[]>, wu: Tensor<bf16, readonly string[]>, out: Out<bf16, readonly string[]>,
  As: Shared<bf16>, Bs: Shared<bf16>, Cs: Shared<f32>,
  e: i32, row0: i32, rows: i32, F: i32, H: i32, BM: i32, BN: i32, BK: i32,
): void {
  const f0 = workgroupId.x * BN;
  const gate = fragment();
  const up = fragment();
  gateUpSpan(gate, up, x, wg, wu, As, Bs, row0, rows, (e * F + f0) * H, f0, F, H, 0, H, BM, BN, BK, 16);
  gateUpEpilogue(gate, up, Cs, out, row0, rows, f0, F, BM, BN);
}

/** Gate/up + SwiGLU tile, FP8: the FP8 MMA per 128-deep K block, then promoted with its scales. */
export function gluTileFp8(
  xq: Tensor<fp8e4m3, readonly string[]>, xs: Tensor<f32, readonly string[]>,
  wg: Tensor<fp8e4m3, readonly string[]>, wu: Tensor<fp8e4m3, readonly string[]>,
  wgs: Tensor<f32, readonly string[]>, wus: Tensor<f32, readonly string[]>, out: Out<bf16, readonly string[]>,
  As: Shared<fp8e4m3>, Bs: Shared<fp8e4m3>, Cs: Shared<f32>, Ss: Shared<f32>,
  e: i32, row0: i32, rows: i32, F: i32, H: i32, HG: i32, FB: i32, BM: i32, BN: i32, BK: i32,
): void {
  const f0 = workgroupId.x * BN;
  const wScale = (e * FB + f0 / 128) * HG;
  const gate = fragment();
  const up = fragment();
  for (let kb = 0; kb < H; kb += 128) {
    const kg = kb / 128;
    const gateBlock = fragment();
    const upBlock = fragment();
    loadRowScales(Ss, xs, row0 * HG + kg, HG, rows, BM, tileThreads(BM, BN));
    gateUpSpan(gateBlock, upBlock, xq, wg, wu, As, Bs, row0, rows, (e * F + f0) * H, f0, F, H, kb, min(kb + 128, H), BM, BN, BK, 32);
    accumulateScaled(gate, gateBlock, Ss, warpRow(BN), wgs[wScale + kg]);
    accumulateScaled(up, upBlock, Ss, warpRow(BN), wus[wScale + kg]);
    barrier(); // the next block rewrites Ss
  }
  gateUpEpilogue(gate, up, Cs, out, row0, rows, f0, F, BM, BN);
}

/** Down-projection tile, BF16: a BM x BN tile of y = h·Wdᵀ for expert e. */
export function downTileBf16(
  x: Tensor<bf16, readonly string[]>, w: Tensor<bf16, readonly string[]>, out: Out<bf16, readonly string[]>,
  As: Shared<bf16>, Bs: Shared<bf16>, Cs: Shared<f32>,
  e: i32, row0: i32, rows: i32, N: i32, K: i32, BM: i32, BN: i32, BK: i32,
): void {
  const n0 = workgroupId.x * BN;
  const acc = fragment();
  downSpan(acc, x, w, As, Bs, row0, rows, (e * N + n0) * K, n0, N, K, 0, K, BM, BN, BK, 16);
  downEpilogue(acc, Cs, out, row0, rows, n0, N, BM, BN);
}

/** Down-projection tile, FP8: as gluTileFp8 with one weight. */
export function downTileFp8(
  xq: Tensor<fp8e4m3, readonly string[]>, xs: Tensor<f32, readonly string[]>,
  w: Tensor<fp8e4m3, readonly string[]>, ws: Tensor<f32, readonly string[]>, out: Out<bf16, readonly string[]>,
  As: Shared<fp8e4m3>, Bs: Shared<fp8e4m3>, Cs: Shared<f32>, Ss: Shared<f32>,
  e: i32, row0: i32, rows: i32, N: i32, K: i32, KG: i32, NB: i32, BM: i32, BN: i32, BK: i32,
): void {
  const n0 = workgroupId.x * BN;
  const wScale = (e * NB + n0 / 128) * KG;
  const acc = fragment();
  for (let kb = 0; kb < K; kb += 128) {
    const kg = kb / 128;
    const block = fragment();
    loadRowScales(Ss, xs, row0 * KG + kg, KG, rows, BM, tileThreads(BM, BN));
    downSpan(block, xq, w, As, Bs, row0, rows, (e * N + n0) * K, n0, N, K, kb, min(kb + 128, K), BM, BN, BK, 32);
    accumulateScaled(acc, block, Ss, warpRow(BN), ws[wScale + kg]);
    barrier(); // the next block rewrites Ss
  }
  downEpilogue(acc, Cs, out, row0, rows, n0, N, BM, BN);
}
