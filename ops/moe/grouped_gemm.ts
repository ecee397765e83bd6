import {
  kernel, cdiv, min, workgroupId,
  type bf16, type f32, type fp8e4m3, type i32, type InOut, type Tensor,
} from '../../compiler/dsl/index.js';
import { downTileBf16, downTileFp8, gluTileBf16, gluTileFp8 } from './expert_tiles.js';

/**
 * Grouped GEMM over experts, the two FFN GEMMs of a MoE layer:
 *
 *   gate/up  h[r, f] = silu(x[r,:]·Wg[e,f,:]) * (x[r,:]·Wu[e,f,:])   Wg, Wu: [E, F, H]
 *   down     y[r, n] = h[r,:]·Wd[e,n,:]                              Wd:     [E, H, F]
 *
 * Weights are row-major [E, N, K] per expert, out = x·Wᵀ as in PyTorch Linear (the
 * checkpoint's gate_proj/up_proj/down_proj stacked over experts). Gate and up are fused in
 * one GEMM: one pass over x computes both (a gate and an up block accumulator for the same
 * outputs) and the epilogue applies SwiGLU in registers, so the 2F-wide intermediate never
 * reaches memory. Gate and up are two tensors rather than one W_gate_up[E, 2F, H]: at
 * MiMo-V2-Flash scale that concatenation has 256*4096*4096 = 2^32 elements, past what the
 * DSL's i32 indices address, while [E, F, H] has exactly 2^31 (largest index 2^31 - 1).
 *
 * Row layouts (ops/moe/permute.ts):
 *   contiguous  x[M, K], M = MP rows; every expert's rows consecutive and padded to ALIGN
 *               rows (32 on WebGPU, 128 on CUDA; ops/moe/permute.ts); rowExpert[M] = expert of each row, -1 on padding. BM divides
 *               ALIGN, so a BM-row tile belongs to a single expert (read from its first
 *               row); all-padding tiles exit at once. Padding rows are zeros (moe_gather)
 *               and give zero outputs.
 *   masked      x[E, C, K] with maskedCount[E] valid rows per expert (capacity C); grid.z =
 *               expert, tiles past the count exit at once, rows past it are not written.
 *
 * Dense FFN (layer 0 and the MTP layers, SwiGLU of width 16384): the masked kernels with
 * E = 1, C = T and maskedCount = [T] read x[T, H] in place, no permutation or padding, and
 * keep the fused SwiGLU epilogue and the PyTorch weight layout (gemm_bf16 + swiglu would
 * need transposed [K, N] weights and a round trip of the 2F-wide gate/up output).
 *
 * FP8 (DeepGEMM recipe): activations e4m3 with one f32 scale per (row, 128-wide K group),
 * xs[rows, cdiv(K, 128)]; weights e4m3 with one f32 scale per 128x128 block,
 * ws[E, cdiv(N, 128), cdiv(K, 128)]; f32 accumulation. The scale tensors' shapes are
 * these formulas, which the runtime checks at launch. Partial blocks (K or N not a
 * multiple of 128) are zero-filled past the edge.
 *
 * The tiles, BF16 and FP8 (DeepGEMM's promotion with the FP8 tensor-core MMA): ops/moe/expert_tiles.ts.
 */

/**
 * Tiling, per target. BM divides ALIGN (the contiguous layout's expert block); BK steps by the
 * MMA depth (16 for bf16, 32 for fp8) and, for FP8, divides 128 like BN (scale blocks:
 * ops/moe/expert_tiles.ts). The block accumulators (gate/up: two, FP8 four) are spread over WG
 * threads by the compiler; the shared-memory limit of each target rules out the tiles that do
 * not fit. WebGPU (one stage: no async copies) fits its 16 KiB of workgroup memory (WGSL counts
 * 4 bytes per shared element): gate/up 32x32x16 uses (32*16 + 2*32*16) * 4 = 6 KiB, down
 * 32x32x32 8 KiB. CUDA: WG = 2 * BM (one warpgroup per 64 rows) and K rows of 128 bytes (bf16
 * down: 64), what the sm_90a wgmma branch takes (compiler/passes/wgmmaTile.ts; sm_80 runs the
 * same tiles on mma.sync), STAGES tiles in flight; FP8 BK = 128, one scale block, so one
 * promotion per block. BM 128 on two warpgroups reads each expert's weights once per 128 rows
 * (at T = 4096 balanced, once per expert), half the L2 re-reads of BM 64, but a decode step's
 * one or two rows per expert then run twice the MMAs. So the prefill layout (contiguous, ALIGN
 * 128 on CUDA) and the bf16 masked kernels, which stay HBM-bound at decode, take BM 128; the FP8 masked
 * kernels, the decode layout, keep BM 64 (at BM 128 their long hot loops turn issue-bound at
 * decode batch 16: 60% / 82% of HBM instead of 100%), with 128 a candidate for the tuner's
 * prefill buckets. bf16 down 128x256x32 (three stages of (128 + 256) * 32 * 2 = 24 KiB: its one
 * accumulator per thread is gate/up's two at 128 wide); FP8 contiguous four stages, down
 * 128x128x128 at (128 + 128) * 128 + 512 = 32.5 KiB each. The FP8 gate/up tile is 64 wide: its
 * four accumulators (gate, up and their per-block parts) at N = 128 need 255 registers on
 * sm_90a and spill.
 */
const gluContig = {
  tunables: {
    BM: { webgpu: [32, 16], cuda: [128, 64, 32] }, BN: { webgpu: [32, 16, 64], cuda: [128, 64] }, BK: { webgpu: [16, 32], cuda: [64, 32] },
    WG: { webgpu: [128, 64, 256], cuda: [256, 128] }, STAGES: { webgpu: [1], cuda: [3, 2, 4] }, ALIGN: { webgpu: [32], cuda: [128] },
  },
  constraints: (c: { BM: i32; BN: i32; BK: i32; ALIGN: i32 }) => [c.BK % 16 === 0, c.ALIGN % c.BM === 0],
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { M: i32; F: i32; BM: i32; BN: i32 }) => [cdiv(c.F, c.BN), cdiv(c.M, c.BM)],
};
const gluMasked = {
  tunables: {
    BM: { webgpu: [32, 16, 64], cuda: [128, 64, 32] }, BN: { webgpu: [32, 16, 64], cuda: [128, 64] }, BK: { webgpu: [16, 32], cuda: [64, 32] },
    WG: { webgpu: [128, 64, 256], cuda: [256, 128] }, STAGES: { webgpu: [1], cuda: [3, 2, 4] },
  },
  constraints: (c: { BM: i32; BN: i32; BK: i32 }) => [c.BK % 16 === 0],
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { C: i32; E: i32; F: i32; BM: i32; BN: i32 }) => [cdiv(c.F, c.BN), cdiv(c.C, c.BM), c.E],
};
const downContig = {
  tunables: {
    BM: { webgpu: [32, 16], cuda: [128, 64, 32] }, BN: { webgpu: [32, 16, 64], cuda: [256, 128, 64] }, BK: { webgpu: [32, 16], cuda: [32, 64] },
    WG: { webgpu: [128, 64, 256], cuda: [256, 128] }, STAGES: { webgpu: [1], cuda: [3, 2, 4] }, ALIGN: { webgpu: [32], cuda: [128] },
  },
  constraints: (c: { BM: i32; BN: i32; BK: i32; ALIGN: i32 }) => [c.BK % 16 === 0, c.ALIGN % c.BM === 0],
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { M: i32; H: i32; BM: i32; BN: i32 }) => [cdiv(c.H, c.BN), cdiv(c.M, c.BM)],
};
const downMasked = {
  tunables: {
    BM: { webgpu: [32, 16, 64], cuda: [128, 64, 32] }, BN: { webgpu: [32, 16, 64], cuda: [256, 128, 64] }, BK: { webgpu: [32, 16], cuda: [32, 64] },
    WG: { webgpu: [128, 64, 256], cuda: [256, 128] }, STAGES: { webgpu: [1], cuda: [3, 2, 4] },
  },
  constraints: (c: { BM: i32; BN: i32; BK: i32 }) => [c.BK % 16 === 0],
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { C: i32; E: i32; H: i32; BM: i32; BN: i32 }) => [cdiv(c.H, c.BN), cdiv(c.C, c.BM), c.E],
};
const gluContigFp8 = {
  tunables: {
    BM: { webgpu: [32, 16], cuda: [128, 64, 32] }, BN: { webgpu: [16, 32, 64], cuda: [64, 128] }, BK: { webgpu: [32, 64, 128], cuda: [128, 64] },
    WG: { webgpu: [128, 64, 256], cuda: [256, 128] }, STAGES: { webgpu: [1], cuda: [4, 3, 2] }, ALIGN: { webgpu: [32], cuda: [128] },
  },
  constraints: (c: { BM: i32; BN: i32; BK: i32; ALIGN: i32 }) => [c.BK % 32 === 0, 128 % c.BK === 0, 128 % c.BN === 0, c.ALIGN % c.BM === 0],
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { M: i32; F: i32; BM: i32; BN: i32 }) => [cdiv(c.F, c.BN), cdiv(c.M, c.BM)],
};
const gluMaskedFp8 = {
  tunables: {
    BM: { webgpu: [32, 16, 64], cuda: [64, 128, 32] }, BN: { webgpu: [16, 32, 64], cuda: [64, 128] }, BK: { webgpu: [32, 64, 128], cuda: [128, 64] },
    WG: { webgpu: [128, 64, 256], cuda: [128, 256] }, STAGES: { webgpu: [1], cuda: [3, 2, 4] },
  },
  constraints: (c: { BM: i32; BN: i32; BK: i32 }) => [c.BK % 32 === 0, 128 % c.BK === 0, 128 % c.BN === 0],
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { C: i32; E: i32; F: i32; BM: i32; BN: i32 }) => [cdiv(c.F, c.BN), cdiv(c.C, c.BM), c.E],
};
const downContigFp8 = {
  tunables: {
    BM: { webgpu: [32, 16], cuda: [128, 64, 32] }, BN: { webgpu: [32, 16, 64], cuda: [128, 64] }, BK: { webgpu: [32, 64, 128], cuda: [128, 64] },
    WG: { webgpu: [128, 64, 256], cuda: [256, 128] }, STAGES: { webgpu: [1], cuda: [4, 3, 2] }, ALIGN: { webgpu: [32], cuda: [128] },
  },
  constraints: (c: { BM: i32; BN: i32; BK: i32; ALIGN: i32 }) => [c.BK % 32 === 0, 128 % c.BK === 0, 128 % c.BN === 0, c.ALIGN % c.BM === 0],
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { M: i32; H: i32; BM: i32; BN: i32 }) => [cdiv(c.H, c.BN), cdiv(c.M, c.BM)],
};
const downMaskedFp8 = {
  tunables: {
    BM: { webgpu: [32, 16, 64], cuda: [64, 128, 32] }, BN: { webgpu: [32, 16, 64], cuda: [128, 64] }, BK: { webgpu: [32, 64, 128], cuda: [128, 64] },
    WG: { webgpu: [128, 64, 256], cuda: [128, 256] }, STAGES: { webgpu: [1], cuda: [3, 2, 4] },
  },
  constraints: (c: { BM: i32; BN: i32; BK: i32 }) => [c.BK % 32 === 0, 128 % c.BK === 0, 128 % c.BN === 0],
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { C: i32; E: i32; H: i32; BM: i32; BN: i32 }) => [cdiv(c.H, c.BN), cdiv(c.C, c.BM), c.E],
};

/** Contiguous layout: M permuted rows. Masked layout: E experts of capacity C. */
type ContigCtx = { M: i32; H: i32; E: i32; F: i32; BM: i32; BN: i32; BK: i32; WG: i32; STAGES: i32; ALIGN: i32 };
type MaskedCtx = { C: i32; H: i32; E: i32; F: i32; BM: i32; BN: i32; BK: i32; WG: i32; STAGES: i32 };

/*
 * Prologues. Contiguous: the row tile's expert is rowExpert of its first row (uniform per
 * workgroup); -1 means the tile is padding past the last expert block. Masked: grid.z is
 * the expert, tiles past min(count, C) exit. Outputs are InOut: rows of tiles that exit
 * (padding past the last expert block, rows past a masked count) keep their previous contents.
 */

export const moe_gate_up_bf16 = kernel(
  { doc: 'contiguous layout: h[M, F] = silu(x·Wg[e]ᵀ) * (x·Wu[e]ᵀ), e = rowExpert of the row tile; x[M, H], Wg/Wu[E, F, H] bf16, f32 accumulate (tensor cores on CUDA), bf16 out', ...gluContig },
  (
    x: Tensor<bf16, ['M', 'H']>, wg: Tensor<bf16, ['E', 'F', 'H']>, wu: Tensor<bf16, ['E', 'F', 'H']>, rowExpert: Tensor<i32, ['M']>,
    h: InOut<bf16, ['M', 'F']>, c: ContigCtx,
  ) => {
    const m0 = workgroupId.y * c.BM;
    const e = rowExpert[m0];
    if (e < 0 || e >= c.E) {
      return;
    }
    gluTileBf16(c, { m0, rows: c.M }, { x, wg: wg[e], wu: wu[e], h });
  },
);

export const moe_gate_up_bf16_masked = kernel(
  { doc: 'masked layout: h[e, r, F] = silu(x[e, r]·Wg[e]ᵀ) * (x[e, r]·Wu[e]ᵀ) for r < min(maskedCount[e], C); x[E, C, H], Wg/Wu[E, F, H] bf16, bf16 out', ...gluMasked },
  (
    x: Tensor<bf16, ['E', 'C', 'H']>, wg: Tensor<bf16, ['E', 'F', 'H']>, wu: Tensor<bf16, ['E', 'F', 'H']>, maskedCount: Tensor<i32, ['E']>,
    h: InOut<bf16, ['E', 'C', 'F']>, c: MaskedCtx,
  ) => {
    const e = workgroupId.z;
    const m0 = workgroupId.y * c.BM;
    const n = min(maskedCount[e], c.C);
    if (m0 >= n) {
      return;
    }
    gluTileBf16(c, { m0, rows: n }, { x: x[e], wg: wg[e], wu: wu[e], h: h[e] });
  },
);

export const moe_gate_up_fp8 = kernel(
  {
    doc: 'contiguous layout, FP8: h[M, F] = silu(x·Wgᵀ) * (x·Wuᵀ); xq[M, H] e4m3 with xs[M, cdiv(H, 128)] per (row, 128-K group), Wg/Wu[E, F, H] e4m3 with wgs/wus[E, cdiv(F, 128), cdiv(H, 128)] per 128x128 block; f32 accumulate, bf16 out',
    ...gluContigFp8,
  },
  (
    xq: Tensor<fp8e4m3, ['M', 'H']>, xs: Tensor<f32, ['M', 'cdiv(H, 128)']>, wg: Tensor<fp8e4m3, ['E', 'F', 'H']>, wu: Tensor<fp8e4m3, ['E', 'F', 'H']>,
    wgs: Tensor<f32, ['E', 'cdiv(F, 128)', 'cdiv(H, 128)']>, wus: Tensor<f32, ['E', 'cdiv(F, 128)', 'cdiv(H, 128)']>, rowExpert: Tensor<i32, ['M']>,
    h: InOut<bf16, ['M', 'F']>, c: ContigCtx,
  ) => {
    const m0 = workgroupId.y * c.BM;
    const e = rowExpert[m0];
    if (e < 0 || e >= c.E) {
      return;
    }
    gluTileFp8(c, { m0, rows: c.M }, { xq, xs, wg: wg[e], wu: wu[e], wgs: wgs[e], wus: wus[e], h });
  },
);

export const moe_gate_up_fp8_masked = kernel(
  { doc: 'masked layout, FP8: as moe_gate_up_fp8 with xq[E, C, H], xs[E, C, cdiv(H, 128)] and maskedCount[E]; bf16 out h[E, C, F]', ...gluMaskedFp8 },
  (
    xq: Tensor<fp8e4m3, ['E', 'C', 'H']>, xs: Tensor<f32, ['E', 'C', 'cdiv(H, 128)']>, wg: Tensor<fp8e4m3, ['E', 'F', 'H']>, wu: Tensor<fp8e4m3, ['E', 'F', 'H']>,
    wgs: Tensor<f32, ['E', 'cdiv(F, 128)', 'cdiv(H, 128)']>, wus: Tensor<f32, ['E', 'cdiv(F, 128)', 'cdiv(H, 128)']>, maskedCount: Tensor<i32, ['E']>,
    h: InOut<bf16, ['E', 'C', 'F']>, c: MaskedCtx,
  ) => {
    const e = workgroupId.z;
    const m0 = workgroupId.y * c.BM;
    const n = min(maskedCount[e], c.C);
    if (m0 >= n) {
      return;
    }
    gluTileFp8(c, { m0, rows: n }, { xq: xq[e], xs: xs[e], wg: wg[e], wu: wu[e], wgs: wgs[e], wus: wus[e], h: h[e] });
  },
);

export const moe_down_bf16 = kernel(
  { doc: 'contiguous layout: y[M, H] = h·Wd[e]ᵀ, e = rowExpert of the row tile; h[M, F], Wd[E, H, F] bf16, f32 accumulate (tensor cores on CUDA), bf16 out', ...downContig },
  (h: Tensor<bf16, ['M', 'F']>, wd: Tensor<bf16, ['E', 'H', 'F']>, rowExpert: Tensor<i32, ['M']>, y: InOut<bf16, ['M', 'H']>, c: ContigCtx) => {
    const m0 = workgroupId.y * c.BM;
    const e = rowExpert[m0];
    if (e < 0 || e >= c.E) {
      return;
    }
    downTileBf16(c, { m0, rows: c.M }, { h, wd: wd[e], y });
  },
);

export const moe_down_bf16_masked = kernel(
  { doc: 'masked layout: y[e, r, H] = h[e, r]·Wd[e]ᵀ for r < min(maskedCount[e], C); h[E, C, F], Wd[E, H, F] bf16, bf16 out', ...downMasked },
  (h: Tensor<bf16, ['E', 'C', 'F']>, wd: Tensor<bf16, ['E', 'H', 'F']>, maskedCount: Tensor<i32, ['E']>, y: InOut<bf16, ['E', 'C', 'H']>, c: MaskedCtx) => {
    const e = workgroupId.z;
    const m0 = workgroupId.y * c.BM;
    const n = min(maskedCount[e], c.C);
    if (m0 >= n) {
      return;
    }
    downTileBf16(c, { m0, rows: n }, { h: h[e], wd: wd[e], y: y[e] });
  },
);

export const moe_down_fp8 = kernel(
  {
    doc: 'contiguous layout, FP8: y[M, H] = h·Wd[e]ᵀ; hq[M, F] e4m3 with hs[M, cdiv(F, 128)] per (row, 128-K group), Wd[E, H, F] e4m3 with wds[E, cdiv(H, 128), cdiv(F, 128)] per 128x128 block; f32 accumulate, bf16 out',
    ...downContigFp8,
  },
  (
    hq: Tensor<fp8e4m3, ['M', 'F']>, hs: Tensor<f32, ['M', 'cdiv(F, 128)']>, wd: Tensor<fp8e4m3, ['E', 'H', 'F']>, wds: Tensor<f32, ['E', 'cdiv(H, 128)', 'cdiv(F, 128)']>,
    rowExpert: Tensor<i32, ['M']>, y: InOut<bf16, ['M', 'H']>, c: ContigCtx,
  ) => {
    const m0 = workgroupId.y * c.BM;
    const e = rowExpert[m0];
    if (e < 0 || e >= c.E) {
      return;
    }
    downTileFp8(c, { m0, rows: c.M }, { hq, hs, wd: wd[e], wds: wds[e], y });
  },
);

export const moe_down_fp8_masked = kernel(
  { doc: 'masked layout, FP8: as moe_down_fp8 with hq[E, C, F], hs[E, C, cdiv(F, 128)] and maskedCount[E]; bf16 out y[E, C, H]', ...downMaskedFp8 },
  (
    hq: Tensor<fp8e4m3, ['E', 'C', 'F']>, hs: Tensor<f32, ['E', 'C', 'cdiv(F, 128)']>, wd: Tensor<fp8e4m3, ['E', 'H', 'F']>, wds: Tensor<f32, ['E', 'cdiv(H, 128)', 'cdiv(F, 128)']>,
    maskedCount: Tensor<i32, ['E']>, y: InOut<bf16, ['E', 'C', 'H']>, c: MaskedCtx,
  ) => {
    const e = workgroupId.z;
    const m0 = workgroupId.y * c.BM;
    const n = min(maskedCount[e], c.C);
    if (m0 >= n) {
      return;
    }
    downTileFp8(c, { m0, rows: n }, { hq: hq[e], hs: hs[e], wd: wd[e], wds: wds[e], y: y[e] });
  },
);
