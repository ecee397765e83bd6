import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import { loadKernels } from '../compiler/compile.js';
import { ConfigError, parseConfig } from '../model/config.js';
import { KERNEL_LIMITS } from '../model/kernel-limits.js';
import { PRESET_JSON, presetConfig } from '../model/presets.js';

const FIXTURE = 'test/fixtures/tiny-hf';
const read = (f: string) => JSON.parse(fs.readFileSync(`${FIXTURE}/${f}`, 'utf8')) as Record<string, unknown>;

test('transformers\' save_pretrained form and Xiaomi\'s published form give one config', () => {
  const hf = parseConfig(read('config.json'));
  const pub = parseConfig(read('config.published.json'));
  assert.equal({ ...hf, mtpLayers: 0, eosTokenIds: [] }, { ...pub, mtpLayers: 0, eosTokenIds: [] });
  assert.equal(hf.layers.map((l) => l.attention), ['global', 'swa', 'swa', 'swa', 'swa', 'global']);
  assert.equal(hf.layers.map((l) => l.ffn), ['dense', 'moe', 'moe', 'moe', 'moe', 'moe']);
  // transformers doubles the KV heads of SWA layers; the published form says so explicitly.
  assert.is(hf.attention.swa.kvHeads, 2);
  assert.is(hf.attention.global.kvHeads, 1);
  assert.is(hf.attention.swa.ropeTheta, 10_000);
  assert.is(hf.attention.global.ropeTheta, 5_000_000);
  assert.is(hf.attention.swa.rotaryDim, 64);
  assert.ok(hf.attention.swa.sink && !hf.attention.global.sink);
  assert.is(hf.attention.swa.window, 128);
});

test('the real model: 9 global + 39 SWA layers, layer 0 dense, FP8 with every o_proj BF16', () => {
  const c = presetConfig('mimo-v2-flash');
  assert.equal(c.layers.flatMap((l, i) => (l.attention === 'global' ? [i] : [])), [0, 5, 11, 17, 23, 29, 35, 41, 47]);
  assert.equal(c.layers.filter((l) => l.ffn === 'dense').length, 1);
  assert.is(c.attention.swa.kvHeads, 8);
  assert.is(c.attention.global.kvHeads, 4);
  assert.is(c.quant!.ignoredLayers.length, 48 + 3);
  assert.ok(c.quant!.ignoredLayers.every((n) => n.endsWith('.self_attn.o_proj')));
});

const refused: [string, Record<string, unknown>, RegExp][] = [
  ['KV heads not dividing the heads', { swa_num_key_value_heads: 3 }, /'swa_num_key_value_heads' = 3 does not divide swa_num_attention_heads = 4/],
  ['a pattern of the wrong length', { hybrid_layer_pattern: [0, 1, 1, 0] }, /'hybrid_layer_pattern' has 4 entries, expected num_hidden_layers = 6/],
  ['an unknown scoring_func', { scoring_func: 'softmax' }, /'scoring_func' is "softmax"; supported: "sigmoid"/],
  ['a pattern entry that is no layer type', { hybrid_layer_pattern: [0, 1, 2, 1, 1, 0] }, /'hybrid_layer_pattern' entry 2 is 2/],
  ['more experts per token than experts', { num_experts_per_tok: 9 }, /'num_experts_per_tok' = 9 exceeds n_routed_experts = 8/],
  ['a head dim the kernels are not built for', { head_dim: 128 }, /'head_dim' is 128; the attention kernels are built for 192/],
  ['a window the kernels are not built for', { sliding_window: 4096 }, /'sliding_window' is 4096/],
  ['grouped routing', { n_group: 8 }, /'n_group' is 8; grouped routing is not supported/],
  ['a non-integer size', { hidden_size: 25.5 }, /'hidden_size' must be an integer, got 25.5/],
  ['both config forms at once', { layer_types: ['full_attention'] }, /'layer_types' and hybrid_layer_pattern are both present/],
  ['FP8 blocks other than 128x128', { quantization_config: { quant_method: 'fp8', weight_block_size: [64, 64] } }, /'quantization_config.weight_block_size' is \[64,64\]/],
];
for (const [what, patch, message] of refused) {
  test(`refused with the key and value named: ${what}`, () => {
    try {
      parseConfig({ ...PRESET_JSON.tiny, ...patch }, 'tiny/config.json');
      assert.unreachable('accepted');
    } catch (e) {
      assert.instance(e, ConfigError);
      assert.match((e as Error).message, /^tiny\/config\.json: /);
      assert.match((e as Error).message, message);
    }
  });
}

test('the host mirror of the kernels\' compile-time constants agrees with the kernels', () => {
  const consts = Object.fromEntries(loadKernels('{swa_prefill,swa_decode,global_prefill,rmsnorm,kv_write_ring,kv_write_linear}').map((k) => [k.name, k.consts]));
  for (const k of ['swa_prefill', 'swa_decode', 'global_prefill']) {
    assert.is(consts[k].HEAD_QK, KERNEL_LIMITS.headDim, `${k} HEAD_QK`);
    assert.is(consts[k].HEAD_V, KERNEL_LIMITS.vHeadDim, `${k} HEAD_V`);
    assert.ok(Math.abs(consts[k].SCALE - KERNEL_LIMITS.headDim ** -0.5) < 1e-12, `${k} SCALE`);
  }
  assert.is(consts.swa_prefill.WINDOW, KERNEL_LIMITS.window);
  assert.is(consts.swa_decode.WINDOW, KERNEL_LIMITS.window);
  assert.is(consts.rmsnorm.EPS, KERNEL_LIMITS.rmsEps);
  assert.is(consts.kv_write_ring.V_SCALE, KERNEL_LIMITS.valueScale);
  assert.is(consts.kv_write_linear.V_SCALE, KERNEL_LIMITS.valueScale);
});

test.run();
