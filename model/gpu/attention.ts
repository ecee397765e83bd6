/**
 * One attention layer of a step: q/k/v projections, partial RoPE, the KV-cache write
 * (V scaled by 0.707 once, there), attention, o_proj. Three ways to attend, chosen per
 * step by model/gpu/step-plan.ts:
 *  - fresh: sequences without history, packed varlen; attention reads the fresh K/V
 *    directly (the ring never has to hold a whole prompt);
 *  - uniform: NQ new tokens for every cache slot (decode: 1, MTP verify: 4): the decode
 *    kernels over the caches, flash-decoding split-K on global layers;
 *  - chunk: one sequence with history and any number of new tokens (a long prompt's later
 *    chunks, a new turn): global layers attend over the sequence's slice of the cache; SWA
 *    layers over its last window-1 ring rows, copied out before the write, then the fresh rows.
 */
import type { DeviceTensor } from '../../backends/common/kernel-runtime.js';
import type { MimoConfig } from '../config.js';
import { KERNEL_LIMITS } from '../kernel-limits.js';
import { decodeSplits } from './decode-splits.js';
import type { KvCache, LayerCache } from '../kvcache.js';
import { linear } from './blocks.js';
import type { Recorder } from './recorder.js';
import type { DevicePlan } from './step-plan.js';
import type { AttentionWeights } from './weights.js';

const DQK = KERNEL_LIMITS.headDim;
const DV = KERNEL_LIMITS.vHeadDim;

export async function attention(
  r: Recorder, role: string, h: DeviceTensor, w: AttentionWeights, cache: LayerCache, kv: KvCache,
  plan: DevicePlan, cfg: MimoConfig, ropeTable: DeviceTensor,
): Promise<DeviceTensor> {
  const a = cfg.attention[w.kind];
  const { T } = plan;
  const HQ = a.heads, HKV = a.kvHeads;
  const q = await linear(r, `${role}.q`, h, T, w.q);
  const k = await linear(r, `${role}.k`, h, T, w.k);
  const v = await linear(r, `${role}.v`, h, T, w.v);
  const qRot = r.tensor(`${role}.qrot`, 'bf16', T * HQ * DQK);
  const kRot = r.tensor(`${role}.krot`, 'bf16', T * HKV * DQK);
  await r.launch('rope', { q, k, positions: plan.ropePos, cos_sin: ropeTable, q_rot: qRot, k_rot: kRot },
    { T, HQ, HKV, DQK, MAXPOS: ropeTable.length / a.rotaryDim, ROT: a.rotaryDim });

  const ring = w.kind === 'swa';
  // A chunk's SWA history must leave the ring before this step's write can overwrite it.
  const hist = plan.mode === 'chunk' && ring ? Math.min(plan.hist, KERNEL_LIMITS.window - 1) : 0;
  const kAll = r.tensor(`${role}.kall`, 'bf16', (hist + T) * HKV * DQK);
  const vAll = r.tensor(`${role}.vall`, 'bf16', (hist + T) * HKV * DV);
  if (hist > 0) copyRingHistory(r, cache, kv, plan.seq, plan.hist - hist, hist, kAll, vAll);

  const vScaled = r.tensor(`${role}.vscaled`, 'bf16', T * HKV * DV);
  const writeArgs = { k_rot: kRot, v, batch_idx: plan.batchIdx, positions: plan.cachePos, k_cache: cache.k, v_cache: cache.v, v_scaled: vScaled };
  if (ring) await r.launch('kv_write_ring', writeArgs, { T, HKV, DQK, DV, B: kv.B, R: kv.R });
  else await r.launch('kv_write_linear', writeArgs, { T, HKV, DQK, DV, B: kv.B, SMAX: kv.SMAX });

  const out = r.tensor(`${role}.out`, 'bf16', T * HQ * DV);
  const dims = { HQ, HKV };
  if (plan.mode === 'fresh') {
    const args = { q: qRot, k: kRot, v: vScaled, cu_q: plan.cu!, cu_k: plan.cu!, out };
    const s = { T, S: T, ...dims, B: plan.cu!.length - 1 };
    if (ring) await r.launch('swa_prefill', { ...args, sink: w.sink! }, s);
    else await r.launch('global_prefill', args, s);
  } else if (plan.mode === 'uniform') {
    const NQ = plan.NQ!;
    if (ring) {
      await r.launch('swa_decode', { q: qRot, k_ring: cache.k, v_ring: cache.v, sink: w.sink!, seq_lens: plan.seqLens!, out }, { B: kv.B, NQ, ...dims, R: kv.R });
    } else {
      const P = decodeSplits({ B: kv.B, HQ, HKV, NQ, maxLen: plan.maxLen! });
      const rows = kv.B * NQ * HQ * P;
      const part = { part_acc: r.tensor(`${role}.pacc`, 'f32', rows * DV), part_max: r.tensor(`${role}.pmax`, 'f32', rows), part_sum: r.tensor(`${role}.psum`, 'f32', rows) };
      await r.launch('global_decode_partial', { q: qRot, k_cache: cache.k, v_cache: cache.v, seq_lens: plan.seqLens!, ...part }, { B: kv.B, NQ, ...dims, SMAX: kv.SMAX, P });
      await r.launch('decode_merge', { ...part, out }, { B: kv.B, NQ, HQ, P });
    }
  } else {
    // Per-step inputs are keyed by content: cu.N holds [0, N].
    const kEnd = (ring ? hist : plan.hist) + T;
    const cuQ = r.ints(`cu.${T}`, [0, T]);
    const cuK = r.ints(`cu.${kEnd}`, [0, kEnd]);
    if (ring) {
      r.copy(kRot, 0, kAll, hist * HKV * DQK, T * HKV * DQK);
      r.copy(vScaled, 0, vAll, hist * HKV * DV, T * HKV * DV);
      await r.launch('swa_prefill', { q: qRot, k: kAll, v: vAll, sink: w.sink!, cu_q: cuQ, cu_k: cuK, out }, { T, S: hist + T, ...dims, B: 1 });
    } else {
      await r.launch('global_prefill', { q: qRot, k: kv.view(cache.k, plan.seq), v: kv.view(cache.v, plan.seq), cu_q: cuQ, cu_k: cuK, out },
        { T, S: kv.SMAX, ...dims, B: 1 });
    }
  }
  return linear(r, `${role}.o`, out, T, w.o);
}

/** Ring rows of positions [from, from + n) of `seq` into rows 0..n-1 of kAll/vAll (at most two runs: the ring wraps). */
function copyRingHistory(r: Recorder, c: LayerCache, kv: KvCache, seq: number, from: number, n: number, kAll: DeviceTensor, vAll: DeviceTensor): void {
  let done = 0;
  while (done < n) {
    const slot = (from + done) % kv.R;
    const run = Math.min(n - done, kv.R - slot);
    const row = seq * kv.R + slot;
    r.copy(c.k, row * c.kvHeads * DQK, kAll, done * c.kvHeads * DQK, run * c.kvHeads * DQK);
    r.copy(c.v, row * c.kvHeads * DV, vAll, done * c.kvHeads * DV, run * c.kvHeads * DV);
    done += run;
  }
}
