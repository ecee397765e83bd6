/**
 * mimo-init: writes a random-weight MiMo-V2-Flash checkpoint (config.json, safetensors,
 * byte-level tokenizer, generation_config.json) that the loader accepts, so the whole
 * stack runs without downloading the real 300 GB model.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../config.js';
import { PRESET_JSON, PRESETS } from '../presets.js';
import { CheckpointError } from '../weights/checkpoint.js';
import { SafetensorsError } from '../weights/safetensors.js';
import { checkpointConfigJson, writeRandomCheckpoint } from '../weights/init.js';
import { choiceFlag, CliError, existingPath, intFlag, parseCliArgs, runCli, UsageError } from '../../compiler/cli/args.js';
import { presetOr } from './usage.js';

const HELP = `mimo-init — write a MiMo-V2-Flash checkpoint with seeded random weights

Usage: mimo-init (--preset ${PRESETS.join('|')} | --config FILE) --out DIR [options]

  --preset NAME      a named configuration (model/presets.ts)
  --config FILE      a config.json (Xiaomi's published keys or transformers' form)
  --out DIR          checkpoint directory to write (created if needed; files in it are replaced)
  --dtype bf16|fp8   weight format (default bf16); fp8 = e4m3 in 128x128 blocks with
                     weight_scale_inv, o_proj kept BF16, as the published checkpoint
  --seed N           random seed (default 0); the same seed gives the same bytes
  --no-mtp           leave out the model.mtp.* layers (as transformers' save_pretrained does)
  -h, --help         show this help

Writes config.json, model.safetensors (or ~2 GB shards + model.safetensors.index.json),
tokenizer.json + tokenizer_config.json (bytes 0..255, <|im_start|>=256, <|endoftext|>=257,
<|im_end|>=258) and generation_config.json.`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseCliArgs({
    args: argv,
    options: {
      preset: { type: 'string' },
      config: { type: 'string' },
      out: { type: 'string' },
      dtype: { type: 'string', default: 'bf16' },
      seed: { type: 'string' },
      'no-mtp': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  presetOr(values.preset, { flag: 'config', metavar: 'FILE', value: values.config });
  if (values.out === undefined) throw new UsageError('--out DIR is required');
  const dtype = choiceFlag('dtype', values.dtype, ['bf16', 'fp8'], 'bf16');
  const seed = intFlag('seed', values.seed, 0, 0, 0xffffffff);

  let raw: unknown;
  let source: string;
  if (values.config !== undefined) {
    source = path.resolve(existingPath('config', values.config));
    try {
      raw = JSON.parse(readFileSync(source, 'utf8'));
    } catch (e) {
      throw new CliError(`${source}: not valid JSON: ${(e as Error).message}`);
    }
  } else {
    source = `preset ${values.preset}`;
    raw = PRESET_JSON[values.preset!];
  }
  const fp8 = dtype === 'fp8';
  const mtp = !values['no-mtp'];
  const res = await writeRandomCheckpoint(values.out, checkpointConfigJson(raw, source, fp8), source, { fp8, mtp, seed });
  const layers = `${res.config.layers.length} layers${mtp && res.config.mtpLayers ? ` + ${res.config.mtpLayers} MTP` : ''}`;
  const files = res.shards.length === 1 ? res.shards[0].file : `${res.shards.length} shards`;
  console.log(`mimo-init: wrote ${values.out} (${source}, ${dtype}, ${layers}, seed ${seed}): ${res.tensorCount} tensors, ${(res.bytes / 1e6).toFixed(1)} MB in ${files}`);
  return 0;
}

await runCli('mimo-init', main, [ConfigError, CheckpointError, SafetensorsError]);
