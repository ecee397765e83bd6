import {
  kernel, bf16, cdiv, f32, local, localIndex, min, numWorkgroups, workgroupId, type fp8e4m3, type i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';
import { silu } from '../swiglu.js';
import { dotRowsBf16, dotRowsFp8 } from './dot.js';

/**
 * The dense SwiGLU FFN's gate/up for decode (layer 0, MTP): h = bf16(silu(x·Wgᵀ) * (x·Wuᵀ))
 * with the gate and up products in f32, fused so that the 2F-wide intermediate never reaches
 * memory. Same scheme as ops/rows/linear.ts: one thread per column f walks its gate row and
 * then its up row for TMAX rows of x; grid [cdiv(F, WG), cdiv(T, TMAX)]. The down projection
 * is linear_rows_*.
 */
const gluLaunch = {
  tunables: { WG: [64, 128, 32], TMAX: [4, 8, 16, 1] },
  constraints: (c: { WG: i32 }) => [c.WG % 32 === 0],
  consts: { GROUP: 128 },
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { F: i32; T: i32; WG: i32; TMAX: i32 }) => [cdiv(c.F, c.WG), min(cdiv(c.T, c.TMAX), 65535)],
};

export const gate_up_rows_bf16 = kernel(
  { doc: 'h[t, f] = bf16(silu(x[t]·wg[f]) * (x[t]·wu[f])); x bf16 [T, H], wg, wu bf16 [F, H]; f32 math', ...gluLaunch },
  (
    x: Tensor<bf16, ['T', 'H']>, wg: Tensor<bf16, ['F', 'H']>, wu: Tensor<bf16, ['F', 'H']>, h: Out<bf16, ['T', 'F']>,
    c: { T: i32; H: i32; F: i32; WG: i32; TMAX: i32; GROUP: i32 },
  ) => {
    const f = workgroupId.x * c.WG + localIndex;
    const g = local(f32, c.TMAX);
    const u = local(f32, c.TMAX);
    if (f < c.F) {
      for (let t0 = workgroupId.y * c.TMAX; t0 < c.T; t0 += numWorkgroups.y * c.TMAX) {
        const rows = min(c.T - t0, c.TMAX);
        dotRowsBf16(x, t0 * c.H, rows, wg, f * c.H, c.H, g, c.TMAX);
        dotRowsBf16(x, t0 * c.H, rows, wu, f * c.H, c.H, u, c.TMAX);
        for (let j = 0; j < c.TMAX; j++) {
          if (j < rows) h[(t0 + j) * c.F + f] = bf16(silu(g[j]) * u[j]);
        }
      }
    }
  },
);

export const gate_up_rows_fp8 = kernel(
  {
    doc: 'h[t, f] = bf16(silu(x[t]·deq(wg)[f]) * (x[t]·deq(wu)[f])); wg, wu e4m3 [F, H] with wgs, wus f32 [FB, HG] 128x128 block scales; W8A16',
    ...gluLaunch,
    requires: (c) => [c.FB === cdiv(c.F, c.GROUP), c.HG === cdiv(c.H, c.GROUP)],
  },
  (
    x: Tensor<bf16, ['T', 'H']>, wg: Tensor<fp8e4m3, ['F', 'H']>, wu: Tensor<fp8e4m3, ['F', 'H']>,
    wgs: Tensor<f32, ['FB', 'HG']>, wus: Tensor<f32, ['FB', 'HG']>, h: Out<bf16, ['T', 'F']>,
    c: { T: i32; H: i32; F: i32; FB: i32; HG: i32; WG: i32; TMAX: i32; GROUP: i32 },
  ) => {
    const f = workgroupId.x * c.WG + localIndex;
    const g = local(f32, c.TMAX);
    const u = local(f32, c.TMAX);
    // f / GROUP < FB keeps a too-small scale tensor from being read past its end.
    if (f < c.F && f / c.GROUP < c.FB) {
      const sOff = (f / c.GROUP) * c.HG;
      for (let t0 = workgroupId.y * c.TMAX; t0 < c.T; t0 += numWorkgroups.y * c.TMAX) {
        const rows = min(c.T - t0, c.TMAX);
        dotRowsFp8(x, t0 * c.H, rows, wg, f * c.H, c.H, wgs, sOff, c.HG, g, c.TMAX, c.GROUP);
        dotRowsFp8(x, t0 * c.H, rows, wu, f * c.H, c.H, wus, sOff, c.HG, u, c.TMAX, c.GROUP);
        for (let j = 0; j < c.TMAX; j++) {
          if (j < rows) h[(t0 + j) * c.F + f] = bf16(silu(g[j]) * u[j]);
        }
      }
    }
  },
);
