import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AttentionSpec, MimoConfig } from '../model/config.js';
import { parseConfig } from '../model/config.js';
import { presetConfig } from '../model/presets.js';
import { assertClose } from './harness/close.js';
import {
  attention, referenceForward, referenceMtp, ropeHeads, route, moe, type MtpOutput, type WeightFn,
} from './harness/model-reference.js';
import { randomWeights, weightFn } from './harness/model-reference/random-weights.js';
import { readCheckpoint } from './harness/model-reference/safetensors.js';
import { prng, uniform } from './harness/prng.js';
import { silu } from './harness/reference.js';

/**
 * Properties of the float64 model reference that a wrong implementation fails: causality,
 * the sliding window's exact reach, the sink (both limits and a hand-made value), router
 * ties and renormalisation, RoPE's relative-position invariance and pairing, the MTP
 * chain's dependencies and wiring, and agreement with transformers on its own checkpoint
 * when the fixture exists. Invariance checks are bit-exact (the reference computes a
 * position from exactly the inputs it may depend on); "changes" checks require a
 * difference above 1e-6 so they cannot pass on noise.
 */
const tiny = presetConfig('tiny');
const tinyW = weightFn(randomWeights(tiny, 1));
const tokensOf = (seed: number, n: number, V = 256): number[] => { const r = prng(seed); return Array.from({ length: n }, () => Math.floor(r() * V)); };

/** A pure sliding-window toy of the tiny preset: window W, layers dense + MoE, MTP layers as asked. */
function swaToy(window: number, mtpLayers = 0): MimoConfig {
  return {
    ...tiny, mtpLayers,
    layers: [{ attention: 'swa', ffn: 'dense' }, { attention: 'swa', ffn: 'moe' }, { attention: 'swa', ffn: 'moe' }],
    attention: { ...tiny.attention, swa: { ...tiny.attention.swa, window } },
  };
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const same = (a: Float64Array, b: Float64Array, what: string): void => assert.ok(maxDiff(a, b) === 0, `${what}: expected bit-identical, max diff ${maxDiff(a, b)}`);
const differs = (a: Float64Array, b: Float64Array, what: string): void => assert.ok(maxDiff(a, b) > 1e-6, `${what}: expected a change, max diff ${maxDiff(a, b)}`);

test('bad inputs and weights are refused, naming the thing', () => {
  assert.throws(() => referenceForward(tiny, tinyW, []), /tokens must be a non-empty array/);
  assert.throws(() => referenceForward(tiny, tinyW, [1, 300]), /tokens\[1\] is 300, expected an integer in \[0, 300\)/);
  assert.throws(() => referenceForward(tiny, tinyW, [1, 2.5]), /tokens\[1\] is 2.5/);
  const map = randomWeights(tiny, 1);
  map.set('model.layers.3.self_attn.k_proj.weight', new Float64Array(10));
  assert.throws(() => referenceForward(tiny, weightFn(map), [1]), /weight 'model.layers.3.self_attn.k_proj.weight' has 10 values, expected \[384, 256\] = 98304/);
  map.delete('model.layers.3.self_attn.k_proj.weight');
  assert.throws(() => referenceForward(tiny, weightFn(map), [1]), /no tensor 'model.layers.3.self_attn.k_proj.weight'/);
  const h = referenceForward(tiny, tinyW, [1, 2]).hidden;
  assert.throws(() => referenceMtp(tiny, tinyW, [1, 2, 3], h), /mainHidden must have one row per token \(3\), got 2/);
  assert.throws(() => referenceMtp(tiny, tinyW, [1, 2], [h[0], new Float64Array(3)]), /mainHidden\[1\] must be a Float64Array of hiddenSize = 256, got length 3/);
  assert.throws(() => route(Float64Array.of(0, NaN), new Float64Array(2), 1), /router logit of expert 1 is NaN/);
});

test('causality: outputs at p ignore later tokens, and later outputs see the change', () => {
  const a = tokensOf(2, 24);
  const b = [...a.slice(0, 11), ...tokensOf(3, 13)];
  const [ra, rb] = [referenceForward(tiny, tinyW, a), referenceForward(tiny, tinyW, b)];
  for (let p = 0; p <= 10; p++) {
    same(ra.logits[p], rb.logits[p], `logits at ${p}`);
    same(ra.hidden[p], rb.hidden[p], `hidden at ${p}`);
  }
  for (let p = 11; p < 24; p++) differs(ra.logits[p], rb.logits[p], `logits at ${p}`);
});

test('tiny preset over 170 positions (past the window), main + MTP: finite, sharp, fast', () => {
  const toks = tokensOf(4, 170);
  const t0 = performance.now();
  const r = referenceForward(tiny, tinyW, toks);
  const t1 = performance.now();
  const m = referenceMtp(tiny, tinyW, toks, r.hidden);
  const t2 = performance.now();
  console.log(`  reference: forward ${(t1 - t0).toFixed(0)} ms, MTP x${tiny.mtpLayers} ${(t2 - t1).toFixed(0)} ms (T = 170)`);
  const rows = [...r.logits, ...m.logits.flat().filter((x): x is Float64Array => x !== null)];
  assert.is(rows.length, 170 + 169 + 168 + 167);
  for (const row of rows) assert.ok(row.every(Number.isFinite), 'finite logits');
  const std = Math.sqrt(r.logits[169].reduce((s, x) => s + x * x, 0) / 300);
  assert.ok(std > 0.5 && std < 10, `logit spread ${std}`);
  // Layer 0 is global: token 0 still reaches position 169.
  const r2 = referenceForward(tiny, tinyW, [(toks[0] + 1) % 256, ...toks.slice(1)]);
  differs(r.logits[169], r2.logits[169], 'global attention reach');
});

test('sliding window: reach is exactly layers x (window - 1) positions back', () => {
  const W = 5;
  const cfg = swaToy(W);
  const w = weightFn(randomWeights(cfg, 5));
  const reach = cfg.layers.length * (W - 1);
  const p = 30;
  const base = tokensOf(6, p + 1);
  const at = (pos: number): Float64Array => {
    const t = base.slice();
    t[pos] = (t[pos] + 17) % 256;
    return referenceForward(cfg, w, t).logits[p];
  };
  const ref = referenceForward(cfg, w, base).logits[p];
  same(ref, at(p - reach - 1), `token ${reach + 1} back`);
  same(ref, at(0), 'token 0');
  differs(ref, at(p - reach), `token ${reach} back`);
  differs(ref, at(p - 1), 'previous token');
});

test('sink: -inf limit equals plain softmax attention, +inf limit removes attention', () => {
  const cfg = swaToy(6);
  const toks = tokensOf(7, 14);
  const sinks = (v: number) => {
    const map = randomWeights(cfg, 8);
    for (const [name, t] of map) if (name.endsWith('attention_sink_bias')) t.fill(v);
    return weightFn(map);
  };
  const noSink = { ...cfg, attention: { ...cfg.attention, swa: { ...cfg.attention.swa, sink: false } } };
  const plain = referenceForward(noSink, sinks(0), toks);
  const low = referenceForward(cfg, sinks(-1e4), toks);
  plain.logits.forEach((l, p) => assertClose(low.logits[p], l, { rtol: 1e-12, atol: 1e-12 }, `sink -1e4 vs no sink at ${p}`));
  differs(referenceForward(cfg, sinks(0), toks).logits[5], plain.logits[5], 'sink 0 vs no sink');
  // A huge sink zeroes every attention output: each position sees only its own token.
  const w = sinks(1e4);
  const high = referenceForward(cfg, w, toks);
  toks.forEach((tok, p) => same(high.logits[p], referenceForward(cfg, w, [tok]).logits[0], `sink 1e4 at ${p}`));
});

test('attention block by hand: raw sink, 1/sqrt(192) scale, value scale, GQA head mapping', () => {
  // Input h = [2, 3, 0, 0] at position 0 (no rotation); dim 100 of q/k is outside the rotated 64 anyway.
  // Every q head: q[100] = h0. KV head 0: k[100] = h1, v[0] = h0; KV head 1: k = 0, v[0] = h1. out[h] = head h's o[0].
  const H = 4;
  const spec: AttentionSpec = { heads: 4, kvHeads: 2, headDim: 192, vHeadDim: 128, ropeTheta: 1e4, rotaryDim: 64, sink: true, window: 128 };
  const q = new Float64Array(4 * 192 * H), k = new Float64Array(2 * 192 * H), v = new Float64Array(2 * 128 * H), o = new Float64Array(H * 4 * 128);
  for (let h = 0; h < 4; h++) {
    q[(h * 192 + 100) * H] = 1;
    o[h * 512 + h * 128] = 1;
  }
  k[100 * H + 1] = 1;
  v[0] = 1;
  v[128 * H + 1] = 1;
  const sink = Float64Array.of(0.5, -0.25, 1, 0);
  const [out] = attention({ spec, q, k, v, o, sink }, [Float64Array.of(2, 3, 0, 0)], 0, 0.707);
  const s = (2 * 3) / Math.sqrt(192);
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const want = [0.707 * 2 * sig(s - 0.5), 0.707 * 2 * sig(s + 0.25), 0.707 * 3 * sig(-1), 0.707 * 3 * sig(0)];
  assertClose(out, want, { rtol: 1e-14, atol: 0 }, 'one key + sink, q heads 0-1 on kv 0, 2-3 on kv 1');
});

test('router: ties to the lower id, bias only selects, weights renormalised with +1e-20', () => {
  const r = (l: number[], b: number[], k: number) => route(Float64Array.from(l), Float64Array.from(b), k);
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  assert.equal(r([0, 0, 0, 0], [0, 0, 0, 0], 2), { ids: [0, 1], weights: [0.5, 0.5] });
  assert.equal(r([1, 0, 1, 1], [0, 0, 0, 0], 2).ids, [0, 2]);
  assert.equal(r([1, 0, 1, 1], [0, 0, 0.1, 0], 2).ids, [2, 0]);
  const biased = r([2, 0, 1, 0], [0, 0.6, 0, 0], 2);
  assert.equal(biased.ids, [1, 0]);
  assertClose(biased.weights, [0.5 / (0.5 + sig(2)), sig(2) / (0.5 + sig(2))], { rtol: 1e-15, atol: 0 }, 'unbiased weights');
  assert.equal(r([-800, -800, -800], [0, 0, 0], 2), { ids: [0, 1], weights: [0, 0] }); // 0 / (0 + 1e-20), not NaN
  // The MoE block combines only the chosen experts: expert j outputs [silu(1) * c_j, 0] for x = [1, 0].
  const c = [1, 10, 100];
  const expert = (j: number) => ({ gate: Float64Array.of(1, 0), up: Float64Array.of(c[j], 0), down: Float64Array.of(1, 0), inter: 1 });
  const y = moe({ gate: Float64Array.of(2, 0, 0, 0, 1, 0), bias: Float64Array.of(0, 0.6, 0), k: 2, experts: expert }, Float64Array.of(1, 0));
  assertClose(y, [silu(1) * (10 * 0.5 + sig(2)) / (0.5 + sig(2)), 0], { rtol: 1e-14, atol: 0 }, 'moe combine');
});

test('RoPE: q·k depends on the position difference only; pairs (i, i+32) on the first 64 dims', () => {
  const spec = tiny.attention.swa;
  const qk = (m: number, n: number, base: Float64Array, key: Float64Array): number => {
    const [q, k] = [base.slice(), key.slice()];
    ropeHeads(q, 1, spec, m);
    ropeHeads(k, 1, spec, n);
    return q.reduce((s, x, i) => s + x * k[i], 0);
  };
  const q = uniform(9, 192), k = uniform(10, 192);
  const d0 = qk(5, 2, q, k);
  for (const [m, n] of [[105, 102], [1003, 1000], [3, 0]]) assert.ok(Math.abs(qk(m, n, q, k) - d0) < 1e-12 * Math.abs(d0) + 1e-12, `(${m}, ${n})`);
  assert.ok(Math.abs(qk(6, 2, q, k) - d0) > 1e-3, 'a different offset changes q·k');
  const unit = (i: number) => Float64Array.from({ length: 192 }, (_, j) => (j === i ? 1 : 0));
  for (const i of [0, 31]) {
    const x = unit(i);
    ropeHeads(x, 1, spec, 7);
    const angle = 7 * 1e4 ** (-i / 32);
    assertClose(x, Float64Array.from(unit(i), (_, j) => (j === i ? Math.cos(angle) : j === i + 32 ? Math.sin(angle) : 0)), { rtol: 0, atol: 1e-15 }, `e${i}`);
    const y = unit(i + 32);
    ropeHeads(y, 1, spec, 7);
    assertClose(y, Float64Array.from(unit(i), (_, j) => (j === i + 32 ? Math.cos(angle) : j === i ? -Math.sin(angle) : 0)), { rtol: 0, atol: 1e-15 }, `e${i + 32}`);
  }
  const pass = unit(64);
  ropeHeads(pass, 1, spec, 1000);
  same(pass, unit(64), 'dims >= 64 pass through');
});

/** MTP outputs for tokens and a main hidden from the tiny model (or given rows). */
const mtpOf = (cfg: MimoConfig, w: WeightFn, toks: number[], hidden?: Float64Array[]): MtpOutput =>
  referenceMtp(cfg, w, toks, hidden ?? referenceForward(cfg, w, toks).hidden);

test('MTP: entries at p >= k+1; layer k at p depends on tokens <= p and main hidden <= p-k-1 only', () => {
  const T = 12, p = 8;
  const toks = tokensOf(11, T);
  const hidden = referenceForward(tiny, tinyW, toks).hidden;
  const base = mtpOf(tiny, tinyW, toks, hidden);
  for (let k = 0; k < 3; k++) base.logits[k].forEach((l, pos) => assert.is(l === null, pos <= k, `layer ${k} entry at ${pos}`));
  const later = mtpOf(tiny, tinyW, [...toks.slice(0, p + 1), ...tokensOf(12, T - p - 1)], hidden);
  const atP = mtpOf(tiny, tinyW, toks.map((t, i) => (i === p ? (t + 1) % 256 : t)), hidden);
  for (let k = 0; k < 3; k++) {
    same(base.logits[k][p]!, later.logits[k][p]!, `layer ${k}: tokens after p`);
    differs(base.logits[k][p]!, atP.logits[k][p]!, `layer ${k}: token p`);
  }
  for (let row = p - 4; row <= p; row++) {
    const h = hidden.map((x, i) => (i === row ? x.map((v) => v + 0.5) : x));
    const out = mtpOf(tiny, tinyW, toks, h);
    for (let k = 0; k < 3; k++) {
      const what = `layer ${k} at ${p}, main hidden row ${row}`;
      if (row <= p - k - 1) differs(base.hidden[k][p]!, out.hidden[k][p]!, what);
      else same(base.hidden[k][p]!, out.hidden[k][p]!, what);
    }
  }
});

test('MTP: own window of W entries; the chain feeds layer k-1 output at p-1; earlier entries are absent', () => {
  const W = 4;
  const cfg = swaToy(W, 2);
  const map = randomWeights(cfg, 13);
  // Layer 1 gets layer 0's weights, so layer 1 over (tokens, layer-0 hidden) must equal
  // layer 0 over the same inputs shifted one position left (RoPE is relative): this fails
  // if layer 1 read the main hidden, the wrong position, or attended to zero keys at p <= 1.
  for (const [name, t] of map) if (name.startsWith('model.mtp.layers.0.')) map.set(name.replace('layers.0.', 'layers.1.'), t);
  const w = weightFn(map);
  const T = 14;
  const toks = tokensOf(14, T);
  const hidden = uniform(15, T * cfg.hiddenSize, -2, 2);
  const rows = Array.from({ length: T }, (_, i) => hidden.slice(i * cfg.hiddenSize, (i + 1) * cfg.hiddenSize));
  const full = mtpOf(cfg, w, toks, rows);
  const shifted = mtpOf({ ...cfg, mtpLayers: 1 }, w, toks.slice(1), full.hidden[0].slice(1) as Float64Array[]);
  for (let q = 1; q < T - 1; q++) {
    assertClose(shifted.hidden[0][q]!, full.hidden[1][q + 1]!, { rtol: 1e-10, atol: 1e-10 }, `layer 1 at ${q + 1}`);
    assertClose(shifted.logits[0][q]!, full.logits[1][q + 1]!, { rtol: 1e-10, atol: 1e-10 }, `layer 1 logits at ${q + 1}`);
  }
  // Layer 0 at p: entries p-W+1..p, each reading main hidden at its position - 1.
  const p = 11;
  const bump = (row: number) => mtpOf(cfg, w, toks, rows.map((x, i) => (i === row ? x.map((v) => -v) : x))).hidden[0][p]!;
  same(full.hidden[0][p]!, bump(p - W - 1), `main hidden row ${p - W - 1}`);
  differs(full.hidden[0][p]!, bump(p - W), `main hidden row ${p - W}`);
});

// ---------------------------------------------------------------------------------------
// transformers on its own checkpoint (scripts/make-reference-fixture.py writes it)

const FIXTURE = process.env.MIMO_TINY_HF ?? path.join(path.dirname(new URL(import.meta.url).pathname), 'fixtures', 'tiny-hf');
const haveFixture = ['config.json', 'model.safetensors', 'reference.json'].every((f) => existsSync(path.join(FIXTURE, f)));

interface HfCase { name: string; prompt: number[]; last_logits: number[]; steps: { token: number; logits: number[] }[] }

test('matches transformers (f32, bf16 checkpoint) on every recorded position', () => {
  if (!haveFixture) {
    console.log(`  SKIPPED: no transformers fixture at ${FIXTURE} (config.json, model.safetensors, reference.json); run scripts/make-reference-fixture.py`);
    return;
  }
  const cfg = parseConfig(JSON.parse(readFileSync(path.join(FIXTURE, 'config.json'), 'utf8')), 'tiny-hf/config.json');
  const w = weightFn(readCheckpoint(FIXTURE));
  const ref = JSON.parse(readFileSync(path.join(FIXTURE, 'reference.json'), 'utf8')) as { cases: HfCase[]; pre_norm_hidden?: { case: string; values: number[] } };
  // The fixture holds transformers' f32 values exactly (9 digits), its greedy steps from
  // the KV-cache decode path. f32 against float64 measured 5.7e-6 at most on logits up to
  // ~10 (the script's own torch f64 run: 5.4e-6), i.e. 0.3 of this bound. Each mutation
  // tried on the reference (window + 1, scaled sink, biased router weights, interleaved
  // GQA heads) fails it.
  const tol = { rtol: 1e-6, atol: 1e-5 };
  let worst = 0;
  for (const c of ref.cases) {
    const r = referenceForward(cfg, w, [...c.prompt, ...c.steps.map((s) => s.token)]);
    const L = c.prompt.length;
    assertClose(r.logits[L - 1], c.last_logits, tol, `${c.name} last prompt position`);
    c.steps.forEach((s, i) => assertClose(r.logits[L + i], s.logits, tol, `${c.name} step ${i}`));
    worst = Math.max(worst, maxDiff(r.logits[L - 1], c.last_logits), ...c.steps.map((s, i) => maxDiff(r.logits[L + i], s.logits)));
    if (ref.pre_norm_hidden?.case === c.name) assertClose(r.hidden[L - 1], ref.pre_norm_hidden.values, tol, `${c.name} pre-norm hidden`);
  }
  console.log(`  transformers fixture: ${ref.cases.length} cases, max |logit diff| ${worst.toExponential(2)}`);
});

test.run();
