/**
 * The forward pass of MiMo-V2-Flash on a kernel runtime (any backend), all on resident tensors:
 *
 *   x = embed(tokens)
 *   per layer: x += o_proj(attn(rmsnorm(x))); x += ffn(rmsnorm(x))   (dense or MoE FFN)
 *   logits = lm_head(rmsnorm(x)) at the rows asked for (f32)
 *
 * A step is recorded into the caller's Recorder (one submit per step: the caller adds its
 * sampling launches after ours), and advances the KV-cache lengths of the sequences it
 * extends. Residual adds are fused with the next norm (add_rmsnorm). The hidden state
 * before the final norm stays on the device for the MTP layers.
 */
import type { DeviceTensor, KernelRuntime } from '../backends/common/kernel-runtime.js';
import type { MimoConfig } from './config.js';
import type { KvCache } from './kvcache.js';
import { ropeCosSinTable } from './rope.js';
import { addNorm, denseFfn, moeFfn, rmsnorm } from './gpu/blocks.js';
import { attention } from './gpu/attention.js';
import type { Recorder } from './gpu/recorder.js';
import { planStep, type DevicePlan, type StepRows } from './gpu/step-plan.js';
import type { ModelWeights, AttentionWeights, DenseFfnWeights, MoeWeights } from './gpu/weights.js';
import type { LayerCache } from './kvcache.js';

export interface StepSeq {
  readonly seq: number;
  readonly tokens: readonly number[];
}

export interface StepOutput {
  readonly T: number;
  readonly rows: StepRows;
  /** f32 [rows asked for, V], in the order of `logitRows`. */
  readonly logits: DeviceTensor;
  readonly logitRows: readonly number[];
  /** bf16 [T, H]: the residual stream after the last layer (before the final norm). */
  readonly hidden: DeviceTensor;
}

export class TokenError extends Error {}

/** Shared by the main model and the MTP layers: the ops one transformer block needs. */
export class ModelContext {
  readonly tables: Record<'global' | 'swa', DeviceTensor>;

  constructor(readonly rt: KernelRuntime, readonly cfg: MimoConfig, readonly w: ModelWeights, readonly kv: KvCache) {
    // Positions up to the cache's length, plus the MTP layers' look-ahead.
    const maxPos = kv.SMAX + kv.slack + cfg.mtpLayers + 1;
    const table = (kind: 'global' | 'swa') => {
      const a = cfg.attention[kind];
      return rt.upload('f32', ropeCosSinTable(maxPos, a.ropeTheta, a.rotaryDim));
    };
    this.tables = { global: table('global'), swa: table('swa') };
  }

  /** Frees the RoPE tables (the KV cache and the weights belong to the caller). */
  destroy(): void {
    this.tables.global.buffer.destroy();
    this.tables.swa.buffer.destroy();
  }

  checkTokens(tokens: readonly number[]): void {
    const V = this.cfg.vocabSize;
    const bad = tokens.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= V);
    if (bad >= 0) throw new TokenError(`token ${tokens[bad]} at index ${bad} is not an id of this model's vocabulary [0, ${V})`);
  }

  async embed(r: Recorder, role: string, ids: DeviceTensor, T: number): Promise<DeviceTensor> {
    const out = r.tensor(role, 'bf16', T * this.cfg.hiddenSize);
    await r.launch('embed_tokens', { table: this.w.embed, ids, out }, { T, H: this.cfg.hiddenSize, V: this.cfg.vocabSize });
    return out;
  }

  attend(r: Recorder, role: string, h: DeviceTensor, attn: AttentionWeights, cache: LayerCache, plan: DevicePlan): Promise<DeviceTensor> {
    return attention(r, role, h, attn, cache, this.kv, plan, this.cfg, this.tables[attn.kind]);
  }

  ffn(r: Recorder, role: string, x: DeviceTensor, T: number, w: DenseFfnWeights | MoeWeights): Promise<DeviceTensor> {
    const H = this.cfg.hiddenSize;
    return w.kind === 'dense' ? denseFfn(r, role, x, T, H, w) : moeFfn(r, role, x, T, H, this.cfg.experts, this.cfg.expertsPerToken, w);
  }

  /** f32 logits [R, V] of rows `rows` of the normed hidden state y[T, H]. */
  async logits(r: Recorder, role: string, y: DeviceTensor, T: number, rows: readonly number[]): Promise<DeviceTensor> {
    const H = this.cfg.hiddenSize, V = this.cfg.vocabSize, M = rows.length;
    let a = y;
    if (M !== T || rows.some((x, i) => x !== i)) {
      a = r.tensor(`${role}.rows`, 'bf16', M * H);
      await r.launch('gather_rows', { x: y, rows: r.ints(`${role}.rowIndex`, rows), out: a }, { T, H, R: M });
    }
    const out = r.tensor(`${role}.logits`, 'f32', M * V);
    await r.launch('logits_rows', { x: a, w: this.w.lmHead, out }, { T: M, K: H, N: V });
    return out;
  }
}

export class Forward {
  constructor(readonly ctx: ModelContext) {}

  /**
   * Records one step of the main model: `seqs` add their tokens (see planStep for how a
   * step may mix sequences; `uniform` selects the decode path), and the logits of
   * `want` rows come out: the last new token of each sequence, or all of them.
   */
  async step(r: Recorder, seqs: readonly StepSeq[], want: 'last' | 'all', uniform = false): Promise<StepOutput> {
    const { cfg, kv, w } = this.ctx;
    for (const s of seqs) this.ctx.checkTokens(s.tokens);
    const { plan, rows } = planStep(r, kv, 0, seqs.map((s) => ({ seq: s.seq, n: s.tokens.length })), uniform);
    const bySeq = new Map(seqs.map((s) => [s.seq, s.tokens]));
    const ids = rows.rows.map((row) => (row.seq < 0 ? 0 : bySeq.get(row.seq)![row.i]));
    const { T } = plan;
    const H = cfg.hiddenSize;
    let x = await this.ctx.embed(r, 'x.embed', r.ints('tokens', ids), T);
    let h = await rmsnorm(r, 'h.0', x, w.layers[0].inputNorm, T, H);
    for (const [i, layer] of w.layers.entries()) {
      const parity = i % 2 ? 'odd' : 'even';
      const a = await this.ctx.attend(r, `attn`, h, layer.attn, kv.layers[i], plan);
      const mid = await addNorm(r, `mid.${parity}`, x, a, layer.postNorm, T, H);
      const f = await this.ctx.ffn(r, 'ffn', mid.y, T, layer.ffn);
      const nextNorm = i + 1 < w.layers.length ? w.layers[i + 1].inputNorm : w.norm;
      const next = await addNorm(r, `res.${parity}`, mid.sum, f, nextNorm, T, H);
      x = next.sum;
      h = next.y;
    }
    const logitRows = rows.rows.flatMap((row, j) => {
      if (row.seq < 0) return [];
      if (want === 'all') return [j];
      return row.i === bySeq.get(row.seq)!.length - 1 ? [j] : [];
    });
    const logits = await this.ctx.logits(r, 'main', h, T, logitRows);
    for (const s of seqs) kv.advance(s.seq, s.tokens.length);
    return { T, rows, logits, logitRows, hidden: x };
  }
}
