/**
 * Sampling and speculative verification (ops/sampling) at the real vocabulary, V = 152576;
 * test/sampling.test.ts and test/verify.test.ts cover them in depth, with the statistics.
 * References: test/harness/sampling-reference.ts.
 *   greedy, top-K ids, verify_greedy   exact
 *   logprobs                           atol 1e-4 against float64 log-softmax
 *   sample_token, verify_sample        the reference's draw with the host twin of the hash,
 *                                      on rows no cut (u, top_p) comes within 1e-5 of
 */
import { uniform } from '../../test/harness/prng.js';
import {
  logSoftmax, sampleRef, tokenOrder, verifyGreedyRef, verifySampleRef, type SamplingParams,
} from '../../test/harness/sampling-reference.js';
import { close, exact, judged, launch, type Case, type Verdict } from './check.js';

const V = 152576;
const MARGIN = 1e-5;
const FILTER: SamplingParams = { temperature: 0.8, topK: 50, topP: 0.9 };
const filterScalars = { temperature: FILTER.temperature, top_k: FILTER.topK, top_p: FILTER.topP, seed: 42, step: 9 };

/** Token rows compared where the reference's margin allows; the others are counted in the text. */
function draws(got: Int32Array, want: ArrayLike<number>, margins: ArrayLike<number>, width: number): Verdict {
  let skipped = 0;
  for (let b = 0; b < margins.length; b++) {
    if (margins[b] < MARGIN) {
      skipped++;
      continue;
    }
    for (let i = 0; i < width; i++) {
      if (got[b * width + i] !== want[b * width + i]) return judged(`row ${b}: ${Array.from(got.subarray(b * width, (b + 1) * width))}, want ${Array.from(want).slice(b * width, (b + 1) * width)}`, '');
    }
  }
  return judged(undefined, `the reference's tokens (${margins.length - skipped} rows, ${skipped} within ${MARGIN} of a cut)`);
}

export function samplingCases(): Case[] {
  const B = 3;
  const logits = Float32Array.from(uniform(91, B * V, -8, 8));
  const rows = (b: number) => logits.subarray(b * V, (b + 1) * V);
  const K = 20;
  const chosen = Int32Array.from([5, V - 1, 77777]);
  const [N, BV] = [3, 2];
  const vlogits = Float32Array.from(uniform(92, BV * (N + 1) * V, -8, 8));
  const draft = Int32Array.from({ length: BV * N }, (_, j) => {
    const r = vlogits.subarray((Math.floor(j / N) * (N + 1) + (j % N)) * V, (Math.floor(j / N) * (N + 1) + (j % N) + 1) * V);
    return tokenOrder(r)[j % 2];
  });
  const G = 5;
  const target = Int32Array.from({ length: G * (N + 1) }, (_, i) => (i * 7919) % V);
  const gdraft = Int32Array.from({ length: G * N }, (_, j) => (Math.floor(j / N) > j % N ? target[Math.floor(j / N) * (N + 1) + (j % N)] : 1));
  return [
    launch('sample_greedy', `B=${B} V=${V}`, () => ({ tensors: { logits, ids: new Int32Array(B).fill(-7) }, scalars: { B, V } }),
      (o) => ({ ids: exact(o.ids as Int32Array, Array.from({ length: B }, (_, b) => tokenOrder(rows(b))[0])) })),
    launch('sample_token', `B=${B} V=${V} T=0.8 k=50 p=0.9`, () => ({ tensors: { logits, ids: new Int32Array(B).fill(-7) }, scalars: { B, V, ...filterScalars } }),
      (o) => {
        const refs = Array.from({ length: B }, (_, b) => sampleRef(rows(b), FILTER, filterScalars.seed, filterScalars.step, b));
        return { ids: draws(o.ids as Int32Array, refs.map((r) => r.id), refs.map((r) => r.margin), 1) };
      }),
    launch('sample_logprobs', `B=${B} V=${V} K=${K}`,
      () => ({ tensors: { logits, chosen, ids: new Int32Array(B * K).fill(-7), logprobs: new Float32Array(B * K), chosen_logprob: new Float32Array(B) }, scalars: { B, V, K } }),
      (o) => {
        const lp = Array.from({ length: B }, (_, b) => logSoftmax(rows(b)));
        const ids = Array.from({ length: B }, (_, b) => tokenOrder(rows(b)).slice(0, K)).flat();
        return {
          ids: exact(o.ids as Int32Array, ids),
          logprobs: close(o.logprobs as Float32Array, ids.map((id, j) => lp[Math.floor(j / K)][id]), { rtol: 0, atol: 1e-4 }),
          chosen_logprob: close(o.chosen_logprob as Float32Array, Array.from(chosen, (t, b) => lp[b][t]), { rtol: 0, atol: 1e-4 }),
        };
      }),
    launch('verify_greedy', `B=${G} N=${N}`,
      () => ({ tensors: { draft: gdraft, target_ids: target, accepted: new Int32Array(G * (N + 1)).fill(-7), accept_len: new Int32Array(G).fill(-7) }, scalars: { B: G, N } }),
      (o) => {
        const r = verifyGreedyRef(gdraft, target, G, N);
        return { accepted: exact(o.accepted as Int32Array, r.accepted), accept_len: exact(o.accept_len as Int32Array, r.len) };
      }),
    launch('verify_sample', `B=${BV} N=${N} V=${V} T=0.8 k=50 p=0.9`,
      () => ({ tensors: { draft, logits: vlogits, accepted: new Int32Array(BV * (N + 1)).fill(-7), accept_len: new Int32Array(BV).fill(-7) }, scalars: { B: BV, N, V, ...filterScalars } }),
      (o) => {
        const r = verifySampleRef(draft, vlogits, BV, N, V, FILTER, filterScalars.seed, filterScalars.step);
        return { accepted: draws(o.accepted as Int32Array, r.accepted, r.margin, N + 1), accept_len: draws(o.accept_len as Int32Array, r.len, r.margin, 1) };
      }),
  ];
}
