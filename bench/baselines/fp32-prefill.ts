import {
  kernel, barrier, bf16, cdiv, exp, f32, local, localIndex, max, shared, workgroupId, F32_MAX,
  type Dim, type i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';
import { rowBlock } from '../../ops/attention/prefill.js';

/**
 * The prefill attention this project shipped before FlashAttention-2 (commit 34f8959,
 * ops/attention/prefill.ts + online.ts), kept as the baseline that `npm run bench --
 * attention` measures the tensor-core kernels against on the same device. Not a product:
 * never compiled into generated/, and the tests do not use it.
 *
 * One workgroup of HEAD_V = 128 threads per BQ = 4 query rows of one head; every score and
 * every P·V product on FP32 FMA: thread (key jj, slice sl) dots its key's HEAD_QK/SL dims
 * with the rows (partials summed through shared memory), threads r < BQ own row r's online
 * softmax state, thread d owns output dim d. Keys [lo, hi) only, BK per tile.
 */

type Ctx = { T: i32; S: i32; HQ: i32; HKV: i32; B: i32; BQ: i32; BK: i32; SCALE: f32; HEAD_QK: i32; HEAD_V: i32 };
type SwaCtx = { T: i32; S: i32; HQ: i32; HKV: i32; B: i32; BQ: i32; BK: i32; SCALE: f32; HEAD_QK: i32; HEAD_V: i32; WINDOW: i32 };
type Io = {
  q: Tensor<bf16, [Dim, Dim, 'HEAD_QK']>; k: Tensor<bf16, [Dim, Dim, 'HEAD_QK']>; v: Tensor<bf16, [Dim, Dim, 'HEAD_V']>;
  cu_q: Tensor<i32, ['B + 1']>; cu_k: Tensor<i32, ['B + 1']>; out: Out<bf16, [Dim, Dim, 'HEAD_V']>;
};

function attendFp32(io: Io, m0: f32, l0: f32, window: i32, c: Ctx): void {
  const { first, h, nRows, pos0, lo, hi, kStart } = rowBlock(io.cu_q, io.cu_k, window, c);
  const kh = h / (c.HQ / c.HKV);
  const Qs = shared(f32, c.BQ, c.HEAD_QK);
  const part = shared(f32, c.BQ, c.BK, c.HEAD_V / c.BK);
  const scores = shared(f32, c.BQ, c.BK);
  const probs = shared(f32, c.BQ, c.BK);
  const m = shared(f32, c.BQ);
  const alpha = shared(f32, c.BQ);
  const l = shared(f32, c.BQ);
  const dots = local(f32, c.BQ);
  const acc = local(f32, c.BQ);
  if (localIndex < c.BQ) {
    m[localIndex] = m0;
    l[localIndex] = l0;
  }
  for (let r = 0; r < c.BQ; r++) acc[r] = 0.0;
  for (let i = localIndex; i < c.BQ * c.HEAD_QK; i += c.HEAD_V) {
    const r = i / c.HEAD_QK;
    Qs[r][i % c.HEAD_QK] = r < nRows ? f32(io.q[first + r][h][i % c.HEAD_QK]) : 0.0;
  }
  barrier();
  const SL = c.HEAD_V / c.BK;
  const width = c.HEAD_QK / SL;
  for (let k0 = lo; k0 < hi; k0 += c.BK) {
    // Scores: partial dots per (key, slice), summed through shared memory.
    const jj = localIndex / SL;
    const d0 = (localIndex % SL) * width;
    for (let r = 0; r < c.BQ; r++) dots[r] = 0.0;
    if (k0 + jj < hi) {
      const key = io.k[kStart + k0 + jj][kh];
      for (let d = 0; d < width; d++) {
        const kd = f32(key[d0 + d]);
        for (let r = 0; r < c.BQ; r++) dots[r] += Qs[r][d0 + d] * kd;
      }
    }
    for (let r = 0; r < c.BQ; r++) part[r][jj][localIndex % SL] = dots[r];
    barrier();
    for (let t = localIndex; t < c.BQ * c.BK; t += c.HEAD_V) {
      const r = t / c.BK;
      const key = k0 + (t % c.BK);
      let s = 0.0;
      for (let i = 0; i < SL; i++) s += part[r][t % c.BK][i];
      const visible = r < nRows && key < hi && key <= pos0 + r && key > pos0 + r - window;
      scores[r][t % c.BK] = visible ? s * c.SCALE : -F32_MAX;
    }
    barrier();
    // Online softmax: row r's thread rescales its state.
    if (localIndex < c.BQ) {
      let tileMax = -F32_MAX;
      for (let j = 0; j < c.BK; j++) tileMax = max(tileMax, scores[localIndex][j]);
      const mNew = max(m[localIndex], tileMax);
      const a = exp(m[localIndex] - mNew);
      m[localIndex] = mNew;
      alpha[localIndex] = a;
      l[localIndex] = l[localIndex] * a;
    }
    barrier();
    for (let r = 0; r < c.BQ; r++) acc[r] = acc[r] * alpha[r];
    for (let t = localIndex; t < c.BQ * c.BK; t += c.HEAD_V) {
      const s = scores[t / c.BK][t % c.BK];
      probs[t / c.BK][t % c.BK] = s > -F32_MAX ? exp(s - m[t / c.BK]) : 0.0;
    }
    barrier();
    // Values: thread d accumulates dim d of every row.
    for (let j = 0; j < c.BK && k0 + j < hi; j++) {
      const vd = f32(io.v[kStart + k0 + j][kh][localIndex]);
      for (let r = 0; r < c.BQ; r++) acc[r] += probs[r][j] * vd;
    }
    if (localIndex < c.BQ) {
      let sum = 0.0;
      for (let j = 0; j < c.BK; j++) sum += probs[localIndex][j];
      l[localIndex] = l[localIndex] + sum;
    }
  }
  barrier();
  for (let r = 0; r < c.BQ; r++) {
    if (r < nRows) io.out[first + r][h][localIndex] = bf16(l[r] > 0.0 ? acc[r] / l[r] : 0.0);
  }
}

const config = {
  tunables: { BQ: [4], BK: [32] },
  workgroup: (c: { HEAD_V: i32 }) => [c.HEAD_V],
  grid: (c: { T: i32; HQ: i32; B: i32; BQ: i32 }) => [c.HQ, cdiv(c.T, c.BQ) + c.B + 1],
};

export const baseline_swa_prefill = kernel(
  { doc: 'baseline (34f8959): FP32 sliding-window prefill with a sink', ...config, consts: { WINDOW: 128, SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 } },
  (
    q: Tensor<bf16, ['T', 'HQ', 'HEAD_QK']>, k: Tensor<bf16, ['S', 'HKV', 'HEAD_QK']>, v: Tensor<bf16, ['S', 'HKV', 'HEAD_V']>, sink: Tensor<f32, ['HQ']>,
    cu_q: Tensor<i32, ['B + 1']>, cu_k: Tensor<i32, ['B + 1']>, out: Out<bf16, ['T', 'HQ', 'HEAD_V']>, c: SwaCtx,
  ) => {
    attendFp32({ q, k, v, cu_q, cu_k, out }, sink[workgroupId.x], 1.0, c.WINDOW, c);
  },
);

export const baseline_global_prefill = kernel(
  { doc: 'baseline (34f8959): FP32 causal prefill', ...config, consts: { SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 } },
  (
    q: Tensor<bf16, ['T', 'HQ', 'HEAD_QK']>, k: Tensor<bf16, ['S', 'HKV', 'HEAD_QK']>, v: Tensor<bf16, ['S', 'HKV', 'HEAD_V']>,
    cu_q: Tensor<i32, ['B + 1']>, cu_k: Tensor<i32, ['B + 1']>, out: Out<bf16, ['T', 'HQ', 'HEAD_V']>, c: Ctx,
  ) => {
    attendFp32({ q, k, v, cu_q, cu_k, out }, -F32_MAX, 0.0, 1073741824, c);
  },
);
