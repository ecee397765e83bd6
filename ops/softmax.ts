import { kernel, exp, f32, localIndex, shared, workgroupId, F32_MAX, max, type i32, type Out, type Tensor } from '../compiler/dsl/index.js';
import { workgroupMax, workgroupSum } from './common/reduce.js';

/** Numerically safe row softmax (max-subtracted), one workgroup per row. */
export const softmax = kernel(
  {
    doc: 'y[r,:] = exp(x[r,:] - max x[r,:]) / sum exp(x[r,:] - max x[r,:]); f32',
    tunables: { WG: [128, 64, 256] },
    constraints: (c) => [c.WG % 32 === 0],
    workgroup: (c) => [c.WG],
    grid: (c) => [c.R],
  },
  (x: Tensor<f32, ['R', 'N']>, y: Out<f32, ['R', 'N']>, c: { R: i32; N: i32; WG: i32 }) => {
    const r = workgroupId.x;
    const scratch = shared(f32, c.WG);
    let m = -F32_MAX;
    for (let i = localIndex; i < c.N; i += c.WG) {
      m = max(m, x[r][i]);
    }
    const rowMax = workgroupMax(scratch, m, c.WG);
    let s = 0.0;
    for (let i = localIndex; i < c.N; i += c.WG) {
      s += exp(x[r][i] - rowMax);
    }
    const inv = 1.0 / workgroupSum(scratch, s, c.WG);
    for (let i = localIndex; i < c.N; i += c.WG) {
      y[r][i] = exp(x[r][i] - rowMax) * inv;
    }
  },
);
