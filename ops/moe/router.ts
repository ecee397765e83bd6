import {
  kernel, exp, localIndex, shared, workgroupId, F32_MAX, f32, i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';
import { workgroupMax } from '../common/reduce.js';

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
    // WebGPU takes 64 by default: SwiftShader runs a workgroup's invocations as fibers that
    // switch at every barrier, and E = 8 to 256 experts need no more threads than that.
    tunables: { WG: { webgpu: [64, 128, 256], cuda: [256, 64, 128] } },
    // The argmax reductions need a power-of-two workgroup.
    constraints: (c) => [256 % c.WG === 0, c.WG >= 32],
    // Expert ids travel through an f32 reduction: exact below 2^24.
    requires: (c) => [c.E <= 16777216],
    workgroup: (c) => [c.WG],
    grid: (c) => [c.T],
  },
  (
    logits: Tensor<f32, ['T', 'E']>, bias: Tensor<f32, ['E']>, ids: Out<i32, ['T', 'TOPK']>, weights: Out<f32, ['T', 'TOPK']>,
    c: { T: i32; E: i32; TOPK: i32; WG: i32 },
  ) => {
    const t = workgroupId.x;
    const scratch = shared(f32, c.WG);
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
      // The workgroup's best: the highest score (never NaN: a NaN score ranks above nothing, so
      // no thread keeps one), then the lowest id among the threads holding it.
      prevV = workgroupMax(scratch, v, c.WG);
      prevI = i32(-workgroupMax(scratch, v === prevV ? -f32(id) : -f32(c.E), c.WG));
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
