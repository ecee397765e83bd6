import {
  barrier, bf16, exp, f32, local, localIndex, max, shared, F32_MAX,
  type Dim, type i32, type Local, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';

/**
 * Online softmax (flash attention) shared by every attention kernel.
 *
 * A workgroup of HEAD_V = 128 threads attends BQ query rows of one query head at
 * consecutive positions pos0, pos0+1, ... (row r valid iff r < nRows) to the keys
 * [lo, hi) of one KV head, BK keys per tile:
 *   scores   thread (key jj, slice sl) dots its key's HEAD_QK/SL dims with all BQ rows
 *            (SL = HEAD_V/BK slices per key); partial dots are summed through shared memory;
 *   softmax  thread r < BQ owns row r's running max m[r] and sum l[r] in shared memory,
 *            and alpha[r] = exp(m_old - m_new), the rescale of this tile; probabilities
 *            p = exp(s - m) go to shared memory;
 *   values   thread d owns V dimension d: acc[r] = sum_j p[r][j] * v[j][d], in registers.
 * Key j of a row at position pos is visible iff pos - window < j <= pos. The kernel's
 * cache layout is the hook: key j is row keyBase + j % ring of k/v (ring = the ring-buffer
 * length, or anything > j for a flat layout).
 * Masked scores are -F32_MAX and get probability 0 exactly, so a row that sees no key
 * keeps m, l at their initial values and ends as zeros, never NaN.
 */

/** Compile-time configuration of the template; every attention kernel's context has it. */
type Config = { BQ: i32; BK: i32; HEAD_QK: i32; HEAD_V: i32; SCALE: f32 };

/** Shared and register arrays of one workgroup's online softmax. */
export type Workspace = {
  /** The BQ query rows as f32. */
  Qs: Shared<f32, [number, number]>;
  /** part[r][jj][sl]: slice sl of the dot of row r with key jj of the tile. */
  part: Shared<f32, [number, number, number]>;
  scores: Shared<f32, [number, number]>;
  probs: Shared<f32, [number, number]>;
  m: Shared<f32>;
  alpha: Shared<f32>;
  l: Shared<f32>;
  /** This thread's partial dots, one per row. */
  dots: Local<f32>;
  /** This thread's V dimension of each row's unnormalised output. */
  acc: Local<f32>;
};

/**
 * BQ*192 (queries) + BQ*128 (partial dots) + 2*BQ*BK (scores, probabilities) + 3*BQ floats
 * of shared memory. Call it once per kernel: each call declares a fresh set.
 */
export function attentionWorkspace(c: { BQ: i32; BK: i32; HEAD_QK: i32; HEAD_V: i32 }): Workspace {
  const Qs = shared(f32, c.BQ, c.HEAD_QK);
  const part = shared(f32, c.BQ, c.BK, c.HEAD_V / c.BK);
  const scores = shared(f32, c.BQ, c.BK);
  const probs = shared(f32, c.BQ, c.BK);
  const m = shared(f32, c.BQ);
  const alpha = shared(f32, c.BQ);
  const l = shared(f32, c.BQ);
  const dots = local(f32, c.BQ);
  const acc = local(f32, c.BQ);
  return { Qs, part, scores, probs, m, alpha, l, dots, acc };
}

/** Where the keys are: key j is k/v[keyBase + j % ring][kh]. */
export type Keys = { k: Tensor<bf16, [Dim, Dim, 'HEAD_QK']>; v: Tensor<bf16, [Dim, Dim, 'HEAD_V']>; kh: i32; keyBase: i32; ring: i32 };

/**
 * One workgroup's rows: q/out[first + r][h] for r < nRows at position pos0 + r, attending
 * the keys [lo, hi) of which those within `window` positions back are visible.
 */
export type Block = { first: i32; h: i32; nRows: i32; pos0: i32; lo: i32; hi: i32; window: i32 };

/**
 * The whole attention of a block up to the final normalisation, from the state m = m0,
 * l = l0, acc = 0 (a sink logit s: m0 = s, l0 = exp(s - s) = 1; no sink: m0 = -F32_MAX,
 * l0 = 0). Key tiles start at lo, not at 0: a window skips every tile before it. Ends with
 * a barrier, so every thread sees the row state.
 */
export function attend(ws: Workspace, q: Tensor<bf16, [Dim, Dim, 'HEAD_QK']>, keys: Keys, blk: Block, m0: f32, l0: f32, c: Config): void {
  if (localIndex < c.BQ) {
    ws.m[localIndex] = m0;
    ws.l[localIndex] = l0;
  }
  for (let r = 0; r < c.BQ; r++) ws.acc[r] = 0.0;
  for (let i = localIndex; i < c.BQ * c.HEAD_QK; i += c.HEAD_V) {
    const r = i / c.HEAD_QK;
    const d = i % c.HEAD_QK;
    ws.Qs[r][d] = r < blk.nRows ? f32(q[blk.first + r][blk.h][d]) : 0.0;
  }
  barrier();
  for (let k0 = blk.lo; k0 < blk.hi; k0 += c.BK) {
    scoreTile(ws, keys, blk, k0, c);
    softmaxTile(ws, c);
    accumulateTile(ws, keys, blk, k0, c);
  }
  // Row sums were last written by their own threads: make them visible to all.
  barrier();
}

/** s[r][j] = scale * q_r . k_(k0+j) for the tile's BK keys, -F32_MAX where masked. Ends with a barrier. */
function scoreTile(ws: Workspace, keys: Keys, blk: Block, k0: i32, c: Config): void {
  const SL = c.HEAD_V / c.BK;
  const width = c.HEAD_QK / SL;
  const jj = localIndex / SL;
  const sl = localIndex % SL;
  const d0 = sl * width;
  const j = k0 + jj;
  for (let r = 0; r < c.BQ; r++) ws.dots[r] = 0.0;
  if (j < blk.hi) {
    const key = keys.k[keys.keyBase + (j % keys.ring)][keys.kh];
    for (let d = 0; d < width; d++) {
      const kd = f32(key[d0 + d]);
      for (let r = 0; r < c.BQ; r++) ws.dots[r] += ws.Qs[r][d0 + d] * kd;
    }
  }
  for (let r = 0; r < c.BQ; r++) ws.part[r][jj][sl] = ws.dots[r];
  barrier();
  for (let t = localIndex; t < c.BQ * c.BK; t += c.HEAD_V) {
    const r = t / c.BK;
    const jt = t % c.BK;
    const pos = blk.pos0 + r;
    const key = k0 + jt;
    let s = 0.0;
    for (let i = 0; i < SL; i++) s += ws.part[r][jt][i];
    const visible = r < blk.nRows && key < blk.hi && key <= pos && key > pos - blk.window;
    ws.scores[r][jt] = visible ? s * c.SCALE : -F32_MAX;
  }
  barrier();
}

/**
 * Row r (thread r): m_new = max(m, max_j s[r][j]), alpha = exp(m - m_new), l *= alpha.
 * Every thread: acc[r] *= alpha[r]; p[r][j] = exp(s[r][j] - m_new) (0 where masked). Two barriers.
 */
function softmaxTile(ws: Workspace, c: { BQ: i32; BK: i32; HEAD_V: i32 }): void {
  if (localIndex < c.BQ) {
    let tileMax = -F32_MAX;
    for (let j = 0; j < c.BK; j++) tileMax = max(tileMax, ws.scores[localIndex][j]);
    const m = ws.m[localIndex];
    const mNew = max(m, tileMax);
    const alpha = exp(m - mNew);
    ws.m[localIndex] = mNew;
    ws.alpha[localIndex] = alpha;
    ws.l[localIndex] = ws.l[localIndex] * alpha;
  }
  barrier();
  for (let r = 0; r < c.BQ; r++) ws.acc[r] = ws.acc[r] * ws.alpha[r];
  for (let t = localIndex; t < c.BQ * c.BK; t += c.HEAD_V) {
    const r = t / c.BK;
    const s = ws.scores[r][t % c.BK];
    ws.probs[r][t % c.BK] = s > -F32_MAX ? exp(s - ws.m[r]) : 0.0;
  }
  barrier();
}

/** acc[r] += sum_j p[r][j] * v[j][d] for this thread's V dim d; row r's thread adds sum_j p[r][j] to l. */
function accumulateTile(ws: Workspace, keys: Keys, blk: Block, k0: i32, c: { BQ: i32; BK: i32 }): void {
  // Key k0 + j is in row keyBase + (k0 + j) % ring: one division per tile, then a wrap test.
  const first = k0 % keys.ring;
  for (let j = 0; j < c.BK && k0 + j < blk.hi; j++) {
    const row = keys.keyBase + first + j - (first + j >= keys.ring ? keys.ring : 0);
    const vd = f32(keys.v[row][keys.kh][localIndex]);
    for (let r = 0; r < c.BQ; r++) ws.acc[r] += ws.probs[r][j] * vd;
  }
  if (localIndex < c.BQ) {
    let sum = 0.0;
    for (let j = 0; j < c.BK; j++) sum += ws.probs[localIndex][j];
    ws.l[localIndex] = ws.l[localIndex] + sum;
  }
}

/** Final normalisation: out[first + r][h][d] = acc[r] / l[r], zeros for a row that saw nothing. */
export function storeRows(ws: Workspace, out: Out<bf16, [Dim, Dim, 'HEAD_V']>, blk: Block, c: { BQ: i32 }): void {
  for (let r = 0; r < c.BQ; r++) {
    const l = ws.l[r];
    if (r < blk.nRows) out[blk.first + r][blk.h][localIndex] = bf16(l > 0.0 ? ws.acc[r] / l : 0.0);
  }
}
