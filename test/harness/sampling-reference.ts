/**
 * Float64 references for ops/sampling: the token order, the filtered distribution
 * (temperature, top-k, top-p), inverse-CDF draws with the host twin of the kernels'
 * counter-based hash, speculative verification, and the exact distributions the
 * statistical tests compare counts with. Nothing here shares code with the kernels.
 */

/** PCG-RXS-M-XS hash of ops/sampling/random.ts in u32 arithmetic. */
export function pcgHash(v: number): number {
  const state = (Math.imul(v >>> 0, 747796405) + 2891336453) >>> 0;
  const word = Math.imul((state >>> ((state >>> 28) + 4)) ^ state, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** The kernels' u in [0, 1): pcg(seed ^ pcg(step ^ pcg(row ^ pcg(stream)))) >> 8, over 2^24. */
export function uniformDraw(seed: number, step: number, row: number, stream: number): number {
  const h = pcgHash((seed ^ pcgHash((step ^ pcgHash((row ^ pcgHash(stream)) >>> 0)) >>> 0)) >>> 0);
  return (h >>> 8) / 2 ** 24;
}

export interface SamplingParams {
  readonly temperature: number;
  /** 0 = off; else exactly the k best tokens (value desc, id asc). */
  readonly topK: number;
  /** 1 = off. */
  readonly topP: number;
}
export const NO_FILTER: SamplingParams = { temperature: 1, topK: 0, topP: 1 };
/** The kernels' runtime scalars for `s` and a draw's seed and step. */
export const scalarsOf = (s: SamplingParams, seed: number, step: number) => ({ temperature: s.temperature, top_k: s.topK, top_p: s.topP, seed, step });

/** Token ids by value descending, equal values by id ascending. */
export function tokenOrder(row: ArrayLike<number>): number[] {
  return Array.from({ length: row.length }, (_, i) => i).sort((a, b) => row[b] - row[a] || a - b);
}

export interface Filtered {
  /** Probabilities, 0 outside the kept set, summing to 1. */
  readonly p: Float64Array;
  /** Smallest |prefix mass - top_p| over the top-p scan (Infinity when top-p is off): how far the cut is from flipping. */
  readonly topPMargin: number;
}

/** softmax(row / T) restricted to top-k, renormalised, then to the top-p prefix, renormalised. */
export function filtered(row: ArrayLike<number>, s: SamplingParams): Filtered {
  const V = row.length;
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, row[i]);
  const w = Float64Array.from({ length: V }, (_, i) => Math.exp((row[i] - m) / s.temperature));
  let order = tokenOrder(row);
  if (s.topK > 0 && s.topK < V) order = order.slice(0, s.topK);
  let topPMargin = Infinity;
  if (s.topP < 1) {
    const zk = order.reduce((a, i) => a + w[i], 0);
    let cum = 0;
    let n = order.length;
    for (let j = 0; j < order.length; j++) {
      cum += w[order[j]] / zk;
      topPMargin = Math.min(topPMargin, Math.abs(cum - s.topP));
      if (cum >= s.topP && n === order.length) n = j + 1;
    }
    order = order.slice(0, n);
  }
  const p = new Float64Array(V);
  const z = order.reduce((a, i) => a + w[i], 0);
  for (const i of order) p[i] = w[i] / z;
  return { p, topPMargin };
}

/** p with token t's mass removed and renormalised (SGLang's relu(p_target - one_hot(t))). */
export function residual(p: Float64Array, t: number): Float64Array {
  const r = p.slice();
  if (t >= 0 && t < r.length) r[t] = 0;
  const z = r.reduce((a, b) => a + b, 0);
  return r.map((x) => x / z);
}

export interface Draw {
  readonly id: number;
  /** Smallest |cdf - u| over ids of positive mass: draws closer than f32 rounding may legitimately differ. */
  readonly margin: number;
}

/** Inverse CDF over ids in ascending order: the smallest id whose cumulative mass exceeds u. */
export function inverseCdf(p: ArrayLike<number>, u: number): Draw {
  let cum = 0;
  let id = -1;
  let margin = Infinity;
  for (let i = 0; i < p.length; i++) {
    if (p[i] <= 0) continue;
    cum += p[i];
    margin = Math.min(margin, Math.abs(cum - u));
    if (id < 0 && cum > u) id = i;
  }
  return { id, margin };
}

/** sample_token for one row: the drawn id and the smallest of its margins (top-p cut and CDF). */
export function sampleRef(row: ArrayLike<number>, s: SamplingParams, seed: number, step: number, b: number): Draw {
  const f = filtered(row, s);
  const d = inverseCdf(f.p, uniformDraw(seed, step, b, 0));
  return { id: d.id, margin: Math.min(d.margin, f.topPMargin) };
}

/** Log-softmax of a row in float64. */
export function logSoftmax(row: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]);
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i] - m);
  const ls = Math.log(s);
  return Float64Array.from(row, (x) => x - m - ls);
}

export interface Verified {
  /** accepted[b * (N+1) + i], -1 padded, and accept_len[b]. */
  readonly accepted: Int32Array;
  readonly len: Int32Array;
}

/** SGLang verify_tree_greedy, chain form. */
export function verifyGreedyRef(draft: ArrayLike<number>, target: ArrayLike<number>, B: number, N: number): Verified {
  const accepted = new Int32Array(B * (N + 1)).fill(-1);
  const len = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    let i = 0;
    while (i < N && draft[b * N + i] === target[b * (N + 1) + i]) i++;
    for (let j = 0; j <= i; j++) accepted[b * (N + 1) + j] = target[b * (N + 1) + j];
    len[b] = i + 1;
  }
  return { accepted, len };
}

/**
 * verify_sample with the kernels' random streams (2i: coin of draft i, 2i + 1: draw at i).
 * margin: the smallest |u - p(draft)| of the coins taken and |cdf - u| of the draw made.
 */
export function verifySampleRef(
  draft: ArrayLike<number>, logits: ArrayLike<number>, B: number, N: number, V: number, s: SamplingParams, seed: number, step: number,
): Verified & { readonly margin: Float64Array } {
  const accepted = new Int32Array(B * (N + 1)).fill(-1);
  const len = new Int32Array(B);
  const margin = new Float64Array(B).fill(Infinity);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i <= N; i++) {
      const f = filtered(Array.prototype.slice.call(logits, (b * (N + 1) + i) * V, (b * (N + 1) + i + 1) * V), s);
      margin[b] = Math.min(margin[b], f.topPMargin);
      const t = i < N ? draft[b * N + i] : -1;
      const pt = t >= 0 && t < V ? f.p[t] : 0;
      if (i < N) {
        const u = uniformDraw(seed, step, b, 2 * i);
        margin[b] = Math.min(margin[b], Math.abs(u - pt));
        if (u < pt) {
          accepted[b * (N + 1) + i] = t;
          continue;
        }
      }
      const d = inverseCdf(i < N ? residual(f.p, t) : f.p, uniformDraw(seed, step, b, 2 * i + 1));
      margin[b] = Math.min(margin[b], d.margin);
      accepted[b * (N + 1) + i] = d.id;
      len[b] = i + 1;
      break;
    }
  }
  return { accepted, len, margin };
}

/** P(accept_len = j + 1), j = 0..N, for acceptance probabilities a[i] = p_i(draft_i). */
export function acceptLengthDist(a: readonly number[]): Float64Array {
  const N = a.length;
  const out = new Float64Array(N + 1);
  let prefix = 1;
  for (let j = 0; j < N; j++) {
    out[j] = prefix * (1 - a[j]);
    prefix *= a[j];
  }
  out[N] = prefix;
  return out;
}

/**
 * Per-bin bound of the statistical tests: every count within 6 sigma + 5 of n p (the +5
 * keeps near-empty bins from failing on a single stray), and a bin of probability 0 is
 * never hit. Returns the first violation, or undefined.
 */
export function countsError(counts: ArrayLike<number>, p: ArrayLike<number>, n: number, label: string): string | undefined {
  for (let i = 0; i < p.length; i++) {
    const mean = n * p[i];
    const sd = Math.sqrt(n * p[i] * (1 - p[i]));
    if (p[i] === 0 ? counts[i] !== 0 : Math.abs(counts[i] - mean) > 6 * sd + 5) {
      return `${label}: bin ${i} has ${counts[i]} of ${n}, expected ${mean.toFixed(1)} ± ${(6 * sd + 5).toFixed(1)} (p = ${p[i]})`;
    }
  }
  return undefined;
}

/** Pearson's chi-square of counts against n p over the bins of positive probability, and its degrees of freedom. */
export function chiSquare(counts: ArrayLike<number>, p: ArrayLike<number>, n: number): { stat: number; df: number } {
  let stat = 0;
  let bins = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] <= 0) continue;
    stat += (counts[i] - n * p[i]) ** 2 / (n * p[i]);
    bins++;
  }
  return { stat, df: bins - 1 };
}

/** Histogram of ids in [0, V) (an id outside it is an error, not a bin). */
export function histogram(ids: ArrayLike<number>, V: number, label: string): Float64Array {
  const h = new Float64Array(V);
  for (let i = 0; i < ids.length; i++) {
    const t = ids[i];
    if (!(t >= 0 && t < V)) throw new Error(`${label}: id ${t} at [${i}] is outside [0, ${V})`);
    h[t]++;
  }
  return h;
}
