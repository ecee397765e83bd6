import { kernel, exp, localIndex, log, max, shared, workgroupId, F32_MAX, f32, i32, type Out, type Tensor } from '../../compiler/dsl/index.js';
import { workgroupMax, workgroupSum } from '../common/reduce.js';
import { ranksAbove, workgroupArgmax } from './rank.js';

/**
 * Log-probabilities of the raw distribution (temperature 1, unfiltered), as an API's
 * `logprobs` field wants them: log p = (x - max) - log(sum exp(x - max)) in f32. The top
 * K come in rank order (ties to the lower id); round r picks the best token ranked
 * strictly below round r-1's, so K <= 20 rounds read the row K times and need no marks.
 * K <= V; past V a round finds no token and writes id -1, logprob -F32_MAX. A chosen id
 * outside [0, V) gets chosen_logprob = +F32_MAX, which no log-probability (<= 0) equals.
 */
export const sample_logprobs = kernel(
  {
    doc: 'ids[b,:K], logprobs[b,:K] = top-K of log_softmax(logits[b,:]) (ties: lower id); chosen_logprob[b] = log_softmax(logits[b,:])[chosen[b]]; one workgroup per row',
    tunables: { WG: [256, 64, 128] },
    constraints: (c) => [256 % c.WG === 0, c.WG >= 32],
    workgroup: (c) => [c.WG],
    grid: (c) => [c.B],
  },
  (
    logits: Tensor<f32, ['B', 'V']>, chosen: Tensor<i32, ['B']>, ids: Out<i32, ['B', 'K']>, logprobs: Out<f32, ['B', 'K']>,
    chosen_logprob: Out<f32, ['B']>, c: { B: i32; V: i32; K: i32; WG: i32 },
  ) => {
    const b = workgroupId.x;
    const row = logits[b];
    const bestV = shared(f32, c.WG);
    const bestI = shared(i32, c.WG);
    let mx = -F32_MAX;
    for (let e = localIndex; e < c.V; e += c.WG) mx = max(mx, row[e]);
    const m = workgroupMax(bestV, mx, c.WG);
    let s = 0.0;
    for (let e = localIndex; e < c.V; e += c.WG) s += exp(row[e] - m);
    const logSum = log(workgroupSum(bestV, s, c.WG));
    let prevV = F32_MAX;
    let prevI = -1;
    for (let r = 0; r < c.K; r++) {
      let v = -F32_MAX;
      let id = c.V;
      for (let e = localIndex; e < c.V; e += c.WG) {
        const x = row[e];
        if (ranksAbove(prevV, prevI, x, e) && ranksAbove(x, e, v, id)) {
          v = x;
          id = e;
        }
      }
      prevI = workgroupArgmax(bestV, bestI, v, id, c.WG);
      prevV = prevI < c.V ? row[prevI] : -F32_MAX;
      if (localIndex === 0) {
        ids[b][r] = prevI < c.V ? prevI : -1;
        logprobs[b][r] = prevI < c.V ? prevV - m - logSum : -F32_MAX;
      }
    }
    if (localIndex === 0) {
      const t = chosen[b];
      chosen_logprob[b] = t >= 0 && t < c.V ? row[t] - m - logSum : F32_MAX;
    }
  },
);
