/**
 * Attention kernels (ops/attention): varlen prefill (SWA with sinks, global), split-K global
 * decode and its merge, SWA decode over a ring, RoPE, and the KV-cache writes, at the
 * model's head dims (DQK = 192, DV = 128, window 128) with GQA (HQ = 4, HKV = 2).
 * References, inputs and launch arguments: test/harness/attention-reference.ts.
 *
 * Tolerances (test/attention.test.ts, test/rope-kvcache.test.ts):
 *   bf16 outputs (prefill, decode, merge, RoPE)  rtol = atol = 1e-2 (one bf16 rounding)
 *   global_decode_partial's f32 partial states   merged in float64 on the host, rtol = 2^-7,
 *                                                atol = 2^-9 (probabilities rounded to bf16 for P·V)
 *   KV-cache writes                              bit-exact (k copied, v_scaled = bf16(f32(0.707 v)))
 */
import { packArray, unpackArray } from '../../compiler/ir/numerics.js';
import { ROPE, ropeCosSinTable } from '../../model/rope.js';
import { runKernel, type Backend } from '../../test/harness/backends.js';
import type { Tolerance } from '../../test/harness/close.js';
import {
  MIMO_ATTENTION, batchReference, batchTokens, decodeCase, decodeMergeArgs, decodeReference, emptyCache, globalDecodeArgs, hostMerge,
  kvWriteArgs, makeBatch, packed, prefillArgs, ropeRows, scaleV, swaDecodeArgs, writeRef, type Kind, type Partials, type Tokens,
} from '../../test/harness/attention-reference.js';
import { uniform } from '../../test/harness/prng.js';
import { close, exact, floats, launch, once, type Case, type Outputs } from './check.js';

const { DQK, DV, WINDOW, ROPE_DIM } = MIMO_ATTENTION;
const BF16_OUT: Tolerance = { rtol: 1e-2, atol: 1e-2 };
const F32_PARTIALS: Tolerance = { rtol: 2 ** -7, atol: 2 ** -9 };
const [HQ, HKV] = [4, 2];
/** Learned per-head sink logits of SWA layers. */
const SINKS = Float32Array.from([0.5, -1, 2, 0]);

/** A 37-token prompt and a 60-token chunk after a 180-token prefix (keys beyond the window) in one varlen batch. */
function prefillCase(kind: Kind): Case {
  const b = makeBatch(31, HQ, HKV, [[37, 37], [60, 240]]);
  const ref = once(() => batchReference(kind, b, SINKS));
  return launch(`${kind}_prefill`, `T=${batchTokens(b)} S=${b.cuK[2]} HQ=${HQ} HKV=${HKV}`, () => prefillArgs(kind, b, SINKS),
    (o) => ({ out: close(floats(o.out), ref(), BF16_OUT) }));
}

/** One new token (NQ = 1) for two sequences of 38 and 301 tokens: the split-K pair and SWA decode over a 136-slot ring. */
function decodeCases(): Case[] {
  const c = decodeCase(41, HQ, HKV, 1, [38, 301]);
  const [SMAX, P, R] = [320, 4, WINDOW + 8];
  const shape = `B=2 lens=${c.lens} HQ=${HQ} HKV=${HKV}`;
  const globalRef = once(() => decodeReference('global', c));
  const swaRef = once(() => decodeReference('swa', c, SINKS));
  // decode_merge reads the partial states global_decode_partial wrote on the same backend.
  const partials = new Map<Backend, Promise<Outputs>>();
  const partial = (backend: Backend) => {
    if (!partials.has(backend)) partials.set(backend, runKernel(backend, 'global_decode_partial', globalDecodeArgs(c, P, SMAX)));
    return partials.get(backend)!;
  };
  return [
    { kernel: 'global_decode_partial', shape: `${shape} SMAX=${SMAX} P=${P}`, run: partial, check: (o) => ({ 'host-merged partials': close(hostMerge(o as Partials, P), globalRef(), F32_PARTIALS) }) },
    {
      kernel: 'decode_merge', shape: `${shape} P=${P}`,
      run: async (backend) => runKernel(backend, 'decode_merge', decodeMergeArgs(c, P, await partial(backend))),
      check: (o) => ({ out: close(floats(o.out), globalRef(), BF16_OUT) }),
    },
    launch('swa_decode', `${shape} R=${R}`, () => swaDecodeArgs(c, R, SINKS), (o) => ({ out: close(floats(o.out), swaRef(), BF16_OUT) })),
  ];
}

/** RoPE of a 6-token prompt and 6 tokens at the end of a 4096-position table (SWA base). */
function ropeCase(): Case {
  const MAXPOS = 4096;
  const positions = Int32Array.from([0, 1, 2, 3, 4, 5, 4090, 4091, 4092, 4093, 4094, 4095]);
  const T = positions.length;
  const q = unpackArray('bf16', packArray('bf16', uniform(51, T * HQ * DQK, -2, 2)));
  const k = unpackArray('bf16', packArray('bf16', uniform(52, T * HKV * DQK, -2, 2)));
  return launch('rope', `T=${T} HQ=${HQ} HKV=${HKV} MAXPOS=${MAXPOS}`, () => ({
    tensors: { q: packArray('bf16', q), k: packArray('bf16', k), positions, cos_sin: ropeCosSinTable(MAXPOS, ROPE.SWA_BASE, ROPE_DIM), q_rot: new Uint16Array(q.length), k_rot: new Uint16Array(k.length) },
    scalars: { T, HQ, HKV, DQK, MAXPOS, ROT: ROPE_DIM },
  }), (o) => ({
    q_rot: close(floats(o.q_rot), ropeRows(q, positions, HQ, ROPE.SWA_BASE), BF16_OUT),
    k_rot: close(floats(o.k_rot), ropeRows(k, positions, HKV, ROPE.SWA_BASE), BF16_OUT),
  }));
}

/** One KV write into an empty cache of B = 2 sequences and S slots (SMAX, or the ring's R). */
function kvCase(ring: boolean, S: number, tok: Tokens, seed: number): Case {
  const [B, T] = [2, tok.batch.length];
  const kBits = packArray('bf16', uniform(seed, T * HKV * DQK, -3, 3)) as Uint16Array;
  const vBits = packArray('bf16', uniform(seed + 1, T * HKV * DV, -3, 3)) as Uint16Array;
  const state = emptyCache(B, S, HKV);
  const vScaled = scaleV(unpackArray('bf16', vBits));
  const want = once(() => writeRef(state, tok, kBits, vScaled, HKV, B, S, ring));
  const name = ring ? 'kv_write_ring' : 'kv_write_linear';
  return launch(name, `T=${T} HKV=${HKV} B=${B} ${ring ? 'R' : 'SMAX'}=${S}`, () => kvWriteArgs(ring, state, tok, kBits, vBits, HKV, B, S),
    (o) => ({ k_cache: exact(o.k_cache, want().k), v_cache: exact(o.v_cache, want().v), v_scaled: exact(o.v_scaled, vScaled) }));
}

export function attentionCases(): Case[] {
  return [
    prefillCase('swa'),
    prefillCase('global'),
    ...decodeCases(),
    ropeCase(),
    // A 9-token prompt and a 7-token chunk at positions 40..46.
    kvCase(false, 64, packed([[0, 0, 9], [1, 40, 7]]), 61),
    // MTP-style steps past the window: 3 tokens at 300..302, 2 at 135..136 (wrapping to slot 0).
    kvCase(true, WINDOW + 8, packed([[0, 300, 3], [1, 135, 2]]), 62),
  ];
}
