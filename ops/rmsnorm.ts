import { kernel, bf16, f32, rsqrt, localIndex, shared, workgroupId, type i32, type Out, type Tensor } from '../compiler/dsl/index.js';
import { workgroupSum } from './common/reduce.js';

/** RMSNorm of MiMo-V2-Flash (eps 1e-5): one workgroup per row, f32 math, one rounding to bf16. */
export const rmsnorm = kernel(
  {
    doc: 'y[t,d] = x[t,d] * rsqrt(mean_d(x[t,d]^2) + EPS) * w[d]; bf16 in/out, f32 math',
    tunables: { WG: [128, 64, 256] },
    constraints: (c) => [c.WG % 32 === 0],
    consts: { EPS: 1e-5 },
    workgroup: (c) => [c.WG],
    grid: (c) => [c.T],
  },
  (x: Tensor<bf16, ['T', 'D']>, w: Tensor<bf16, ['D']>, y: Out<bf16, ['T', 'D']>, c: { T: i32; D: i32; WG: i32; EPS: f32 }) => {
    const t = workgroupId.x;
    const scratch = shared(f32, c.WG);
    let sumSq = 0.0;
    for (let d = localIndex; d < c.D; d += c.WG) {
      const v = f32(x[t][d]);
      sumSq += v * v;
    }
    const inv = rsqrt(workgroupSum(scratch, sumSq, c.WG) / f32(c.D) + c.EPS);
    for (let d = localIndex; d < c.D; d += c.WG) {
      y[t][d] = bf16(f32(x[t][d]) * inv * f32(w[d]));
    }
  },
);
