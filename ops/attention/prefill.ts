import {
  kernel, cdiv, f32, min, max, workgroupId, F32_MAX,
  type bf16, type Dim, type i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';
import { flashAttend, flashWorkspace } from './flash.js';

/**
 * Varlen prefill attention of MiMo-V2-Flash (fact sheet §1-2). Sequences are packed:
 * queries cu_q[b]..cu_q[b+1] of q[T, HQ, 192], keys cu_k[b]..cu_k[b+1] of k/v[S, HKV, .];
 * query i of sequence b sits at position kLen - qLen + i. GQA: query head h reads KV head
 * h / (HQ / HKV) in place. The head dims are the consts HEAD_QK = 192 and HEAD_V = 128.
 *
 * Work split: a workgroup takes BQ consecutive query rows of one sequence and one query
 * head and runs the FlashAttention-2 template of flash.ts (tensor cores on CUDA) over the
 * keys its rows see. grid.x = head (fastest, so the query heads sharing a KV head read the
 * same K/V window close together in time), grid.y enumerates the row blocks of all B
 * sequences, at most cdiv(T, BQ) + B + 1 of them (extra workgroups find no sequence and do
 * nothing). WebGPU allows 65535 per grid dimension: T <= ~1M tokens per launch with BQ = 16.
 * Index math is i32: T*HQ*192 and S*HKV*192 must stay below 2^31.
 */

type PrefillCtx = { T: i32; S: i32; HQ: i32; HKV: i32; B: i32; BQ: i32; BK: i32; DC: i32; SCALE: f32; HEAD_QK: i32; HEAD_V: i32 };
type SwaPrefillCtx = { T: i32; S: i32; HQ: i32; HKV: i32; B: i32; BQ: i32; BK: i32; DC: i32; SCALE: f32; HEAD_QK: i32; HEAD_V: i32; WINDOW: i32 };
/** The tensors of one launch. */
type Io = {
  q: Tensor<bf16, [Dim, Dim, 'HEAD_QK']>; k: Tensor<bf16, [Dim, Dim, 'HEAD_QK']>; v: Tensor<bf16, [Dim, Dim, 'HEAD_V']>;
  cu_q: Tensor<i32, ['B + 1']>; cu_k: Tensor<i32, ['B + 1']>; out: Out<bf16, [Dim, Dim, 'HEAD_V']>;
};

/**
 * This workgroup's rows (grid.x = head, grid.y = row block of the batch, found by a scan:
 * uniform per workgroup) and the keys any of them sees, from the first row's window start
 * to the last row; kStart is the sequence's first key. Exported for bench/baselines.
 */
export function rowBlock(cu_q: Tensor<i32, ['B + 1']>, cu_k: Tensor<i32, ['B + 1']>, window: i32, c: { B: i32; BQ: i32 }) {
  const blk = workgroupId.y;
  let seq = -1;
  let i0 = 0;
  let first = 0;
  for (let b = 0; b < c.B; b++) {
    const nb = cdiv(cu_q[b + 1] - cu_q[b], c.BQ);
    if (blk < first + nb) {
      seq = b;
      i0 = (blk - first) * c.BQ;
      break;
    }
    first += nb;
  }
  const qStart = seq >= 0 ? cu_q[seq] : 0;
  const qLen = seq >= 0 ? cu_q[seq + 1] - qStart : 0;
  const kStart = seq >= 0 ? cu_k[seq] : 0;
  const kLen = seq >= 0 ? cu_k[seq + 1] - kStart : 0;
  const nRows = max(0, min(c.BQ, qLen - i0));
  const pos0 = kLen - qLen + i0;
  return { first: qStart + i0, h: workgroupId.x, nRows, pos0, lo: max(0, pos0 - window + 1), hi: min(kLen, pos0 + nRows), window, kStart };
}

/** The attention both kernels run, given the window and the initial state (a sink or none). */
function prefill(io: Io, start: { m0: f32; l0: f32 }, window: i32, c: PrefillCtx): void {
  const b = rowBlock(io.cu_q, io.cu_k, window, c);
  const ws = flashWorkspace(c);
  flashAttend(ws, io.q, { k: io.k, v: io.v, kh: b.h / (c.HQ / c.HKV), keyBase: b.kStart }, b, start.m0, start.l0, io.out, c);
}

/**
 * BQ query rows (BQ/16 warps) x BK keys per step, Q and K DC head dims at a time; shared
 * memory as flashWorkspace says (WGSL counts 4 B per element): CUDA 48 KiB (BQ=64, BK=32,
 * DC=192), WebGPU 13 KiB (BQ=16, BK=16, DC=32). Chunked Q/K (DC < 192) stage one 16-key tile at a time.
 */
const prefillConfig = {
  tunables: { BQ: { webgpu: [16, 32], cuda: [64, 32] }, BK: { webgpu: [16], cuda: [32, 16] }, DC: { webgpu: [32], cuda: [192] } },
  constraints: (c: { BQ: i32; BK: i32; DC: i32 }) => [c.BQ % 16 === 0, c.BK % 16 === 0, c.DC % 16 === 0, 192 % c.DC === 0, (192 - c.DC) * (c.BK - 16) === 0],
  requires: (c: { HQ: i32; HKV: i32 }) => [c.HKV >= 1, c.HQ % c.HKV === 0],
  workgroup: (c: { BQ: i32 }) => [c.BQ * 2],
  grid: (c: { T: i32; HQ: i32; B: i32; BQ: i32 }) => [c.HQ, cdiv(c.T, c.BQ) + c.B + 1],
};

export const swa_prefill = kernel(
  {
    doc: 'sliding-window (WINDOW keys incl. self) varlen prefill attention with a per-head sink logit; bf16 q[T,HQ,192] k[S,HKV,192] v[S,HKV,128] -> out[T,HQ,128], f32 online softmax',
    ...prefillConfig,
    consts: { WINDOW: 128, SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 },
  },
  (
    q: Tensor<bf16, ['T', 'HQ', 'HEAD_QK']>, k: Tensor<bf16, ['S', 'HKV', 'HEAD_QK']>, v: Tensor<bf16, ['S', 'HKV', 'HEAD_V']>, sink: Tensor<f32, ['HQ']>,
    cu_q: Tensor<i32, ['B + 1']>, cu_k: Tensor<i32, ['B + 1']>, out: Out<bf16, ['T', 'HQ', 'HEAD_V']>, c: SwaPrefillCtx,
  ) => {
    // The sink is one more logit (unscaled) that carries no value: start from it.
    prefill({ q, k, v, cu_q, cu_k, out }, { m0: sink[workgroupId.x], l0: 1.0 }, c.WINDOW, c);
  },
);

export const global_prefill = kernel(
  {
    doc: 'causal varlen prefill attention (global layers: no window, no sink); bf16 q[T,HQ,192] k[S,HKV,192] v[S,HKV,128] -> out[T,HQ,128], f32 online softmax',
    ...prefillConfig,
    consts: { SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 },
  },
  (
    q: Tensor<bf16, ['T', 'HQ', 'HEAD_QK']>, k: Tensor<bf16, ['S', 'HKV', 'HEAD_QK']>, v: Tensor<bf16, ['S', 'HKV', 'HEAD_V']>,
    cu_q: Tensor<i32, ['B + 1']>, cu_k: Tensor<i32, ['B + 1']>, out: Out<bf16, ['T', 'HQ', 'HEAD_V']>, c: PrefillCtx,
  ) => {
    // No window: 2^30 keys back is further than any position.
    prefill({ q, k, v, cu_q, cu_k, out }, { m0: -F32_MAX, l0: 0.0 }, 1073741824, c);
  },
);
