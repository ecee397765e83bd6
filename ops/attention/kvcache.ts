import {
  kernel, bf16, cdiv, f32, localIndex, min, numWorkgroups, workgroupId,
  type i32, type InOut, type Out, type Tensor,
} from '../../compiler/dsl/index.js';

/**
 * KV-cache writes of MiMo-V2-Flash (fact sheet §1). V is multiplied by
 * attention_value_scale = V_SCALE = 0.707 here, once, before it is stored: the cache and the
 * contiguous `v_scaled` output (what prefill attention reads for the new tokens) hold
 * bf16(V_SCALE · v), rounded once from f32, and the attention kernels never rescale. K is
 * stored as given (already rotated by the rope kernel).
 *
 * New tokens are described per token, like vLLM's slot mapping: token t (row t of k_rot[T,
 * HKV, DQK] and v[T, HKV, DV]) belongs to cache sequence batch_idx[t] and sits at position
 * positions[t] (the same array the rope kernel reads). This serves prefill chunks, decode
 * and MTP verify alike; a token with batch_idx < 0 (padding) is not written to the cache,
 * and neither is one whose batch index or position falls outside the cache. v_scaled is
 * written for every token.
 *
 * One LANES-thread team per (token, kv head) row, WG / LANES rows per workgroup;
 * workgroups stride over the T·HKV rows, so the grid stays below 65536. Indices are i32:
 * a cache tensor must hold fewer than 2^31 elements (global layers: B·SMAX < 2.79M tokens
 * at HKV = 4).
 */
function writeRow(
  src: { k: Tensor<bf16, ['DQK']>; v: Tensor<bf16, ['DV']> }, dst: { k: Out<bf16, ['DQK']>; v: Out<bf16, ['DV']> },
  v_scaled: Out<bf16, ['DV']>, store: boolean, lane: i32, c: { DQK: i32; DV: i32; LANES: i32; V_SCALE: f32 },
): void {
  for (let d = lane; d < c.DV; d += c.LANES) {
    const vs = bf16(c.V_SCALE * f32(src.v[d]));
    v_scaled[d] = vs;
    if (store) dst.v[d] = vs;
  }
  if (store) {
    for (let d = lane; d < c.DQK; d += c.LANES) dst.k[d] = src.k[d];
  }
}

const kvConfig = {
  tunables: { WG: [128, 64, 256, 32] },
  constraints: (c: { WG: i32; LANES: i32 }) => [c.WG % c.LANES === 0],
  consts: { LANES: 32, V_SCALE: 0.707 },
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { T: i32; HKV: i32; WG: i32; LANES: i32 }) => [min(cdiv(c.T * c.HKV, c.WG / c.LANES), 65535)],
};

/**
 * Global layers: the cache keeps every position, k_cache[B, SMAX, HKV, DQK] and
 * v_cache[B, SMAX, HKV, DV]; token t goes to [batch_idx[t], positions[t]].
 */
export const kv_write_linear = kernel(
  {
    doc: 'global-layer KV-cache write: k_cache[b,pos] = k_rot[t], v_cache[b,pos] = v_scaled[t] = bf16(V_SCALE*v[t]) for b = batch_idx[t], pos = positions[t]; bf16 [B,SMAX,HKV,DQK|DV] caches',
    ...kvConfig,
  },
  (
    k_rot: Tensor<bf16, ['T', 'HKV', 'DQK']>, v: Tensor<bf16, ['T', 'HKV', 'DV']>, batch_idx: Tensor<i32, ['T']>, positions: Tensor<i32, ['T']>,
    k_cache: InOut<bf16, ['B', 'SMAX', 'HKV', 'DQK']>, v_cache: InOut<bf16, ['B', 'SMAX', 'HKV', 'DV']>, v_scaled: Out<bf16, ['T', 'HKV', 'DV']>,
    c: { T: i32; HKV: i32; DQK: i32; DV: i32; B: i32; SMAX: i32; WG: i32; LANES: i32; V_SCALE: f32 },
  ) => {
    const lane = localIndex % c.LANES;
    const teams = c.WG / c.LANES;
    for (let row = workgroupId.x * teams + localIndex / c.LANES; row < c.T * c.HKV; row += numWorkgroups.x * teams) {
      const t = row / c.HKV;
      const kh = row % c.HKV;
      const b = batch_idx[t];
      const pos = positions[t];
      const store = b >= 0 && b < c.B && pos >= 0 && pos < c.SMAX;
      // A skipped token addresses row [0][0]: its b and pos may be anything.
      const seq = store ? b : 0;
      const slot = store ? pos : 0;
      writeRow({ k: k_rot[t][kh], v: v[t][kh] }, { k: k_cache[seq][slot][kh], v: v_cache[seq][slot][kh] }, v_scaled[t][kh], store, lane, c);
    }
  },
);

/**
 * Sliding-window layers: ring caches k_cache[B, R, HKV, DQK], v_cache[B, R, HKV, DV] with
 * R = WINDOW + slack slots (R is a runtime shape); position p lives in slot p % R, the
 * slot the attention kernels read. The write comes before attention, so a step that adds
 * n tokens per sequence needs R ≥ WINDOW + n − 1 (MTP verify, n = 4: R ≥ 131), or its
 * last token overwrites a key its first query still sees. When one launch holds more than R tokens of a sequence
 * (a long prefill chunk), several of them map to one slot and only the last may land
 * there: token t is skipped when token t + R is the same sequence at position p + R. That
 * is exact when each sequence's tokens are packed contiguously at consecutive positions
 * (prefill chunks, decode, MTP verify); other layouts must not give two tokens of one
 * sequence the same slot in one launch.
 */
export const kv_write_ring = kernel(
  {
    doc: 'sliding-window KV-cache write into ring buffers: slot = positions[t] % R; k_cache[b,slot] = k_rot[t], v_cache[b,slot] = v_scaled[t] = bf16(V_SCALE*v[t]), b = batch_idx[t]; bf16 [B,R,HKV,DQK|DV] caches',
    ...kvConfig,
  },
  (
    k_rot: Tensor<bf16, ['T', 'HKV', 'DQK']>, v: Tensor<bf16, ['T', 'HKV', 'DV']>, batch_idx: Tensor<i32, ['T']>, positions: Tensor<i32, ['T']>,
    k_cache: InOut<bf16, ['B', 'R', 'HKV', 'DQK']>, v_cache: InOut<bf16, ['B', 'R', 'HKV', 'DV']>, v_scaled: Out<bf16, ['T', 'HKV', 'DV']>,
    c: { T: i32; HKV: i32; DQK: i32; DV: i32; B: i32; R: i32; WG: i32; LANES: i32; V_SCALE: f32 },
  ) => {
    const lane = localIndex % c.LANES;
    const teams = c.WG / c.LANES;
    for (let row = workgroupId.x * teams + localIndex / c.LANES; row < c.T * c.HKV; row += numWorkgroups.x * teams) {
      const t = row / c.HKV;
      const kh = row % c.HKV;
      const b = batch_idx[t];
      const pos = positions[t];
      // Overwritten in this same launch by the token R later (same slot, later position)?
      const later = t + c.R;
      const superseded = later < c.T && batch_idx[later] === b && positions[later] === pos + c.R;
      const store = b >= 0 && b < c.B && pos >= 0 && c.R > 0 && !superseded;
      const seq = store ? b : 0;
      const slot = store ? pos % c.R : 0;
      writeRow({ k: k_rot[t][kh], v: v[t][kh] }, { k: k_cache[seq][slot][kh], v: v_cache[seq][slot][kh] }, v_scaled[t][kh], store, lane, c);
    }
  },
);
