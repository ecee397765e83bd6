import {
  kernel, cdiv, f32, local, min, max, shared, workgroupId, F32_MAX,
  type bf16, type i32, type Local, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';
import { attendKeys, initState, loadQueries, storeRows } from './online.js';

/**
 * Varlen prefill attention of MiMo-V2-Flash (fact sheet §1-2). Sequences are packed:
 * queries cu_q[b]..cu_q[b+1] of q[T, HQ, DQK], keys cu_k[b]..cu_k[b+1] of k/v[S, HKV, .];
 * query i of sequence b sits at position kLen - qLen + i. GQA: query head h reads KV head
 * h / (HQ / HKV) in place. DQK = 192 and DV = 128 are fixed (HEAD_QK, HEAD_V); the shape
 * symbols only exist because tensor shapes can only name runtime symbols, and other values
 * make the kernels do nothing.
 *
 * Work split: a workgroup takes BQ consecutive query rows of one sequence and one query
 * head and runs the online-softmax template of online.ts over the keys its rows see.
 * grid.x = head (fastest, so the query heads sharing a KV head read the same K/V window
 * close together in time), grid.y enumerates the row blocks of all sequences, at most
 * cdiv(T, BQ) + B of them (extra workgroups find no sequence and do nothing). WebGPU
 * allows 65535 per grid dimension: T <= ~262K tokens per launch with BQ = 4.
 * Index math is i32: T*HQ*192 and S*HKV*192 must stay below 2^31.
 */
function prefill(
  q: Tensor<bf16, readonly string[]>, k: Tensor<bf16, readonly string[]>, v: Tensor<bf16, readonly string[]>,
  cu_q: Tensor<i32, readonly string[]>, cu_k: Tensor<i32, readonly string[]>, out: Out<bf16, readonly string[]>,
  Qs: Shared<f32>, part: Shared<f32>, scores: Shared<f32>, probs: Shared<f32>, rowState: Shared<f32>,
  dots: Local<f32>, acc: Local<f32>,
  m0: f32, l0: f32, window: i32, dimsOk: boolean,
  HQ: i32, HKV: i32, B1: i32, scale: f32, BQ: i32, BK: i32, DQK: i32, DV: i32,
): void {
  const h = workgroupId.x;
  const kh = h / (HQ / HKV);
  const nSeq = B1 - 1;
  // Which sequence, and which block of its rows: a scan of the batch (uniform per workgroup).
  const blk = workgroupId.y;
  let seq = -1;
  let i0 = 0;
  let first = 0;
  for (let b = 0; b < (dimsOk ? nSeq : 0); b++) {
    const nb = cdiv(cu_q[b + 1] - cu_q[b], BQ);
    if (blk < first + nb) {
      seq = b;
      i0 = (blk - first) * BQ;
      break;
    }
    first += nb;
  }
  const qStart = seq >= 0 ? cu_q[seq] : 0;
  const qLen = seq >= 0 ? cu_q[seq + 1] - qStart : 0;
  const kStart = seq >= 0 ? cu_k[seq] : 0;
  const kLen = seq >= 0 ? cu_k[seq + 1] - kStart : 0;
  const nRows = max(0, min(BQ, qLen - i0));
  const pos0 = kLen - qLen + i0;
  // Keys that any of the rows sees: from the first row's window start to the last row.
  const lo = max(0, pos0 - window + 1);
  const hi = min(kLen, pos0 + nRows);
  initState(rowState, acc, m0, l0, BQ);
  loadQueries(q, Qs, ((qStart + i0) * HQ + h) * DQK, HQ * DQK, nRows, BQ, DQK, DV);
  attendKeys(k, v, Qs, part, scores, probs, rowState, dots, acc, lo, hi, pos0, nRows, window, kStart, kLen + 1, HKV, kh, scale, BQ, BK, DQK, DV);
  storeRows(out, rowState, acc, ((qStart + i0) * HQ + h) * DV, HQ * DV, nRows, BQ);
}

/**
 * BQ query rows x BK keys per step. Shared memory (WGSL counts 4 B per element):
 * BQ*192 (queries) + BQ*128 (partial dots) + 2*BQ*BK (scores, probabilities) + 3*BQ floats,
 * 6.2 KiB for the defaults, 14.1 KiB for BQ=8, BK=64.
 */
const prefillConfig = {
  tunables: { BQ: [4, 1, 2, 8], BK: [32, 16, 64] },
  constraints: (c: { BQ: i32; BK: i32 }) => [c.BQ * c.BK <= 512],
  // cu_q/cu_k hold B1 = sequences + 1 offsets; other head dims make the kernels write nothing.
  requires: (c: { DQK: i32; DV: i32; HEAD_QK: i32; HEAD_V: i32; HQ: i32; HKV: i32; B1: i32 }) => [c.DQK === c.HEAD_QK, c.DV === c.HEAD_V, c.HKV >= 1, c.HQ % c.HKV === 0, c.B1 >= 1],
  workgroup: (c: { HEAD_V: i32 }) => [c.HEAD_V],
  grid: (c: { T: i32; HQ: i32; B1: i32; BQ: i32 }) => [c.HQ, cdiv(c.T, c.BQ) + c.B1],
};

type PrefillCtx = {
  T: i32; S: i32; HQ: i32; HKV: i32; DQK: i32; DV: i32; B1: i32;
  BQ: i32; BK: i32; SCALE: f32; HEAD_QK: i32; HEAD_V: i32;
};
type SwaPrefillCtx = {
  T: i32; S: i32; HQ: i32; HKV: i32; DQK: i32; DV: i32; B1: i32;
  BQ: i32; BK: i32; SCALE: f32; HEAD_QK: i32; HEAD_V: i32; WINDOW: i32;
};

export const swa_prefill = kernel(
  {
    doc: 'sliding-window (WINDOW keys incl. self) varlen prefill attention with a per-head sink logit; bf16 q[T,HQ,192] k[S,HKV,192] v[S,HKV,128] -> out[T,HQ,128], f32 online softmax',
    ...prefillConfig,
    consts: { WINDOW: 128, SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 },
  },
  (
    q: Tensor<bf16, ['T', 'HQ', 'DQK']>, k: Tensor<bf16, ['S', 'HKV', 'DQK']>, v: Tensor<bf16, ['S', 'HKV', 'DV']>, sink: Tensor<f32, ['HQ']>,
    cu_q: Tensor<i32, ['B1']>, cu_k: Tensor<i32, ['B1']>, out: Out<bf16, ['T', 'HQ', 'DV']>, c: SwaPrefillCtx,
  ) => {
    const Qs = shared(f32, c.BQ * c.HEAD_QK);
    const part = shared(f32, c.BQ * c.HEAD_V);
    const scores = shared(f32, c.BQ * c.BK);
    const probs = shared(f32, c.BQ * c.BK);
    const rowState = shared(f32, 3 * c.BQ);
    const dots = local(f32, c.BQ);
    const acc = local(f32, c.BQ);
    const dimsOk = c.DQK === c.HEAD_QK && c.DV === c.HEAD_V;
    // The sink is one more logit (unscaled) that carries no value: start from it.
    prefill(q, k, v, cu_q, cu_k, out, Qs, part, scores, probs, rowState, dots, acc, sink[workgroupId.x], 1.0, c.WINDOW, dimsOk,
      c.HQ, c.HKV, c.B1, c.SCALE, c.BQ, c.BK, c.HEAD_QK, c.HEAD_V);
  },
);

export const global_prefill = kernel(
  {
    doc: 'causal varlen prefill attention (global layers: no window, no sink); bf16 q[T,HQ,192] k[S,HKV,192] v[S,HKV,128] -> out[T,HQ,128], f32 online softmax',
    ...prefillConfig,
    consts: { SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 },
  },
  (
    q: Tensor<bf16, ['T', 'HQ', 'DQK']>, k: Tensor<bf16, ['S', 'HKV', 'DQK']>, v: Tensor<bf16, ['S', 'HKV', 'DV']>,
    cu_q: Tensor<i32, ['B1']>, cu_k: Tensor<i32, ['B1']>, out: Out<bf16, ['T', 'HQ', 'DV']>, c: PrefillCtx,
  ) => {
    const Qs = shared(f32, c.BQ * c.HEAD_QK);
    const part = shared(f32, c.BQ * c.HEAD_V);
    const scores = shared(f32, c.BQ * c.BK);
    const probs = shared(f32, c.BQ * c.BK);
    const rowState = shared(f32, 3 * c.BQ);
    const dots = local(f32, c.BQ);
    const acc = local(f32, c.BQ);
    const dimsOk = c.DQK === c.HEAD_QK && c.DV === c.HEAD_V;
    // No window: 2^30 keys back is further than any position.
    prefill(q, k, v, cu_q, cu_k, out, Qs, part, scores, probs, rowState, dots, acc, -F32_MAX, 0.0, 1073741824, dimsOk,
      c.HQ, c.HKV, c.B1, c.SCALE, c.BQ, c.BK, c.HEAD_QK, c.HEAD_V);
  },
);
