import {
  kernel, bf16, f32, cdiv, local, localIndex, min, numWorkgroups, workgroupId, type fp8e4m3, type i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';
import { silu } from '../swiglu.js';
import { dotRowsBf16, dotRowsFp8 } from './dot.js';

/**
 * MoE experts for decode, straight from the router's ids[T, TOPK]: no permutation, no
 * padding, no grouped GEMM. Every (token, slot) pair is its own GEMV against its expert's
 * weights (ops/rows/dot.ts with a single row), so a token's experts are read once each
 * (an expert chosen by two tokens is read twice: at decode sizes that is rare and cheap).
 * ids outside [0, E) (-1 = no expert) read no weights: gate/up writes zeros, down skips
 * the slot.
 *
 *   gate/up  h[t, j, f] = bf16(silu(x[t]·Wg[e,f]) * (x[t]·Wu[e,f])), e = ids[t, j]
 *            grid [cdiv(F, WG), T*TOPK] (slots stride past 65535)
 *   down     out[t, n] = bf16(Σ_j w[t, j] * (h[t, j]·Wd[e, n])), j in order, f32
 *            grid [cdiv(H, WG), T] (tokens stride past 65535); this is moe_combine fused in.
 */
const moeLaunch = {
  tunables: { WG: [64, 128, 32] },
  constraints: (c: { WG: i32 }) => [c.WG % 32 === 0],
  consts: { GROUP: 128 },
  workgroup: (c: { WG: i32 }) => [c.WG],
};

export const moe_gate_up_rows_bf16 = kernel(
  { doc: 'h[t, j, f] = bf16(silu(x[t]·wg[e, f]) * (x[t]·wu[e, f])), e = ids[t, j]; zeros where e is outside [0, E); bf16 [E, F, H] weights', ...moeLaunch, grid: (c) => [cdiv(c.F, c.WG), min(c.T * c.TOPK, 65535)] },
  (
    x: Tensor<bf16, ['T', 'H']>, ids: Tensor<i32, ['T', 'TOPK']>, wg: Tensor<bf16, ['E', 'F', 'H']>, wu: Tensor<bf16, ['E', 'F', 'H']>,
    h: Out<bf16, ['T', 'TOPK', 'F']>, c: { T: i32; TOPK: i32; H: i32; F: i32; E: i32; WG: i32; GROUP: i32 },
  ) => {
    const f = workgroupId.x * c.WG + localIndex;
    const g = local(f32, 1);
    const u = local(f32, 1);
    if (f < c.F) {
      for (let s = workgroupId.y; s < c.T * c.TOPK; s += numWorkgroups.y) {
        const t = s / c.TOPK;
        const j = s % c.TOPK;
        const e = ids[t][j];
        let v = 0.0;
        if (e >= 0 && e < c.E) {
          const xs = { x, t0: t, rows: 1, K: c.H, TMAX: 1 };
          dotRowsBf16(xs, wg[e][f], g);
          dotRowsBf16(xs, wu[e][f], u);
          v = silu(g[0]) * u[0];
        }
        h[t][j][f] = bf16(v);
      }
    }
  },
);

export const moe_gate_up_rows_fp8 = kernel(
  {
    doc: 'moe_gate_up_rows_bf16 with wg, wu e4m3 [E, F, H] and wgs, wus f32 [E, cdiv(F, 128), cdiv(H, 128)] block scales; W8A16',
    ...moeLaunch,
    grid: (c) => [cdiv(c.F, c.WG), min(c.T * c.TOPK, 65535)],
  },
  (
    x: Tensor<bf16, ['T', 'H']>, ids: Tensor<i32, ['T', 'TOPK']>, wg: Tensor<fp8e4m3, ['E', 'F', 'H']>, wu: Tensor<fp8e4m3, ['E', 'F', 'H']>,
    wgs: Tensor<f32, ['E', 'cdiv(F, GROUP)', 'cdiv(H, GROUP)']>, wus: Tensor<f32, ['E', 'cdiv(F, GROUP)', 'cdiv(H, GROUP)']>, h: Out<bf16, ['T', 'TOPK', 'F']>,
    c: { T: i32; TOPK: i32; H: i32; F: i32; E: i32; WG: i32; GROUP: i32 },
  ) => {
    const f = workgroupId.x * c.WG + localIndex;
    const g = local(f32, 1);
    const u = local(f32, 1);
    if (f < c.F) {
      for (let s = workgroupId.y; s < c.T * c.TOPK; s += numWorkgroups.y) {
        const t = s / c.TOPK;
        const j = s % c.TOPK;
        const e = ids[t][j];
        let v = 0.0;
        if (e >= 0 && e < c.E) {
          const xs = { x, t0: t, rows: 1, K: c.H, TMAX: 1 };
          dotRowsFp8(xs, wg[e][f], wgs[e][f / c.GROUP], g, c.GROUP);
          dotRowsFp8(xs, wu[e][f], wus[e][f / c.GROUP], u, c.GROUP);
          v = silu(g[0]) * u[0];
        }
        h[t][j][f] = bf16(v);
      }
    }
  },
);

export const moe_down_rows_bf16 = kernel(
  { doc: 'out[t, n] = bf16(sum_j w[t, j] * (h[t, j]·wd[ids[t, j], n])), j in order, f32; slots with ids outside [0, E) skipped; bf16 [E, H, F] weights', ...moeLaunch, grid: (c) => [cdiv(c.H, c.WG), min(c.T, 65535)] },
  (
    h: Tensor<bf16, ['T', 'TOPK', 'F']>, ids: Tensor<i32, ['T', 'TOPK']>, wd: Tensor<bf16, ['E', 'H', 'F']>, w: Tensor<f32, ['T', 'TOPK']>,
    out: Out<bf16, ['T', 'H']>, c: { T: i32; TOPK: i32; H: i32; F: i32; E: i32; WG: i32; GROUP: i32 },
  ) => {
    const n = workgroupId.x * c.WG + localIndex;
    const d = local(f32, 1);
    if (n < c.H) {
      for (let t = workgroupId.y; t < c.T; t += numWorkgroups.y) {
        let acc = 0.0;
        for (let j = 0; j < c.TOPK; j++) {
          const e = ids[t][j];
          if (e >= 0 && e < c.E) {
            dotRowsBf16({ x: h[t], t0: j, rows: 1, K: c.F, TMAX: 1 }, wd[e][n], d);
            acc += w[t][j] * d[0];
          }
        }
        out[t][n] = bf16(acc);
      }
    }
  },
);

export const moe_down_rows_fp8 = kernel(
  {
    doc: 'moe_down_rows_bf16 with wd e4m3 [E, H, F] and wds f32 [E, cdiv(H, 128), cdiv(F, 128)] block scales; W8A16',
    ...moeLaunch,
    grid: (c) => [cdiv(c.H, c.WG), min(c.T, 65535)],
  },
  (
    h: Tensor<bf16, ['T', 'TOPK', 'F']>, ids: Tensor<i32, ['T', 'TOPK']>, wd: Tensor<fp8e4m3, ['E', 'H', 'F']>, wds: Tensor<f32, ['E', 'cdiv(H, GROUP)', 'cdiv(F, GROUP)']>,
    w: Tensor<f32, ['T', 'TOPK']>, out: Out<bf16, ['T', 'H']>, c: { T: i32; TOPK: i32; H: i32; F: i32; E: i32; WG: i32; GROUP: i32 },
  ) => {
    const n = workgroupId.x * c.WG + localIndex;
    const d = local(f32, 1);
    if (n < c.H) {
      for (let t = workgroupId.y; t < c.T; t += numWorkgroups.y) {
        let acc = 0.0;
        for (let j = 0; j < c.TOPK; j++) {
          const e = ids[t][j];
          if (e >= 0 && e < c.E) {
            dotRowsFp8({ x: h[t], t0: j, rows: 1, K: c.F, TMAX: 1 }, wd[e][n], wds[e][n / c.GROUP], d, c.GROUP);
            acc += w[t][j] * d[0];
          }
        }
        out[t][n] = bf16(acc);
      }
    }
  },
);
