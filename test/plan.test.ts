import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { parseConfig } from '../model/config.js';
import { PRESET_JSON, presetConfig } from '../model/presets.js';
import { plan, type PlanOptions } from '../model/plan.js';

// Independent references: the fact sheet's numbers (../shared/mimo-v2-flash.md) written
// out by hand, and for the tiny preset a tensor-by-tensor enumeration of the checkpoint
// layout done here from the preset's raw config.json keys.

const flash = presetConfig('mimo-v2-flash');
const tiny = presetConfig('tiny');
const opts = (o: Partial<PlanOptions> = {}): PlanOptions => ({ context: 262144, batch: 1, dtype: 'fp8', kvDtype: 'bf16', gpus: 1, gpu: 'h200', mtp: true, ...o });
const within = (actual: number, expected: number, rel: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what}: ${actual} vs ${expected} (±${rel * 100}%)`);
const exact = <T>(actual: T, expected: T, what: string) => assert.is(actual, expected, what);

test('mimo-v2-flash parameters: ≈308.8B total, ≈15.4B active, 0.33B per MTP layer (fact sheet)', () => {
  const p = plan(flash, opts());
  within(p.params.total, 308.8e9, 0.01, 'total vs fact sheet');
  within(p.params.total, 309e9, 0.01, 'total vs model card');
  within(p.params.activePerToken, 15.4e9, 0.01, 'active vs fact sheet');
  within(p.params.mtpPerLayer, 0.329e9, 0.01, 'MTP layer vs fact sheet');
  // By hand: GA attention 64*192*4096 + 4*192*4096 + 4*128*4096 + 4096*8192, SWA the same with 8 KV heads + 64 sinks.
  const ga = (12288 + 768 + 512) * 4096 + 4096 * 8192;
  const swa = (12288 + 1536 + 1024) * 4096 + 4096 * 8192 + 64;
  exact(p.params.components.attention, 9 * ga + 39 * swa, 'attention');
  exact(p.params.components.moeExperts, 47 * 256 * 3 * 2048 * 4096, 'experts');
  exact(p.params.components.mtp, 3 * (4096 * 8192 + swa + 3 * 16384 * 4096 + 5 * 4096), 'MTP layers');
  exact(p.params.totalCounted, p.params.total + p.params.components.mtp, 'total with MTP');
  const noMtp = plan(flash, opts({ mtp: false }));
  exact(noMtp.params.components.mtp, 0, '--no-mtp drops the MTP weights');
  exact(noMtp.kv.mtpBytesPerSequence, 0, '--no-mtp drops the MTP rings');
});

test('mimo-v2-flash FP8 weight bytes: 1 byte + F32 per 128x128 block, o_proj/embeddings/lm_head BF16, router F32', () => {
  const p = plan(flash, opts());
  const fp8 = (n: number, k: number) => n * k + 4 * Math.ceil(n / 128) * Math.ceil(k / 128);
  exact(p.weightBytes.components.moeExperts, 47 * 256 * (2 * fp8(2048, 4096) + fp8(4096, 2048)), 'experts FP8');
  exact(p.weightBytes.components.embeddings, 152576 * 4096 * 2, 'embeddings BF16');
  exact(p.weightBytes.components.router, 47 * (256 * 4096 + 256) * 4, 'router F32');
  const gaQkv = fp8(12288, 4096) + fp8(768, 4096) + fp8(512, 4096);
  const swaQkv = fp8(12288, 4096) + fp8(1536, 4096) + fp8(1024, 4096);
  exact(p.weightBytes.components.attention, 9 * gaQkv + 39 * (swaQkv + 64 * 2) + 48 * 4096 * 8192 * 2, 'attention: o_proj BF16');
  const bf16 = plan(flash, opts({ dtype: 'bf16', gpus: 8 }));
  exact(bf16.weightBytes.components.moeExperts, 2 * 47 * 256 * 3 * 2048 * 4096, 'experts BF16');
  exact(bf16.weightBytes.perGpu, bf16.weightBytes.total / 8, 'even split over 8 GPUs');
});

test('mimo-v2-flash KV: 23,040 B/token global, fixed 132-slot SWA and MTP rings, totals', () => {
  const p = plan(flash, opts({ batch: 3 }));
  exact(p.kv.globalBytesPerToken, 23040, 'GA per token (9 x 4 x 320 x 2)');
  exact(p.kv.swaBytesPerToken, 0, 'SWA per token beyond the window');
  exact(p.kv.ringSlots, 132, 'window 128 + slack 4');
  exact(p.kv.swaBytesPerSequence, 39 * 132 * 8 * 320 * 2, 'SWA ring bytes');
  exact(p.kv.mtpBytesPerSequence, 3 * 132 * 8 * 320 * 2, 'MTP ring bytes');
  exact(p.kv.totalBytes, 3 * (262144 * 23040 + 42 * 132 * 5120), 'total at 256K x 3');
  const fp8 = plan(flash, opts({ kvDtype: 'fp8' }));
  exact(fp8.kv.globalBytesPerToken, 11520, 'FP8 KV halves it');
});

test('the "nearly 6x" claim: equal KV heads tend to 48/9 and never reach 6x; own KV heads cross 6x at 1,872', () => {
  // Own heads: 348 slots/token vs 36 + a fixed 39*132*8 = 41,184: 348n >= 6(36n + 41184) <=> n >= 1872 exactly.
  const at = (context: number) => plan(flash, opts({ context })).kvRatio;
  const r = at(262144);
  exact(r.sameKvHeadsCrossover, null, 'equal heads never reach 6x');
  within(r.sameKvHeadsLimit, 48 / 9, 1e-12, 'equal-heads limit');
  within(r.ownKvHeadsLimit, 348 / 36, 1e-12, 'own-heads limit');
  exact(r.ownKvHeadsCrossover, 1872, 'own-heads crossover');
  within(r.sameKvHeads, (48 * 4 * 262144) / (9 * 4 * 262144 + 41184), 1e-12, 'equal-heads ratio at 256K');
  assert.ok(at(1871).ownKvHeads < 6 && at(1872).ownKvHeads >= 6, 'the crossover is the first context at 6x');
  assert.ok(at(1).sameKvHeads < 1, 'below the window the fixed rings cost more than they save');
  // A crossover that is not a whole number: 16 SWA KV heads, 660n >= 6(36n + 39*132*16) <=> n >= 1113.08.
  const wide = parseConfig({ ...PRESET_JSON['mimo-v2-flash'], swa_num_key_value_heads: 16 });
  exact(plan(wide, opts()).kvRatio.ownKvHeadsCrossover, 1114, 'rounded up to the first context at 6x');
  const own = (n: number) => plan(wide, opts({ context: n })).kvRatio.ownKvHeads;
  within(own(1113), (660 * 1113) / (36 * 1113 + 39 * 132 * 16), 1e-12, 'just below');
  assert.ok(own(1113) < 6 && own(1114) >= 6, 'crossover brackets 6x');
});

/** The tiny checkpoint's tensors from its raw config.json keys: [module, rows, cols, kind]. */
function tinyTensors(): [string, number, number, 'fp8able' | 'bf16' | 'f32' | 'embed' | 'expert'][] {
  const c = PRESET_JSON.tiny as Record<string, number & number[]>;
  const H = c.hidden_size;
  const t: ReturnType<typeof tinyTensors> = [['model.embed_tokens', c.vocab_size, H, 'embed'], ['lm_head', c.vocab_size, H, 'bf16'], ['model.norm', H, 1, 'bf16']];
  const attn = (p: string, heads: number, kv: number, sink: boolean) => {
    t.push([`${p}.q_proj`, heads * 192, H, 'fp8able'], [`${p}.k_proj`, kv * 192, H, 'fp8able'], [`${p}.v_proj`, kv * 128, H, 'fp8able'], [`${p}.o_proj`, H, heads * 128, 'fp8able']);
    if (sink) t.push([`${p}.attention_sink_bias`, heads, 1, 'bf16']);
  };
  const mlp = (p: string, w: number, kind: 'fp8able' | 'expert') => t.push([`${p}.gate_proj`, w, H, kind], [`${p}.up_proj`, w, H, kind], [`${p}.down_proj`, H, w, kind]);
  for (let n = 0; n < c.num_hidden_layers; n++) {
    const p = `model.layers.${n}`;
    t.push([`${p}.input_layernorm`, H, 1, 'bf16'], [`${p}.post_attention_layernorm`, H, 1, 'bf16']);
    const swa = c.hybrid_layer_pattern[n] === 1;
    attn(`${p}.self_attn`, swa ? c.swa_num_attention_heads : c.num_attention_heads, swa ? c.swa_num_key_value_heads : c.num_key_value_heads, swa);
    if (c.moe_layer_freq[n] === 0) mlp(`${p}.mlp`, c.intermediate_size, 'fp8able');
    else {
      t.push([`${p}.mlp.gate`, c.n_routed_experts, H, 'f32'], [`${p}.mlp.gate.e_score_correction_bias`, c.n_routed_experts, 1, 'f32']);
      for (let j = 0; j < c.n_routed_experts; j++) mlp(`${p}.mlp.experts.${j}`, c.moe_intermediate_size, 'expert');
    }
  }
  for (let k = 0; k < c.num_nextn_predict_layers; k++) {
    const p = `model.mtp.layers.${k}`;
    for (const n of ['enorm', 'hnorm', 'input_layernorm', 'pre_mlp_layernorm', 'final_layernorm']) t.push([`${p}.${n}`, H, 1, 'bf16']);
    t.push([`${p}.eh_proj`, H, 2 * H, 'fp8able']);
    attn(`${p}.self_attn`, c.swa_num_attention_heads, c.swa_num_key_value_heads, true);
    mlp(`${p}.mlp`, c.intermediate_size, 'fp8able');
  }
  return t;
}

test('tiny preset: parameters and BF16/FP8 bytes match an enumeration of its checkpoint tensors', () => {
  const all = tinyTensors();
  const main = all.filter(([m]) => !m.startsWith('model.mtp.'));
  const count = (ts: typeof all) => ts.reduce((s, [, r, c]) => s + r * c, 0);
  const bytes = (ts: typeof all, fp8: boolean, ignored = (m: string) => m.endsWith('.o_proj')) => ts.reduce((s, [m, r, c, kind]) => {
    const q = fp8 && (kind === 'fp8able' || kind === 'expert') && !ignored(m);
    return s + (q ? r * c + 4 * Math.ceil(r / 128) * Math.ceil(c / 128) : r * c * (kind === 'f32' ? 4 : 2));
  }, 0);
  const p = plan(tiny, opts({ context: 2048, dtype: 'bf16' }));
  exact(p.params.total, count(main), 'main total');
  exact(p.params.totalCounted, count(all), 'with MTP');
  const experts = count(main.filter(([, , , k]) => k === 'expert'));
  exact(p.params.activePerToken, count(main) - experts * (1 - 2 / 8), 'active: top-2 of 8');
  exact(p.params.activeCompute, p.params.activePerToken - 300 * 256, 'active minus the embedding');
  exact(p.weightBytes.total, bytes(all, false), 'BF16 bytes');
  // 96- and 320-wide matrices leave partial 128x128 blocks: each still has its own scale.
  exact(plan(tiny, opts({ context: 2048, dtype: 'fp8' })).weightBytes.total, bytes(all, true), 'FP8 bytes with partial blocks');
  // A config's own ignored_layers replace the default, down to a single expert.
  const keep = ['model.layers.2.mlp.experts.3.down_proj', 'model.mtp.layers.1.eh_proj'];
  const quantized = parseConfig({ ...PRESET_JSON.tiny, quantization_config: { quant_method: 'fp8', ignored_layers: keep } });
  exact(plan(quantized, opts({ context: 2048, dtype: 'fp8' })).weightBytes.total, bytes(all, true, (m) => keep.includes(m)), 'FP8 bytes, one expert kept BF16');
});

test('tiny preset decode: FLOPs, expected experts, bytes per step and the roofline by hand', () => {
  const [context, batch] = [1000, 5];
  const p = plan(tiny, opts({ context, batch, dtype: 'bf16', gpus: 2, gpu: 'h100' }));
  const attention = 2 * 2 * 4 * 320 * context + 4 * 2 * 4 * 320 * 128;
  exact(p.decode.flopsPerToken, 2 * p.params.activeCompute + attention, 'FLOPs per token');
  const distinct = 8 * (1 - (1 - 2 / 8) ** batch);
  within(p.decode.expectedExpertsPerLayer, distinct, 1e-12, 'E(1 - (1 - k/E)^B)');
  const expertBytes = 5 * 8 * 3 * 96 * 256 * 2;
  const denseBytes = p.weightBytes.total - p.weightBytes.components.mtp - p.weightBytes.components.embeddings - expertBytes;
  const kvPerSeq = context * 2 * 1 * 320 * 2 + 4 * 128 * 2 * 320 * 2;
  within(p.decode.bytesPerStep, denseBytes + (expertBytes * distinct) / 8 + batch * (256 * 2 + kvPerSeq), 1e-12, 'bytes per step');
  within(p.decode.memorySeconds, p.decode.bytesPerStep / (2 * 3.35e12), 1e-12, 'memory time on 2 x H100');
  within(p.decode.computeSeconds, (batch * p.decode.flopsPerToken) / (2 * 989e12), 1e-12, 'compute time on 2 x H100 (BF16)');
  exact(p.decode.bound, 'memory', 'small batch decode is memory-bound');
  within(p.decode.tokensPerSecond, batch / p.decode.memorySeconds, 1e-12, 'tokens/s');
  within(plan(tiny, opts({ context, batch: 1, dtype: 'bf16' })).decode.expectedExpertsPerLayer, 2, 1e-12, 'one token touches k experts');
  // Inside the window every layer sees the whole context.
  const short = plan(tiny, opts({ context: 50, dtype: 'bf16' })).decode;
  exact(short.attentionFlopsPerToken, 6 * 2 * 4 * 320 * 50, 'attention FLOPs below the window');
  exact(short.kvBytesPerSequence, 6 * 50 * 320 * 2 + 4 * 50 * 320 * 2, 'KV read below the window (SWA: 2 heads)');
});

test('a huge batch at context 1 with BF16 weights and FP8 KV is compute-bound', () => {
  const p = plan(flash, opts({ context: 1, batch: 1 << 20, dtype: 'bf16', kvDtype: 'fp8' }));
  within(p.decode.computeSeconds, ((1 << 20) * p.decode.flopsPerToken) / 989e12, 1e-12, 'compute time');
  exact(p.decode.bound, 'compute', 'bound');
  within(p.decode.stepSeconds, p.decode.computeSeconds, 0, 'step = the larger time');
});

test('bad plan inputs name the option', () => {
  assert.throws(() => plan(tiny, opts({ context: 2049 })), /context = 2049 exceeds the model's max_position_embeddings = 2048/);
  assert.throws(() => plan(tiny, opts({ context: 16, batch: 0 })), /batch must be an integer >= 1, got 0/);
  assert.throws(() => plan(tiny, opts({ context: 16, gpus: 1.5 })), /gpus must be an integer >= 1, got 1.5/);
});

/** Runs bin/mimo-plan.js; async so a test's runs overlap (each pays tsx's start-up). */
const cli = (...args: string[]) => new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
  execFile(process.execPath, [path.join(REPO_ROOT, 'bin/mimo-plan.js'), ...args], { cwd: REPO_ROOT, encoding: 'utf8' }, (err, stdout, stderr) =>
    resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
});

test('CLI --json: the same numbers from a config.json file as from the preset', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-plan-'));
  try {
    const file = path.join(dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify(PRESET_JSON.tiny));
    const r = await cli('--config', file, '--json', '--batch', '4', '--gpu', 'b200', '--no-mtp');
    assert.is(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.is(j.source, `config ${file}`);
    assert.equal(j.options, { context: 2048, batch: 4, gpus: 1, kvDtype: 'bf16', gpu: 'b200', mtp: false, dtype: 'bf16' });
    const { options: _, ...numbers } = plan(tiny, opts({ context: 2048, batch: 4, gpu: 'b200', mtp: false, dtype: 'bf16' }));
    for (const [k, v] of Object.entries(numbers)) assert.equal(j[k], v, `--json ${k}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI usage errors exit 2 naming the flag; a missing config exits 1; --help documents the JSON keys', async () => {
  const cases = [
    [['--preset', 'tiny', '--context', '12k'], /--context must be an integer >= 1 \(got '12k'\)/],
    [['--preset', 'tiny', '--context', '4096'], /--context = 4096 exceeds the model's max_position_embeddings = 2048/],
    [['--preset', 'tiny', '--kv-dtype', 'fp4'], /--kv-dtype must be bf16 or fp8 \(got 'fp4'\)/],
    [['--preset', 'huge'], /--preset must be one of mimo-v2-flash, tiny \(got 'huge'\)/],
    [['--context', '8'], /exactly one of --preset NAME or --config FILE/],
  ] as const;
  const [missing, help, ...runs] = await Promise.all([cli('--config', '/nonexistent/config.json'), cli('--help'), ...cases.map(([args]) => cli(...args))]);
  cases.forEach(([args, msg], i) => {
    assert.is(runs[i].status, 2, `${args.join(' ')}: ${runs[i].stderr}`);
    assert.match(runs[i].stderr, msg);
    assert.is(runs[i].stderr.split('\n')[0].includes('mimo-plan: '), true, 'the error is one line naming the tool');
  });
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /--config \/nonexistent\/config.json: ENOENT/);
  assert.is(help.status, 0);
  for (const key of ['kvRatio{', 'ownKvHeadsCrossover', 'tokensPerSecond', '--no-mtp', '--kv-dtype']) assert.ok(help.stdout.includes(key), `--help mentions ${key}`);
});

test.run();
