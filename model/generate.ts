/**
 * Generation for several sequences at once: a batched prefill (prompts packed into one
 * step; a prompt longer than `chunk` tokens continues in chunk steps of its own), then one
 * decode step per token for every unfinished sequence, each step one submit whose only
 * read-back is the sampled token ids (plus log-probabilities when asked).
 */
import type { HostArray } from '../compiler/launch/args.js';
import type { KernelRuntime } from '../backends/common/kernel-runtime.js';
import type { MimoConfig } from './config.js';
import { Forward, ModelContext, type StepOutput } from './forward.js';
import { Arena } from './gpu/arena.js';
import { Recorder, type KernelClock } from './gpu/recorder.js';
import type { ModelWeights } from './gpu/weights.js';
import { KvCache } from './kvcache.js';
import { checkSampling, recordSample, type SampleRecord, type SamplingParams } from './sampling.js';

export interface TokenLogprobs {
  readonly token: number;
  readonly logprob: number;
  readonly top: readonly { readonly token: number; readonly logprob: number }[];
}

export interface GenerateOptions extends SamplingParams {
  readonly maxNew: number;
  /** Stop a sequence after any of these tokens (it is kept in the output). */
  readonly eos?: readonly number[];
  /** Most prompt tokens of one sequence per prefill step. */
  readonly chunk?: number;
  readonly onToken?: (seq: number, token: number) => void;
  /** Test hook: sees the KV cache after the last step, before it is freed. */
  readonly inspect?: (kv: KvCache) => Promise<void>;
}

export interface GenerateResult {
  readonly tokens: number[][];
  readonly logprobs?: TokenLogprobs[][];
  readonly prefillTokens: number;
  readonly prefillMs: number;
  readonly decodeTokens: number;
  readonly decodeMs: number;
  readonly steps: number;
}

/** A model on a device: weights uploaded, ready to generate. */
export class Model {
  readonly arena: Arena;
  /** When set, every step's kernels are timed on the device and their times added here (bench/). */
  clock?: KernelClock;
  constructor(readonly rt: KernelRuntime, readonly cfg: MimoConfig, readonly weights: ModelWeights) {
    this.arena = new Arena(rt);
  }

  /** A KV cache for `sequences` sequences of up to `maxContext` positions, with this model's MTP rings. */
  cache(sequences: number, maxContext: number): KvCache {
    return new KvCache(this.rt, this.cfg, { sequences, maxContext, mtpLayers: this.weights.mtp.length });
  }

  recorder(): Recorder {
    return new Recorder(this.rt, this.arena, this.clock);
  }

  /** Frees the step buffers and closes the runtime (the emulator's server exits; a WebGPU device is shared and stays). */
  close(): void {
    this.arena.destroy();
    this.rt.close();
  }
}

/** Downloads the sampled ids (and log-probabilities) of one step. */
async function readSample(rt: KernelRuntime, s: SampleRecord, K: number): Promise<{ ids: number[]; lp?: TokenLogprobs[] }> {
  const ids = Array.from((await rt.download(s.ids)) as Int32Array);
  if (!s.top) return { ids };
  const [tIds, tLp, cLp] = (await Promise.all([rt.download(s.top.ids), rt.download(s.top.logprobs), rt.download(s.top.chosen)])) as [HostArray, HostArray, HostArray];
  const lp = ids.map((token, b) => ({
    token, logprob: cLp[b],
    top: Array.from({ length: K }, (_, j) => ({ token: tIds[b * K + j], logprob: tLp[b * K + j] })),
  }));
  return { ids, lp };
}

/** What every generation refuses: bad sampling parameters, no or empty prompts, a bad maxNew. */
export function checkRequest(cfg: MimoConfig, prompts: readonly (readonly number[])[], opts: GenerateOptions): void {
  checkSampling(opts, cfg.vocabSize);
  if (!prompts.length) throw new Error('generate: no prompts');
  prompts.forEach((p, i) => { if (!p.length) throw new Error(`generate: prompt ${i} is empty`); });
  if (!Number.isInteger(opts.maxNew) || opts.maxNew < 1) throw new Error(`generate: maxNew must be a positive integer, got ${opts.maxNew}`);
}

export async function generate(model: Model, prompts: readonly (readonly number[])[], opts: GenerateOptions): Promise<GenerateResult> {
  const { cfg, rt } = model;
  checkRequest(cfg, prompts, opts);
  const chunk = opts.chunk ?? 512;
  const kv = model.cache(prompts.length, Math.max(...prompts.map((p) => p.length)) + opts.maxNew);
  const ctx = new ModelContext(rt, cfg, model.weights, kv);
  const fwd = new Forward(ctx);
  const seqs = prompts.map(() => kv.allocate());
  const out: number[][] = prompts.map(() => []);
  const lps: TokenLogprobs[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  const eos = new Set(opts.eos ?? []);
  let steps = 0;
  const take = (b: number, token: number, lp?: TokenLogprobs) => {
    out[b].push(token);
    if (lp) lps[b].push(lp);
    opts.onToken?.(b, token);
    if (eos.has(token) || out[b].length >= opts.maxNew) done[b] = true;
  };
  /** One step: forward, sample the logits rows of `owners` (sequence per row), read back. */
  const run = async (record: (r: Recorder) => Promise<StepOutput>, owners: (o: StepOutput) => number[]) => {
    const r = model.recorder();
    const o = await record(r);
    const who = owners(o);
    const s = await recordSample(r, 'sample', o.logits, o.logitRows.length, cfg.vocabSize, opts, steps);
    await r.submit();
    steps++;
    const { ids, lp } = await readSample(rt, s, opts.logprobs);
    who.forEach((b, j) => { if (b >= 0) take(b, ids[j], lp?.[j]); });
  };

  const t0 = performance.now();
  // Prefill: first chunks packed together; then the rest of each long prompt, chunk by chunk.
  const firsts = prompts.map((p, b) => ({ seq: seqs[b], tokens: p.slice(0, chunk) }));
  await run((r) => fwd.step(r, firsts, 'last'), (o) => o.logitRows.map((j) => {
    const b = seqs.indexOf(o.rows.rows[j].seq);
    return prompts[b].length <= chunk ? b : -1;
  }));
  for (const [b, p] of prompts.entries()) {
    for (let at = chunk; at < p.length; at += chunk) {
      const last = at + chunk >= p.length;
      await run((r) => fwd.step(r, [{ seq: seqs[b], tokens: p.slice(at, at + chunk) }], 'last'), () => [last ? b : -1]);
    }
  }
  const t1 = performance.now();
  let decodeTokens = 0;
  while (done.some((d) => !d)) {
    const active = seqs.flatMap((seq, b) => (done[b] ? [] : [{ seq, tokens: [out[b][out[b].length - 1]] }]));
    decodeTokens += active.length;
    await run((r) => fwd.step(r, active, 'last', true), (o) => o.logitRows.map((j) => seqs.indexOf(o.rows.rows[j].seq)));
  }
  const t2 = performance.now();
  await opts.inspect?.(kv);
  kv.destroy();
  ctx.destroy();
  return {
    tokens: out,
    logprobs: opts.logprobs ? lps : undefined,
    prefillTokens: prompts.reduce((a, p) => a + p.length, 0),
    prefillMs: t1 - t0,
    decodeTokens,
    decodeMs: t2 - t1,
    steps,
  };
}
