import { kernel, localIndex, shared, workgroupId, F32_MAX, f32, i32, type Out, type Tensor } from '../../compiler/dsl/index.js';
import { ranksAbove, workgroupArgmax } from './rank.js';

/** Greedy decoding: only the id comes back from the GPU. */
export const sample_greedy = kernel(
  {
    doc: 'ids[b] = argmax_v logits[b,v], ties to the lower id; one workgroup per row',
    tunables: { WG: [256, 64, 128] },
    // The argmax is a tree over the workgroup: a power of two.
    constraints: (c) => [256 % c.WG === 0, c.WG >= 32],
    // No token to pick: the id would be V, outside the vocabulary.
    requires: (c) => [c.V >= 1],
    workgroup: (c) => [c.WG],
    grid: (c) => [c.B],
  },
  (logits: Tensor<f32, ['B', 'V']>, ids: Out<i32, ['B']>, c: { B: i32; V: i32; WG: i32 }) => {
    const b = workgroupId.x;
    const bestV = shared(f32, c.WG);
    const bestI = shared(i32, c.WG);
    let v = -F32_MAX;
    let id = c.V;
    for (let e = localIndex; e < c.V; e += c.WG) {
      const x = logits[b][e];
      if (ranksAbove(x, e, v, id)) {
        v = x;
        id = e;
      }
    }
    const best = workgroupArgmax(bestV, bestI, v, id, c.WG);
    if (localIndex === 0) ids[b] = best;
  },
);
