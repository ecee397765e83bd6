/**
 * Every tensor of a MiMo-V2-Flash checkpoint with its shape, from the config alone
 * (the published names; transformers' save_pretrained writes the same). The float64
 * model reference checks each weight it reads against this table, and the random tiny
 * checkpoints of the tests are built from it, so both agree on one list.
 * Values are dequantised: FP8 `weight_scale_inv` companions are not listed.
 */
import type { AttentionKind, MimoConfig } from '../../../model/config.js';

export type Shapes = Map<string, readonly number[]>;

function attention(out: Shapes, cfg: MimoConfig, prefix: string, kind: AttentionKind): void {
  const H = cfg.hiddenSize;
  const a = cfg.attention[kind];
  out.set(`${prefix}.q_proj.weight`, [a.heads * a.headDim, H]);
  out.set(`${prefix}.k_proj.weight`, [a.kvHeads * a.headDim, H]);
  out.set(`${prefix}.v_proj.weight`, [a.kvHeads * a.vHeadDim, H]);
  out.set(`${prefix}.o_proj.weight`, [H, a.heads * a.vHeadDim]);
  if (a.sink) out.set(`${prefix}.attention_sink_bias`, [a.heads]);
}

function swiglu(out: Shapes, H: number, prefix: string, inter: number): void {
  out.set(`${prefix}.gate_proj.weight`, [inter, H]);
  out.set(`${prefix}.up_proj.weight`, [inter, H]);
  out.set(`${prefix}.down_proj.weight`, [H, inter]);
}

/** Name → shape of every tensor the model (main layers and cfg.mtpLayers MTP layers) reads. */
export function checkpointShapes(cfg: MimoConfig): Shapes {
  const H = cfg.hiddenSize;
  const out: Shapes = new Map();
  out.set('model.embed_tokens.weight', [cfg.vocabSize, H]);
  if (!cfg.tieWordEmbeddings) out.set('lm_head.weight', [cfg.vocabSize, H]);
  out.set('model.norm.weight', [H]);
  cfg.layers.forEach((layer, n) => {
    const p = `model.layers.${n}`;
    out.set(`${p}.input_layernorm.weight`, [H]);
    out.set(`${p}.post_attention_layernorm.weight`, [H]);
    attention(out, cfg, `${p}.self_attn`, layer.attention);
    if (layer.ffn === 'dense') {
      swiglu(out, H, `${p}.mlp`, cfg.intermediateSize);
      return;
    }
    out.set(`${p}.mlp.gate.weight`, [cfg.experts, H]);
    out.set(`${p}.mlp.gate.e_score_correction_bias`, [cfg.experts]);
    for (let j = 0; j < cfg.experts; j++) swiglu(out, H, `${p}.mlp.experts.${j}`, cfg.moeIntermediateSize);
  });
  for (let k = 0; k < cfg.mtpLayers; k++) {
    const p = `model.mtp.layers.${k}`;
    out.set(`${p}.enorm.weight`, [H]);
    out.set(`${p}.hnorm.weight`, [H]);
    out.set(`${p}.eh_proj.weight`, [H, 2 * H]);
    out.set(`${p}.input_layernorm.weight`, [H]);
    attention(out, cfg, `${p}.self_attn`, 'swa');
    out.set(`${p}.pre_mlp_layernorm.weight`, [H]);
    swiglu(out, H, `${p}.mlp`, cfg.intermediateSize);
    out.set(`${p}.final_layernorm.weight`, [H]);
  }
  return out;
}
