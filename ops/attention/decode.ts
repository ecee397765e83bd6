import {
  kernel, bf16, cdiv, exp, f32, localIndex, max, min, workgroupId, F32_MAX,
  type Dim, type i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';
import { attend, attentionWorkspace, storeRows, type Block, type Workspace } from './online.js';

/**
 * Decode attention: NQ new tokens per sequence (1 plain, up to 4 with MTP verification;
 * any NQ works, BQ rows at a time), already written to the KV cache, so sequence b has
 * seq_lens[b] keys and new token r sits at position seq_lens[b] - NQ + r (causal among
 * the new tokens). Head dims are the consts HEAD_QK = 192, HEAD_V = 128 as in prefill.ts.
 * One workgroup per (split (global only), query head, sequence and group of BQ new
 * tokens); the same online-softmax template as prefill, with the cache layout as the
 * hook: key j of sequence b is k_cache[b][j] (global cache) or k_ring[b][j % R] (SWA
 * ring buffer).
 *
 * Index math is i32: B*SMAX*HKV*192 must stay below 2^31 (B=1, SMAX=262144, HKV=4: 2.0e8).
 */

type GlobalDecodeCtx = {
  B: i32; NQ: i32; HQ: i32; HKV: i32; SMAX: i32; P: i32;
  BQ: i32; BK: i32; SCALE: f32; HEAD_QK: i32; HEAD_V: i32;
};

/**
 * Flash-decoding, pass 1: split p of P takes a contiguous, tile-aligned share of the
 * keys and writes its unnormalised state (acc, running max, running sum); a split with
 * no visible key writes acc = 0, max = -F32_MAX, sum = 0. decode_merge combines them.
 */
export const global_decode_partial = kernel(
  {
    doc: 'global-attention decode over a KV cache, split-K pass 1: per split p, unnormalised f32 acc[B*NQ,HQ,P,128] and running max/sum[B*NQ,HQ,P]',
    tunables: { BQ: [4, 1, 2], BK: [32, 16, 64] },
    constraints: (c) => [c.BQ * c.BK <= 256],
    // Query heads not a multiple of the KV heads would misgroup GQA.
    requires: (c) => [c.HKV >= 1, c.HQ % c.HKV === 0],
    consts: { SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 },
    // With the threadIdx.x bound, ptxas's own choice for sm_80 (48 registers) spills a value of the key loop.
    minBlocksPerSM: 8,
    workgroup: (c) => [c.HEAD_V],
    grid: (c) => [c.P, c.HQ, c.B * cdiv(c.NQ, c.BQ)],
  },
  (
    q: Tensor<bf16, ['B', 'NQ', 'HQ', 'HEAD_QK']>, k_cache: Tensor<bf16, ['B', 'SMAX', 'HKV', 'HEAD_QK']>, v_cache: Tensor<bf16, ['B', 'SMAX', 'HKV', 'HEAD_V']>,
    seq_lens: Tensor<i32, ['B']>, part_acc: Out<f32, ['B', 'NQ', 'HQ', 'P', 'HEAD_V']>, part_max: Out<f32, ['B', 'NQ', 'HQ', 'P']>, part_sum: Out<f32, ['B', 'NQ', 'HQ', 'P']>,
    c: GlobalDecodeCtx,
  ) => {
    const split = workgroupId.x;
    const h = workgroupId.y;
    const b = workgroupId.z / cdiv(c.NQ, c.BQ);
    const r0 = (workgroupId.z % cdiv(c.NQ, c.BQ)) * c.BQ;
    const nRows = min(c.BQ, c.NQ - r0);
    const len = seq_lens[b];
    const pos0 = len - c.NQ + r0;
    // This split's keys: a tile-aligned share of [0, len), cut at the last row's position.
    const span = cdiv(cdiv(len, c.BK), c.P) * c.BK;
    const lo = split * span;
    const hi = nRows > 0 ? min(min(len, lo + span), pos0 + nRows) : 0;
    // Causal only: a window of 2^30 keys is no window.
    const rows = { first: r0, h, nRows, pos0, lo, hi, window: 1073741824 };
    const ws = attentionWorkspace(c);
    attend(ws, q[b], { k: k_cache[b], v: v_cache[b], kh: h / (c.HQ / c.HKV), keyBase: 0, ring: c.SMAX }, rows, -F32_MAX, 0.0, c);
    storePartial(ws, { acc: part_acc[b], max: part_max[b], sum: part_sum[b] }, rows, split, c);
  },
);

/** Split `split`'s unnormalised state of each valid row: acc (one V dim per thread), running max and sum. */
function storePartial(
  ws: Workspace, part: { acc: Out<f32, [Dim, Dim, Dim, 'HEAD_V']>; max: Out<f32, [Dim, Dim, Dim]>; sum: Out<f32, [Dim, Dim, Dim]> },
  blk: Block, split: i32, c: { BQ: i32 },
): void {
  for (let r = 0; r < c.BQ; r++) {
    if (r < blk.nRows) {
      part.acc[blk.first + r][blk.h][split][localIndex] = ws.acc[r];
      if (localIndex === 0) {
        part.max[blk.first + r][blk.h][split] = ws.m[r];
        part.sum[blk.first + r][blk.h][split] = ws.l[r];
      }
    }
  }
}

/**
 * Flash-decoding, pass 2: out = sum_p acc_p e^(m_p - M) / sum_p l_p e^(m_p - M) with
 * M = max_p m_p; empty splits (m = -F32_MAX, l = 0) weigh nothing.
 */
export const decode_merge = kernel(
  {
    doc: 'global-attention decode, split-K pass 2: merges P partial states into bf16 out[B*NQ,HQ,128]',
    consts: { HEAD_V: 128 },
    workgroup: (c) => [c.HEAD_V],
    grid: (c) => [c.HQ, c.NQ, c.B],
  },
  (
    part_acc: Tensor<f32, ['B', 'NQ', 'HQ', 'P', 'HEAD_V']>, part_max: Tensor<f32, ['B', 'NQ', 'HQ', 'P']>, part_sum: Tensor<f32, ['B', 'NQ', 'HQ', 'P']>,
    out: Out<bf16, ['B', 'NQ', 'HQ', 'HEAD_V']>, c: { B: i32; NQ: i32; HQ: i32; P: i32; HEAD_V: i32 },
  ) => {
    const b = workgroupId.z;
    const t = workgroupId.y;
    const h = workgroupId.x;
    const ms = part_max[b][t][h];
    let mMax = -F32_MAX;
    for (let p = 0; p < c.P; p++) mMax = max(mMax, ms[p]);
    let sum = 0.0;
    let o = 0.0;
    for (let p = 0; p < c.P; p++) {
      const w = exp(ms[p] - mMax);
      sum += part_sum[b][t][h][p] * w;
      o += part_acc[b][t][h][p][localIndex] * w;
    }
    out[b][t][h][localIndex] = bf16(sum > 0.0 ? o / sum : 0.0);
  },
);

type SwaDecodeCtx = {
  B: i32; NQ: i32; HQ: i32; HKV: i32; R: i32;
  BQ: i32; BK: i32; WINDOW: i32; SCALE: f32; HEAD_QK: i32; HEAD_V: i32;
};

/**
 * SWA decode over a ring-buffer cache of R slots per sequence (position p in slot p % R,
 * R >= WINDOW + NQ - 1 so every visible key is still there): the window bounds the work,
 * no split needed. Sink as in swa_prefill.
 */
export const swa_decode = kernel(
  {
    doc: 'sliding-window decode with sink over a ring-buffer KV cache k_ring[B,R,HKV,192] v_ring[B,R,HKV,128] (position p in slot p % R) -> bf16 out[B*NQ,HQ,128]',
    tunables: { BQ: [4, 1, 2], BK: [32, 16, 64] },
    constraints: (c) => [c.BQ * c.BK <= 256],
    // A smaller ring has overwritten keys the first new token still sees: it would read later tokens in their place.
    requires: (c) => [c.R >= c.WINDOW - 1 + c.NQ, c.HKV >= 1, c.HQ % c.HKV === 0],
    consts: { WINDOW: 128, SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 },
    workgroup: (c) => [c.HEAD_V],
    grid: (c) => [c.HQ, c.B * cdiv(c.NQ, c.BQ)],
  },
  (
    q: Tensor<bf16, ['B', 'NQ', 'HQ', 'HEAD_QK']>, k_ring: Tensor<bf16, ['B', 'R', 'HKV', 'HEAD_QK']>, v_ring: Tensor<bf16, ['B', 'R', 'HKV', 'HEAD_V']>,
    sink: Tensor<f32, ['HQ']>, seq_lens: Tensor<i32, ['B']>, out: Out<bf16, ['B', 'NQ', 'HQ', 'HEAD_V']>, c: SwaDecodeCtx,
  ) => {
    const h = workgroupId.x;
    const b = workgroupId.y / cdiv(c.NQ, c.BQ);
    const r0 = (workgroupId.y % cdiv(c.NQ, c.BQ)) * c.BQ;
    const nRows = min(c.BQ, c.NQ - r0);
    const pos0 = seq_lens[b] - c.NQ + r0;
    const rows = { first: r0, h, nRows, pos0, lo: max(0, pos0 - c.WINDOW + 1), hi: nRows > 0 ? pos0 + nRows : 0, window: c.WINDOW };
    const ws = attentionWorkspace(c);
    attend(ws, q[b], { k: k_ring[b], v: v_ring[b], kh: h / (c.HQ / c.HKV), keyBase: 0, ring: c.R }, rows, sink[h], 1.0, c);
    storeRows(ws, out[b], rows, c);
  },
);
