import {
  kernel, barrier, bf16, cdiv, exp, fragment, localIndex, max, min, workgroupId, F32_MAX,
  type Dim, type i32, type f32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';
import { attendGroup, groupWorkspace, outputDim, rowOf, rowsEnd, rowsStart, stageOutput, type GroupRows, type GroupWorkspace } from './groupTile.js';

/**
 * Decode attention: NQ new tokens per sequence (1 plain, up to 4 with MTP verification;
 * any NQ works), already written to the KV cache, so sequence b has seq_lens[b] keys and
 * new token r sits at position seq_lens[b] - NQ + r (causal among the new tokens). Head
 * dims are the consts HEAD_QK = 192, HEAD_V = 128 as in prefill.ts.
 * GQA packing (ops/attention/groupTile.ts): the G = HQ/HKV query heads of one KV head and
 * the NQ tokens are G*NQ rows, BR per workgroup, so each workgroup reads its KV head's
 * keys once for all of them: one workgroup per (split (global only), KV head, sequence and
 * group of BR rows), 8*BR threads. Key j of sequence b is k_cache[b][j] (global cache) or
 * k_ring[b][j % R] (SWA ring buffer).
 *
 * Index math is i32: B*SMAX*HKV*192 must stay below 2^31 (B=1, SMAX=262144, HKV=4: 2.0e8).
 */

/*
 * Tiles per target (both kernels; the compiler reads them as literals): WebGPU's must fit
 * 16 KiB of workgroup memory (4 bytes per element): 16 rows, 16 keys, K staged 32 dims at
 * a time; CUDA's stage all 192 dims of 64 keys (37 KiB). BK <= 64 keeps the S fragments
 * no more than the warps (groupTile.ts) and below every ring (R >= WINDOW = 128).
 */

type GlobalDecodeCtx = {
  B: i32; NQ: i32; HQ: i32; HKV: i32; SMAX: i32; P: i32;
  BR: i32; BK: i32; DC: i32; SCALE: f32; HEAD_QK: i32; HEAD_V: i32;
};

/**
 * Flash-decoding, pass 1: split p of P takes a contiguous, tile-aligned share of the
 * keys and writes its unnormalised state (acc, running max, running sum); a split with
 * no visible key writes acc = 0, max = -F32_MAX, sum = 0. decode_merge combines them.
 * P comes from the host (model/gpu/decode-splits.ts).
 */
export const global_decode_partial = kernel(
  {
    doc: 'global-attention decode over a KV cache, split-K pass 1, GQA heads packed per KV head: per split p, unnormalised f32 acc[B*NQ,HQ,P,128] and running max/sum[B*NQ,HQ,P]',
    tunables: { BR: { webgpu: [16], cuda: [16, 32, 64] }, BK: { webgpu: [16], cuda: [64, 32] }, DC: { webgpu: [16], cuda: [192, 96, 64] } },
    constraints: (c) => [c.BR % 16 === 0, c.BK % 16 === 0, c.BK <= 64, c.DC % 16 === 0, c.HEAD_QK % c.DC === 0],
    // Query heads not a multiple of the KV heads would misgroup GQA.
    requires: (c) => [c.HKV >= 1, c.HQ >= c.HKV, c.HQ % c.HKV === 0],
    consts: { SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 },
    // Six 37 KiB tiles fit an H200 SM's shared memory: registers must not be what stops the sixth.
    minBlocksPerSM: 6,
    workgroup: (c) => [c.BR * 8],
    grid: (c) => [c.P, c.HKV, c.B * cdiv(c.HQ * c.NQ, c.HKV * c.BR)],
  },
  (
    q: Tensor<bf16, ['B', 'NQ', 'HQ', 'HEAD_QK']>, k_cache: Tensor<bf16, ['B', 'SMAX', 'HKV', 'HEAD_QK']>, v_cache: Tensor<bf16, ['B', 'SMAX', 'HKV', 'HEAD_V']>,
    seq_lens: Tensor<i32, ['B']>, part_acc: Out<f32, ['B', 'NQ', 'HQ', 'P', 'HEAD_V']>, part_max: Out<f32, ['B', 'NQ', 'HQ', 'P']>, part_sum: Out<f32, ['B', 'NQ', 'HQ', 'P']>,
    c: GlobalDecodeCtx,
  ) => {
    const split = workgroupId.x;
    const kh = workgroupId.y;
    const tiles = cdiv(c.HQ * c.NQ, c.HKV * c.BR);
    const b = workgroupId.z / tiles;
    const len = seq_lens[b];
    const rows = { q: q[b], kh, G: c.HQ / c.HKV, NQ: c.NQ, len, first: (workgroupId.z % tiles) * c.BR };
    // This split's keys: a tile-aligned share of [0, len), cut after the last row's position.
    const span = cdiv(cdiv(len, c.BK), c.P) * c.BK;
    const lo = split * span;
    const hi = min(min(len, lo + span), rowsEnd(rows, c));
    const ws = groupWorkspace(c);
    if (localIndex < c.BR) {
      ws.m[localIndex] = -F32_MAX;
      ws.l[localIndex] = 0.0;
    }
    const oa = fragment();
    const ob = fragment();
    // Causal only: a window of 2^30 keys is no window; the flat cache never wraps (ring = SMAX).
    attendGroup(ws, rows, { k: k_cache[b], v: v_cache[b], kh, ring: c.SMAX, lo, hi, window: 1073741824 }, oa, ob, c);
    const part = { acc: part_acc[b], max: part_max[b], sum: part_sum[b] };
    stageOutput(ws, oa);
    storePartial(ws, rows, part, split, 0, c);
    stageOutput(ws, ob);
    storePartial(ws, rows, part, split, 1, c);
  },
);

type Partial = { acc: Out<f32, [Dim, Dim, Dim, 'HEAD_V']>; max: Out<f32, [Dim, Dim, Dim]>; sum: Out<f32, [Dim, Dim, Dim]> };

/** Split `split`'s state of each valid row: the staged half of acc, and (once) the running max and sum. Ends with a barrier. */
function storePartial(ws: GroupWorkspace, rows: GroupRows, part: Partial, split: i32, half: i32, c: { BR: i32 }): void {
  for (let i = localIndex; i < c.BR * 64; i += c.BR * 8) {
    const row = rowOf(rows, i / 64);
    if (row.valid) part.acc[row.t][row.h][split][outputDim(i % 64, half)] = ws.S[i / 64][i % 64];
  }
  if (half === 0 && localIndex < c.BR) {
    const row = rowOf(rows, localIndex);
    if (row.valid) {
      part.max[row.t][row.h][split] = ws.m[localIndex];
      part.sum[row.t][row.h][split] = ws.l[localIndex];
    }
  }
  barrier();
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
  BR: i32; BK: i32; DC: i32; WINDOW: i32; SCALE: f32; HEAD_QK: i32; HEAD_V: i32;
};

/**
 * SWA decode over a ring-buffer cache of R slots per sequence (position p in slot p % R,
 * R >= WINDOW + NQ - 1 so every visible key is still there): the window bounds the work,
 * no split needed. Sink as in swa_prefill: each row's running max starts at its head's sink.
 */
export const swa_decode = kernel(
  {
    doc: 'sliding-window decode with sink over a ring-buffer KV cache k_ring[B,R,HKV,192] v_ring[B,R,HKV,128] (position p in slot p % R), GQA heads packed per KV head -> bf16 out[B*NQ,HQ,128]',
    tunables: { BR: { webgpu: [16], cuda: [16, 32, 64] }, BK: { webgpu: [16], cuda: [64, 32] }, DC: { webgpu: [16], cuda: [192, 96, 64] } },
    constraints: (c) => [c.BR % 16 === 0, c.BK % 16 === 0, c.BK <= 64, c.DC % 16 === 0, c.HEAD_QK % c.DC === 0],
    // A smaller ring has overwritten keys the first new token still sees: it would read later tokens in their place.
    requires: (c) => [c.R >= c.WINDOW - 1 + c.NQ, c.HKV >= 1, c.HQ >= c.HKV, c.HQ % c.HKV === 0],
    consts: { WINDOW: 128, SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 },
    workgroup: (c) => [c.BR * 8],
    grid: (c) => [c.HKV, c.B * cdiv(c.HQ * c.NQ, c.HKV * c.BR)],
  },
  (
    q: Tensor<bf16, ['B', 'NQ', 'HQ', 'HEAD_QK']>, k_ring: Tensor<bf16, ['B', 'R', 'HKV', 'HEAD_QK']>, v_ring: Tensor<bf16, ['B', 'R', 'HKV', 'HEAD_V']>,
    sink: Tensor<f32, ['HQ']>, seq_lens: Tensor<i32, ['B']>, out: Out<bf16, ['B', 'NQ', 'HQ', 'HEAD_V']>, c: SwaDecodeCtx,
  ) => {
    const kh = workgroupId.x;
    const tiles = cdiv(c.HQ * c.NQ, c.HKV * c.BR);
    const b = workgroupId.y / tiles;
    const rows = { q: q[b], kh, G: c.HQ / c.HKV, NQ: c.NQ, len: seq_lens[b], first: (workgroupId.y % tiles) * c.BR };
    const ws = groupWorkspace(c);
    if (localIndex < c.BR) {
      const row = rowOf(rows, localIndex);
      ws.m[localIndex] = row.valid ? sink[row.h] : -F32_MAX;
      ws.l[localIndex] = 1.0;
    }
    const oa = fragment();
    const ob = fragment();
    // Key tiles start at multiples of BK, whichever row the tile starts with, so a token's keys
    // fall into the same tiles (the same online-softmax steps, the same bf16 rounding of P)
    // in a 4-token MTP verify as in plain decoding; keys before the window are masked.
    const lo = max(0, ((rowsStart(rows) - c.WINDOW + 1) / c.BK) * c.BK);
    attendGroup(ws, rows, { k: k_ring[b], v: v_ring[b], kh, ring: c.R, lo, hi: rowsEnd(rows, c), window: c.WINDOW }, oa, ob, c);
    stageOutput(ws, oa);
    storeRows(ws, rows, out[b], 0, c);
    stageOutput(ws, ob);
    storeRows(ws, rows, out[b], 1, c);
  },
);

/** Final normalisation of the staged half: out = acc / l, zeros for a row that saw nothing. Ends with a barrier. */
function storeRows(ws: GroupWorkspace, rows: GroupRows, out: Out<bf16, [Dim, Dim, 'HEAD_V']>, half: i32, c: { BR: i32 }): void {
  for (let i = localIndex; i < c.BR * 64; i += c.BR * 8) {
    const r = i / 64;
    const row = rowOf(rows, r);
    const l = ws.l[r];
    if (row.valid) out[row.t][row.h][outputDim(i % 64, half)] = bf16(l > 0.0 ? ws.S[r][i % 64] / l : 0.0);
  }
  barrier();
}
