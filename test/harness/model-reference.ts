/**
 * An independent float64 reference of the whole MiMo-V2-Flash model, main layers and MTP,
 * for the tests of the GPU forward. Plain TypeScript from transformers'
 * modeling_mimo_v2_flash.py (main model) and our MTP spec (transformers has none), sharing
 * no code with ops/ or model/forward.ts. One sequence, every position, no cache: a
 * position's outputs depend only on the inputs the math says they do, so the cached and
 * speculative paths of the runtime must reproduce these numbers.
 *
 * Where transformers differs (all precision, none structural): it computes in the model
 * dtype (f32 here at best) with f32 RoPE angles and an f32 router Linear; here everything
 * is float64, and exact ties in the router go to the lower expert id (torch.topk leaves
 * the order of ties unspecified).
 */
import type { MimoConfig } from '../../model/config.js';
import { Weights, add, attention, linear, loadAttention, loadFfn, loadMoe, moe, rmsnorm, swiglu, type WeightFn } from './model-reference/blocks.js';

export type { WeightFn } from './model-reference/blocks.js';
export { add, attention, linear, loadAttention, loadFfn, loadMoe, moe, rmsnorm, ropeHeads, route, swiglu, Weights } from './model-reference/blocks.js';
export { checkpointShapes } from './model-reference/shapes.js';

/** Per position: logits[V] and the residual stream before the final norm, hidden[H]. */
export interface RefOutput { logits: Float64Array[]; hidden: Float64Array[] }
/** [MTP layer k][position p]; null where layer k has no entry (p <= k). */
export interface MtpOutput { logits: (Float64Array | null)[][]; hidden: (Float64Array | null)[][] }

function checkTokens(cfg: MimoConfig, tokens: readonly number[], fn: string): void {
  if (!Array.isArray(tokens) || tokens.length === 0) throw new RangeError(`${fn}: tokens must be a non-empty array of token ids, got ${Array.isArray(tokens) ? 'an empty array' : typeof tokens}`);
  if (tokens.length > cfg.maxPositions) throw new RangeError(`${fn}: tokens has ${tokens.length} positions, more than maxPositions = ${cfg.maxPositions}`);
  const bad = tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= cfg.vocabSize);
  if (bad >= 0) throw new RangeError(`${fn}: tokens[${bad}] is ${tokens[bad]}, expected an integer in [0, ${cfg.vocabSize})`);
}

const embedRow = (embed: Float64Array, token: number, H: number): Float64Array => embed.slice(token * H, (token + 1) * H);

/** lm_head, or the embedding when tied. */
const lmHead = (w: Weights): Float64Array => w.get(w.cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');

/** The main model over one sequence at positions 0..T-1. */
export function referenceForward(cfg: MimoConfig, fn: WeightFn, tokens: number[]): RefOutput {
  checkTokens(cfg, tokens, 'referenceForward');
  const w = new Weights(cfg, fn);
  const { hiddenSize: H, rmsEps: eps } = cfg;
  const embed = w.get('model.embed_tokens.weight');
  let xs = tokens.map((t) => embedRow(embed, t, H));
  cfg.layers.forEach((layer, n) => {
    const p = `model.layers.${n}`;
    const inNorm = w.get(`${p}.input_layernorm.weight`);
    const attn = loadAttention(w, `${p}.self_attn`, cfg.attention[layer.attention]);
    const a = attention(attn, xs.map((x) => rmsnorm(x, inNorm, eps)), 0, cfg.valueScale);
    xs = xs.map((x, t) => add(x, a[t]));
    const postNorm = w.get(`${p}.post_attention_layernorm.weight`);
    const dense = layer.ffn === 'dense' ? loadFfn(w, `${p}.mlp`, cfg.intermediateSize) : null;
    const experts = dense ? null : loadMoe(w, `${p}.mlp`);
    xs = xs.map((x) => {
      const h = rmsnorm(x, postNorm, eps);
      return add(x, dense ? swiglu(dense, h) : moe(experts!, h));
    });
  });
  const norm = w.get('model.norm.weight');
  const head = lmHead(w);
  return { hidden: xs, logits: xs.map((x) => linear(head, rmsnorm(x, norm, eps), cfg.vocabSize)) };
}

/**
 * The MTP chain (SGLang's multi-layer EAGLE, input ids rotated by one). Layer k at
 * position p >= k+1 takes token p and the previous layer's hidden at p-1 (mainHidden, the
 * main model's pre-final-norm hidden, for k = 0; layer k-1's output hidden otherwise):
 *   h = eh_proj([rmsnorm(embed[token_p])·enorm ; rmsnorm(prev[p-1])·hnorm])
 *   x = h + SWA_Attn(rmsnorm(h)·input_layernorm)      over its own entries max(k+1, p-W+1)..p
 *   x = x + SwiGLU(rmsnorm(x)·pre_mlp_layernorm)       out hidden = x
 *   logits = lm_head(rmsnorm(x)·final_layernorm)      the draft for token p+1
 * So layer k at p depends on tokens <= p and mainHidden <= p-k-1 only.
 */
export function referenceMtp(cfg: MimoConfig, fn: WeightFn, tokens: number[], mainHidden: Float64Array[]): MtpOutput {
  checkTokens(cfg, tokens, 'referenceMtp');
  const { hiddenSize: H, rmsEps: eps } = cfg;
  const T = tokens.length;
  if (!Array.isArray(mainHidden) || mainHidden.length !== T) {
    throw new RangeError(`referenceMtp: mainHidden must have one row per token (${T}), got ${Array.isArray(mainHidden) ? mainHidden.length : typeof mainHidden}`);
  }
  const badRow = mainHidden.findIndex((r) => !(r instanceof Float64Array) || r.length !== H);
  if (badRow >= 0) throw new RangeError(`referenceMtp: mainHidden[${badRow}] must be a Float64Array of hiddenSize = ${H}, got length ${mainHidden[badRow]?.length}`);
  const w = new Weights(cfg, fn);
  const embed = w.get('model.embed_tokens.weight');
  const head = lmHead(w);
  const out: MtpOutput = { logits: [], hidden: [] };
  let prev: readonly (Float64Array | null)[] = mainHidden;
  for (let k = 0; k < cfg.mtpLayers; k++) {
    const p = `model.mtp.layers.${k}`;
    const [enorm, hnorm, ehProj, inNorm, preMlp, finalNorm] = ['enorm', 'hnorm', 'eh_proj', 'input_layernorm', 'pre_mlp_layernorm', 'final_layernorm'].map((s) => w.get(`${p}.${s}.weight`));
    const attn = loadAttention(w, `${p}.self_attn`, cfg.attention.swa);
    const mlp = loadFfn(w, `${p}.mlp`, cfg.intermediateSize);
    const first = k + 1;
    const hs: Float64Array[] = [];
    for (let pos = first; pos < T; pos++) {
      const eg = new Float64Array(2 * H);
      eg.set(rmsnorm(embedRow(embed, tokens[pos], H), enorm, eps), 0);
      eg.set(rmsnorm(prev[pos - 1]!, hnorm, eps), H);
      hs.push(linear(ehProj, eg, H));
    }
    const a = attention(attn, hs.map((h) => rmsnorm(h, inNorm, eps)), first, cfg.valueScale);
    const xs = hs.map((h, i) => {
      const x = add(h, a[i]);
      return add(x, swiglu(mlp, rmsnorm(x, preMlp, eps)));
    });
    const none = (): null[] => Array.from({ length: Math.min(first, T) }, () => null);
    const hidden = [...none(), ...xs];
    out.hidden.push(hidden);
    out.logits.push([...none(), ...xs.map((x) => linear(head, rmsnorm(x, finalNorm, eps), cfg.vocabSize))]);
    prev = hidden;
  }
  return out;
}
