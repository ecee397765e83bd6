/**
 * Multi-token prediction on the WebGPU model (model/mtp.ts, model/generate-mtp.ts):
 *  - the MTP layers' logits against the float64 reference's MTP (transformers has none),
 *    teacher-forced over a whole prompt, within the forward's tolerance (0.3);
 *  - lossless greedy: with MTP, greedy generation gives the tokens of greedy generation
 *    without it, for 3 prompts x 32 new tokens in one batch, two of them long enough that
 *    every SWA ring (main layers and MTP layers, 132 slots) wraps around;
 *  - the mechanism: an oracle drafter (the target's own greedy continuation) is accepted
 *    4 tokens per pass in ceil(32 / 4) = 8 passes, an always-wrong one 1 token per pass in
 *    n - 1 passes (n = 12 new tokens, to keep the suite short: every one of its passes
 *    rejects 3 drafts); after either run the main model's caches hold exactly (bit for bit)
 *    what they hold after plain decoding: every rejected position was rolled back.
 * The sampled verify kernel's losslessness is a statistical test of its own (verify.test.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Forward, ModelContext } from '../model/forward.js';
import { generate, type Model } from '../model/generate.js';
import { generateMtp } from '../model/generate-mtp.js';
import type { KvCache } from '../model/kvcache.js';
import { Mtp } from '../model/mtp.js';
import { GREEDY } from '../model/sampling.js';
import { decisiveCheckpoint, dequantised } from './harness/decisive-checkpoint.js';
import { referenceForward, referenceMtp } from './harness/model-reference.js';
import { loadModel } from './harness/model-runner.js';
import { uniform } from './harness/prng.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-mtp-'));
const dir = await decisiveCheckpoint(path.join(tmp, 'ckpt'), false, true, 6);
const model = await loadModel(dir, true);
const N = model.cfg.mtpLayers;
const V = model.cfg.vocabSize;
const ids = (seed: number, n: number) => Array.from(uniform(seed, n, 0, 256), Math.floor);
const NEW = 32;
// 104 + 32 and 112 + 32 positions wrap the 132-slot rings of the main layers and of every MTP layer (layer 2 has entries from position 3 on).
const prompts = [ids(21, 5), ids(22, 104), ids(23, 112)];

/** What later queries can see in the main model's caches, per sequence. */
async function mainCaches(kv: KvCache, n: number): Promise<Uint16Array[]> {
  const out: Uint16Array[] = [];
  for (let s = 0; s < n; s++) for (const l of (await kv.visible(s)).slice(0, model.cfg.layers.length)) out.push(l.k, l.v);
  return out;
}

async function tokensAndCaches<R extends { tokens: number[][] }>(run: (inspect: (kv: KvCache) => Promise<void>) => Promise<R>) {
  let caches: Uint16Array[] = [];
  const res = await run(async (kv) => { caches = await mainCaches(kv, prompts.length); });
  return { res, caches };
}

/** Teacher-forced MTP logits [k][p] of the GPU model over one token sequence. */
async function gpuMtpLogits(m: Model, tokens: number[]): Promise<Float32Array[][]> {
  const kv = m.cache(1, tokens.length + 8);
  const ctx = new ModelContext(m.rt, m.cfg, m.weights, kv);
  const mtp = new Mtp(ctx);
  const seq = kv.allocate();
  const r = m.recorder();
  const main = await new Forward(ctx).step(r, [{ seq, tokens }], 'last');
  const out: Float32Array[][] = [];
  let prev = main.hidden;
  const n = tokens.length;
  const logitsT: { k: number; t: ReturnType<typeof r.tensor>; rows: number }[] = [];
  for (let k = 0; k < N; k++) {
    const rows = n - 1 - k;
    const o = await mtp.layer(r, k, { seqs: [{ seq, n: rows }], ids: r.ints(`t.ids${k}`, tokens.slice(k + 1)), prev, uniform: false });
    const lg = await ctx.logits(r, `t.mtp${k}`, o.y, o.T, Array.from({ length: rows }, (_, i) => i));
    const keep = r.tensor(`t.keep${k}`, 'f32', rows * V);
    r.copy(lg, 0, keep, 0, rows * V);
    logitsT.push({ k, t: keep, rows });
    if (k + 1 < N) prev = await mtp.gather(r, `t.prev${k + 1}`, o.hidden, o.T, Array.from({ length: rows - 1 }, (_, i) => i));
  }
  await r.submit();
  for (const { t, rows } of logitsT) {
    const all = (await m.rt.download(t)) as Float32Array;
    out.push(Array.from({ length: rows }, (_, i) => all.slice(i * V, (i + 1) * V)));
  }
  kv.destroy();
  mtp.destroy();
  ctx.destroy();
  return out;
}

test('MTP layers: logits at every position match the float64 reference within 0.3', async () => {
  const tokens = ids(31, 150);
  const w = await dequantised(dir);
  const ref = referenceForward(model.cfg, w, tokens);
  const refMtp = referenceMtp(model.cfg, w, tokens, ref.hidden);
  const ours = await gpuMtpLogits(model, tokens);
  for (let k = 0; k < N; k++) {
    // Layer k's row i sits at position k + 1 + i.
    ours[k].forEach((got, i) => {
      const want = refMtp.logits[k][k + 1 + i]!;
      let d = 0;
      for (let v = 0; v < V; v++) d = Math.max(d, Math.abs(got[v] - want[v]));
      assert.ok(d <= 0.3, `MTP layer ${k} position ${k + 1 + i}: max |logit - reference| = ${d.toFixed(4)}`);
    });
  }
});

const plain = await tokensAndCaches((inspect) => generate(model, prompts, { ...GREEDY, maxNew: NEW, inspect }));
const SHORT = 12;
const plainShort = await tokensAndCaches((inspect) => generate(model, prompts, { ...GREEDY, maxNew: SHORT, inspect }));

test('lossless greedy: MTP gives the tokens of plain greedy decoding (3 prompts x 32 tokens, rings wrapped)', async () => {
  const res = await generateMtp(model, prompts, { ...GREEDY, maxNew: NEW });
  assert.equal(res.tokens, plain.res.tokens);
  assert.ok(res.targetPasses < NEW, `${res.targetPasses} target passes`);
  assert.ok(res.acceptedLength >= 1 && res.acceptedLength <= N + 1);
});

const oracle = (b: number, committed: readonly number[]) => {
  const done = committed.length - prompts[b].length;
  return Array.from({ length: N }, (_, i) => plain.res.tokens[b][done + i] ?? 0);
};

test('an oracle drafter is accepted 4 per pass in ceil(32 / 4) passes; the caches equal plain decoding\'s', async () => {
  const { res, caches } = await tokensAndCaches((inspect) => generateMtp(model, prompts, { ...GREEDY, maxNew: NEW, drafter: oracle, inspect }));
  assert.equal(res.tokens, plain.res.tokens);
  assert.is(res.acceptedLength, N + 1);
  assert.is(res.targetPasses, Math.ceil(NEW / (N + 1)));
  caches.forEach((c, i) => assert.equal(c, plain.caches[i], `cache ${i}`));
});

test('an always-wrong drafter is accepted 1 per pass in 11 passes for 12 tokens; the caches equal plain decoding\'s', async () => {
  const wrong = (b: number, c: readonly number[]) => oracle(b, c).map((t) => (t + 1) % V);
  const { res, caches } = await tokensAndCaches((inspect) => generateMtp(model, prompts, { ...GREEDY, maxNew: SHORT, drafter: wrong, inspect }));
  assert.equal(res.tokens, plainShort.res.tokens);
  assert.is(res.acceptedLength, 1);
  assert.is(res.targetPasses, SHORT - 1);
  caches.forEach((c, i) => assert.equal(c, plainShort.caches[i], `cache ${i}`));
});

test('MTP refuses what it cannot do, naming it', async () => {
  try {
    await generateMtp(model, [[1, 2]], { ...GREEDY, maxNew: 4 });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /prompt 0 has 2 tokens; the 3 chained MTP layers need at least 3/);
  }
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
