import {
  kernel, bf16, cdiv, f32, localIndex, min, numWorkgroups, workgroupId,
  type i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';

/**
 * Partial NeoX (rotate-half) RoPE of MiMo-V2-Flash (fact sheet §1): the leading ROT dims
 * of each 192-dim q/k head are rotated in pairs (i, i + ROT/2), the other dims pass
 * through unchanged. The angle table comes from model/rope.ts (ropeCosSinTable):
 * cos_sin[p, i] = cos(p·θ_i), cos_sin[p, ROT/2 + i] = sin(p·θ_i), so ROT (the table
 * width) is the rotary dim: 64 for the real model, base 10^4 (SWA) or 5·10^6 (global).
 *
 *   out[i]         = x[i]·cos − x[i+ROT/2]·sin      i < ROT/2
 *   out[i + ROT/2] = x[i+ROT/2]·cos + x[i]·sin
 *   out[d]         = x[d]                           d ≥ ROT
 *
 * f32 math, one bf16 rounding per rotated element (cosT, sinT: cos and sin of the angle).
 * Positions must lie in [0, MAXPOS); the kernel never reads outside the table, and a row
 * whose position does not gets zeros in its rotated dims (not NaN: WGSL has no NaN
 * constants and may assume NaN-free arithmetic).
 */
function ropeRow(
  x: Tensor<bf16, ['DQK']>, out: Out<bf16, ['DQK']>, cos_sin: Tensor<f32, ['MAXPOS', 'ROT']>, pos: i32, lane: i32,
  c: { DQK: i32; ROT: i32; MAXPOS: i32; LANES: i32 },
): void {
  const half = min(c.ROT, c.DQK) / 2;
  // Outside the table (or a table wider than the head): cos = sin = 0, never an out-of-bounds read.
  const ok = pos >= 0 && pos < c.MAXPOS && c.ROT <= c.DQK;
  for (let i = lane; i < half; i += c.LANES) {
    const cosT = ok ? cos_sin[pos][i] : 0.0;
    const sinT = ok ? cos_sin[pos][half + i] : 0.0;
    const x1 = f32(x[i]);
    const x2 = f32(x[half + i]);
    out[i] = bf16(x1 * cosT - x2 * sinT);
    out[half + i] = bf16(x2 * cosT + x1 * sinT);
  }
  for (let d = 2 * half + lane; d < c.DQK; d += c.LANES) {
    out[d] = x[d];
  }
}

/**
 * Both projections in one launch: rows (token, head) of q come first, then those of k, one
 * LANES-thread team per row (WG / LANES rows per workgroup; a row is 192 contiguous bf16).
 * Token t of either tensor sits at positions[t]. Workgroups stride over the rows, so the
 * grid stays below 65536 for any T.
 */
export const rope = kernel(
  {
    doc: 'partial rotate-half RoPE: q_rot/k_rot = q/k with dims [0, ROT) rotated by the cos/sin table row positions[t] (pairs i, i+ROT/2), dims >= ROT copied; bf16 q[T,HQ,DQK] k[T,HKV,DQK], f32 cos_sin[MAXPOS,ROT], f32 math',
    tunables: { WG: [128, 64, 256, 32] },
    constraints: (c) => [c.WG % c.LANES === 0],
    // A table wider than the head gives zeros, an odd one misaligned pairs.
    requires: (c) => [c.ROT <= c.DQK, c.ROT % 2 === 0],
    consts: { LANES: 32 },
    workgroup: (c) => [c.WG],
    grid: (c) => [min(cdiv(c.T * (c.HQ + c.HKV), c.WG / c.LANES), 65535)],
  },
  (
    q: Tensor<bf16, ['T', 'HQ', 'DQK']>, k: Tensor<bf16, ['T', 'HKV', 'DQK']>, positions: Tensor<i32, ['T']>, cos_sin: Tensor<f32, ['MAXPOS', 'ROT']>,
    q_rot: Out<bf16, ['T', 'HQ', 'DQK']>, k_rot: Out<bf16, ['T', 'HKV', 'DQK']>,
    c: { T: i32; HQ: i32; HKV: i32; DQK: i32; MAXPOS: i32; ROT: i32; WG: i32; LANES: i32 },
  ) => {
    const lane = localIndex % c.LANES;
    const teams = c.WG / c.LANES;
    const qRows = c.T * c.HQ;
    const rows = qRows + c.T * c.HKV;
    for (let row = workgroupId.x * teams + localIndex / c.LANES; row < rows; row += numWorkgroups.x * teams) {
      if (row < qRows) {
        const t = row / c.HQ;
        const h = row % c.HQ;
        ropeRow(q[t][h], q_rot[t][h], cos_sin, positions[t], lane, c);
      } else {
        const t = (row - qRows) / c.HKV;
        const h = (row - qRows) % c.HKV;
        ropeRow(k[t][h], k_rot[t][h], cos_sin, positions[t], lane, c);
      }
    }
  },
);
