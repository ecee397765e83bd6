/**
 * The MiMo-V2-Flash gate (ops/moe/router.ts) in float64, and router inputs with exact
 * ties, shared by test/moe-router.test.ts and examples/run-all-ops.mts: sigmoid scores,
 * selection by score + e_score_correction_bias (top-k, ties to the lower id, in rank
 * order), weights = unbiased scores of the chosen experts / their sum.
 */
import { prng } from './prng.js';

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export function routerRef(logits: Float32Array, bias: Float32Array, T: number, E: number, K: number): { ids: Int32Array; weights: Float64Array } {
  const ids = new Int32Array(T * K);
  const weights = new Float64Array(T * K);
  for (let t = 0; t < T; t++) {
    const order = rank(logits.subarray(t * E, (t + 1) * E), bias).slice(0, K);
    const sum = order.reduce((a, e) => a + sigmoid(logits[t * E + e]), 0);
    order.forEach((e, j) => {
      ids[t * K + j] = e;
      weights[t * K + j] = sigmoid(logits[t * E + e]) / (sum + 1e-20);
    });
  }
  return { ids, weights };
}

/** Expert ids by descending biased score, ties by ascending id (float64). */
export function rank(logits: ArrayLike<number>, bias: ArrayLike<number>): number[] {
  const score = Array.from(logits, (l, e) => sigmoid(l) + bias[e]);
  return score.map((_, e) => e).sort((a, b) => score[b] - score[a] || a - b);
}

/** True when adjacent ranks in the top k+1 are exact ties of identical inputs or 1e-5 apart. */
function wellSeparated(logits: ArrayLike<number>, bias: ArrayLike<number>, K: number): boolean {
  const top = rank(logits, bias).slice(0, K + 1);
  for (let j = 0; j + 1 < top.length; j++) {
    const [a, b] = [top[j], top[j + 1]];
    if (logits[a] === logits[b] && bias[a] === bias[b]) continue;
    const [sa, sb] = [sigmoid(logits[a]) + bias[a], sigmoid(logits[b]) + bias[b]];
    if (Math.abs(sa - sb) <= 1e-5 * Math.abs(sa)) return false;
  }
  return true;
}

/**
 * Router inputs. Bias takes 8 distinct values so experts share biases; a third of the
 * tokens draw logits from 6 values (many exact ties, also across the top-k boundary), a
 * few have all logits equal (ids 0..k-1), the rest are continuous N(0, 2)-like.
 */
export function routerInputs(seed: number, T: number, E: number, K: number): { logits: Float32Array; bias: Float32Array } {
  const r = prng(seed);
  const biasLevels = Array.from({ length: 8 }, () => Math.fround((r() - 0.5) * 0.2));
  const bias = Float32Array.from({ length: E }, () => biasLevels[Math.floor(r() * 8)]);
  const logits = new Float32Array(T * E);
  const levels = Array.from({ length: 6 }, () => Math.fround((r() - 0.5) * 4));
  for (let t = 0; t < T; t++) {
    const row = logits.subarray(t * E, (t + 1) * E);
    const kind = t % 3;
    for (let attempt = 0; ; attempt++) {
      for (let e = 0; e < E; e++) {
        if (t % 50 === 7) row[e] = 0.5;
        else if (kind === 0) row[e] = levels[Math.floor(r() * levels.length)];
        else row[e] = Math.fround((r() + r() + r() - 1.5) * 2.8);
      }
      if (wellSeparated(row, bias, K)) break;
      if (attempt >= 100) throw new Error('could not draw a well-separated token');
    }
  }
  return { logits, bias };
}
