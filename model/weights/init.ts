/**
 * A random MiMo-V2-Flash checkpoint, what `mimo-init` writes: config.json, the weights
 * (one model.safetensors, or ~2 GB shards plus model.safetensors.index.json), a byte-level
 * tokenizer and generation_config.json. Weights are seeded per tensor (random.ts) and
 * scaled so activations stay O(1) through the network and the logits spread over a few
 * units; the FP8 variant block-quantises the very BF16 weights of the same seed.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BF16, unpackArray } from '../../compiler/ir/numerics.js';
import { parseConfig, type MimoConfig } from '../config.js';
import { fp8QuantizationConfig } from '../presets.js';
import { byteLevelTokenizerFiles, SPECIAL_TOKENS } from '../tokenizer.js';
import { INDEX_FILE, SINGLE_FILE } from './checkpoint.js';
import { encodeAll, tableEncoder } from './fast-encode.js';
import { quantiseBlocksE4m3 } from './fp8.js';
import { expectedTensors, type ExpectedTensor } from './names.js';
import { tensorRng } from './random.js';
import { DTYPE_SIZE, elementCount } from './safetensors.js';
import { writeSafetensors, type TensorToWrite } from './safetensors-write.js';

export const MAX_SHARD_BYTES = 2_000_000_000;

export interface InitOptions {
  readonly fp8: boolean;
  readonly mtp: boolean;
  readonly seed: number;
  readonly maxShardBytes?: number;
}

export interface ShardPlan {
  readonly file: string;
  readonly tensors: readonly ExpectedTensor[];
  readonly bytes: number;
}

const bytesOf = (e: ExpectedTensor) => elementCount(e.shape) * DTYPE_SIZE[e.dtype];
const moduleOf = (name: string) => name.replace(/\.weight(_scale_inv)?$/, '');

/**
 * Tensors grouped into files in model order, each file at most maxShardBytes (a weight and
 * its scales stay together); one model.safetensors when everything fits.
 */
export function planShards(tensors: readonly ExpectedTensor[], maxShardBytes = MAX_SHARD_BYTES): ShardPlan[] {
  const groups: ExpectedTensor[][] = [];
  for (const t of tensors) {
    const last = groups[groups.length - 1];
    if (last && t.kind === 'block_scale' && moduleOf(last[0].name) === moduleOf(t.name)) last.push(t);
    else groups.push([t]);
  }
  const shards: { tensors: ExpectedTensor[]; bytes: number }[] = [];
  for (const g of groups) {
    const bytes = g.reduce((s, t) => s + bytesOf(t), 0);
    if (bytes > maxShardBytes) throw new Error(`planShards: '${g[0].name}' alone is ${bytes} bytes, over the ${maxShardBytes}-byte shard limit`);
    const cur = shards[shards.length - 1];
    if (cur && cur.bytes + bytes <= maxShardBytes) {
      cur.tensors.push(...g);
      cur.bytes += bytes;
    } else shards.push({ tensors: [...g], bytes });
  }
  if (shards.length === 1) return [{ file: SINGLE_FILE, ...shards[0] }];
  const n = String(shards.length).padStart(5, '0');
  return shards.map((s, i) => ({ file: `model-${String(i + 1).padStart(5, '0')}-of-${n}.safetensors`, ...s }));
}

/** The f32 "master" values of a non-scale tensor: its initial distribution by kind. */
function masterValues(e: ExpectedTensor, cfg: MimoConfig, seed: number): Float32Array {
  const rng = tensorRng(seed, e.name);
  const n = elementCount(e.shape);
  const fanIn = e.shape[e.shape.length - 1];
  const H = cfg.hiddenSize;
  const draw: () => number = {
    embedding: () => rng.normal(),
    // Normed hidden states are O(1) per element, so a std of 2/sqrt(H) gives logits of std ~2.
    lm_head: () => (2 / Math.sqrt(H)) * rng.normal(),
    norm: () => 1 + 0.1 * rng.normal(),
    // 0.5/sqrt(fan-in) keeps each projection's output below its input's scale, so residual sums stay O(1).
    linear: () => (0.5 / Math.sqrt(fanIn)) * rng.normal(),
    sink: () => 2 * rng.uniform() - 1,
    router: () => rng.normal() / Math.sqrt(H),
    router_bias: () => 0.02 * (2 * rng.uniform() - 1),
    block_scale: () => {
      throw new Error(`masterValues: '${e.name}' is derived from its weight, not drawn`);
    },
  }[e.kind];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = draw();
  return out;
}

const bytesView = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const bf16 = tableEncoder(BF16);
const toBf16 = (values: Float32Array) => encodeAll(bf16, 2, values);

/**
 * Every tensor's bytes, produced on demand. The BF16-rounded master values are what the
 * FP8 path quantises; a weight and its scales are computed once (the writer asks for
 * them one after the other: `.weight` and `.weight_scale_inv` sort adjacently).
 */
function tensorSources(cfg: MimoConfig, tensors: readonly ExpectedTensor[], seed: number): Map<string, TensorToWrite> {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  let memo: { module: string; q: Uint8Array; scales: Float32Array } | null = null;
  const quantised = (module: string) => {
    if (memo?.module !== module) {
      const w = byName.get(`${module}.weight`)!;
      const bf16 = unpackArray('bf16', toBf16(masterValues(w, cfg, seed)));
      memo = { module, ...quantiseBlocksE4m3(bf16, w.shape[0], w.shape[1]) };
    }
    return memo;
  };
  const data = (e: ExpectedTensor): (() => Uint8Array) => {
    if (e.kind === 'block_scale') return () => bytesView(quantised(moduleOf(e.name)).scales);
    if (e.dtype === 'F8_E4M3') return () => quantised(moduleOf(e.name)).q;
    if (e.dtype === 'F32') return () => bytesView(masterValues(e, cfg, seed));
    if (e.dtype === 'BF16') return () => bytesView(toBf16(masterValues(e, cfg, seed)));
    throw new Error(`mimo-init: no generator for '${e.name}' of ${e.dtype}`);
  };
  return new Map(tensors.map((e) => [e.name, { dtype: e.dtype, shape: e.shape, data: data(e) }]));
}

/**
 * config.json as written: the input config (either form; checked, errors name `source`)
 * with the published FP8 quantization_config for FP8 and none for BF16.
 */
export function checkpointConfigJson(raw: unknown, source: string, fp8: boolean): Record<string, unknown> {
  const cfg = parseConfig(raw, source);
  const { quantization_config: _dropped, ...rest } = raw as Record<string, unknown>;
  return fp8 ? { ...rest, quantization_config: fp8QuantizationConfig(cfg.layers.length, cfg.mtpLayers) } : rest;
}

export interface InitResult {
  readonly config: MimoConfig;
  readonly shards: readonly ShardPlan[];
  readonly tensorCount: number;
  readonly bytes: number;
}

/** Writes the whole checkpoint into `dir` (created if needed). `configJson` is config.json's final content. */
export async function writeRandomCheckpoint(dir: string, configJson: Record<string, unknown>, source: string, opts: InitOptions): Promise<InitResult> {
  const cfg = parseConfig(configJson, source);
  if (opts.fp8 !== (cfg.quant !== null)) throw new Error(`mimo-init: ${source}: fp8=${opts.fp8} but the config ${cfg.quant ? 'has' : 'lacks'} quantization_config`);
  const tensors = expectedTensors(cfg, { fp8: opts.fp8, mtp: opts.mtp });
  const shards = planShards(tensors, opts.maxShardBytes);
  const { tokenizer, tokenizerConfig } = byteLevelTokenizerFiles(cfg.vocabSize);
  const eos = [...new Set([...cfg.eosTokenIds, SPECIAL_TOKENS['<|endoftext|>'], SPECIAL_TOKENS['<|im_end|>']])];
  await fsp.mkdir(dir, { recursive: true });
  const json = (name: string, v: unknown) => fsp.writeFile(path.join(dir, name), JSON.stringify(v, null, 2) + '\n');
  await json('config.json', configJson);
  await json('generation_config.json', { _from_model_config: true, eos_token_id: eos, pad_token_id: SPECIAL_TOKENS['<|endoftext|>'], do_sample: false });
  await fsp.writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  await json('tokenizer_config.json', tokenizerConfig);
  const sources = tensorSources(cfg, tensors, opts.seed);
  const metadata = { format: 'pt', generator: `mimo-init seed=${opts.seed}` };
  for (const s of shards) {
    await writeSafetensors(path.join(dir, s.file), Object.fromEntries(s.tensors.map((t) => [t.name, sources.get(t.name)!])), metadata);
  }
  const bytes = shards.reduce((a, s) => a + s.bytes, 0);
  if (shards.length > 1) {
    await json(INDEX_FILE, { metadata: { total_size: bytes }, weight_map: Object.fromEntries(shards.flatMap((s) => s.tensors.map((t) => [t.name, s.file]))) });
  } else await fsp.rm(path.join(dir, INDEX_FILE), { force: true });
  return { config: cfg, shards, tensorCount: tensors.length, bytes };
}
