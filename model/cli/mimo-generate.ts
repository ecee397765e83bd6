/**
 * mimo-generate: text (or token ids) in, tokens out, on the WebGPU runtime — a hardware
 * GPU when there is one, SwiftShader otherwise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PRESET_JSON, PRESETS } from '../presets.js';
import { generate, type GenerateResult } from '../generate.js';
import { generateMtp, type MtpResult } from '../generate-mtp.js';
import { loadCheckpointModel } from '../load.js';
import { checkpointConfigJson, writeRandomCheckpoint } from '../weights/init.js';
import { ConfigError } from '../config.js';
import { CheckpointError } from '../weights/checkpoint.js';
import { SafetensorsError } from '../weights/safetensors.js';
import { TokenizerError } from '../tokenizer.js';
import { TokenError } from '../forward.js';
import { SamplingError } from '../sampling.js';
import { KvCacheError } from '../kvcache.js';
import { NoCudaDeviceError } from '../../backends/cuda/runtime.js';
import { CliError, choiceFlag, existingPath, intFlag, numFlag, parseCliArgs, runCli, UsageError } from '../../compiler/cli/args.js';
import { presetOr } from './usage.js';
import { BACKENDS } from '../../backends/common/kernel-runtime.js';

const HELP = `mimo-generate — generate with MiMo-V2-Flash on WebGPU (SwiftShader when there is no GPU) or CUDA

Usage: mimo-generate (--model DIR | --preset tiny) (--prompt TEXT | --tokens IDS) [options]

  --model DIR          a checkpoint directory (config.json, *.safetensors, tokenizer.json)
  --preset NAME        random weights for a preset (${PRESETS.join(', ')}), written to a temporary
                       checkpoint by mimo-init's code (seed --init-seed, default 0)
  --prompt TEXT        the prompt, through the checkpoint's tokenizer
  --tokens IDS         the prompt as comma-separated token ids (bypasses the tokenizer)
  --max-new N          tokens to generate (default 32); generation also stops at eos
  --temperature T      0 = greedy (default), else sample from softmax(logits / T)
  --top-k K            keep the K most likely tokens (default 0 = all)
  --top-p P            keep the smallest most-likely set of mass >= P (default 1 = all)
  --seed N             seed of the sampler's counter-based generator (default 0)
  --logprobs K         also report the top-K log-probabilities of every generated token
  --chunk N            most prompt tokens per prefill step (default 512)
  --mtp                speculative decoding with the checkpoint's 3 MTP layers: they draft 3
                       tokens, one target pass verifies them (lossless: greedy output equals
                       plain greedy; sampled output has the target's distribution)
  --mtp-oracle         test hook: MTP whose drafts are the target's own greedy continuation
                       (computed first, without MTP), so every draft is accepted
  --backend NAME       webgpu (default: the generated WGSL), cuda-emu (the generated CUDA on
                       the CPU emulator, built once into .cache/cuda-emu) or cuda (a CUDA GPU)
  --json               print one JSON object: {"tokens", "text", "prefill_tok_s",
                       "decode_tok_s", "logprobs"?, "accepted_length"?, "target_passes"?}
                       instead of streaming (accepted_length: mean tokens per target pass)
  -h, --help           show this help

Greedy ties go to the lower token id. Sampling runs on the device: only token ids (and the
asked-for log-probabilities) are read back.`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseCliArgs({
    args: argv,
    options: {
      model: { type: 'string' }, preset: { type: 'string' }, 'init-seed': { type: 'string' },
      prompt: { type: 'string' }, tokens: { type: 'string' },
      'max-new': { type: 'string' }, temperature: { type: 'string' }, 'top-k': { type: 'string' }, 'top-p': { type: 'string' },
      seed: { type: 'string' }, logprobs: { type: 'string' }, chunk: { type: 'string' },
      mtp: { type: 'boolean', default: false }, 'mtp-oracle': { type: 'boolean', default: false },
      backend: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  presetOr(values.preset, { flag: 'model', metavar: 'DIR', value: values.model });
  if ((values.prompt === undefined) === (values.tokens === undefined)) throw new UsageError('give exactly one of --prompt TEXT or --tokens IDS');
  let ids: number[] | undefined;
  if (values.tokens !== undefined) {
    ids = values.tokens.split(',').map((s) => {
      const v = Number(s.trim());
      if (s.trim() === '' || !Number.isInteger(v) || v < 0) throw new UsageError(`--tokens must be comma-separated token ids (got '${s}')`);
      return v;
    });
  }
  const maxNew = intFlag('max-new', values['max-new'], 32, 1);
  const temperature = numFlag('temperature', values.temperature, 0, (v) => v >= 0, 'a number >= 0');
  const topK = intFlag('top-k', values['top-k'], 0);
  const topP = numFlag('top-p', values['top-p'], 1, (v) => v > 0 && v <= 1, 'in (0, 1]');
  const seed = intFlag('seed', values.seed, 0, 0, 0xffffffff);
  const logprobs = intFlag('logprobs', values.logprobs, 0, 0, 20);
  const chunk = intFlag('chunk', values.chunk, 512, 1);
  const backend = choiceFlag('backend', values.backend, BACKENDS, 'webgpu');
  const initSeed = intFlag('init-seed', values['init-seed'], 0, 0, 0xffffffff);
  const oracle = values['mtp-oracle'];
  const mtp = values.mtp || oracle;
  if (oracle && temperature !== 0) throw new UsageError('--mtp-oracle drafts the greedy continuation; it needs --temperature 0');
  if (mtp && logprobs) throw new UsageError('--logprobs is not reported with --mtp');

  if (values.model !== undefined) existingPath('model', values.model, 'folder');
  let dir = values.model;
  let tmp: string | undefined;
  if (values.preset !== undefined) {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mimo-preset-'));
    dir = tmp;
    const source = `preset ${values.preset}`;
    await writeRandomCheckpoint(tmp, checkpointConfigJson(PRESET_JSON[values.preset], source, false), source, { fp8: false, mtp, seed: initSeed });
  }
  try {
    const { model, tokenizer } = await loadCheckpointModel(dir!, { progress: !values.json, mtp, backend });
    if (!ids) {
      if (!tokenizer) throw new CliError(`${dir}: no tokenizer.json; give the prompt as --tokens IDS`);
      ids = tokenizer.encode(values.prompt!);
      if (!ids.length) throw new UsageError('--prompt encodes to no tokens');
    }
    // generateMtp refuses these too, but only the CLI knows which flags to name.
    const drafts = model.weights.mtp.length;
    if (mtp && (ids.length < drafts || ids.length > chunk)) throw new UsageError(`--mtp needs a prompt of ${drafts} to ${chunk} (--chunk) tokens (got ${ids.length})`);
    // Streaming decodes everything so far and prints what is new: a multi-byte character
    // appears once its last byte has come.
    let shown = '';
    const streamed: number[] = [];
    const stream = !values.json;
    const prompt = ids;
    const base = { maxNew, temperature, topK, topP, seed, logprobs, chunk, eos: model.cfg.eosTokenIds };
    const continuation = oracle ? (await generate(model, [prompt], base)).tokens[0] : [];
    const drafter = oracle ? (_b: number, committed: readonly number[]) => {
      const at = committed.length - prompt.length;
      return [0, 1, 2].map((i) => continuation[at + i] ?? 0);
    } : undefined;
    const opts = {
      ...base, drafter,
      onToken: stream ? (_seq: number, token: number) => {
        streamed.push(token);
        const text = tokenizer ? tokenizer.decode(streamed).replace(/\uFFFD+$/, '') : `${streamed.join(',')},`;
        process.stdout.write(text.slice(shown.length));
        shown = text;
      } : undefined,
    };
    const res: GenerateResult & Partial<MtpResult> = mtp ? await generateMtp(model, [prompt], opts) : await generate(model, [prompt], opts);
    const text = tokenizer ? tokenizer.decode(res.tokens[0]) : undefined;
    const rate = (n: number, ms: number) => (ms > 0 ? Number(((n * 1000) / ms).toFixed(3)) : null);
    if (values.json) {
      console.log(JSON.stringify({
        tokens: res.tokens[0], text: text ?? null,
        prefill_tok_s: rate(res.prefillTokens, res.prefillMs), decode_tok_s: rate(res.decodeTokens, res.decodeMs),
        ...(res.logprobs ? { logprobs: res.logprobs[0] } : {}),
        ...(mtp ? { accepted_length: res.acceptedLength, target_passes: res.targetPasses } : {}),
      }));
    } else {
      process.stdout.write('\n');
      const spec = mtp ? `; MTP: ${res.targetPasses} target passes, ${res.acceptedLength!.toFixed(2)} tokens per pass` : '';
      console.error(`mimo-generate: ${res.prefillTokens} prompt tokens at ${rate(res.prefillTokens, res.prefillMs)} tok/s, ${res.tokens[0].length} new at ${rate(res.decodeTokens, res.decodeMs)} tok/s${spec}`);
    }
    model.close();
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
  return 0;
}

await runCli('mimo-generate', main, [ConfigError, CheckpointError, SafetensorsError, TokenizerError, TokenError, SamplingError, KvCacheError, NoCudaDeviceError]);
