import fs from 'node:fs';
import { ConfigError, parseConfig, type MimoConfig } from '../config.js';
import { PRESETS, presetConfig } from '../presets.js';
import { CLAIMED_KV_RATIO, COMPONENTS, GPU_NAMES, GPUS, PlanError, RING_SLACK, plan, type Component, type Dtype, type GpuName, type Plan } from '../plan.js';
import { choiceFlag, CliError, intFlag, parseCliArgs, runCli, UsageError } from '../../compiler/cli/args.js';
import { presetOr } from './usage.js';

const DEFAULT_CONTEXT = 262144;

const HELP = `mimo-plan — memory, KV-cache and decode-roofline plan for a MiMo-V2-Flash config

Usage: mimo-plan (--preset ${PRESETS.join('|')} | --config FILE) [options]

  --preset NAME        a named configuration (model/presets.ts)
  --config FILE        a config.json, Xiaomi's published form or transformers' form
  --context N          tokens of context per sequence (default ${DEFAULT_CONTEXT}, or the
                       model's max_position_embeddings if that is smaller)
  --batch B            sequences decoded together (default 1)
  --dtype bf16|fp8     weight format (default fp8 if the config has quantization_config, else bf16);
                       fp8 = the published block-FP8 checkpoint: each Linear 1 byte/weight plus an
                       F32 scale per 128x128 block, except ignored_layers (every o_proj);
                       embeddings, lm_head and norms BF16, router gate F32
  --kv-dtype bf16|fp8  KV-cache element format (default bf16; fp8 scales not counted)
  --gpus G             GPUs sharing weights, KV and work evenly (default 1)
  --gpu ${GPU_NAMES.join('|')}     roofline peaks (default h200)
  --mtp / --no-mtp     count the MTP layers' weights and KV rings (default on)
  --json               print the numbers as one JSON object instead of the table
  -h, --help           show this help

Assumptions: total/active parameters are the main model's (as the model card counts them),
MTP layers listed apart; SWA and MTP layers keep a ring of window + ${RING_SLACK} KV slots per
sequence; the decode roofline is plain decode (one token per sequence per step, MTP not
run), max(bytes / bandwidth, FLOPs / peak) with perfect parallelism over G GPUs.

JSON keys (bytes, FLOPs, seconds; counts are elements):
  source, options{context,batch,dtype,kvDtype,gpus,gpu,mtp}
  params{total,totalCounted,mtpPerLayer,activePerToken,activeCompute,
         components{embeddings,lmHead,attention,denseFfn,moeExperts,router,norms,mtp}}
  weightBytes{total,perGpu,components{...as params}}
  kv{bytesPerElement,ringSlots,globalBytesPerToken,swaBytesPerToken,swaBytesPerSequence,
     mtpBytesPerSequence,bytesPerSequence,totalBytes}
  kvRatio{sameKvHeads,ownKvHeads,sameKvHeadsLimit,ownKvHeadsLimit,
          sameKvHeadsCrossover,ownKvHeadsCrossover}   (crossover: context reaching ${CLAIMED_KV_RATIO}x, or null)
  decode{flopsPerToken,matmulFlopsPerToken,attentionFlopsPerToken,expectedExpertsPerLayer,
         weightBytesPerStep,kvBytesPerSequence,bytesPerStep,memorySeconds,computeSeconds,
         stepSeconds,tokensPerSecond,tokensPerSecondPerSequence,bound}
  memoryPerGpu{bytes,capacity,fits}`;

function loadConfig(preset: string | undefined, file: string | undefined): { cfg: MimoConfig; source: string } {
  presetOr(preset, { flag: 'config', metavar: 'FILE', value: file });
  if (preset !== undefined) {
    return { cfg: presetConfig(preset), source: `preset ${preset}` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file as string, 'utf8'));
  } catch (e) {
    throw new CliError(`--config ${file}: ${(e as Error).message}`);
  }
  return { cfg: parseConfig(raw, file), source: `config ${file}` };
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const fix = (n: number, d = 2) => n.toFixed(d);
/** n in the largest of the units (value, suffix; ascending) that it reaches, so the tiny preset stays readable too. */
const scaled = (n: number, units: readonly (readonly [number, string])[], digits: number) => {
  const [v, u] = [...units].reverse().find(([x]) => Math.abs(n) >= x) ?? units[0];
  return `${fix(n / v, digits)} ${u}`;
};
const gb = (b: number) => scaled(b, [[1, 'B'], [1e3, 'kB'], [1e6, 'MB'], [1e9, 'GB'], [1e12, 'TB']], 2);
const billions = (n: number) => scaled(n, [[1, ''], [1e3, 'K'], [1e6, 'M'], [1e9, 'B']], 3).trimEnd();
const flop = (n: number) => scaled(n, [[1, 'FLOP'], [1e6, 'MFLOP'], [1e9, 'GFLOP'], [1e12, 'TFLOP']], 2);
const sec = (s: number) => scaled(s, [[1e-9, 'ns'], [1e-6, 'us'], [1e-3, 'ms'], [1, 's']], 3);
const DTYPE_LABEL: Record<Dtype, string> = { bf16: 'BF16', fp8: 'FP8 e4m3' };

const COMPONENT_LABEL: Record<Component, string> = {
  embeddings: 'embeddings', lmHead: 'lm_head', attention: 'attention (q,k,v,o, sinks)', denseFfn: 'dense FFN',
  moeExperts: 'MoE experts', router: 'router (gate + bias)', norms: 'norms', mtp: 'MTP layers',
};

function crossoverText(at: number | null, limit: number): string {
  return at === null ? `never reaches ${CLAIMED_KV_RATIO}x (limit ${fix(limit)}x)` : `reaches ${CLAIMED_KV_RATIO}x at context >= ${int(at)} (limit ${fix(limit)}x)`;
}

function table(p: Plan, cfg: MimoConfig, source: string): string {
  const o = p.options;
  const gpu = GPUS[o.gpu];
  const nGlobal = cfg.layers.filter((l) => l.attention === 'global').length;
  const nSwa = cfg.layers.length - nGlobal;
  const mtpLayers = o.mtp ? cfg.mtpLayers : 0;
  const cells = (label: string, count: string, b: string, bytes: string) => `  ${label.padEnd(34)}${count.padStart(17)}${b.padStart(12)}${bytes.padStart(14)}`.trimEnd();
  const row = (label: string, count: number, bytes?: number) => cells(label, int(count), billions(count), bytes === undefined ? '' : gb(bytes));
  const components = COMPONENTS.filter((c) => c !== 'mtp');
  const r = p.kvRatio;
  const d = p.decode;
  const lines = [
    `mimo-plan: ${source}; weights ${DTYPE_LABEL[o.dtype]}, KV ${DTYPE_LABEL[o.kvDtype]}; context ${int(o.context)}, batch ${o.batch}, ${o.gpus} x ${gpu.label}; MTP layers ${o.mtp ? `counted (${mtpLayers})` : 'not counted'}`,
    '',
    cells('Parameters', 'count', '', 'weight bytes'),
    ...components.map((c) => row(COMPONENT_LABEL[c], p.params.components[c], p.weightBytes.components[c])),
    row('main model total', p.params.total, p.weightBytes.total - p.weightBytes.components.mtp),
    ...(mtpLayers ? [row(`MTP layers (${mtpLayers} x ${billions(p.params.mtpPerLayer)})`, p.params.components.mtp, p.weightBytes.components.mtp), row('total counted', p.params.totalCounted, p.weightBytes.total)] : []),
    row('active per token (model card)', p.params.activePerToken),
    `    (top-${cfg.expertsPerToken} of ${cfg.experts} experts; the embedding table counted whole, as the card does)`,
    row('active in the matmuls', p.params.activeCompute),
    '    (embedding excluded: a row read, not a product; FLOPs use this)',
    `  weights: ${gb(p.weightBytes.total)} total, ${gb(p.weightBytes.perGpu)} per GPU (even split: weights / ${o.gpus})`,
    '',
    `KV cache (${DTYPE_LABEL[o.kvDtype]}, K ${cfg.attention.global.headDim} + V ${cfg.attention.global.vHeadDim} per KV head)`,
    `  global layers (${nGlobal} x ${cfg.attention.global.kvHeads} KV heads): ${int(p.kv.globalBytesPerToken)} B per token of context (every position kept)`,
    `  SWA layers (${nSwa} x ${cfg.attention.swa.kvHeads} KV heads): ${p.kv.swaBytesPerToken} B per token beyond the window; ${int(p.kv.swaBytesPerSequence)} B fixed per sequence`,
    `    (ring of ${p.kv.ringSlots} slots = window ${cfg.attention.swa.window} + ${RING_SLACK} for MTP's tokens in flight)`,
    `  MTP layers (${mtpLayers}, SWA rings): 0 B per token; ${int(p.kv.mtpBytesPerSequence)} B fixed per sequence`,
    `  per sequence at context ${int(o.context)}: ${gb(p.kv.bytesPerSequence)}; x batch ${o.batch}: ${gb(p.kv.totalBytes)}`,
    '',
    `KV vs the same model with global attention in all ${cfg.layers.length} layers (main layers only, MTP excluded)`,
    `  every layer with the global layers' ${cfg.attention.global.kvHeads} KV heads: ${fix(r.sameKvHeads)}x at this context; ${crossoverText(r.sameKvHeadsCrossover, r.sameKvHeadsLimit)}`,
    `  every layer with its own KV heads (SWA ${cfg.attention.swa.kvHeads}): ${fix(r.ownKvHeads)}x at this context; ${crossoverText(r.ownKvHeadsCrossover, r.ownKvHeadsLimit)}`,
    `  model card's "nearly ${CLAIMED_KV_RATIO}x": ${cardVerdict(p)}`,
    '',
    `Decode step (roofline: plain decode, 1 token per sequence per step, MTP not run; ${o.gpus} GPU(s), perfect parallelism)`,
    `  FLOPs per token: ${flop(d.flopsPerToken)} = matmuls 2 x active ${flop(d.matmulFlopsPerToken)} + attention ${flop(d.attentionFlopsPerToken)} at this context`,
    `  distinct experts per MoE layer (uniform routing): ${fix(d.expectedExpertsPerLayer)} of ${cfg.experts}`,
    `  bytes per step: weights ${gb(d.weightBytesPerStep)} (shared by the batch) + KV ${gb(d.kvBytesPerSequence)} x ${o.batch} = ${gb(d.bytesPerStep)}`,
    `  memory ${sec(d.memorySeconds)} (${fix(gpu.bandwidth / 1e12)} TB/s each) vs compute ${sec(d.computeSeconds)} (${fix((o.dtype === 'fp8' ? gpu.peakFp8 : gpu.peakBf16) / 1e12, 0)} TFLOP/s ${DTYPE_LABEL[o.dtype]} each)`,
    `  step ${sec(d.stepSeconds)}: ${fix(d.tokensPerSecond, 1)} tokens/s (${fix(d.tokensPerSecondPerSequence, 1)} per sequence), ${d.bound}-bound`,
    `  memory per GPU: ${gb(p.memoryPerGpu.bytes)} (weights + KV over ${o.gpus}) of ${gb(p.memoryPerGpu.capacity)} nominal: ${p.memoryPerGpu.fits ? 'fits' : 'does NOT fit'}`,
  ];
  return lines.join('\n');
}

/** What the two readings of "the same model with global attention" say about the card's claim. */
function cardVerdict(p: Plan): string {
  const r = p.kvRatio;
  const reach = (at: number | null) => (at === null ? 'never reaches it' : `reaches it from context ${int(at)}`);
  const fits = Math.abs(r.sameKvHeadsLimit - CLAIMED_KV_RATIO) <= 1 ? `; "nearly" fits the equal-heads reading at long context (${fix(r.sameKvHeads)}x here)` : '';
  return `with equal KV heads the saving tends to ${fix(r.sameKvHeadsLimit)}x and ${reach(r.sameKvHeadsCrossover)}; with each layer's own KV heads it ${reach(r.ownKvHeadsCrossover)} and tends to ${fix(r.ownKvHeadsLimit)}x${fits}`;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseCliArgs({
    args: argv,
    allowNegative: true,
    options: {
      preset: { type: 'string' }, config: { type: 'string' }, context: { type: 'string' }, batch: { type: 'string' },
      dtype: { type: 'string' }, 'kv-dtype': { type: 'string' }, gpus: { type: 'string' }, gpu: { type: 'string' },
      mtp: { type: 'boolean', default: true }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const options = {
    context: intFlag('context', values.context, DEFAULT_CONTEXT, 1),
    batch: intFlag('batch', values.batch, 1, 1),
    gpus: intFlag('gpus', values.gpus, 1, 1),
    kvDtype: choiceFlag<Dtype>('kv-dtype', values['kv-dtype'], ['bf16', 'fp8'], 'bf16'),
    gpu: choiceFlag<GpuName>('gpu', values.gpu, GPU_NAMES, 'h200'),
    mtp: values.mtp,
  };
  const { cfg, source } = loadConfig(values.preset, values.config);
  const dtype = choiceFlag<Dtype>('dtype', values.dtype, ['bf16', 'fp8'], cfg.quant ? 'fp8' : 'bf16');
  // The default context follows a smaller model's limit; an explicit one beyond it is an error.
  const context = values.context === undefined ? Math.min(DEFAULT_CONTEXT, cfg.maxPositions) : options.context;
  let result: Plan;
  try {
    result = plan(cfg, { ...options, dtype, context });
  } catch (e) {
    if (e instanceof PlanError) throw new UsageError(`--${e.option === 'kvDtype' ? 'kv-dtype' : e.option} ${e.detail}`);
    throw e;
  }
  console.log(values.json ? JSON.stringify({ source, ...result }, null, 2) : table(result, cfg, source));
  return 0;
}

await runCli('mimo-plan', main, [ConfigError, PlanError]);
