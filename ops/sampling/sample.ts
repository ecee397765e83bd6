import { kernel, localIndex, workgroupId, type f32, type i32, type Out, type Tensor, type u32 } from '../../compiler/dsl/index.js';
import { drawKept } from './draw.js';
import { filterRow, filterWorkspace } from './filter.js';
import { uniformDraw } from './random.js';

/**
 * One seeded draw per row from the filtered distribution (filter.ts): temperature > 0
 * (the host runs sample_greedy for temperature 0), top_k (0 = off; exactly k tokens kept,
 * ties at the boundary to the lower id), top_p in (0, 1] (1 = off; the smallest prefix in
 * (probability desc, id asc) order with mass >= top_p of the renormalised top-k
 * distribution). u = uniformDraw(seed, step, row, 0) (random.ts), then the inverse CDF
 * over the kept ids in ascending order (draw.ts). Same seed, step and row: same token.
 * The row is read about 70 times when both filters are on (32 + 32 bisection passes),
 * never sorted; V < 2^24.
 */
export const sample_token = kernel(
  {
    doc: 'ids[b] ~ softmax(logits[b,:] / temperature) after top-k then top-p (renormalised), u from a counter-based hash of (seed, step, b); one workgroup per row',
    tunables: { WG: [256, 64, 128, 32] },
    constraints: (c) => [256 % c.WG === 0, c.WG >= 32],
    // Counts are exact in f32 below 2^24 tokens; temperature 0 is sample_greedy's; top_k < 0 or top_p > 1 would silently mean "off".
    requires: (c) => [c.V >= 1, c.V < 16777216, c.temperature > 0, c.top_k >= 0, c.top_p > 0, c.top_p <= 1],
    workgroup: (c) => [c.WG],
    grid: (c) => [c.B],
  },
  (
    logits: Tensor<f32, ['B', 'V']>, ids: Out<i32, ['B']>,
    c: { B: i32; V: i32; temperature: f32; top_k: i32; top_p: f32; seed: u32; step: u32; WG: i32 },
  ) => {
    const b = workgroupId.x;
    const ws = filterWorkspace(c);
    const m = filterRow(logits[b], c, ws, true);
    const id = drawKept(logits[b], c, ws, m, { u: uniformDraw(c.seed, c.step, b, 0), exclude: -1 }, true);
    if (localIndex === 0) ids[b] = id;
  },
);
