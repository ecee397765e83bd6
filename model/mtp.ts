/**
 * The MTP layers (../shared/mimo-v2-flash.md, "MTP layer structure") on the device, chained
 * as SGLang's multi-layer EAGLE: layer k at position p reads the token at p and the
 * previous layer's hidden state at p - 1 (the main model's for k = 0), so its logits at p
 * predict the token at p + 1:
 *
 *   h = eh_proj(concat[enorm(embed(x_p)), hnorm(prev_{p-1})])
 *   x = h + SWA_attn(input_layernorm(h));  x = x + SwiGLU(pre_mlp_layernorm(x))
 *   hidden_p = x;  logits_p = lm_head(final_layernorm(x))
 *
 * Each layer keeps its own SWA ring (KV-cache stream 1 + k); layer k has entries for
 * positions k+1 .. n, n the last committed position. Drafting a round from there:
 * d1 = argmax of layer 0 at n; layer 1 at n+1 on (d1, hidden0_n) gives d2; layer 2 at n+1
 * and n+2 on (d1, hidden1_n), (d2, hidden1_{n+1}) gives d3. Those speculative entries are
 * truncated away at once; the catch-up after verification recomputes what was accepted.
 * `carry[k]` holds layer k's hidden state at the last committed position of each sequence
 * (slot order), which layer k + 1 reads for its first new row.
 */
import type { DeviceTensor } from '../backends/common/kernel-runtime.js';
import { addNorm, denseFfn, linear, rmsnorm } from './gpu/blocks.js';
import type { Recorder } from './gpu/recorder.js';
import { planStep } from './gpu/step-plan.js';
import type { ModelContext } from './forward.js';

export interface MtpRows {
  /** Sequences (cache slots) and how many positions each adds to this layer. */
  readonly seqs: readonly { seq: number; n: number }[];
  /** Token id per row, in the step's row order. */
  readonly ids: DeviceTensor;
  /** The previous layer's hidden state at p - 1, per row [T, H]. */
  readonly prev: DeviceTensor;
  readonly uniform: boolean;
}

export class Mtp {
  readonly carry: DeviceTensor[];

  constructor(readonly ctx: ModelContext) {
    const { B } = ctx.kv;
    const H = ctx.cfg.hiddenSize;
    this.carry = ctx.w.mtp.map(() => ctx.rt.allocate("bf16", B * H));
  }

  destroy(): void {
    for (const c of this.carry) c.buffer.destroy();
  }

  get layers(): number {
    return this.ctx.w.mtp.length;
  }

  /** One MTP layer over planned rows; advances its cache stream. Returns hidden (pre-norm) and normed rows. */
  async layer(r: Recorder, k: number, rows: MtpRows): Promise<{ T: number; hidden: DeviceTensor; y: DeviceTensor; rowSeq: number[] }> {
    const { cfg, kv } = this.ctx;
    const w = this.ctx.w.mtp[k];
    const H = cfg.hiddenSize;
    const { plan, rows: hostRows } = planStep(r, kv, 1 + k, rows.seqs, rows.uniform);
    const { T } = plan;
    const e = await rmsnorm(r, 'mtp.en', await this.ctx.embed(r, 'mtp.e', rows.ids, T), w.enorm, T, H);
    const g = await rmsnorm(r, 'mtp.hn', rows.prev, w.hnorm, T, H);
    const cat = r.tensor('mtp.cat', 'bf16', T * 2 * H);
    await r.launch('concat_halves', { a: e, b: g, out: cat }, { T, H });
    const h = await linear(r, 'mtp.eh', cat, T, w.eh);
    const hn = await rmsnorm(r, 'mtp.in', h, w.inputNorm, T, H);
    const a = await this.ctx.attend(r, 'mtp.attn', hn, w.attn, kv.mtp[k], plan);
    const mid = await addNorm(r, 'mtp.mid', h, a, w.preMlpNorm, T, H);
    const f = await denseFfn(r, 'mtp.ffn', mid.y, T, H, w.ffn);
    const out = await addNorm(r, `mtp${k}.out`, mid.sum, f, w.finalNorm, T, H);
    for (const s of rows.seqs) kv.advance(s.seq, s.n, 1 + k);
    return { T, hidden: out.sum, y: out.y, rowSeq: hostRows.rows.map((x) => x.seq) };
  }

  /** rows `idx` of x[T, H] into a fresh tensor of `role`. */
  async gather(r: Recorder, role: string, x: DeviceTensor, T: number, idx: readonly number[]): Promise<DeviceTensor> {
    const H = this.ctx.cfg.hiddenSize;
    const out = r.tensor(role, 'bf16', Math.max(1, idx.length) * H);
    if (idx.length) await r.launch('gather_rows', { x, rows: r.ints(`${role}.idx`, idx), out: { ...out, length: idx.length * H } }, { T, H, R: idx.length });
    return { ...out, length: idx.length * H };
  }

  /** Stores rows `idx` (one per slot, slot order) of x as layer k's carry. */
  async setCarry(r: Recorder, k: number, x: DeviceTensor, T: number, idx: readonly number[]): Promise<void> {
    const H = this.ctx.cfg.hiddenSize;
    await r.launch('gather_rows', { x, rows: r.ints(`mtp.carry${k}.idx`, idx), out: this.carry[k] }, { T, H, R: idx.length });
  }

  /**
   * Greedy drafts from the committed state: `d1` holds layer 0's argmax at the last
   * committed position per slot (B ids, slot order). Runs layers 1.. speculatively and
   * truncates their entries again; returns the ids tensors of every draft (slot order).
   */
  async draft(r: Recorder, d1: DeviceTensor): Promise<DeviceTensor[]> {
    const { kv, cfg } = this.ctx;
    const B = kv.B, H = cfg.hiddenSize, V = cfg.vocabSize;
    const drafts = [d1];
    const all = Array.from({ length: B }, (_, b) => b);
    let spec: DeviceTensor | undefined;
    for (let k = 1; k < this.layers; k++) {
      // Layer k at the next k positions: tokens d1..dk, hidden [carry(k-1), spec outputs of layer k-1].
      const ids = r.tensor(`mtp.draft.ids${k}`, 'i32', B * k);
      const prevSrc = r.tensor(`mtp.draft.src${k}`, 'bf16', B * k * H);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < k; j++) r.copy(drafts[j], b, ids, b * k + j, 1);
        r.copy(this.carry[k - 1], b * H, prevSrc, b * k * H, H);
        for (let j = 1; j < k; j++) r.copy(spec!, (b * (k - 1) + j - 1) * H, prevSrc, (b * k + j) * H, H);
      }
      const lens = all.map((b) => kv.length(b, 1 + k));
      const out = await this.layer(r, k, { seqs: all.map((seq) => ({ seq, n: k })), ids, prev: prevSrc, uniform: true });
      all.forEach((b) => kv.truncate(b, lens[b], 1 + k));
      const lastRows = all.map((b) => b * k + k - 1);
      const logits = await this.ctx.logits(r, `mtp.draft${k}`, out.y, out.T, lastRows);
      const next = r.tensor(`mtp.draft.d${k + 1}`, 'i32', B);
      await r.launch('sample_greedy', { logits, ids: next }, { B, V });
      drafts.push(next);
      spec = r.tensor(`mtp.draft.spec${k}`, 'bf16', B * k * H);
      r.copy(out.hidden, 0, spec, 0, B * k * H);
    }
    return drafts;
  }
}
