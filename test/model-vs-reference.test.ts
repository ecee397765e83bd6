/**
 * The WebGPU model against the float64 TypeScript reference (test/harness/model-reference)
 * on mimo-init checkpoints, BF16 and FP8 (the reference reads the FP8 weights dequantised:
 * e4m3 value x weight_scale_inv of its 128x128 block).
 *
 * Routing is made decisive (test/harness/decisive-checkpoint.ts says why).
 *
 * Tolerances (max |logit difference| per position; logits have a std of about 2):
 * BF16 0.3 (bf16 activations, as against transformers); FP8 1.0: activations are
 * quantised to e4m3 per 1x128 group (3 mantissa bits, 2^-4 relative steps) before every
 * FP8 GEMM, on top of the weights' own quantisation that the reference shares.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decisiveCheckpoint, dequantised } from './harness/decisive-checkpoint.js';
import { referenceForward } from './harness/model-reference.js';
import { forcedRun, loadModel } from './harness/model-runner.js';
import { uniform } from './harness/prng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-ref-'));
const STEPS = 4;
const ids = (seed: number, n: number) => Array.from(uniform(seed, n, 0, 300), Math.floor);
const prompts = [ids(11, 5), ids(12, 40)];
const forced = [ids(13, STEPS), ids(14, STEPS)];

for (const [fp8, tol] of [[false, 0.3], [true, 1.0]] as const) {
  test(`${fp8 ? 'FP8' : 'BF16'} checkpoint: prefill (5 and 40 tokens, one batch) and ${STEPS} decode steps match the float64 reference within ${tol}`, async () => {
    const dir = await decisiveCheckpoint(path.join(tmp, fp8 ? 'fp8' : 'bf16'), fp8, false);
    const model = await loadModel(dir);
    const run = await forcedRun(model, prompts, forced, STEPS);
    const w = await dequantised(dir);
    for (const [b, p] of prompts.entries()) {
      const ref = referenceForward(model.cfg, w, [...p, ...forced[b]]);
      for (let s = 0; s <= STEPS; s++) {
        const want = ref.logits[p.length - 1 + s];
        const got = run.logits[b][s];
        let d = 0;
        for (let v = 0; v < want.length; v++) d = Math.max(d, Math.abs(got[v] - want[v]));
        assert.ok(d <= tol, `sequence ${b} step ${s}: max |logit - reference| = ${d.toFixed(4)} > ${tol}`);
      }
    }
  });
}

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
