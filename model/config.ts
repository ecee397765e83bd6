/**
 * The model's configuration: one normalised, typed MimoConfig from a checkpoint's
 * config.json in either form users have (../shared/mimo-v2-flash.md §1):
 *  - Xiaomi's published hub keys (`hybrid_layer_pattern`, `moe_layer_freq`, `swa_*`,
 *    `rope_theta`/`swa_rope_theta`, `layernorm_epsilon`, `add_*_attention_sink_bias`, ...);
 *  - what transformers >= 5 writes with save_pretrained (`layer_types`, `mlp_layer_types`,
 *    `rope_parameters` per layer type, `rms_norm_eps`; SWA layers have twice
 *    `num_key_value_heads` and always a sink, global layers never).
 * Anything inconsistent, or outside what the kernels implement (their head dims and window
 * are compile-time constants), is refused with a ConfigError naming the key and the value.
 */
import { KERNEL_LIMITS } from './kernel-limits.js';

export type AttentionKind = 'global' | 'swa';
export type FfnKind = 'dense' | 'moe';

/** One attention flavour (global or sliding window); layers of a kind share it. */
export interface AttentionSpec {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly vHeadDim: number;
  readonly ropeTheta: number;
  /** Leading q/k dims rotated: int(headDim * partial_rotary_factor). */
  readonly rotaryDim: number;
  /** A learned per-head sink logit (`attention_sink_bias`). */
  readonly sink: boolean;
  /** Keys visible to a query, including itself; null = causal over everything. */
  readonly window: number | null;
}

export interface QuantConfig {
  readonly fmt: 'e4m3';
  readonly blockSize: readonly [number, number];
  readonly activationScheme: 'dynamic';
  /** Module names kept in BF16 (every `model.layers.N.self_attn.o_proj` in the real model). */
  readonly ignoredLayers: readonly string[];
}

export interface MimoConfig {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly layers: readonly { readonly attention: AttentionKind; readonly ffn: FfnKind }[];
  readonly attention: Readonly<Record<AttentionKind, AttentionSpec>>;
  readonly rmsEps: number;
  /** V is multiplied by this before attention and before the KV-cache write. */
  readonly valueScale: number;
  /** Dense SwiGLU width (layer 0 and the MTP layers). */
  readonly intermediateSize: number;
  readonly moeIntermediateSize: number;
  readonly experts: number;
  readonly expertsPerToken: number;
  readonly normTopkProb: boolean;
  readonly routedScalingFactor: number;
  /** Multi-token-prediction layers `model.mtp.layers.K` (3 in the real model; the hub config does not say). */
  readonly mtpLayers: number;
  readonly maxPositions: number;
  readonly tieWordEmbeddings: boolean;
  readonly quant: QuantConfig | null;
  readonly eosTokenIds: readonly number[];
}

export class ConfigError extends Error {
  constructor(readonly source: string, readonly key: string, detail: string) {
    super(`${source}: '${key}' ${detail}`);
    this.name = 'ConfigError';
  }
}

type Json = Record<string, unknown>;

/** Typed reads of config.json keys: a wrong type or value names the key. */
class Keys {
  constructor(readonly raw: Json, readonly source: string) {}
  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }
  fail(key: string, detail: string): never {
    throw new ConfigError(this.source, key, detail);
  }
  int(key: string, fallback?: number, min = 1): number {
    const v = this.has(key) ? this.raw[key] : fallback;
    if (v === undefined) this.fail(key, 'is missing');
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(key, `must be an integer, got ${JSON.stringify(v)}`);
    if (v < min) this.fail(key, `must be >= ${min}, got ${v}`);
    return v;
  }
  num(key: string, fallback?: number, positive = true): number {
    const v = this.has(key) ? this.raw[key] : fallback;
    if (v === undefined) this.fail(key, 'is missing');
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, `must be a number, got ${JSON.stringify(v)}`);
    if (positive && !(v > 0)) this.fail(key, `must be > 0, got ${v}`);
    return v;
  }
  bool(key: string, fallback: boolean): boolean {
    const v = this.has(key) ? this.raw[key] : fallback;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }
  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const v = this.has(key) ? this.raw[key] : fallback;
    if (!allowed.includes(v as T)) this.fail(key, `is ${JSON.stringify(v)}; supported: ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
    return v as T;
  }
  list<T>(key: string, n: number, map: Record<string, T>): T[] {
    const v = this.raw[key];
    if (!Array.isArray(v)) this.fail(key, `must be a list, got ${JSON.stringify(v)}`);
    if (v.length !== n) this.fail(key, `has ${v.length} entries, expected num_hidden_layers = ${n}`);
    return v.map((x, i) => {
      const k = String(x);
      if (!(k in map)) this.fail(key, `entry ${i} is ${JSON.stringify(x)}; expected one of ${Object.keys(map).join(', ')}`);
      return map[k];
    });
  }
}

/** The default layer pattern of the real model: global at layer 0 and every 6th layer. */
export const defaultAttentionPattern = (n: number): AttentionKind[] =>
  Array.from({ length: n }, (_, i) => (i === 0 || (i + 1) % 6 === 0 ? 'global' : 'swa'));

function attentionSpecs(k: Keys, published: boolean): Record<AttentionKind, AttentionSpec> {
  const headDim = k.int('head_dim', 192);
  const vHeadDim = k.int('v_head_dim', 128);
  const window = k.int('sliding_window', 128);
  const heads = k.int('num_attention_heads');
  const kvHeads = k.int('num_key_value_heads');
  const rotary = (dim: number, factorKey: string, factor: number): number => {
    if (!(factor > 0 && factor <= 1)) k.fail(factorKey, `must be in (0, 1], got ${factor}`);
    return Math.floor(dim * factor);
  };
  if (published) {
    const prf = k.num('partial_rotary_factor', 0.334);
    const swaHeadDim = k.int('swa_head_dim', headDim);
    return {
      global: {
        heads, kvHeads, headDim, vHeadDim, ropeTheta: k.num('rope_theta', 5_000_000),
        rotaryDim: rotary(headDim, 'partial_rotary_factor', prf), sink: k.bool('add_full_attention_sink_bias', false), window: null,
      },
      swa: {
        heads: k.int('swa_num_attention_heads', heads), kvHeads: k.int('swa_num_key_value_heads', 2 * kvHeads),
        headDim: swaHeadDim, vHeadDim: k.int('swa_v_head_dim', vHeadDim), ropeTheta: k.num('swa_rope_theta', 10_000),
        rotaryDim: rotary(swaHeadDim, 'partial_rotary_factor', prf), sink: k.bool('add_swa_attention_sink_bias', true), window,
      },
    };
  }
  // transformers' form: per-type rope parameters; SWA doubles the KV heads and has a sink.
  const rope = (k.raw.rope_parameters ?? {}) as Record<string, Json | undefined>;
  const ropeOf = (type: string, theta: number): { theta: number; factor: number } => {
    const p = rope[type] ?? {};
    const key = `rope_parameters.${type}`;
    const rt = p.rope_type ?? 'default';
    if (rt !== 'default') k.fail(`${key}.rope_type`, `is ${JSON.stringify(rt)}; only "default" RoPE is supported`);
    const sub = new Keys(p, k.source);
    try {
      return { theta: sub.num('rope_theta', theta), factor: sub.num('partial_rotary_factor', 0.334) };
    } catch (e) {
      if (e instanceof ConfigError) k.fail(`${key}.${e.key}`, e.message.slice(e.message.indexOf(`'${e.key}'`) + e.key.length + 3));
      throw e;
    }
  };
  const g = ropeOf('full_attention', 5_000_000);
  const s = ropeOf('sliding_attention', 10_000);
  return {
    global: { heads, kvHeads, headDim, vHeadDim, ropeTheta: g.theta, rotaryDim: rotary(headDim, 'rope_parameters.full_attention.partial_rotary_factor', g.factor), sink: false, window: null },
    swa: { heads, kvHeads: 2 * kvHeads, headDim, vHeadDim, ropeTheta: s.theta, rotaryDim: rotary(headDim, 'rope_parameters.sliding_attention.partial_rotary_factor', s.factor), sink: true, window },
  };
}

function quantConfig(k: Keys): QuantConfig | null {
  if (!k.has('quantization_config')) return null;
  const q = new Keys(k.raw.quantization_config as Json, k.source);
  const key = (s: string) => `quantization_config.${s}`;
  const method = q.raw.quant_method;
  if (method !== 'fp8') k.fail(key('quant_method'), `is ${JSON.stringify(method)}; only "fp8" is supported`);
  const fmt = q.raw.fmt ?? 'e4m3';
  if (fmt !== 'e4m3') k.fail(key('fmt'), `is ${JSON.stringify(fmt)}; only "e4m3" is supported`);
  const act = q.raw.activation_scheme ?? 'dynamic';
  if (act !== 'dynamic') k.fail(key('activation_scheme'), `is ${JSON.stringify(act)}; only "dynamic" is supported`);
  const block = q.raw.weight_block_size ?? [128, 128];
  if (!Array.isArray(block) || block.length !== 2 || block[0] !== 128 || block[1] !== 128) {
    k.fail(key('weight_block_size'), `is ${JSON.stringify(block)}; only [128, 128] blocks are supported`);
  }
  const ignored = q.raw.ignored_layers ?? q.raw.modules_to_not_convert ?? [];
  if (!Array.isArray(ignored) || ignored.some((s) => typeof s !== 'string')) k.fail(key('ignored_layers'), 'must be a list of module names');
  return { fmt: 'e4m3', blockSize: [128, 128], activationScheme: 'dynamic', ignoredLayers: ignored as string[] };
}

/** Parses a config.json object (either form) into a checked MimoConfig. `source` names it in errors. */
export function parseConfig(raw: unknown, source = 'config.json'): MimoConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(source, '(root)', 'must be a JSON object');
  const k = new Keys(raw as Json, source);
  const mt = k.raw.model_type;
  if (mt !== undefined && mt !== 'mimo_v2_flash') k.fail('model_type', `is ${JSON.stringify(mt)}, expected "mimo_v2_flash"`);
  const published = k.has('hybrid_layer_pattern');
  if (published && k.has('layer_types')) k.fail('layer_types', 'and hybrid_layer_pattern are both present; a config has one form or the other');
  const n = k.int('num_hidden_layers');
  const attnKinds = published
    ? k.list('hybrid_layer_pattern', n, { 0: 'global' as AttentionKind, 1: 'swa' as AttentionKind })
    : k.has('layer_types') ? k.list('layer_types', n, { full_attention: 'global' as AttentionKind, sliding_attention: 'swa' as AttentionKind })
      : defaultAttentionPattern(n);
  const ffnKinds = k.has('moe_layer_freq')
    ? k.list('moe_layer_freq', n, { 0: 'dense' as FfnKind, 1: 'moe' as FfnKind })
    : k.has('mlp_layer_types') ? k.list('mlp_layer_types', n, { dense: 'dense' as FfnKind, sparse: 'moe' as FfnKind })
      : Array.from({ length: n }, (_, i): FfnKind => (i === 0 ? 'dense' : 'moe'));
  const attention = attentionSpecs(k, published);
  for (const [kind, a] of Object.entries(attention)) {
    const headsKey = published && kind === 'swa' ? 'swa_num_attention_heads' : 'num_attention_heads';
    const kvKey = published && kind === 'swa' ? 'swa_num_key_value_heads' : 'num_key_value_heads';
    if (a.heads % a.kvHeads !== 0) k.fail(kvKey, `= ${a.kvHeads} does not divide ${headsKey} = ${a.heads} (${kind} layers)`);
    if (a.headDim !== KERNEL_LIMITS.headDim) k.fail(published && kind === 'swa' ? 'swa_head_dim' : 'head_dim', `is ${a.headDim}; the attention kernels are built for ${KERNEL_LIMITS.headDim}`);
    if (a.vHeadDim !== KERNEL_LIMITS.vHeadDim) k.fail(published && kind === 'swa' ? 'swa_v_head_dim' : 'v_head_dim', `is ${a.vHeadDim}; the attention kernels are built for ${KERNEL_LIMITS.vHeadDim}`);
    if (a.rotaryDim % 2 !== 0 || a.rotaryDim < 2) k.fail('partial_rotary_factor', `gives an odd or empty rotary dim ${a.rotaryDim} for ${kind} layers`);
    if (a.sink && kind === 'global') k.fail('add_full_attention_sink_bias', 'is true; the global attention kernels have no sink');
    if (!a.sink && kind === 'swa') k.fail('add_swa_attention_sink_bias', 'is false; the sliding-window kernels always apply a sink');
  }
  if (attention.swa.window !== KERNEL_LIMITS.window) k.fail('sliding_window', `is ${attention.swa.window}; the sliding-window kernels are built for ${KERNEL_LIMITS.window}`);
  if (k.has('sliding_window_size') && k.raw.sliding_window_size !== attention.swa.window) k.fail('sliding_window_size', `= ${JSON.stringify(k.raw.sliding_window_size)} disagrees with sliding_window = ${attention.swa.window}`);
  const experts = k.int('n_routed_experts', 256);
  const expertsPerToken = k.int('num_experts_per_tok', 8);
  if (expertsPerToken > experts) k.fail('num_experts_per_tok', `= ${expertsPerToken} exceeds n_routed_experts = ${experts}`);
  k.oneOf('scoring_func', ['sigmoid'], 'sigmoid');
  k.oneOf('topk_method', ['noaux_tc'], 'noaux_tc');
  if (k.int('n_group', 1) !== 1) k.fail('n_group', `is ${k.raw.n_group}; grouped routing is not supported (the model uses 1)`);
  if (k.int('topk_group', 1) !== 1) k.fail('topk_group', `is ${k.raw.topk_group}; grouped routing is not supported (the model uses 1)`);
  if (k.has('n_shared_experts') && k.raw.n_shared_experts !== 0) k.fail('n_shared_experts', `is ${JSON.stringify(k.raw.n_shared_experts)}; the model has no shared expert`);
  k.oneOf('hidden_act', ['silu'], 'silu');
  if (k.bool('attention_bias', false)) k.fail('attention_bias', 'is true; the model has no attention biases');
  const eos = k.raw.eos_token_id;
  const eosTokenIds = eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos : [eos];
  if (eosTokenIds.some((e) => !Number.isInteger(e) || (e as number) < 0)) k.fail('eos_token_id', `must be a token id or a list of them, got ${JSON.stringify(eos)}`);
  const cfg: MimoConfig = {
    vocabSize: k.int('vocab_size'),
    hiddenSize: k.int('hidden_size'),
    layers: attnKinds.map((attention, i) => ({ attention, ffn: ffnKinds[i] })),
    attention,
    rmsEps: k.num(published ? 'layernorm_epsilon' : 'rms_norm_eps', k.has('rms_norm_eps') ? (k.raw.rms_norm_eps as number) : 1e-5),
    valueScale: k.num('attention_value_scale', 1.0),
    intermediateSize: k.int('intermediate_size'),
    moeIntermediateSize: k.int('moe_intermediate_size'),
    experts,
    expertsPerToken,
    normTopkProb: k.bool('norm_topk_prob', true),
    routedScalingFactor: k.num('routed_scaling_factor', 1.0),
    mtpLayers: k.int('num_nextn_predict_layers', 3, 0),
    maxPositions: k.int('max_position_embeddings', 262144),
    tieWordEmbeddings: k.bool('tie_word_embeddings', false),
    quant: quantConfig(k),
    eosTokenIds: eosTokenIds as number[],
  };
  if (cfg.rmsEps !== KERNEL_LIMITS.rmsEps) k.fail(published ? 'layernorm_epsilon' : 'rms_norm_eps', `is ${cfg.rmsEps}; the norm kernels are built for ${KERNEL_LIMITS.rmsEps}`);
  if (cfg.valueScale !== KERNEL_LIMITS.valueScale) k.fail('attention_value_scale', `is ${cfg.valueScale}; the KV-write kernels are built for ${KERNEL_LIMITS.valueScale}`);
  if (!cfg.normTopkProb) k.fail('norm_topk_prob', 'is false; the router kernel always renormalises the top-k weights');
  if (cfg.routedScalingFactor !== 1) k.fail('routed_scaling_factor', `is ${cfg.routedScalingFactor}; only 1 (or null) is supported`);
  return cfg;
}

/** Layer indices of one attention kind, in order (their KV caches are numbered this way). */
export const layersOf = (cfg: MimoConfig, kind: AttentionKind): number[] =>
  cfg.layers.flatMap((l, i) => (l.attention === kind ? [i] : []));
