/**
 * Speculative generation with the MTP layers (model/mtp.ts): each round the chain drafts
 * N = 3 tokens per sequence, one target pass verifies [last token, d1, d2, d3] (the
 * uniform decode path with 4 query rows), a verify kernel accepts a prefix (greedy: while
 * the draft equals the target argmax; sampled: SGLang's target-only rejection sampling,
 * lossless), every cache is truncated back to the accepted positions, and the MTP layers
 * catch up on them. Two submits per round; the read-backs are the accepted ids and the
 * drafts. All sequences step together until the last one is done (a finished sequence's
 * extra tokens are dropped), so every step is uniform over the cache's slots.
 */
import type { DeviceTensor, KernelRuntime } from '../backends/common/kernel-runtime.js';
import { Forward, ModelContext } from './forward.js';
import { checkRequest, type GenerateOptions, type GenerateResult, type Model } from './generate.js';
import { Mtp } from './mtp.js';
import { recordSample } from './sampling.js';

export interface MtpOptions extends GenerateOptions {
  /** Test hook: replaces the chain's drafts (sequence, committed tokens so far -> N drafts). */
  readonly drafter?: (seq: number, committed: readonly number[]) => number[];
}

export interface MtpResult extends GenerateResult {
  /** Target passes after the prefill (one verification each). */
  readonly targetPasses: number;
  /** Mean tokens per target pass (accept lengths include the target's own token: 1..N+1). */
  readonly acceptedLength: number;
}

const ints = async (rt: KernelRuntime, t: DeviceTensor) => Array.from((await rt.download(t)) as Int32Array);

export async function generateMtp(model: Model, prompts: readonly (readonly number[])[], opts: MtpOptions): Promise<MtpResult> {
  const { cfg, rt } = model;
  checkRequest(cfg, prompts, opts);
  const N = model.weights.mtp.length;
  if (N < 1) throw new Error('generate --mtp: the model was loaded without its MTP layers');
  if (opts.logprobs) throw new Error('generate --mtp: logprobs are not reported with MTP');
  const chunk = opts.chunk ?? 512;
  prompts.forEach((p, i) => {
    if (p.length < N) throw new Error(`generate --mtp: prompt ${i} has ${p.length} tokens; the ${N} chained MTP layers need at least ${N}`);
    if (p.length > chunk) throw new Error(`generate --mtp: prompt ${i} has ${p.length} tokens, more than one prefill chunk (${chunk})`);
  });
  const B = prompts.length, H = cfg.hiddenSize, V = cfg.vocabSize, NP = N + 1;
  const kv = model.cache(B, Math.max(...prompts.map((p) => p.length)) + opts.maxNew + NP);
  const ctx = new ModelContext(rt, cfg, model.weights, kv);
  const fwd = new Forward(ctx);
  const mtp = new Mtp(ctx);
  const slots = prompts.map(() => kv.allocate());
  const out: number[][] = prompts.map(() => []);
  const done = prompts.map(() => false);
  const eos = new Set(opts.eos ?? []);
  const take = (b: number, token: number) => {
    if (done[b]) return;
    out[b].push(token);
    opts.onToken?.(b, token);
    if (eos.has(token) || out[b].length >= opts.maxNew) done[b] = true;
  };
  let steps = 0;

  // Prefill, and the first token of each sequence.
  const t0 = performance.now();
  let r = model.recorder();
  const pre = await fwd.step(r, prompts.map((p, b) => ({ seq: slots[b], tokens: p })), 'last');
  const first = await recordSample(r, 'sample', pre.logits, B, V, opts, steps++);
  const mainHidden = r.tensor('mtp.main', 'bf16', pre.T * H);
  r.copy(pre.hidden, 0, mainHidden, 0, pre.T * H);
  await r.submit();
  const pending = await ints(rt, first.ids);
  pending.forEach((t, b) => take(b, t));
  const t1 = performance.now();

  // The MTP layers over the prompts: layer k at positions k+1 .. n of each sequence.
  r = model.recorder();
  const full = prompts.map((p, b) => [...p, pending[b]]);
  let prev = mainHidden;
  let d1 = r.tensor('mtp.d1', 'i32', B);
  for (let k = 0; k < N; k++) {
    const counts = prompts.map((p) => p.length - k);
    const ids = r.ints(`mtp.boot.ids${k}`, full.flatMap((f) => f.slice(k + 1)));
    const o = await mtp.layer(r, k, { seqs: slots.map((seq, b) => ({ seq, n: counts[b] })), ids, prev, uniform: false });
    const starts = counts.map((_, b) => counts.slice(0, b).reduce((a, c) => a + c, 0));
    const last = starts.map((s, b) => s + counts[b] - 1);
    await mtp.setCarry(r, k, o.hidden, o.T, last);
    if (k === 0) {
      const logits = await ctx.logits(r, 'mtp.boot', o.y, o.T, last);
      await r.launch('sample_greedy', { logits, ids: d1 }, { B, V });
    }
    // Layer k+1 at position p reads this layer's hidden at p - 1: every row but each sequence's last.
    if (k + 1 < N) prev = await mtp.gather(r, `mtp.prev${k + 1}`, o.hidden, o.T, starts.flatMap((s, b) => Array.from({ length: counts[b] - 1 }, (_, i) => s + i)));
  }
  let draftIds = await mtp.draft(r, d1);
  await r.submit();
  let drafts = await readDrafts(rt, draftIds, B);

  let targetPasses = 0;
  // Accept lengths of the sequences still generating at each pass.
  let accepted = 0, counted = 0;
  while (done.some((d) => !d)) {
    if (opts.drafter) drafts = slots.map((b) => opts.drafter!(b, [...prompts[b], ...out[b]]).slice(0, N));
    // Verify: 4 rows per sequence, the pending token then the drafts.
    r = model.recorder();
    const lens = slots.map((b) => kv.length(b));
    const o = await fwd.step(r, slots.map((seq, b) => ({ seq, tokens: [pending[b], ...drafts[b]] })), 'all', true);
    const draftT = r.ints('verify.draft', drafts.flat());
    const acc = r.tensor('verify.accepted', 'i32', B * NP);
    const accLen = r.tensor('verify.len', 'i32', B);
    if (opts.temperature === 0) {
      const tids = r.tensor('verify.target', 'i32', B * NP);
      await r.launch('sample_greedy', { logits: o.logits, ids: tids }, { B: B * NP, V });
      await r.launch('verify_greedy', { draft: draftT, target_ids: tids, accepted: acc, accept_len: accLen }, { B, N });
    } else {
      await r.launch('verify_sample', { draft: draftT, logits: o.logits, accepted: acc, accept_len: accLen },
        { B, N, V, temperature: opts.temperature, top_k: opts.topK, top_p: opts.topP, seed: opts.seed, step: steps });
    }
    steps++;
    const verifyHidden = r.tensor('mtp.main', 'bf16', o.T * H);
    r.copy(o.hidden, 0, verifyHidden, 0, o.T * H);
    await r.submit();
    targetPasses++;
    const a = await ints(rt, accLen);
    const toks = await ints(rt, acc);
    slots.forEach((b) => {
      if (!done[b]) { accepted += a[b]; counted++; }
      for (let i = 0; i < a[b]; i++) take(b, toks[b * NP + i]);
      pending[b] = toks[b * NP + a[b] - 1];
      kv.truncate(b, lens[b] + a[b]);
    });
    if (done.every((d) => d)) break;

    // Catch-up on the accepted positions (4 rows per sequence, the rejected ones truncated), then the next drafts.
    r = model.recorder();
    const ids = r.ints('mtp.catch.ids', slots.flatMap((b) => Array.from({ length: NP }, (_, i) => (i < a[b] ? toks[b * NP + i] : 0))));
    let prevRows = verifyHidden;
    d1 = r.tensor('mtp.d1', 'i32', B);
    for (let k = 0; k < N; k++) {
      const before = slots.map((b) => kv.length(b, 1 + k));
      const lo = await mtp.layer(r, k, { seqs: slots.map((seq) => ({ seq, n: NP })), ids, prev: prevRows, uniform: true });
      slots.forEach((b) => kv.truncate(b, before[b] + a[b], 1 + k));
      const lastRows = slots.map((b) => b * NP + a[b] - 1);
      if (k === 0) {
        const logits = await ctx.logits(r, 'mtp.catch', lo.y, lo.T, lastRows);
        await r.launch('sample_greedy', { logits, ids: d1 }, { B, V });
      }
      if (k + 1 < N) {
        // Rows for layer k+1: [carry (this layer at the last committed position), rows 0..2 of this layer].
        const src = r.tensor(`mtp.catch.src${k}`, 'bf16', (B * NP + B) * H);
        r.copy(lo.hidden, 0, src, 0, B * NP * H);
        r.copy(mtp.carry[k], 0, src, B * NP * H, B * H);
        prevRows = await mtp.gather(r, `mtp.catch.prev${k + 1}`, src, B * NP + B, slots.flatMap((b) => Array.from({ length: NP }, (_, i) => (i === 0 ? B * NP + b : b * NP + i - 1))));
      }
      await mtp.setCarry(r, k, lo.hidden, lo.T, lastRows);
    }
    draftIds = await mtp.draft(r, d1);
    await r.submit();
    drafts = await readDrafts(rt, draftIds, B);
  }
  const t2 = performance.now();
  // The last pending token is not in the cache, as after plain decoding; nor is anything past the last kept token.
  slots.forEach((b) => kv.truncate(b, Math.min(kv.length(b), prompts[b].length + out[b].length - 1)));
  await opts.inspect?.(kv);
  kv.destroy();
  mtp.destroy();
  ctx.destroy();
  const decodeTokens = out.reduce((s, o) => s + o.length - 1, 0);
  return {
    tokens: out, prefillTokens: prompts.reduce((s, p) => s + p.length, 0), prefillMs: t1 - t0,
    decodeTokens, decodeMs: t2 - t1, steps, targetPasses, acceptedLength: counted ? accepted / counted : 0,
  };
}

async function readDrafts(rt: KernelRuntime, ids: DeviceTensor[], B: number): Promise<number[][]> {
  const cols = await Promise.all(ids.map((t) => ints(rt, t)));
  return Array.from({ length: B }, (_, b) => cols.map((c) => c[b]));
}
