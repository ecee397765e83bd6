/**
 * The WebGPU model against the float64 TypeScript reference (test/harness/model-reference)
 * on mimo-init checkpoints, BF16 and FP8 (the reference reads the FP8 weights dequantised:
 * e4m3 value x weight_scale_inv of its 128x128 block).
 *
 * Routing is made decisive (e_score_correction_bias[e] = 2e, so every token takes the two
 * highest-numbered experts with continuous weights): with random weights some token always
 * sits on a near-tie between two experts that bf16 (or FP8) activations may flip, and one
 * flip moves its logits by units. The grouped GEMMs, permutation and combine still run on
 * every token; routing itself is checked against transformers in model-forward.test.ts.
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
import { PRESET_JSON } from '../model/presets.js';
import { openCheckpoint } from '../model/weights/checkpoint.js';
import { checkpointConfigJson, writeRandomCheckpoint } from '../model/weights/init.js';
import { writeSafetensors, type TensorToWrite } from '../model/weights/safetensors-write.js';
import { referenceForward, type WeightFn } from './harness/model-reference.js';
import { forcedRun, loadModel } from './harness/model-runner.js';
import { uniform } from './harness/prng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-ref-'));
const STEPS = 4;
const ids = (seed: number, n: number) => Array.from(uniform(seed, n, 0, 300), Math.floor);
const prompts = [ids(11, 5), ids(12, 140)];
const forced = [ids(13, STEPS), ids(14, STEPS)];

/** A tiny checkpoint with decisive routing (see the file comment). */
async function checkpoint(fp8: boolean): Promise<string> {
  const dir = path.join(tmp, fp8 ? 'fp8' : 'bf16');
  await writeRandomCheckpoint(dir, checkpointConfigJson(PRESET_JSON.tiny, 'preset tiny', fp8), 'preset tiny', { fp8, mtp: false, seed: 5 });
  const ck = await openCheckpoint(dir);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, t] of ck.tensors) {
    let data = await ck.read(name);
    if (name.endsWith('e_score_correction_bias')) data = new Uint8Array(Float32Array.from({ length: t.shape[0] }, (_, e) => 2 * e).buffer);
    tensors[name] = { dtype: t.dtype, shape: [...t.shape], data };
  }
  await ck.close();
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors, {});
  return dir;
}

async function dequantised(dir: string): Promise<WeightFn> {
  const ck = await openCheckpoint(dir);
  const out = new Map<string, Float64Array>();
  for (const [name, t] of ck.tensors) {
    if (name.endsWith('.weight_scale_inv')) continue;
    const v = Float64Array.from(await ck.readAsF32(name));
    const scaleName = name.replace(/\.weight$/, '.weight_scale_inv');
    if (t.dtype === 'F8_E4M3' && ck.tensors.has(scaleName)) {
      const s = await ck.readAsF32(scaleName);
      const [N, K] = t.shape;
      const KB = Math.ceil(K / 128);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) v[n * K + k] *= s[Math.floor(n / 128) * KB + Math.floor(k / 128)];
    }
    out.set(name, v);
  }
  await ck.close();
  return (name) => {
    const v = out.get(name);
    if (!v) throw new Error(`no tensor ${name}`);
    return v;
  };
}

for (const [fp8, tol] of [[false, 0.3], [true, 1.0]] as const) {
  test(`${fp8 ? 'FP8' : 'BF16'} checkpoint: prefill (5 and 140 tokens, one batch) and ${STEPS} decode steps match the float64 reference within ${tol}`, async () => {
    const dir = await checkpoint(fp8);
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
