/**
 * Runs the WebGPU model in tests: loads a checkpoint onto the device and replays a
 * teacher-forced continuation — the prompts prefilled in one batch (optionally in chunks),
 * then decode steps fed given tokens — returning the f32 logits of every step, so they can
 * be compared with a reference position by position even where greedy choices would differ.
 */
import { Forward, ModelContext } from '../../model/forward.js';
import type { Model } from '../../model/generate.js';
import { loadCheckpointModel } from '../../model/load.js';

export async function loadModel(dir: string, mtp = false): Promise<Model> {
  return (await loadCheckpointModel(dir, { mtp })).model;
}

export interface ForcedRun {
  /** [sequence][step] logits: step 0 is the prompt's last position, step s the s-th fed token. */
  readonly logits: Float32Array[][];
}

/**
 * Prefill `prompts` (first `chunk` tokens of each packed together, the rest chunk by chunk),
 * then feed forced[b][s] for s < steps, all sequences in one uniform decode step each.
 */
export async function forcedRun(model: Model, prompts: number[][], forced: number[][], steps: number, chunk = 1 << 20): Promise<ForcedRun> {
  const { rt, cfg } = model;
  const V = cfg.vocabSize;
  const kv = model.cache(prompts.length, Math.max(...prompts.map((p) => p.length)) + steps + 1);
  const ctx = new ModelContext(rt, cfg, model.weights, kv);
  const fwd = new Forward(ctx);
  const seqs = prompts.map(() => kv.allocate());
  const logits: Float32Array[][] = prompts.map(() => []);
  const grab = async (o: { logits: Parameters<typeof rt.download>[0] }, owners: number[]) => {
    const all = (await rt.download(o.logits)) as Float32Array;
    owners.forEach((b, j) => { if (b >= 0) logits[b].push(all.slice(j * V, (j + 1) * V)); });
  };
  let r = model.recorder();
  let o = await fwd.step(r, prompts.map((p, b) => ({ seq: seqs[b], tokens: p.slice(0, chunk) })), 'last');
  await r.submit();
  await grab(o, o.logitRows.map((j) => (prompts[o.rows.rows[j].seq].length <= chunk ? o.rows.rows[j].seq : -1)));
  for (const [b, p] of prompts.entries()) {
    for (let at = chunk; at < p.length; at += chunk) {
      r = model.recorder();
      o = await fwd.step(r, [{ seq: seqs[b], tokens: p.slice(at, at + chunk) }], 'last');
      await r.submit();
      await grab(o, [at + chunk >= p.length ? b : -1]);
    }
  }
  for (let s = 0; s < steps; s++) {
    r = model.recorder();
    o = await fwd.step(r, seqs.map((seq, b) => ({ seq, tokens: [forced[b][s]] })), 'last', true);
    await r.submit();
    await grab(o, o.logitRows.map((j) => o.rows.rows[j].seq));
  }
  kv.destroy();
  ctx.destroy();
  return { logits };
}
