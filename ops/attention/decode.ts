import {
  kernel, bf16, cdiv, exp, f32, local, localIndex, max, min, shared, workgroupId, F32_MAX,
  type i32, type Local, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';
import { attendKeys, initState, loadQueries, storeRows } from './online.js';

/**
 * Decode attention: NQ new tokens per sequence (1 plain, up to 4 with MTP verification;
 * any NQ works, BQ rows at a time), already written to the KV cache, so sequence b has
 * seq_lens[b] keys and new token r sits at position seq_lens[b] - NQ + r (causal among
 * the new tokens). q[B, NQ, HQ, DQK] is q[B*NQ, HQ, DQK]. DQK = 192, DV = 128 are fixed
 * as in prefill.ts. One workgroup per (split (global only), query head, sequence and
 * group of BQ new tokens); the same online-softmax template as prefill, with the cache
 * layout as the hook: key j of sequence b lives in row b*SMAX + j (global cache) or
 * b*R + j % R (SWA ring buffer).
 *
 * Index math is i32: B*SMAX*HKV*192 must stay below 2^31 (B=1, SMAX=262144, HKV=4: 2.0e8).
 */

type GlobalDecodeCtx = {
  B: i32; NQ: i32; HQ: i32; HKV: i32; SMAX: i32; P: i32; DQK: i32; DV: i32;
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
    // Other head dims, or query heads not a multiple of the KV heads, would write nothing or misgroup GQA.
    requires: (c) => [c.DQK === c.HEAD_QK, c.DV === c.HEAD_V, c.HKV >= 1, c.HQ % c.HKV === 0],
    consts: { SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 },
    workgroup: (c) => [c.HEAD_V],
    grid: (c) => [c.P, c.HQ, c.B * cdiv(c.NQ, c.BQ)],
  },
  (
    q: Tensor<bf16, ['B', 'NQ', 'HQ', 'DQK']>, k_cache: Tensor<bf16, ['B', 'SMAX', 'HKV', 'DQK']>, v_cache: Tensor<bf16, ['B', 'SMAX', 'HKV', 'DV']>,
    seq_lens: Tensor<i32, ['B']>, part_acc: Out<f32, ['B', 'NQ', 'HQ', 'P', 'DV']>, part_max: Out<f32, ['B', 'NQ', 'HQ', 'P']>, part_sum: Out<f32, ['B', 'NQ', 'HQ', 'P']>,
    c: GlobalDecodeCtx,
  ) => {
    const Qs = shared(f32, c.BQ * c.HEAD_QK);
    const part = shared(f32, c.BQ * c.HEAD_V);
    const scores = shared(f32, c.BQ * c.BK);
    const probs = shared(f32, c.BQ * c.BK);
    const rowState = shared(f32, 3 * c.BQ);
    const dots = local(f32, c.BQ);
    const acc = local(f32, c.BQ);
    const dimsOk = c.DQK === c.HEAD_QK && c.DV === c.HEAD_V;
    const split = workgroupId.x;
    const h = workgroupId.y;
    const b = workgroupId.z / cdiv(c.NQ, c.BQ);
    const r0 = (workgroupId.z % cdiv(c.NQ, c.BQ)) * c.BQ;
    const nRows = dimsOk ? min(c.BQ, c.NQ - r0) : 0;
    const len = seq_lens[b];
    const pos0 = len - c.NQ + r0;
    const row0 = (b * c.NQ + r0) * c.HQ + h;
    // This split's keys: a tile-aligned share of [0, len), cut at the last row's position.
    const span = cdiv(cdiv(len, c.BK), c.P) * c.BK;
    const lo = split * span;
    const hi = nRows > 0 ? min(min(len, lo + span), pos0 + nRows) : 0;
    initState(rowState, acc, -F32_MAX, 0.0, c.BQ);
    loadQueries(q, Qs, row0 * c.HEAD_QK, c.HQ * c.HEAD_QK, nRows, c.BQ, c.HEAD_QK, c.HEAD_V);
    // Causal only: a window of 2^30 keys is no window.
    attendKeys(k_cache, v_cache, Qs, part, scores, probs, rowState, dots, acc, lo, hi, pos0, nRows, 1073741824,
      b * c.SMAX, c.SMAX, c.HKV, h / (c.HQ / c.HKV), c.SCALE, c.BQ, c.BK, c.HEAD_QK, c.HEAD_V);
    storePartial(part_acc, part_max, part_sum, rowState, acc, row0, c.HQ, split, c.P, nRows, c.BQ, c.HEAD_V);
  },
);

function storePartial(
  part_acc: Out<f32, readonly string[]>, part_max: Out<f32, readonly string[]>, part_sum: Out<f32, readonly string[]>,
  rowState: Shared<f32>, acc: Local<f32>, row0: i32, HQ: i32, split: i32, P: i32, nRows: i32, BQ: i32, DV: i32,
): void {
  for (let r = 0; r < BQ; r++) {
    if (r < nRows) {
      const slot = (row0 + r * HQ) * P + split;
      part_acc[slot * DV + localIndex] = acc[r];
      if (localIndex === 0) {
        part_max[slot] = rowState[r];
        part_sum[slot] = rowState[2 * BQ + r];
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
    requires: (c) => [c.DV === c.HEAD_V],
    consts: { HEAD_V: 128 },
    workgroup: (c) => [c.HEAD_V],
    grid: (c) => [c.HQ, c.NQ, c.B],
  },
  (
    part_acc: Tensor<f32, ['B', 'NQ', 'HQ', 'P', 'DV']>, part_max: Tensor<f32, ['B', 'NQ', 'HQ', 'P']>, part_sum: Tensor<f32, ['B', 'NQ', 'HQ', 'P']>,
    out: Out<bf16, ['B', 'NQ', 'HQ', 'DV']>, c: { B: i32; NQ: i32; HQ: i32; P: i32; DV: i32; HEAD_V: i32 },
  ) => {
    const row = (workgroupId.z * c.NQ + workgroupId.y) * c.HQ + workgroupId.x;
    if (c.DV === c.HEAD_V) {
      let mMax = -F32_MAX;
      for (let p = 0; p < c.P; p++) mMax = max(mMax, part_max[row * c.P + p]);
      let sum = 0.0;
      let o = 0.0;
      for (let p = 0; p < c.P; p++) {
        const w = exp(part_max[row * c.P + p] - mMax);
        sum += part_sum[row * c.P + p] * w;
        o += part_acc[(row * c.P + p) * c.HEAD_V + localIndex] * w;
      }
      out[row * c.HEAD_V + localIndex] = bf16(sum > 0.0 ? o / sum : 0.0);
    }
  },
);

type SwaDecodeCtx = {
  B: i32; NQ: i32; HQ: i32; HKV: i32; R: i32; DQK: i32; DV: i32;
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
    requires: (c) => [c.R >= c.WINDOW - 1 + c.NQ, c.DQK === c.HEAD_QK, c.DV === c.HEAD_V, c.HKV >= 1, c.HQ % c.HKV === 0],
    consts: { WINDOW: 128, SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 },
    workgroup: (c) => [c.HEAD_V],
    grid: (c) => [c.HQ, c.B * cdiv(c.NQ, c.BQ)],
  },
  (
    q: Tensor<bf16, ['B', 'NQ', 'HQ', 'DQK']>, k_ring: Tensor<bf16, ['B', 'R', 'HKV', 'DQK']>, v_ring: Tensor<bf16, ['B', 'R', 'HKV', 'DV']>,
    sink: Tensor<f32, ['HQ']>, seq_lens: Tensor<i32, ['B']>, out: Out<bf16, ['B', 'NQ', 'HQ', 'DV']>, c: SwaDecodeCtx,
  ) => {
    const Qs = shared(f32, c.BQ * c.HEAD_QK);
    const part = shared(f32, c.BQ * c.HEAD_V);
    const scores = shared(f32, c.BQ * c.BK);
    const probs = shared(f32, c.BQ * c.BK);
    const rowState = shared(f32, 3 * c.BQ);
    const dots = local(f32, c.BQ);
    const acc = local(f32, c.BQ);
    const dimsOk = c.DQK === c.HEAD_QK && c.DV === c.HEAD_V;
    const h = workgroupId.x;
    const b = workgroupId.y / cdiv(c.NQ, c.BQ);
    const r0 = (workgroupId.y % cdiv(c.NQ, c.BQ)) * c.BQ;
    const nRows = dimsOk ? min(c.BQ, c.NQ - r0) : 0;
    const len = seq_lens[b];
    const pos0 = len - c.NQ + r0;
    const row0 = (b * c.NQ + r0) * c.HQ + h;
    initState(rowState, acc, sink[h], 1.0, c.BQ);
    loadQueries(q, Qs, row0 * c.HEAD_QK, c.HQ * c.HEAD_QK, nRows, c.BQ, c.HEAD_QK, c.HEAD_V);
    attendKeys(k_ring, v_ring, Qs, part, scores, probs, rowState, dots, acc, max(0, pos0 - c.WINDOW + 1), nRows > 0 ? pos0 + nRows : 0, pos0, nRows, c.WINDOW,
      b * c.R, c.R, c.HKV, h / (c.HQ / c.HKV), c.SCALE, c.BQ, c.BK, c.HEAD_QK, c.HEAD_V);
    storeRows(out, rowState, acc, row0 * c.HEAD_V, c.HQ * c.HEAD_V, nRows, c.BQ);
  },
);
