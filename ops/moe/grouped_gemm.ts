import {
  kernel, cdiv, min, shared, workgroupId,
  bf16, f32, fp8e4m3, type i32, type InOut, type Tensor,
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
 * one GEMM: one pass over x computes both (each warp owns a gate and an up fragment for the
 * same 16x16 outputs) and the epilogue applies SwiGLU, so the 2F-wide intermediate never
 * reaches memory. Gate and up are two tensors rather than one W_gate_up[E, 2F, H]: at
 * MiMo-V2-Flash scale that concatenation has 256*4096*4096 = 2^32 elements, past what the
 * DSL's i32 indices address, while [E, F, H] has exactly 2^31 (largest index 2^31 - 1).
 *
 * Row layouts (ops/moe/permute.ts):
 *   contiguous  x[M, K], M = MP rows; every expert's rows consecutive and padded to ALIGN
 *               (32) rows; rowExpert[M] = expert of each row, -1 on padding. BM divides
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
 * ws[E, cdiv(N, 128), cdiv(K, 128)]; f32 accumulation. Partial blocks (K or N not a
 * multiple of 128) are zero-filled past the edge.
 *
 * The tiles, BF16 and FP8 (DeepGEMM's promotion with the FP8 tensor-core MMA): ops/moe/expert_tiles.ts.
 */

/**
 * Tiling. BM divides ALIGN (the contiguous layout's expert block); BK steps by the MMA depth
 * (16 for bf16, 32 for fp8) and, for FP8, divides 128 like BN (scale blocks: ops/moe/expert_tiles.ts); one
 * warp per 16x16 output tile (gate/up: two fragments per warp), at most 256 threads. The
 * defaults fit WebGPU's 16 KiB of workgroup memory (WGSL counts 4 bytes per shared element):
 * gate/up 32x32x16 uses (32*16 + 16*64 + 32*64) * 4 = 14 KiB, FP8 32x16x32 with its 32 row
 * scales 12.1 KiB; down 32x32x32 uses 12 KiB (FP8 12.1 KiB).
 */
const gluContig = {
  tunables: { BM: [32, 16], BN: [32, 16, 64], BK: [16, 32] },
  constraints: (c: { BM: i32; BN: i32; BK: i32; ALIGN: i32 }) => [c.BM * c.BN <= 2048, c.BK % 16 === 0, c.ALIGN % c.BM === 0],
  consts: { ALIGN: 32 },
  workgroup: (c: { BM: i32; BN: i32 }) => [(c.BM / 16) * (c.BN / 16) * 32],
  grid: (c: { M: i32; F: i32; BM: i32; BN: i32 }) => [cdiv(c.F, c.BN), cdiv(c.M, c.BM)],
};
const gluMasked = {
  tunables: { BM: [32, 16, 64], BN: [32, 16, 64], BK: [16, 32] },
  constraints: (c: { BM: i32; BN: i32; BK: i32 }) => [c.BM * c.BN <= 2048, c.BK % 16 === 0],
  workgroup: (c: { BM: i32; BN: i32 }) => [(c.BM / 16) * (c.BN / 16) * 32],
  grid: (c: { C: i32; E: i32; F: i32; BM: i32; BN: i32 }) => [cdiv(c.F, c.BN), cdiv(c.C, c.BM), c.E],
};
const downContig = {
  tunables: { BM: [32, 16], BN: [32, 16, 64], BK: [32, 16] },
  constraints: (c: { BM: i32; BN: i32; BK: i32; ALIGN: i32 }) => [c.BM * c.BN <= 2048, c.BK % 16 === 0, c.ALIGN % c.BM === 0],
  consts: { ALIGN: 32 },
  workgroup: (c: { BM: i32; BN: i32 }) => [(c.BM / 16) * (c.BN / 16) * 32],
  grid: (c: { M: i32; H: i32; BM: i32; BN: i32 }) => [cdiv(c.H, c.BN), cdiv(c.M, c.BM)],
};
const downMasked = {
  tunables: { BM: [32, 16, 64], BN: [32, 16, 64], BK: [32, 16] },
  constraints: (c: { BM: i32; BN: i32; BK: i32 }) => [c.BM * c.BN <= 2048, c.BK % 16 === 0],
  workgroup: (c: { BM: i32; BN: i32 }) => [(c.BM / 16) * (c.BN / 16) * 32],
  grid: (c: { C: i32; E: i32; H: i32; BM: i32; BN: i32 }) => [cdiv(c.H, c.BN), cdiv(c.C, c.BM), c.E],
};
const gluContigFp8 = {
  tunables: { BM: [32, 16], BN: [16, 32, 64], BK: [32, 64, 128] },
  constraints: (c: { BM: i32; BN: i32; BK: i32; ALIGN: i32 }) => [c.BM * c.BN <= 2048, c.BK % 32 === 0, 128 % c.BK === 0, 128 % c.BN === 0, c.ALIGN % c.BM === 0],
  consts: { ALIGN: 32 },
  requires: (c: { HG: i32; H: i32; FB: i32; F: i32 }) => [c.HG === cdiv(c.H, 128), c.FB === cdiv(c.F, 128)],
  workgroup: (c: { BM: i32; BN: i32 }) => [(c.BM / 16) * (c.BN / 16) * 32],
  grid: (c: { M: i32; F: i32; BM: i32; BN: i32 }) => [cdiv(c.F, c.BN), cdiv(c.M, c.BM)],
};
const gluMaskedFp8 = {
  tunables: { BM: [32, 16, 64], BN: [16, 32, 64], BK: [32, 64, 128] },
  constraints: (c: { BM: i32; BN: i32; BK: i32 }) => [c.BM * c.BN <= 2048, c.BK % 32 === 0, 128 % c.BK === 0, 128 % c.BN === 0],
  requires: (c: { HG: i32; H: i32; FB: i32; F: i32 }) => [c.HG === cdiv(c.H, 128), c.FB === cdiv(c.F, 128)],
  workgroup: (c: { BM: i32; BN: i32 }) => [(c.BM / 16) * (c.BN / 16) * 32],
  grid: (c: { C: i32; E: i32; F: i32; BM: i32; BN: i32 }) => [cdiv(c.F, c.BN), cdiv(c.C, c.BM), c.E],
};
const downContigFp8 = {
  tunables: { BM: [32, 16], BN: [32, 16, 64], BK: [32, 64, 128] },
  constraints: (c: { BM: i32; BN: i32; BK: i32; ALIGN: i32 }) => [c.BM * c.BN <= 2048, c.BK % 32 === 0, 128 % c.BK === 0, 128 % c.BN === 0, c.ALIGN % c.BM === 0],
  consts: { ALIGN: 32 },
  requires: (c: { FG: i32; F: i32; HB: i32; H: i32 }) => [c.FG === cdiv(c.F, 128), c.HB === cdiv(c.H, 128)],
  workgroup: (c: { BM: i32; BN: i32 }) => [(c.BM / 16) * (c.BN / 16) * 32],
  grid: (c: { M: i32; H: i32; BM: i32; BN: i32 }) => [cdiv(c.H, c.BN), cdiv(c.M, c.BM)],
};
const downMaskedFp8 = {
  tunables: { BM: [32, 16, 64], BN: [32, 16, 64], BK: [32, 64, 128] },
  constraints: (c: { BM: i32; BN: i32; BK: i32 }) => [c.BM * c.BN <= 2048, c.BK % 32 === 0, 128 % c.BK === 0, 128 % c.BN === 0],
  requires: (c: { FG: i32; F: i32; HB: i32; H: i32 }) => [c.FG === cdiv(c.F, 128), c.HB === cdiv(c.H, 128)],
  workgroup: (c: { BM: i32; BN: i32 }) => [(c.BM / 16) * (c.BN / 16) * 32],
  grid: (c: { C: i32; E: i32; H: i32; BM: i32; BN: i32 }) => [cdiv(c.H, c.BN), cdiv(c.C, c.BM), c.E],
};

type GluContigCtx = { M: i32; H: i32; E: i32; F: i32; BM: i32; BN: i32; BK: i32; ALIGN: i32 };
type GluMaskedCtx = { C: i32; H: i32; E: i32; F: i32; BM: i32; BN: i32; BK: i32 };
type GluContigFp8Ctx = { M: i32; H: i32; HG: i32; E: i32; F: i32; FB: i32; BM: i32; BN: i32; BK: i32; ALIGN: i32 };
type GluMaskedFp8Ctx = { C: i32; H: i32; HG: i32; E: i32; F: i32; FB: i32; BM: i32; BN: i32; BK: i32 };
type DownContigCtx = { M: i32; H: i32; E: i32; F: i32; BM: i32; BN: i32; BK: i32; ALIGN: i32 };
type DownMaskedCtx = { C: i32; H: i32; E: i32; F: i32; BM: i32; BN: i32; BK: i32 };
type DownContigFp8Ctx = { M: i32; H: i32; HB: i32; E: i32; F: i32; FG: i32; BM: i32; BN: i32; BK: i32; ALIGN: i32 };
type DownMaskedFp8Ctx = { C: i32; H: i32; HB: i32; E: i32; F: i32; FG: i32; BM: i32; BN: i32; BK: i32 };

/*
 * Prologues. Contiguous: the row tile's expert is rowExpert of its first row (uniform per
 * workgroup); -1 means the tile is padding past the last expert block. Masked: grid.z is
 * the expert, tiles past min(count, C) exit. The FP8 kernels' `requires` refuse a scale
 * shape symbol that disagrees with cdiv(dim, 128) (they are strides: a wrong one would
 * misread), and they also exit on one, for consumers that do not check. Outputs are InOut:
 * rows of tiles that exit (padding past the last expert block, rows past a masked count)
 * keep their previous contents.
 */

export const moe_gate_up_bf16 = kernel(
  { doc: 'contiguous layout: h[M, F] = silu(x·Wg[e]ᵀ) * (x·Wu[e]ᵀ), e = rowExpert of the row tile; x[M, H], Wg/Wu[E, F, H] bf16, f32 accumulate (tensor cores on CUDA), bf16 out', ...gluContig },
  (
    x: Tensor<bf16, ['M', 'H']>, wg: Tensor<bf16, ['E', 'F', 'H']>, wu: Tensor<bf16, ['E', 'F', 'H']>, rowExpert: Tensor<i32, ['M']>,
    h: InOut<bf16, ['M', 'F']>, c: GluContigCtx,
  ) => {
    const As = shared(bf16, c.BM * c.BK);
    const Bs = shared(bf16, 2 * c.BN * c.BK);
    const Cs = shared(f32, c.BM * 2 * c.BN);
    const m0 = workgroupId.y * c.BM;
    const e = rowExpert[m0];
    if (e < 0 || e >= c.E) {
      return;
    }
    gluTileBf16(x, wg, wu, h, As, Bs, Cs, e, m0, c.M - m0, c.F, c.H, c.BM, c.BN, c.BK);
  },
);

export const moe_gate_up_bf16_masked = kernel(
  { doc: 'masked layout: h[e, r, F] = silu(x[e, r]·Wg[e]ᵀ) * (x[e, r]·Wu[e]ᵀ) for r < min(maskedCount[e], C); x[E, C, H], Wg/Wu[E, F, H] bf16, bf16 out', ...gluMasked },
  (
    x: Tensor<bf16, ['E', 'C', 'H']>, wg: Tensor<bf16, ['E', 'F', 'H']>, wu: Tensor<bf16, ['E', 'F', 'H']>, maskedCount: Tensor<i32, ['E']>,
    h: InOut<bf16, ['E', 'C', 'F']>, c: GluMaskedCtx,
  ) => {
    const As = shared(bf16, c.BM * c.BK);
    const Bs = shared(bf16, 2 * c.BN * c.BK);
    const Cs = shared(f32, c.BM * 2 * c.BN);
    const e = workgroupId.z;
    const m0 = workgroupId.y * c.BM;
    const n = min(maskedCount[e], c.C);
    if (m0 >= n) {
      return;
    }
    gluTileBf16(x, wg, wu, h, As, Bs, Cs, e, e * c.C + m0, n - m0, c.F, c.H, c.BM, c.BN, c.BK);
  },
);

export const moe_gate_up_fp8 = kernel(
  {
    doc: 'contiguous layout, FP8: h[M, F] = silu(x·Wgᵀ) * (x·Wuᵀ); xq[M, H] e4m3 with xs[M, HG] per (row, 128-K group), Wg/Wu[E, F, H] e4m3 with wgs/wus[E, FB, HG] per 128x128 block (HG = cdiv(H,128), FB = cdiv(F,128)); f32 accumulate, bf16 out',
    ...gluContigFp8,
  },
  (
    xq: Tensor<fp8e4m3, ['M', 'H']>, xs: Tensor<f32, ['M', 'HG']>, wg: Tensor<fp8e4m3, ['E', 'F', 'H']>, wu: Tensor<fp8e4m3, ['E', 'F', 'H']>,
    wgs: Tensor<f32, ['E', 'FB', 'HG']>, wus: Tensor<f32, ['E', 'FB', 'HG']>, rowExpert: Tensor<i32, ['M']>, h: InOut<bf16, ['M', 'F']>,
    c: GluContigFp8Ctx,
  ) => {
    const As = shared(fp8e4m3, c.BM * c.BK);
    const Bs = shared(fp8e4m3, 2 * c.BN * c.BK);
    const Cs = shared(f32, c.BM * 2 * c.BN);
    const Ss = shared(f32, c.BM);
    const m0 = workgroupId.y * c.BM;
    const e = rowExpert[m0];
    if (e < 0 || e >= c.E || c.HG !== cdiv(c.H, 128) || c.FB !== cdiv(c.F, 128)) {
      return;
    }
    gluTileFp8(xq, xs, wg, wu, wgs, wus, h, As, Bs, Cs, Ss, e, m0, c.M - m0, c.F, c.H, c.HG, c.FB, c.BM, c.BN, c.BK);
  },
);

export const moe_gate_up_fp8_masked = kernel(
  { doc: 'masked layout, FP8: as moe_gate_up_fp8 with xq[E, C, H], xs[E, C, HG] and maskedCount[E]; bf16 out h[E, C, F]', ...gluMaskedFp8 },
  (
    xq: Tensor<fp8e4m3, ['E', 'C', 'H']>, xs: Tensor<f32, ['E', 'C', 'HG']>, wg: Tensor<fp8e4m3, ['E', 'F', 'H']>, wu: Tensor<fp8e4m3, ['E', 'F', 'H']>,
    wgs: Tensor<f32, ['E', 'FB', 'HG']>, wus: Tensor<f32, ['E', 'FB', 'HG']>, maskedCount: Tensor<i32, ['E']>, h: InOut<bf16, ['E', 'C', 'F']>,
    c: GluMaskedFp8Ctx,
  ) => {
    const As = shared(fp8e4m3, c.BM * c.BK);
    const Bs = shared(fp8e4m3, 2 * c.BN * c.BK);
    const Cs = shared(f32, c.BM * 2 * c.BN);
    const Ss = shared(f32, c.BM);
    const e = workgroupId.z;
    const m0 = workgroupId.y * c.BM;
    const n = min(maskedCount[e], c.C);
    if (m0 >= n || c.HG !== cdiv(c.H, 128) || c.FB !== cdiv(c.F, 128)) {
      return;
    }
    gluTileFp8(xq, xs, wg, wu, wgs, wus, h, As, Bs, Cs, Ss, e, e * c.C + m0, n - m0, c.F, c.H, c.HG, c.FB, c.BM, c.BN, c.BK);
  },
);

export const moe_down_bf16 = kernel(
  { doc: 'contiguous layout: y[M, H] = h·Wd[e]ᵀ, e = rowExpert of the row tile; h[M, F], Wd[E, H, F] bf16, f32 accumulate (tensor cores on CUDA), bf16 out', ...downContig },
  (h: Tensor<bf16, ['M', 'F']>, wd: Tensor<bf16, ['E', 'H', 'F']>, rowExpert: Tensor<i32, ['M']>, y: InOut<bf16, ['M', 'H']>, c: DownContigCtx) => {
    const As = shared(bf16, c.BM * c.BK);
    const Bs = shared(bf16, c.BK * c.BN);
    const Cs = shared(f32, c.BM * c.BN);
    const m0 = workgroupId.y * c.BM;
    const e = rowExpert[m0];
    if (e < 0 || e >= c.E) {
      return;
    }
    downTileBf16(h, wd, y, As, Bs, Cs, e, m0, c.M - m0, c.H, c.F, c.BM, c.BN, c.BK);
  },
);

export const moe_down_bf16_masked = kernel(
  { doc: 'masked layout: y[e, r, H] = h[e, r]·Wd[e]ᵀ for r < min(maskedCount[e], C); h[E, C, F], Wd[E, H, F] bf16, bf16 out', ...downMasked },
  (h: Tensor<bf16, ['E', 'C', 'F']>, wd: Tensor<bf16, ['E', 'H', 'F']>, maskedCount: Tensor<i32, ['E']>, y: InOut<bf16, ['E', 'C', 'H']>, c: DownMaskedCtx) => {
    const As = shared(bf16, c.BM * c.BK);
    const Bs = shared(bf16, c.BK * c.BN);
    const Cs = shared(f32, c.BM * c.BN);
    const e = workgroupId.z;
    const m0 = workgroupId.y * c.BM;
    const n = min(maskedCount[e], c.C);
    if (m0 >= n) {
      return;
    }
    downTileBf16(h, wd, y, As, Bs, Cs, e, e * c.C + m0, n - m0, c.H, c.F, c.BM, c.BN, c.BK);
  },
);

export const moe_down_fp8 = kernel(
  {
    doc: 'contiguous layout, FP8: y[M, H] = h·Wd[e]ᵀ; hq[M, F] e4m3 with hs[M, FG] per (row, 128-K group), Wd[E, H, F] e4m3 with wds[E, HB, FG] per 128x128 block (FG = cdiv(F,128), HB = cdiv(H,128)); f32 accumulate, bf16 out',
    ...downContigFp8,
  },
  (
    hq: Tensor<fp8e4m3, ['M', 'F']>, hs: Tensor<f32, ['M', 'FG']>, wd: Tensor<fp8e4m3, ['E', 'H', 'F']>, wds: Tensor<f32, ['E', 'HB', 'FG']>,
    rowExpert: Tensor<i32, ['M']>, y: InOut<bf16, ['M', 'H']>, c: DownContigFp8Ctx,
  ) => {
    const As = shared(fp8e4m3, c.BM * c.BK);
    const Bs = shared(fp8e4m3, c.BN * c.BK);
    const Cs = shared(f32, c.BM * c.BN);
    const Ss = shared(f32, c.BM);
    const m0 = workgroupId.y * c.BM;
    const e = rowExpert[m0];
    if (e < 0 || e >= c.E || c.FG !== cdiv(c.F, 128) || c.HB !== cdiv(c.H, 128)) {
      return;
    }
    downTileFp8(hq, hs, wd, wds, y, As, Bs, Cs, Ss, e, m0, c.M - m0, c.H, c.F, c.FG, c.HB, c.BM, c.BN, c.BK);
  },
);

export const moe_down_fp8_masked = kernel(
  { doc: 'masked layout, FP8: as moe_down_fp8 with hq[E, C, F], hs[E, C, FG] and maskedCount[E]; bf16 out y[E, C, H]', ...downMaskedFp8 },
  (
    hq: Tensor<fp8e4m3, ['E', 'C', 'F']>, hs: Tensor<f32, ['E', 'C', 'FG']>, wd: Tensor<fp8e4m3, ['E', 'H', 'F']>, wds: Tensor<f32, ['E', 'HB', 'FG']>,
    maskedCount: Tensor<i32, ['E']>, y: InOut<bf16, ['E', 'C', 'H']>, c: DownMaskedFp8Ctx,
  ) => {
    const As = shared(fp8e4m3, c.BM * c.BK);
    const Bs = shared(fp8e4m3, c.BN * c.BK);
    const Cs = shared(f32, c.BM * c.BN);
    const Ss = shared(f32, c.BM);
    const e = workgroupId.z;
    const m0 = workgroupId.y * c.BM;
    const n = min(maskedCount[e], c.C);
    if (m0 >= n || c.FG !== cdiv(c.F, 128) || c.HB !== cdiv(c.H, 128)) {
      return;
    }
    downTileFp8(hq, hs, wd, wds, y, As, Bs, Cs, Ss, e, e * c.C + m0, n - m0, c.H, c.F, c.FG, c.HB, c.BM, c.BN, c.BK);
  },
);
