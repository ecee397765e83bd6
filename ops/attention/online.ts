import {
  barrier, bf16, exp, f32, localIndex, max, F32_MAX,
  type i32, type Local, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';

/**
 * Online softmax (flash attention) shared by every attention kernel.
 *
 * A workgroup of WG = DV = 128 threads attends BQ query rows of one query head at
 * consecutive positions pos0, pos0+1, ... (row r valid iff r < nRows) to the keys
 * [lo, hi) of one KV head, BK keys per tile:
 *   scores   thread (key jj, slice sl) dots its key's DQK/SL dims with all BQ rows
 *            (SL = WG/BK slices per key); partial dots are summed through shared memory;
 *   softmax  thread r < BQ owns row r's running max m and sum l, kept in shared memory
 *            rowState = [m[0..BQ) | alpha[0..BQ) | l[0..BQ)] (alpha = exp(m_old - m_new),
 *            the rescale of this tile); probabilities p = exp(s - m) go to shared memory;
 *   values   thread d owns V dimension d: acc[r] = sum_j p[r][j] * v[j][d], in registers.
 * Key j of a row at position pos is visible iff pos - window < j <= pos; its K/V row is
 * keyBase + j % ring (ring = the ring-buffer length, or anything > j for a flat layout).
 * Masked scores are -F32_MAX and get probability 0 exactly, so a row that sees no key
 * keeps m, l at their initial values and ends as zeros, never NaN.
 */

/**
 * State before any key: m = m0, l = l0, acc = 0 (a sink logit s: m0 = s, l0 = exp(s - s) = 1;
 * no sink: m0 = -F32_MAX, l0 = 0). Visible to all threads after the next barrier.
 */
export function initState(rowState: Shared<f32>, acc: Local<f32>, m0: f32, l0: f32, BQ: i32): void {
  if (localIndex < BQ) {
    rowState[localIndex] = m0;
    rowState[2 * BQ + localIndex] = l0;
  }
  for (let r = 0; r < BQ; r++) acc[r] = 0.0;
}

/** Qs[r, :] = q rows qOff + r * qStride as f32 (zeros past nRows). Ends with a barrier. */
export function loadQueries(q: Tensor<bf16, readonly string[]>, Qs: Shared<f32>, qOff: i32, qStride: i32, nRows: i32, BQ: i32, DQK: i32, WG: i32): void {
  for (let i = localIndex; i < BQ * DQK; i += WG) {
    const r = i / DQK;
    Qs[i] = r < nRows ? f32(q[qOff + r * qStride + (i % DQK)]) : 0.0;
  }
  barrier();
}

/** s[r, j] = scale * q_r . k_j for keys k0..k0+BK-1, -F32_MAX where masked. Ends with a barrier. */
export function scoreTile(
  k: Tensor<bf16, readonly string[]>, Qs: Shared<f32>, part: Shared<f32>, scores: Shared<f32>, dots: Local<f32>,
  k0: i32, hi: i32, pos0: i32, nRows: i32, window: i32, keyBase: i32, ring: i32, HKV: i32, kh: i32, scale: f32,
  BQ: i32, BK: i32, DQK: i32, WG: i32,
): void {
  const SL = WG / BK;
  const width = DQK / SL;
  const jj = localIndex / SL;
  const d0 = (localIndex % SL) * width;
  const j = k0 + jj;
  for (let r = 0; r < BQ; r++) dots[r] = 0.0;
  if (j < hi) {
    const kOff = ((keyBase + (j % ring)) * HKV + kh) * DQK + d0;
    for (let d = 0; d < width; d++) {
      const kd = f32(k[kOff + d]);
      for (let r = 0; r < BQ; r++) dots[r] += Qs[r * DQK + d0 + d] * kd;
    }
  }
  for (let r = 0; r < BQ; r++) part[(r * BK + jj) * SL + (localIndex % SL)] = dots[r];
  barrier();
  for (let t = localIndex; t < BQ * BK; t += WG) {
    const pos = pos0 + t / BK;
    const key = k0 + (t % BK);
    let s = 0.0;
    for (let i = 0; i < SL; i++) s += part[t * SL + i];
    const visible = t / BK < nRows && key < hi && key <= pos && key > pos - window;
    scores[t] = visible ? s * scale : -F32_MAX;
  }
  barrier();
}

/**
 * Row r (thread r): m_new = max(m, max_j s[r, j]), alpha = exp(m - m_new), l *= alpha.
 * Every thread: acc[r] *= alpha[r]; p[r, j] = exp(s[r, j] - m_new) (0 where masked) into
 * `probs`. Two barriers.
 */
export function softmaxTile(scores: Shared<f32>, probs: Shared<f32>, rowState: Shared<f32>, acc: Local<f32>, BQ: i32, BK: i32, WG: i32): void {
  if (localIndex < BQ) {
    let tileMax = -F32_MAX;
    for (let j = 0; j < BK; j++) tileMax = max(tileMax, scores[localIndex * BK + j]);
    const m = rowState[localIndex];
    const mNew = max(m, tileMax);
    const alpha = exp(m - mNew);
    rowState[localIndex] = mNew;
    rowState[BQ + localIndex] = alpha;
    rowState[2 * BQ + localIndex] = rowState[2 * BQ + localIndex] * alpha;
  }
  barrier();
  for (let r = 0; r < BQ; r++) acc[r] = acc[r] * rowState[BQ + r];
  for (let t = localIndex; t < BQ * BK; t += WG) {
    const s = scores[t];
    probs[t] = s > -F32_MAX ? exp(s - rowState[t / BK]) : 0.0;
  }
  barrier();
}

/** acc[r] += sum_j p[r, j] * v[j, d] for this thread's V dim d; row r's thread adds sum_j p[r, j] to l. */
export function accumulateTile(
  v: Tensor<bf16, readonly string[]>, probs: Shared<f32>, rowState: Shared<f32>, acc: Local<f32>,
  k0: i32, hi: i32, keyBase: i32, ring: i32, HKV: i32, kh: i32, BQ: i32, BK: i32, DV: i32,
): void {
  // Key k0 + j is in row keyBase + (k0 + j) % ring: one division per tile, then a wrap test.
  const first = k0 % ring;
  for (let j = 0; j < BK && k0 + j < hi; j++) {
    const row = keyBase + first + j - (first + j >= ring ? ring : 0);
    const vd = f32(v[(row * HKV + kh) * DV + localIndex]);
    for (let r = 0; r < BQ; r++) acc[r] += probs[r * BK + j] * vd;
  }
  if (localIndex < BQ) {
    let sum = 0.0;
    for (let j = 0; j < BK; j++) sum += probs[localIndex * BK + j];
    rowState[2 * BQ + localIndex] = rowState[2 * BQ + localIndex] + sum;
  }
}

/** The whole key loop: tiles from lo (not from 0: a window skips every tile before it) to hi. */
export function attendKeys(
  k: Tensor<bf16, readonly string[]>, v: Tensor<bf16, readonly string[]>,
  Qs: Shared<f32>, part: Shared<f32>, scores: Shared<f32>, probs: Shared<f32>, rowState: Shared<f32>,
  dots: Local<f32>, acc: Local<f32>,
  lo: i32, hi: i32, pos0: i32, nRows: i32, window: i32, keyBase: i32, ring: i32, HKV: i32, kh: i32, scale: f32,
  BQ: i32, BK: i32, DQK: i32, DV: i32,
): void {
  for (let k0 = lo; k0 < hi; k0 += BK) {
    scoreTile(k, Qs, part, scores, dots, k0, hi, pos0, nRows, window, keyBase, ring, HKV, kh, scale, BQ, BK, DQK, DV);
    softmaxTile(scores, probs, rowState, acc, BQ, BK, DV);
    accumulateTile(v, probs, rowState, acc, k0, hi, keyBase, ring, HKV, kh, BQ, BK, DV);
  }
  // Row sums were last written by their own threads: make them visible to all.
  barrier();
}

/** Final normalisation: out[row r, d] = acc[r] / l[r], zeros for a row that saw nothing. */
export function storeRows(out: Out<bf16, readonly string[]>, rowState: Shared<f32>, acc: Local<f32>, outOff: i32, outStride: i32, nRows: i32, BQ: i32): void {
  for (let r = 0; r < BQ; r++) {
    const l = rowState[2 * BQ + r];
    if (r < nRows) out[outOff + r * outStride + localIndex] = bf16(l > 0.0 ? acc[r] / l : 0.0);
  }
}
