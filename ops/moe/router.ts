import {
  kernel, barrier, exp, localIndex, shared, workgroupId, F32_MAX, f32, i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';

/**
 * MiMo-V2-Flash MoE gate (DeepSeek-V3 `noaux_tc` with n_group = topk_group = 1):
 * s = sigmoid(logit); experts are *selected* by s + e_score_correction_bias, top-TOPK,
 * ties to the lower expert id; the routing weights are the *unbiased* s of the chosen
 * experts renormalised to sum to 1 (norm_topk_prob; routed_scaling_factor 1), with the
 * reference's `sum + 1e-20` denominator. E and TOPK are runtime shape symbols (256 and 8
 * in the model). ids come out in rank order (best first).
 */
function sigmoid(x: f32): f32 {
  return 1.0 / (1.0 + exp(-x));
}

/** Whether candidate (v, id) ranks above (w, jd): higher score, or equal score and lower id. */
function ranksAbove(v: f32, id: i32, w: f32, jd: i32): boolean {
  return v > w || (v === w && id < jd);
}

export const moe_router = kernel(
  {
    doc: 'ids[t,:] = top-TOPK experts by sigmoid(logits[t,e]) + bias[e] (ties: lower id), weights[t,j] = sigmoid(logits[t,ids[t,j]]) / sum_j(...); one workgroup per token',
    tunables: { WG: [256, 64, 128] },
    // The argmax is a tree over the workgroup: a power of two.
    constraints: (c) => [256 % c.WG === 0, c.WG >= 32],
    workgroup: (c) => [c.WG],
    grid: (c) => [c.T],
  },
  (
    logits: Tensor<f32, ['T', 'E']>, bias: Tensor<f32, ['E']>, ids: Out<i32, ['T', 'TOPK']>, weights: Out<f32, ['T', 'TOPK']>,
    c: { T: i32; E: i32; TOPK: i32; WG: i32 },
  ) => {
    const t = workgroupId.x;
    const bestV = shared(f32, c.WG);
    const bestI = shared(i32, c.WG);
    // Round r picks the best expert ranked strictly below round r-1's pick, so no expert is
    // picked twice and nothing needs marking. "No expert" is id E with score -F32_MAX.
    let prevV = F32_MAX;
    let prevI = -1;
    let sum = 0.0;
    for (let r = 0; r < c.TOPK; r++) {
      let v = -F32_MAX;
      let id = c.E;
      for (let e = localIndex; e < c.E; e += c.WG) {
        const s = sigmoid(logits[t][e]) + bias[e];
        if (ranksAbove(prevV, prevI, s, e) && ranksAbove(s, e, v, id)) {
          v = s;
          id = e;
        }
      }
      bestV[localIndex] = v;
      bestI[localIndex] = id;
      barrier();
      for (let h = c.WG / 2; h > 0; h = h / 2) {
        if (localIndex < h && ranksAbove(bestV[localIndex + h], bestI[localIndex + h], bestV[localIndex], bestI[localIndex])) {
          bestV[localIndex] = bestV[localIndex + h];
          bestI[localIndex] = bestI[localIndex + h];
        }
        barrier();
      }
      prevV = bestV[0];
      prevI = bestI[0];
      barrier();
      // Every thread holds the same pick; thread 0 writes it with its unbiased score.
      let w = 0.0;
      if (prevI < c.E) w = sigmoid(logits[t][prevI]);
      sum += w;
      if (localIndex === 0) {
        ids[t][r] = prevI < c.E ? prevI : -1;
        weights[t][r] = w;
      }
    }
    if (localIndex === 0) {
      for (let r = 0; r < c.TOPK; r++) weights[t][r] = weights[t][r] / (sum + 1e-20);
    }
  },
);
