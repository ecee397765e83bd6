import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate, type GenerateResult } from '../model/generate.js';
import { generateMtp, type MtpResult } from '../model/generate-mtp.js';
import { loadCheckpointModel } from '../model/load.js';
import { PRESET_JSON } from '../model/presets.js';
import { GREEDY } from '../model/sampling.js';
import { checkpointConfigJson, writeRandomCheckpoint } from '../model/weights/init.js';
import { uniform } from '../test/harness/prng.js';

/**
 * The tiny model end to end (random weights from mimo-init's code, seed 0, MTP layers
 * included), one run: a 64-token prompt and 32 new greedy tokens,
 *  - without MTP: prefill and decode tokens per second, and the runtime overhead: the
 *    decode steps' wall time against the sum of their kernels' GPU times (timestamp
 *    queries around every pass, in a second, timed run);
 *  - with MTP and the random MTP weights (drafts are almost never right), and with an
 *    oracle drafter (the target's own continuation): decode tokens per second, accepted
 *    length (tokens per target pass) and target passes.
 * Wall times on SwiftShader; the ratios are what carry over.
 */
export async function benchModel(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-bench-'));
  try {
    await writeRandomCheckpoint(dir, checkpointConfigJson(PRESET_JSON.tiny, 'preset tiny', false), 'preset tiny', { fp8: false, mtp: true, seed: 0 });
    const { model } = await loadCheckpointModel(dir, { mtp: true });
    const prompt = Array.from(uniform(1, 64, 0, 256), Math.floor);
    const opts = { ...GREEDY, maxNew: 32 };
    await generate(model, [prompt], { ...opts, maxNew: 2 }); // pipelines compiled before timing
    const tps = (n: number, ms: number) => ((n * 1000) / ms).toFixed(2);
    const plain = await generate(model, [prompt], opts);
    const row = (what: string, r: GenerateResult & Partial<MtpResult>) => console.log(
      `${what.padEnd(28)} prefill ${tps(r.prefillTokens, r.prefillMs).padStart(7)} tok/s   decode ${tps(r.decodeTokens, r.decodeMs).padStart(6)} tok/s` +
      (r.targetPasses !== undefined ? `   accepted length ${r.acceptedLength!.toFixed(2)}   target passes ${r.targetPasses}` : ''));
    console.log('tiny model, 64-token prompt, 32 new tokens (greedy), SwiftShader:');
    row('plain decoding', plain);
    await generateMtp(model, [prompt], { ...opts, maxNew: 4 });
    row('MTP (random MTP weights)', await generateMtp(model, [prompt], opts));
    const oracle = (_b: number, c: readonly number[]) => [0, 1, 2].map((i) => plain.tokens[0][c.length - prompt.length + i] ?? 0);
    row('MTP (oracle drafter)', await generateMtp(model, [prompt], { ...opts, drafter: oracle }));
    // The decode steps' kernel time: a timed run's total less a timed prefill-only run's.
    model.clock = { gpuMs: 0 };
    await generate(model, [prompt], { ...opts, maxNew: 1 });
    const prefillGpu = model.clock.gpuMs;
    model.clock.gpuMs = 0;
    const timed = await generate(model, [prompt], opts);
    const kernelsMs = model.clock.gpuMs - prefillGpu;
    model.clock = undefined;
    console.log(`runtime overhead: ${timed.decodeTokens} decode steps, wall ${timed.decodeMs.toFixed(0)} ms, kernels ${kernelsMs.toFixed(0)} ms on the GPU: wall / kernels = ${(timed.decodeMs / kernelsMs).toFixed(3)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
