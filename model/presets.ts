/**
 * Named configurations, written as Xiaomi's published config.json keys and read through
 * the same parser as a checkpoint's (model/config.ts), so a preset is exactly what
 * `mimo-init --preset NAME` writes.
 *  - `mimo-v2-flash`: the real model (../shared/mimo-v2-flash.md §1), FP8 as published.
 *  - `tiny`: the same structure rules at a size where a forward pass takes well under a
 *    second on SwiftShader: 6 layers (global at 0 and 5, SWA 1-4; layer 0 dense, 1-5 MoE),
 *    4 query heads, 1 global / 2 SWA KV heads, the real head dims (192/128), window (128),
 *    RoPE bases and value scale (the kernels hard-wire them), hidden 256, 8 experts top-2 of
 *    width 96, dense width 320, vocabulary 300 (256 bytes + specials), 3 MTP layers.
 *    Widths that are not multiples of 128 exercise partial FP8 scale blocks.
 */
import { parseConfig, type MimoConfig } from './config.js';

const common = {
  architectures: ['MiMoV2FlashForCausalLM'],
  model_type: 'mimo_v2_flash',
  head_dim: 192, swa_head_dim: 192, v_head_dim: 128, swa_v_head_dim: 128,
  rope_theta: 5_000_000, swa_rope_theta: 10_000, partial_rotary_factor: 0.334,
  sliding_window: 128, add_swa_attention_sink_bias: true, add_full_attention_sink_bias: false,
  layernorm_epsilon: 1e-5, attention_value_scale: 0.707, attention_bias: false, hidden_act: 'silu',
  scoring_func: 'sigmoid', topk_method: 'noaux_tc', n_group: 1, topk_group: 1, norm_topk_prob: true,
  routed_scaling_factor: null, n_shared_experts: null, tie_word_embeddings: false, torch_dtype: 'bfloat16',
};

const pattern = (n: number) => Array.from({ length: n }, (_, i) => (i === 0 || (i + 1) % 6 === 0 ? 0 : 1));
const moeFreq = (n: number) => Array.from({ length: n }, (_, i) => (i === 0 ? 0 : 1));

/** FP8 as the published checkpoint has it: every o_proj stays BF16. */
export const fp8QuantizationConfig = (layers: number, mtpLayers: number) => ({
  quant_method: 'fp8', fmt: 'e4m3', activation_scheme: 'dynamic', weight_block_size: [128, 128],
  ignored_layers: [
    ...Array.from({ length: layers }, (_, i) => `model.layers.${i}.self_attn.o_proj`),
    ...Array.from({ length: mtpLayers }, (_, i) => `model.mtp.layers.${i}.self_attn.o_proj`),
  ],
});

export const PRESET_JSON: Readonly<Record<string, Record<string, unknown>>> = {
  'mimo-v2-flash': {
    ...common,
    vocab_size: 152576, hidden_size: 4096, num_hidden_layers: 48, hybrid_layer_pattern: pattern(48), moe_layer_freq: moeFreq(48),
    num_attention_heads: 64, num_key_value_heads: 4, swa_num_attention_heads: 64, swa_num_key_value_heads: 8,
    intermediate_size: 16384, moe_intermediate_size: 2048, n_routed_experts: 256, num_experts_per_tok: 8,
    max_position_embeddings: 262144, num_nextn_predict_layers: 3,
    quantization_config: fp8QuantizationConfig(48, 3),
  },
  tiny: {
    ...common,
    vocab_size: 300, hidden_size: 256, num_hidden_layers: 6, hybrid_layer_pattern: pattern(6), moe_layer_freq: moeFreq(6),
    num_attention_heads: 4, num_key_value_heads: 1, swa_num_attention_heads: 4, swa_num_key_value_heads: 2,
    intermediate_size: 320, moe_intermediate_size: 96, n_routed_experts: 8, num_experts_per_tok: 2,
    max_position_embeddings: 2048, num_nextn_predict_layers: 3, eos_token_id: 257,
  },
};

export const PRESETS = Object.keys(PRESET_JSON);

export function presetConfig(name: string): MimoConfig {
  const raw = PRESET_JSON[name];
  if (!raw) throw new Error(`unknown preset '${name}' (have: ${PRESETS.join(', ')})`);
  return parseConfig(raw, `preset ${name}`);
}
