import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BACKENDS, runKernel } from './harness/backends.js';
import { assertClose } from './harness/close.js';
import { uniform } from './harness/prng.js';
import {
  chiSquare, countsError, filtered, histogram, logSoftmax, sampleRef, scalarsOf, tokenOrder, type SamplingParams,
} from './harness/sampling-reference.js';

/**
 * ops/sampling: sample_greedy, sample_token and sample_logprobs against float64
 * references (test/harness/sampling-reference.ts).
 *   greedy     ids exact (ties to the lower id), on tie-heavy rows.
 *   sample     the token equals the reference's inverse-CDF draw, with the host twin of
 *              the kernels' hash, on the float64 filtered distribution; rows where a
 *              cumulative sum (of the draw or of the top-p scan) lies within 1e-5 of u
 *              or top_p are left out (f32 sums may fall on either side), counted, and
 *              must stay rare. Top-k ties and top-p ties are exact (equal logits).
 *   logprobs   ids exact, logprobs atol 1e-4 against float64 log-softmax.
 *   statistics V = 16, fixed logits, one draw per row: each token's count within
 *              6 sigma + 5 of n p, tokens outside the kept set never drawn, and Pearson's
 *              chi-square below df + 10 sqrt(2 df) (a false alarm has probability < 1e-8).
 * The statistical runs use cuda-emu, the fastest backend here: SwiftShader runs these
 * barrier-heavy kernels about 8x slower (32768 rows would take ~60 s), and the WGSL is
 * the same IR, which the exactness tests check draw for draw on every backend.
 */
const MARGIN = 1e-5;

/** Logits in [-4, 4); with `ties`, rounded to multiples of 0.5 so that equal values abound. */
function logitsOf(seed: number, n: number, ties: boolean): Float32Array {
  return Float32Array.from(uniform(seed, n, -4, 4), (x) => (ties ? Math.round(x * 2) / 2 : x));
}


const FILTERS: SamplingParams[] = [
  { temperature: 1, topK: 0, topP: 1 },
  { temperature: 0.7, topK: 20, topP: 1 },
  { temperature: 1.3, topK: 0, topP: 0.9 },
  { temperature: 0.8, topK: 50, topP: 0.75 },
  { temperature: 1, topK: 1, topP: 1 },
  { temperature: 2, topK: 0, topP: 1e-6 },
  { temperature: 0.5, topK: 100000, topP: 1 },
];

for (const backend of BACKENDS) {
  const t = suite(`sampling on ${backend}`);
  const slow = backend === 'interp';

  const greedyCases = [{ B: 5, V: 1 }, { B: 7, V: 300 }, { B: 3, V: 1000 }, ...(slow ? [] : [{ B: 1, V: 152576 }])];
  for (const { B, V } of greedyCases) {
    t(`sample_greedy B=${B} V=${V}: ties to the lower id`, async () => {
      const logits = logitsOf(B * 7 + V, B * V, true);
      const out = await runKernel(backend, 'sample_greedy', { tensors: { logits, ids: new Int32Array(B).fill(-7) }, scalars: { B, V } });
      const want = Array.from({ length: B }, (_, b) => tokenOrder(logits.subarray(b * V, (b + 1) * V))[0]);
      assert.equal(Array.from(out.ids as Int32Array), want);
    });
  }
  t('sample_greedy WG=64: a row whose maximum appears at every stride', async () => {
    const V = 257;
    const logits = new Float32Array(V).fill(-1);
    for (let i = 3; i < V; i += 64) logits[i] = 2;
    const out = await runKernel(backend, 'sample_greedy', { tensors: { logits, ids: new Int32Array(1) }, scalars: { B: 1, V } }, { WG: 64 });
    assert.is((out.ids as Int32Array)[0], 3);
  });

  // At the real vocabulary a flat distribution's cumulative sums lie ~1e-5 apart, so most
  // unfiltered rows come within MARGIN of u: there the filters that keep few tokens count.
  const sampleCases = [
    { B: slow ? 3 : 9, V: 300, ties: false, filters: FILTERS },
    { B: slow ? 3 : 9, V: 1000, ties: true, filters: FILTERS },
    ...(slow ? [] : [{ B: 2, V: 152576, ties: false, filters: [FILTERS[1], FILTERS[3], FILTERS[4]] }]),
  ];
  for (const { B, V, ties, filters } of sampleCases) {
    t(`sample_token B=${B} V=${V}${ties ? ' (tied logits)' : ''}: the reference's draw for every filter`, async () => {
      const logits = logitsOf(V + B, B * V, ties);
      let compared = 0;
      let skipped = 0;
      for (const [f, s] of filters.entries()) {
        if (slow && f % 2 === 1) continue;
        const [seed, step] = [1000 + f, 7 * f];
        const out = await runKernel(backend, 'sample_token', { tensors: { logits, ids: new Int32Array(B).fill(-7) }, scalars: { B, V, ...scalarsOf(s, seed, step) } });
        const ids = out.ids as Int32Array;
        for (let b = 0; b < B; b++) {
          const ref = sampleRef(logits.subarray(b * V, (b + 1) * V), s, seed, step, b);
          if (ref.margin < MARGIN) {
            skipped++;
            continue;
          }
          compared++;
          assert.is(ids[b], ref.id, `row ${b}, T=${s.temperature} k=${s.topK} p=${s.topP}: got ${ids[b]}, want ${ref.id}`);
        }
      }
      assert.ok(skipped <= compared / 10, `rows within ${MARGIN} of a cut: ${skipped} (compared ${compared})`);
    });
  }

  t('sample_token: same seed, step and row give the same token; another step changes the draws', async () => {
    const [B, V] = [33, 64];
    const logits = new Float32Array(B * V).fill(0); // uniform over 64 tokens: a draw is u's top 6 bits
    const draw = async (step: number) =>
      Array.from((await runKernel(backend, 'sample_token', { tensors: { logits, ids: new Int32Array(B) }, scalars: { B, V, ...scalarsOf({ temperature: 1, topK: 0, topP: 1 }, 5, step) } })).ids as Int32Array);
    const [a, b, c] = [await draw(3), await draw(3), await draw(4)];
    assert.equal(a, b);
    assert.ok(a.filter((x, i) => x !== c[i]).length > B / 2, `steps 3 and 4 agree on ${a.filter((x, i) => x === c[i]).length}/${B} rows`);
  });

  const lpCases = [{ B: 5, V: 300, K: 20 }, { B: 3, V: 1000, K: 7 }, { B: 3, V: 1, K: 1 }];
  for (const { B, V, K } of lpCases) {
    t(`sample_logprobs B=${B} V=${V} K=${K}: top-K and the chosen token against float64 log-softmax`, async () => {
      const logits = logitsOf(V * 3 + K, B * V, true);
      const chosen = Int32Array.from({ length: B }, (_, b) => (b * 37) % V);
      const out = await runKernel(backend, 'sample_logprobs', {
        tensors: { logits, chosen, ids: new Int32Array(B * K).fill(-7), logprobs: new Float32Array(B * K).fill(NaN), chosen_logprob: new Float32Array(B).fill(NaN) },
        scalars: { B, V, K },
      });
      const wantIds: number[] = [];
      const wantLp: number[] = [];
      const wantChosen: number[] = [];
      for (let b = 0; b < B; b++) {
        const row = logits.subarray(b * V, (b + 1) * V);
        const lp = logSoftmax(row);
        for (const id of tokenOrder(row).slice(0, K)) {
          wantIds.push(id);
          wantLp.push(lp[id]);
        }
        wantChosen.push(lp[chosen[b]]);
      }
      assert.equal(Array.from(out.ids as Int32Array), wantIds);
      assertClose(out.logprobs as Float32Array, wantLp, { rtol: 0, atol: 1e-4 }, 'logprobs');
      assertClose(out.chosen_logprob as Float32Array, wantChosen, { rtol: 0, atol: 1e-4 }, 'chosen_logprob');
    });
  }
  t.run();
}

/** One draw per row of identical V = 16 logits; rows differ only in the hash's row index. */
const STAT_ROW = Float32Array.from([1.5, 0.2, -0.7, 2.0, 1.5, -1.9, 0.9, 0.0, 1.1, 1.1, -0.3, 2.4, 1.1, -3.0, 0.6, 0.4]);
const STATS: { s: SamplingParams; label: string }[] = [
  { s: { temperature: 0.7, topK: 0, topP: 1 }, label: 'temperature 0.7' },
  { s: { temperature: 1, topK: 6, topP: 1 }, label: 'top-k 6 (the cut splits three tied logits)' },
  { s: { temperature: 1.2, topK: 0, topP: 0.8 }, label: 'top-p 0.8' },
  { s: { temperature: 1.5, topK: 9, topP: 0.7 }, label: 'T 1.5, top-k 9, top-p 0.7' },
];

if (BACKENDS.includes('cuda-emu')) {
  const backend = 'cuda-emu';
  const t = suite(`sample_token statistics on ${backend}`);
  for (const [i, { s, label }] of STATS.entries()) {
    const n = i === 0 ? 65536 : 16384; // the filtered runs cost ~5x more per row
    t(`${label}: ${n} draws`, async () => {
      const V = STAT_ROW.length;
      const logits = new Float32Array(n * V);
      for (let b = 0; b < n; b++) logits.set(STAT_ROW, b * V);
      const out = await runKernel(backend, 'sample_token', { tensors: { logits, ids: new Int32Array(n).fill(-7) }, scalars: { B: n, V, ...scalarsOf(s, 99, i) } }, { WG: 32 });
      const p = filtered(STAT_ROW, s).p;
      const counts = histogram(out.ids as Int32Array, V, label);
      const err = countsError(counts, p, n, label);
      if (err) assert.unreachable(err);
      const { stat, df } = chiSquare(counts, p, n);
      assert.ok(stat < df + 10 * Math.sqrt(2 * df), `${label}: chi-square ${stat.toFixed(1)} with ${df} degrees of freedom`);
    });
  }
  t.run();
}
