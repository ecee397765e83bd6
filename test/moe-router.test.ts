import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TunableChoice } from '../compiler/passes/specialise.js';
import { BACKENDS, runKernel } from './harness/backends.js';
import { assertClose } from './harness/close.js';
import { rank, routerInputs, routerRef } from './harness/router-reference.js';

/**
 * ops/moe/router.ts against a float64 reference of the MiMo-V2-Flash gate: sigmoid scores,
 * selection by score + e_score_correction_bias (top-k, ties to the lower id, in rank
 * order), weights = unbiased scores of the chosen experts / their sum. ids must match
 * exactly; weights to rtol 1e-5.
 *
 * Exact ties are built from *identical* (logit, bias) pairs, which every backend maps to
 * bit-identical f32 scores. Otherwise a token is redrawn (deterministically) when two of
 * its top-(k+1) biased scores are closer than 1e-5 relative: f32 rounding and each
 * target's exp may legitimately order such a pair either way.
 */
/** How many exact ties the reference resolved by id inside or at the edge of the top k. */
function countTies(logits: Float32Array, bias: Float32Array, T: number, E: number, K: number): number {
  let ties = 0;
  for (let t = 0; t < T; t++) {
    const row = logits.subarray(t * E, (t + 1) * E);
    const top = rank(row, bias).slice(0, K + 1);
    for (let j = 0; j + 1 < top.length; j++) if (row[top[j]] === row[top[j + 1]] && bias[top[j]] === bias[top[j + 1]]) ties++;
  }
  return ties;
}

const CASES: { T: number; E: number; K: number; interpT: number }[] = [
  { T: 200, E: 256, K: 8, interpT: 20 },
  { T: 200, E: 37, K: 3, interpT: 60 },
  { T: 5, E: 1, K: 1, interpT: 5 },
  { T: 3, E: 300, K: 8, interpT: 3 },
  { T: 4, E: 9, K: 9, interpT: 4 },
];

for (const backend of BACKENDS) {
  const t = suite(`moe_router on ${backend}`);
  const check = async (T: number, E: number, K: number, seed: number, choice?: TunableChoice) => {
    const { logits, bias } = routerInputs(seed, T, E, K);
    const out = await runKernel(backend, 'moe_router', { tensors: { logits, bias, ids: new Int32Array(T * K).fill(-7), weights: new Float32Array(T * K).fill(NaN) }, scalars: { T, E, TOPK: K } }, choice);
    const ref = routerRef(logits, bias, T, E, K);
    const ids = out.ids as Int32Array;
    for (let i = 0; i < T * K; i++) {
      if (ids[i] !== ref.ids[i]) {
        const tok = Math.floor(i / K);
        assert.unreachable(`token ${tok}: ids ${Array.from(ids.subarray(tok * K, tok * K + K))}, want ${Array.from(ref.ids.subarray(tok * K, tok * K + K))}`);
      }
    }
    assertClose(out.weights as Float32Array, ref.weights, { rtol: 1e-5, atol: 0 }, `moe_router weights ${backend}`);
    return countTies(logits, bias, T, E, K);
  };
  for (const { T: T0, E, K, interpT } of CASES) {
    const T = backend === 'interp' ? interpT : T0;
    t(`T=${T} E=${E} k=${K}`, async () => {
      const ties = await check(T, E, K, E * 1000 + K);
      if (E >= 37) assert.ok(ties >= T / 4, `the data has exact ties in the top k (${ties})`);
    });
  }
  for (const choice of [{ WG: 64 }, { WG: 128 }]) {
    t(`WG=${choice.WG}: E=256 k=8 and E=37 k=3`, async () => {
      await check(backend === 'interp' ? 6 : 40, 256, 8, 11, choice);
      await check(backend === 'interp' ? 12 : 40, 37, 3, 12, choice);
    });
  }
  t.run();
}
