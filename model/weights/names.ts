/**
 * Every tensor a MiMo-V2-Flash checkpoint holds, with its published name, shape and dtype
 * (../shared/mimo-v2-flash.md §1; transformers' save_pretrained writes the same names).
 * The loader validates against this list and mimo-init writes exactly it.
 */
import type { AttentionSpec, MimoConfig } from '../config.js';
import type { Dtype } from './safetensors.js';

/** What the tensor is, so mimo-init can give each its own initial distribution. */
export type TensorKind = 'embedding' | 'lm_head' | 'norm' | 'linear' | 'block_scale' | 'sink' | 'router' | 'router_bias';

export interface ExpectedTensor {
  readonly name: string;
  readonly kind: TensorKind;
  readonly shape: readonly number[];
  /** What mimo-init writes. */
  readonly dtype: Dtype;
  /** Every dtype a checkpoint may use here (includes `dtype`). */
  readonly accept: readonly Dtype[];
}

export const FP8_BLOCK = 128;

/** [ceil(N/128), ceil(K/128)]: one f32 scale per 128x128 block of an [N, K] weight. */
export const scaleShape = (n: number, k: number): [number, number] => [Math.ceil(n / FP8_BLOCK), Math.ceil(k / FP8_BLOCK)];

export interface ExpectedOptions {
  readonly fp8: boolean;
  readonly mtp: boolean;
}

export function expectedTensors(cfg: MimoConfig, opts: ExpectedOptions): ExpectedTensor[] {
  const H = cfg.hiddenSize;
  const ignored = new Set(cfg.quant?.ignoredLayers ?? []);
  const out: ExpectedTensor[] = [];
  const add = (name: string, kind: TensorKind, shape: number[], dtype: Dtype, accept: Dtype[] = [dtype]) => out.push({ name, kind, shape, dtype, accept });
  const norm = (module: string) => add(`${module}.weight`, 'norm', [H], 'BF16');
  // A Linear weight [n, k]; FP8 unless its module is ignored, then with its block scales.
  const linear = (module: string, n: number, k: number) => {
    if (opts.fp8 && !ignored.has(module)) {
      add(`${module}.weight`, 'linear', [n, k], 'F8_E4M3');
      add(`${module}.weight_scale_inv`, 'block_scale', scaleShape(n, k), 'F32');
    } else add(`${module}.weight`, 'linear', [n, k], 'BF16');
  };
  const attention = (prefix: string, a: AttentionSpec) => {
    linear(`${prefix}.self_attn.q_proj`, a.heads * a.headDim, H);
    linear(`${prefix}.self_attn.k_proj`, a.kvHeads * a.headDim, H);
    linear(`${prefix}.self_attn.v_proj`, a.kvHeads * a.vHeadDim, H);
    linear(`${prefix}.self_attn.o_proj`, H, a.heads * a.vHeadDim);
    if (a.sink) add(`${prefix}.self_attn.attention_sink_bias`, 'sink', [a.heads], 'F32', ['F32', 'BF16']);
  };
  const swiglu = (prefix: string, width: number) => {
    linear(`${prefix}.gate_proj`, width, H);
    linear(`${prefix}.up_proj`, width, H);
    linear(`${prefix}.down_proj`, H, width);
  };

  add('model.embed_tokens.weight', 'embedding', [cfg.vocabSize, H], 'BF16');
  cfg.layers.forEach((layer, i) => {
    const p = `model.layers.${i}`;
    norm(`${p}.input_layernorm`);
    attention(p, cfg.attention[layer.attention]);
    norm(`${p}.post_attention_layernorm`);
    if (layer.ffn === 'dense') swiglu(`${p}.mlp`, cfg.intermediateSize);
    else {
      add(`${p}.mlp.gate.weight`, 'router', [cfg.experts, H], 'F32', ['F32', 'BF16']);
      add(`${p}.mlp.gate.e_score_correction_bias`, 'router_bias', [cfg.experts], 'F32');
      for (let j = 0; j < cfg.experts; j++) swiglu(`${p}.mlp.experts.${j}`, cfg.moeIntermediateSize);
    }
  });
  norm('model.norm');
  if (!cfg.tieWordEmbeddings) add('lm_head.weight', 'lm_head', [cfg.vocabSize, H], 'BF16');
  if (opts.mtp) {
    for (let k = 0; k < cfg.mtpLayers; k++) {
      const p = `model.mtp.layers.${k}`;
      norm(`${p}.enorm`);
      norm(`${p}.hnorm`);
      linear(`${p}.eh_proj`, H, 2 * H);
      norm(`${p}.input_layernorm`);
      attention(p, cfg.attention.swa);
      norm(`${p}.pre_mlp_layernorm`);
      swiglu(`${p}.mlp`, cfg.intermediateSize);
      norm(`${p}.final_layernorm`);
    }
  }
  return out;
}

export const MTP_PREFIX = 'model.mtp.';
