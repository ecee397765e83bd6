import {
  kernel, bf16, cdiv, f32, local, localIndex, min, numWorkgroups, workgroupId, type Dim, type fp8e4m3, type i32, type Local, type Out, type Tensor,
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

/** h[t0 + j][f] = bf16(silu(g[j]) * u[j]) for the rows of xs. */
function storeGlu(g: Local<f32>, u: Local<f32>, xs: { t0: i32; rows: i32; TMAX: i32 }, h: Out<bf16, [Dim, Dim]>, f: i32): void {
  for (let j = 0; j < xs.TMAX; j++) {
    if (j < xs.rows) h[xs.t0 + j][f] = bf16(silu(g[j]) * u[j]);
  }
}

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
        const xs = { x, t0, rows: min(c.T - t0, c.TMAX), K: c.H, TMAX: c.TMAX };
        dotRowsBf16(xs, wg[f], g);
        dotRowsBf16(xs, wu[f], u);
        storeGlu(g, u, xs, h, f);
      }
    }
  },
);

export const gate_up_rows_fp8 = kernel(
  {
    doc: 'h[t, f] = bf16(silu(x[t]·deq(wg)[f]) * (x[t]·deq(wu)[f])); wg, wu e4m3 [F, H] with wgs, wus f32 [cdiv(F, 128), cdiv(H, 128)] block scales; W8A16',
    ...gluLaunch,
  },
  (
    x: Tensor<bf16, ['T', 'H']>, wg: Tensor<fp8e4m3, ['F', 'H']>, wu: Tensor<fp8e4m3, ['F', 'H']>,
    wgs: Tensor<f32, ['cdiv(F, GROUP)', 'cdiv(H, GROUP)']>, wus: Tensor<f32, ['cdiv(F, GROUP)', 'cdiv(H, GROUP)']>, h: Out<bf16, ['T', 'F']>,
    c: { T: i32; H: i32; F: i32; WG: i32; TMAX: i32; GROUP: i32 },
  ) => {
    const f = workgroupId.x * c.WG + localIndex;
    const g = local(f32, c.TMAX);
    const u = local(f32, c.TMAX);
    if (f < c.F) {
      for (let t0 = workgroupId.y * c.TMAX; t0 < c.T; t0 += numWorkgroups.y * c.TMAX) {
        const xs = { x, t0, rows: min(c.T - t0, c.TMAX), K: c.H, TMAX: c.TMAX };
        dotRowsFp8(xs, wg[f], wgs[f / c.GROUP], g, c.GROUP);
        dotRowsFp8(xs, wu[f], wus[f / c.GROUP], u, c.GROUP);
        storeGlu(g, u, xs, h, f);
      }
    }
  },
);
