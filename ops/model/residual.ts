import {
  kernel, bf16, cdiv, f32, localIndex, min, numWorkgroups, shared, workgroupId, type i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';
import { rmsInverse, rmsScaled } from './rms.js';

/**
 * Residual adds of the decoder layers. The reference keeps the residual stream in bf16, so
 * each add is f32(a) + f32(b) rounded once to bf16 (the f32 sum of two bf16 values rounds
 * to bf16 exactly as their exact sum would: when it is inexact in f32 it is far from a bf16
 * midpoint). Workgroups stride over the work, so grids stay below 65536.
 */

export const residual_add = kernel(
  {
    doc: 'out[n] = bf16(f32(a[n]) + f32(b[n])); bf16 [N]',
    tunables: { WG: [256, 128, 64] },
    constraints: (c) => [c.WG % 32 === 0],
    workgroup: (c) => [c.WG],
    grid: (c) => [min(cdiv(c.N, c.WG), 65535)],
  },
  (a: Tensor<bf16, ['N']>, b: Tensor<bf16, ['N']>, out: Out<bf16, ['N']>, c: { N: i32; WG: i32 }) => {
    for (let i = workgroupId.x * c.WG + localIndex; i < c.N; i += numWorkgroups.x * c.WG) out[i] = bf16(f32(a[i]) + f32(b[i]));
  },
);

/**
 * sum = a + b (the new residual stream) and y = rmsnorm(sum) * w in one launch. y is
 * computed from the bf16-rounded sum with ops/rmsnorm.ts's math (ops/model/rms.ts), so it
 * is bit-identical to rmsnorm run on `sum` with the same WG. The second pass recomputes the
 * sum instead of reading `sum` back: same bits, and no read of a buffer this launch writes.
 */
export const add_rmsnorm = kernel(
  {
    doc: 'sum[t,d] = bf16(f32(a[t,d]) + f32(b[t,d])); y[t,d] = sum[t,d] * rsqrt(mean_d(sum[t,d]^2) + EPS) * w[d]; bf16 in/out, f32 math',
    tunables: { WG: [128, 64, 256] },
    constraints: (c) => [c.WG % 32 === 0],
    consts: { EPS: 1e-5 },
    workgroup: (c) => [c.WG],
    grid: (c) => [min(c.T, 65535)],
  },
  (
    a: Tensor<bf16, ['T', 'D']>, b: Tensor<bf16, ['T', 'D']>, w: Tensor<bf16, ['D']>, sum: Out<bf16, ['T', 'D']>, y: Out<bf16, ['T', 'D']>,
    c: { T: i32; D: i32; WG: i32; EPS: f32 },
  ) => {
    const scratch = shared(f32, c.WG);
    for (let t = workgroupId.x; t < c.T; t += numWorkgroups.x) {
      let sumSq = 0.0;
      for (let d = localIndex; d < c.D; d += c.WG) {
        const h = bf16(f32(a[t][d]) + f32(b[t][d]));
        sum[t][d] = h;
        const v = f32(h);
        sumSq += v * v;
      }
      const inv = rmsInverse(scratch, sumSq, c.D, c.WG, c.EPS);
      for (let d = localIndex; d < c.D; d += c.WG) y[t][d] = rmsScaled(f32(bf16(f32(a[t][d]) + f32(b[t][d]))), inv, w[d]);
    }
  },
);
