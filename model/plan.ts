/**
 * Serving arithmetic for a MimoConfig: parameter counts, weight bytes in BF16 or the
 * published block-FP8 format, KV-cache sizes of the hybrid SWA/global layout, and a
 * roofline estimate of one decode step. Pure functions; `mimo-plan` prints the result.
 *
 * Conventions (each one a choice the numbers depend on, so the CLI prints them too):
 *  - "total" and "active" are the main model's 48 layers + embeddings + lm_head, as the
 *    model card counts them (309B / 15B); the MTP layers are a separate line.
 *  - The decode roofline is plain autoregressive decode (one new token per sequence per
 *    step, MTP layers not run): speculative decoding needs an acceptance rate we do not know.
 *  - The router gate and its correction bias are F32 (the checkpoint's MoEGate dtype);
 *    norms and sinks BF16.
 */
import { layersOf, type AttentionSpec, type MimoConfig } from './config.js';
import { fp8QuantizationConfig } from './presets.js';

export type Dtype = 'bf16' | 'fp8';
export const GPU_NAMES = ['h200', 'h100', 'b200'] as const;
export type GpuName = (typeof GPU_NAMES)[number];

export interface GpuSpec {
  readonly label: string;
  /** HBM bandwidth, bytes/s. */
  readonly bandwidth: number;
  /** Dense tensor-core peaks, FLOP/s. */
  readonly peakBf16: number;
  readonly peakFp8: number;
  /** Nominal HBM capacity, bytes. */
  readonly memory: number;
}

export const GPUS: Readonly<Record<GpuName, GpuSpec>> = {
  h200: { label: 'H200', bandwidth: 4.8e12, peakBf16: 989e12, peakFp8: 1979e12, memory: 141e9 },
  h100: { label: 'H100 SXM', bandwidth: 3.35e12, peakBf16: 989e12, peakFp8: 1979e12, memory: 80e9 },
  b200: { label: 'B200', bandwidth: 8e12, peakBf16: 2250e12, peakFp8: 4500e12, memory: 180e9 },
};

/** Ring slots beyond the window: MTP verify writes 4 tokens per step, so R >= window + 3 (ops/attention/kvcache.ts). */
export const RING_SLACK = 4;
/** The model card's claim that the hybrid layout cuts the KV cache "nearly 6x". */
export const CLAIMED_KV_RATIO = 6;
const FP8_BLOCK = 128;

export interface PlanOptions {
  readonly context: number;
  readonly batch: number;
  readonly dtype: Dtype;
  readonly kvDtype: Dtype;
  readonly gpus: number;
  readonly gpu: GpuName;
  /** Count the MTP layers' weights and KV rings. */
  readonly mtp: boolean;
}

/** A bad planning input; `option` is the PlanOptions key (the CLI's flag name). */
export class PlanError extends Error {
  constructor(readonly option: keyof PlanOptions, readonly detail: string) {
    super(`${option} ${detail}`);
    this.name = 'PlanError';
  }
}

export const COMPONENTS = ['embeddings', 'lmHead', 'attention', 'denseFfn', 'moeExperts', 'router', 'norms', 'mtp'] as const;
export type Component = (typeof COMPONENTS)[number];

interface TensorSpec {
  /** Module name (the tensor name without `.weight`): what ignored_layers lists; experts as `experts.*`. */
  readonly module: string;
  /** Identical tensors this spec stands for: a layer's experts are one spec, not E. */
  readonly copies: number;
  readonly rows: number;
  readonly cols: number;
  readonly component: Component;
  /** A Linear weight: FP8 in an FP8 checkpoint unless its module is ignored. */
  readonly linear: boolean;
  readonly f32?: boolean;
}

function attentionTensors(prefix: string, a: AttentionSpec, h: number, component: Component): TensorSpec[] {
  const lin = (name: string, rows: number, cols: number): TensorSpec => ({ module: `${prefix}.self_attn.${name}`, copies: 1, rows, cols, component, linear: true });
  const t = [
    lin('q_proj', a.heads * a.headDim, h), lin('k_proj', a.kvHeads * a.headDim, h),
    lin('v_proj', a.kvHeads * a.vHeadDim, h), lin('o_proj', h, a.heads * a.vHeadDim),
  ];
  if (a.sink) t.push({ module: `${prefix}.self_attn.attention_sink_bias`, copies: 1, rows: a.heads, cols: 1, component, linear: false });
  return t;
}

function swigluTensors(prefix: string, width: number, h: number, component: Component, copies = 1): TensorSpec[] {
  return [['gate_proj', width, h], ['up_proj', width, h], ['down_proj', h, width]].map(([name, rows, cols]) => (
    { module: `${prefix}.${name}`, copies, rows: rows as number, cols: cols as number, component, linear: true }));
}

/** Every tensor of the checkpoint (the layout of ../shared/mimo-v2-flash.md), MTP layers included when `mtpLayers` > 0. */
function checkpointTensors(cfg: MimoConfig, mtpLayers: number): TensorSpec[] {
  const h = cfg.hiddenSize;
  const norm = (module: string, component: Component = 'norms'): TensorSpec => ({ module, copies: 1, rows: h, cols: 1, component, linear: false });
  const t: TensorSpec[] = [{ module: 'model.embed_tokens', copies: 1, rows: cfg.vocabSize, cols: h, component: 'embeddings', linear: false }];
  cfg.layers.forEach((layer, n) => {
    const p = `model.layers.${n}`;
    t.push(norm(`${p}.input_layernorm`), norm(`${p}.post_attention_layernorm`));
    t.push(...attentionTensors(p, cfg.attention[layer.attention], h, 'attention'));
    if (layer.ffn === 'dense') {
      t.push(...swigluTensors(`${p}.mlp`, cfg.intermediateSize, h, 'denseFfn'));
      return;
    }
    t.push({ module: `${p}.mlp.gate`, copies: 1, rows: cfg.experts, cols: h, component: 'router', linear: false, f32: true });
    t.push({ module: `${p}.mlp.gate.e_score_correction_bias`, copies: 1, rows: cfg.experts, cols: 1, component: 'router', linear: false, f32: true });
    t.push(...swigluTensors(`${p}.mlp.experts.*`, cfg.moeIntermediateSize, h, 'moeExperts', cfg.experts));
  });
  t.push(norm('model.norm'));
  if (!cfg.tieWordEmbeddings) t.push({ module: 'lm_head', copies: 1, rows: cfg.vocabSize, cols: h, component: 'lmHead', linear: false });
  for (let k = 0; k < mtpLayers; k++) {
    const p = `model.mtp.layers.${k}`;
    t.push(norm(`${p}.enorm`, 'mtp'), norm(`${p}.hnorm`, 'mtp'), { module: `${p}.eh_proj`, copies: 1, rows: h, cols: 2 * h, component: 'mtp', linear: true });
    t.push(norm(`${p}.input_layernorm`, 'mtp'), ...attentionTensors(p, cfg.attention.swa, h, 'mtp'));
    t.push(norm(`${p}.pre_mlp_layernorm`, 'mtp'), ...swigluTensors(`${p}.mlp`, cfg.intermediateSize, h, 'mtp'), norm(`${p}.final_layernorm`, 'mtp'));
  }
  return t;
}

const ceilDiv = (a: number, b: number) => Math.ceil(a / b);

/** Stored bytes of a spec's copies: FP8 Linear = 1 byte/weight + an F32 scale per 128x128 block, ignored copies BF16. */
function tensorBytes(s: TensorSpec, fp8: boolean, ignored: ReadonlyMap<string, number>): number {
  const plain = s.rows * s.cols * (s.f32 ? 4 : 2);
  if (!s.linear || !fp8) return s.copies * plain;
  const kept = Math.min(s.copies, ignored.get(s.module) ?? 0);
  return kept * plain + (s.copies - kept) * (s.rows * s.cols + 4 * ceilDiv(s.rows, FP8_BLOCK) * ceilDiv(s.cols, FP8_BLOCK));
}

/**
 * Modules kept BF16 in an FP8 checkpoint (the config's list, or the published one, every
 * o_proj, when forcing FP8 on a BF16 config), counted per spec: experts fold into `experts.*`.
 */
function ignoredModules(cfg: MimoConfig, mtpLayers: number): Map<string, number> {
  const names = new Set(cfg.quant?.ignoredLayers ?? fp8QuantizationConfig(cfg.layers.length, mtpLayers).ignored_layers);
  const counts = new Map<string, number>();
  for (const n of names) {
    const key = n.replace(/\.experts\.\d+\./, '.experts.*.');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Expected distinct experts hit by `batch` tokens each choosing k of E uniformly: E(1 - (1 - k/E)^B). */
export const expectedDistinctExperts = (experts: number, topk: number, batch: number): number =>
  experts * (1 - (1 - topk / experts) ** batch);

export interface KvPlan {
  readonly bytesPerElement: number;
  readonly ringSlots: number;
  /** Global layers keep every position: bytes per token of context, per sequence. */
  readonly globalBytesPerToken: number;
  /** SWA and MTP layers keep a fixed ring: 0 per token beyond the window, these bytes per sequence. */
  readonly swaBytesPerToken: 0;
  readonly swaBytesPerSequence: number;
  readonly mtpBytesPerSequence: number;
  readonly bytesPerSequence: number;
  readonly totalBytes: number;
}

export interface KvRatio {
  /** All 48 main layers global with the global layers' KV heads, or with each layer keeping its own KV heads. */
  readonly sameKvHeads: number;
  readonly ownKvHeads: number;
  /** Limits as context grows (the ring becomes negligible). */
  readonly sameKvHeadsLimit: number;
  readonly ownKvHeadsLimit: number;
  /** Smallest context at which the ratio reaches CLAIMED_KV_RATIO; null if it never does. */
  readonly sameKvHeadsCrossover: number | null;
  readonly ownKvHeadsCrossover: number | null;
}

export interface DecodePlan {
  readonly flopsPerToken: number;
  readonly matmulFlopsPerToken: number;
  readonly attentionFlopsPerToken: number;
  readonly expectedExpertsPerLayer: number;
  readonly weightBytesPerStep: number;
  readonly kvBytesPerSequence: number;
  readonly bytesPerStep: number;
  readonly memorySeconds: number;
  readonly computeSeconds: number;
  readonly stepSeconds: number;
  readonly tokensPerSecond: number;
  readonly tokensPerSecondPerSequence: number;
  readonly bound: 'memory' | 'compute';
}

export interface Plan {
  readonly options: PlanOptions;
  readonly params: {
    readonly total: number;
    /** total + the MTP layers when they are counted (--mtp). */
    readonly totalCounted: number;
    readonly mtpPerLayer: number;
    /** The model card's "active": everything a token touches, the embedding table counted whole. */
    readonly activePerToken: number;
    /** What the matmuls use per token (embedding excluded: a row read, not a product). */
    readonly activeCompute: number;
    readonly components: Readonly<Record<Component, number>>;
  };
  readonly weightBytes: { readonly total: number; readonly perGpu: number; readonly components: Readonly<Record<Component, number>> };
  readonly kv: KvPlan;
  readonly kvRatio: KvRatio;
  readonly decode: DecodePlan;
  readonly memoryPerGpu: { readonly bytes: number; readonly capacity: number; readonly fits: boolean };
}

function checkOptions(cfg: MimoConfig, o: PlanOptions): void {
  for (const key of ['context', 'batch', 'gpus'] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1) throw new PlanError(key, `must be an integer >= 1, got ${o[key]}`);
  }
  if (o.context > cfg.maxPositions) throw new PlanError('context', `= ${o.context} exceeds the model's max_position_embeddings = ${cfg.maxPositions}`);
  if (!GPU_NAMES.includes(o.gpu)) throw new PlanError('gpu', `is '${o.gpu}'; expected one of ${GPU_NAMES.join(', ')}`);
  for (const key of ['dtype', 'kvDtype'] as const) if (o[key] !== 'bf16' && o[key] !== 'fp8') throw new PlanError(key, `is '${o[key]}'; expected bf16 or fp8`);
}

/** Per-slot KV bytes of one layer of an attention kind: K (headDim) and V (vHeadDim) per KV head. */
const slotBytes = (a: AttentionSpec, bytes: number) => a.kvHeads * (a.headDim + a.vHeadDim) * bytes;

/** Smallest integer n >= 1 with perTokenAll*n >= r*(perTokenHybrid*n + fixed); null when the limit stays below r. */
function crossover(perTokenAll: number, perTokenHybrid: number, fixed: number, r: number): number | null {
  const gain = perTokenAll - r * perTokenHybrid;
  return gain > 0 ? Math.max(1, Math.ceil((r * fixed) / gain)) : null;
}

function kvPlan(cfg: MimoConfig, o: PlanOptions): { kv: KvPlan; ratio: KvRatio } {
  const bytes = o.kvDtype === 'fp8' ? 1 : 2;
  const { global: ga, swa } = cfg.attention;
  const nGlobal = layersOf(cfg, 'global').length;
  const nSwa = layersOf(cfg, 'swa').length;
  const ringSlots = (swa.window as number) + RING_SLACK;
  const globalBytesPerToken = nGlobal * slotBytes(ga, bytes);
  const swaBytesPerSequence = nSwa * ringSlots * slotBytes(swa, bytes);
  const mtpBytesPerSequence = (o.mtp ? cfg.mtpLayers : 0) * ringSlots * slotBytes(swa, bytes);
  const bytesPerSequence = o.context * globalBytesPerToken + swaBytesPerSequence + mtpBytesPerSequence;
  // The ratio compares the 48 main layers only: MTP layers would be the same in both models.
  const same = cfg.layers.length * slotBytes(ga, bytes);
  const own = globalBytesPerToken + nSwa * slotBytes(swa, bytes);
  const hybrid = o.context * globalBytesPerToken + swaBytesPerSequence;
  return {
    kv: {
      bytesPerElement: bytes, ringSlots, globalBytesPerToken, swaBytesPerToken: 0, swaBytesPerSequence, mtpBytesPerSequence,
      bytesPerSequence, totalBytes: o.batch * bytesPerSequence,
    },
    ratio: {
      sameKvHeads: (o.context * same) / hybrid, ownKvHeads: (o.context * own) / hybrid,
      sameKvHeadsLimit: same / globalBytesPerToken, ownKvHeadsLimit: own / globalBytesPerToken,
      sameKvHeadsCrossover: crossover(same, globalBytesPerToken, swaBytesPerSequence, CLAIMED_KV_RATIO),
      ownKvHeadsCrossover: crossover(own, globalBytesPerToken, swaBytesPerSequence, CLAIMED_KV_RATIO),
    },
  };
}

const byComponent = (tensors: readonly TensorSpec[], f: (t: TensorSpec) => number): Record<Component, number> => {
  const r = Object.fromEntries(COMPONENTS.map((c) => [c, 0])) as Record<Component, number>;
  for (const t of tensors) r[t.component] += f(t);
  return r;
};
const sum = (r: Readonly<Record<Component, number>>, except: readonly Component[] = []) =>
  COMPONENTS.reduce((s, c) => s + (except.includes(c) ? 0 : r[c]), 0);

export function plan(cfg: MimoConfig, o: PlanOptions): Plan {
  checkOptions(cfg, o);
  const mtpLayers = o.mtp ? cfg.mtpLayers : 0;
  const tensors = checkpointTensors(cfg, mtpLayers);
  const ignored = ignoredModules(cfg, mtpLayers);
  const fp8 = o.dtype === 'fp8';
  const params = byComponent(tensors, (t) => t.copies * t.rows * t.cols);
  const bytes = byComponent(tensors, (t) => tensorBytes(t, fp8, ignored));
  const total = sum(params, ['mtp']);
  const activePerToken = total - params.moeExperts * (1 - cfg.expertsPerToken / cfg.experts);
  const activeCompute = activePerToken - params.embeddings;

  const { kv, ratio } = kvPlan(cfg, o);
  const { global: ga, swa } = cfg.attention;
  const attnFlops = (a: AttentionSpec, keys: number) => 2 * a.heads * (a.headDim + a.vHeadDim) * keys;
  const swaKeys = Math.min(o.context, swa.window as number);
  const attentionFlopsPerToken = cfg.layers.reduce((s, l) => s + (l.attention === 'global' ? attnFlops(ga, o.context) : attnFlops(swa, swaKeys)), 0);
  const matmulFlopsPerToken = 2 * activeCompute;
  const flopsPerToken = matmulFlopsPerToken + attentionFlopsPerToken;

  // One step reads every non-expert weight once for the whole batch, the experts the batch
  // touches, one embedding row per sequence, and each sequence's visible KV.
  const experts = expectedDistinctExperts(cfg.experts, cfg.expertsPerToken, o.batch);
  const expertShare = experts / cfg.experts;
  const embedRowBytes = cfg.hiddenSize * 2;
  const weightBytesPerStep = sum(bytes, ['mtp', 'embeddings', 'moeExperts']) + bytes.moeExperts * expertShare + o.batch * embedRowBytes;
  const kvBytesPerSequence = o.context * kv.globalBytesPerToken + layersOf(cfg, 'swa').length * swaKeys * slotBytes(swa, kv.bytesPerElement);
  const bytesPerStep = weightBytesPerStep + o.batch * kvBytesPerSequence;
  const gpu = GPUS[o.gpu];
  const memorySeconds = bytesPerStep / (o.gpus * gpu.bandwidth);
  const computeSeconds = (o.batch * flopsPerToken) / (o.gpus * (fp8 ? gpu.peakFp8 : gpu.peakBf16));
  const stepSeconds = Math.max(memorySeconds, computeSeconds);

  const weightTotal = sum(bytes);
  const memoryBytes = (weightTotal + kv.totalBytes) / o.gpus;
  return {
    options: o,
    params: { total, totalCounted: total + params.mtp, mtpPerLayer: mtpLayers ? params.mtp / mtpLayers : 0, activePerToken, activeCompute, components: params },
    weightBytes: { total: weightTotal, perGpu: weightTotal / o.gpus, components: bytes },
    kv,
    kvRatio: ratio,
    decode: {
      flopsPerToken, matmulFlopsPerToken, attentionFlopsPerToken, expectedExpertsPerLayer: experts, weightBytesPerStep, kvBytesPerSequence, bytesPerStep,
      memorySeconds, computeSeconds, stepSeconds, tokensPerSecond: o.batch / stepSeconds, tokensPerSecondPerSequence: 1 / stepSeconds,
      bound: memorySeconds >= computeSeconds ? 'memory' : 'compute',
    },
    memoryPerGpu: { bytes: memoryBytes, capacity: gpu.memory, fits: memoryBytes <= gpu.memory },
  };
}
