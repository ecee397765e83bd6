/**
 * Float64 attention references written straight from the fact sheet
 * (../shared/mimo-v2-flash.md §2): scores q·k * scale, the sink appended as one extra
 * logit column per head (raw, not scaled), softmax over the row, the sink column
 * dropped, then p·V. Causal with an optional window of W keys including the query's own
 * position (key j visible from position i iff i - W < j <= i). GQA: query head h reads
 * KV head floor(h / (HQ / HKV)). Layouts are token-major: q[T, HQ, DQK],
 * k[S, HKV, DQK], v[S, HKV, DV], out[T, HQ, DV].
 *
 * Below the references: the inputs and launch arguments of the attention, RoPE and
 * KV-cache kernels that test/attention.test.ts, test/rope-kvcache.test.ts and
 * examples/run-all-ops.mts share (varlen batches, decode caches, KV writes).
 */
import { packArray } from '../../compiler/ir/numerics.js';
import type { HostArray, LaunchArgs } from '../../compiler/launch/args.js';
import { uniform } from './prng.js';
import { bf16 } from './bf16.js';

export interface AttentionShape {
  readonly HQ: number;
  readonly HKV: number;
  readonly DQK: number;
  readonly DV: number;
}

export interface RowQuery {
  /** The query vector of one head, length DQK. */
  readonly q: ArrayLike<number>;
  /** Absolute position of the query token in its sequence. */
  readonly pos: number;
}

/**
 * One output row: attention of a query at `pos` over keys 0..nKeys-1 (positions equal
 * indices), reading key j with key(j) and value(j) (length DQK and DV).
 */
export function attendRow(
  q: ArrayLike<number>, pos: number, nKeys: number, key: (j: number) => ArrayLike<number>, value: (j: number) => ArrayLike<number>,
  opts: { readonly scale: number; readonly window?: number; readonly sink?: number; readonly DV: number },
): Float64Array {
  const logits: number[] = [];
  const keys: number[] = [];
  for (let j = 0; j < nKeys; j++) {
    if (j > pos) continue;
    if (opts.window !== undefined && j <= pos - opts.window) continue;
    const kv = key(j);
    let s = 0;
    for (let d = 0; d < q.length; d++) s += q[d] * kv[d];
    logits.push(s * opts.scale);
    keys.push(j);
  }
  // Append the sink column, softmax, drop it.
  const all = opts.sink === undefined ? logits : [...logits, opts.sink];
  const out = new Float64Array(opts.DV);
  if (!all.length) return out; // every key masked: zeros, never NaN
  const m = Math.max(...all);
  const denom = all.reduce((a, x) => a + Math.exp(x - m), 0);
  keys.forEach((j, idx) => {
    const p = Math.exp(logits[idx] - m) / denom;
    const vj = value(j);
    for (let d = 0; d < opts.DV; d++) out[d] += p * vj[d];
  });
  return out;
}

/**
 * A batch of sequences in the varlen layout serving engines use: query tokens of all
 * sequences concatenated (cuQ[b]..cuQ[b+1]), keys likewise (cuK); a sequence's queries
 * are its last qLen positions, so query i of sequence b sits at position kLen - qLen + i.
 */
export function attentionVarlen(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, cuQ: ArrayLike<number>, cuK: ArrayLike<number>, shape: AttentionShape,
  opts: { readonly scale: number; readonly window?: number; readonly sinks?: ArrayLike<number> },
): Float64Array {
  const { HQ, HKV, DQK, DV } = shape;
  const T = cuQ[cuQ.length - 1];
  const out = new Float64Array(T * HQ * DV);
  const group = HQ / HKV;
  for (let b = 0; b + 1 < cuQ.length; b++) {
    const qLen = cuQ[b + 1] - cuQ[b];
    const kLen = cuK[b + 1] - cuK[b];
    for (let i = 0; i < qLen; i++) {
      const t = cuQ[b] + i;
      for (let h = 0; h < HQ; h++) {
        const kh = Math.floor(h / group);
        const row = attendRow(
          slice(q, (t * HQ + h) * DQK, DQK), kLen - qLen + i, kLen,
          (j) => slice(k, ((cuK[b] + j) * HKV + kh) * DQK, DQK),
          (j) => slice(v, ((cuK[b] + j) * HKV + kh) * DV, DV),
          { scale: opts.scale, window: opts.window, sink: opts.sinks?.[h], DV },
        );
        out.set(row, (t * HQ + h) * DV);
      }
    }
  }
  return out;
}

const slice = (a: ArrayLike<number>, start: number, n: number): ArrayLike<number> =>
  Array.prototype.slice.call(a, start, start + n) as number[];

/** MiMo-V2-Flash attention constants (fact sheet §1). */
export const MIMO_ATTENTION = {
  DQK: 192, DV: 128, WINDOW: 128, SCALE: 192 ** -0.5, V_SCALE: 0.707, ROPE_DIM: 64, SWA_BASE: 10000, GLOBAL_BASE: 5000000,
  SWA: { HQ: 64, HKV: 8 }, GLOBAL: { HQ: 64, HKV: 4 },
} as const;

/**
 * Partial NeoX (rotate-half) RoPE on the first `rotDim` dims of one head vector, in place,
 * at position pos with base `base`: pairs (i, i + rotDim/2), angle pos * base^(-2i/rotDim).
 */
export function ropeRef(x: Float64Array | number[], pos: number, base: number, rotDim: number): void {
  const half = rotDim / 2;
  for (let i = 0; i < half; i++) {
    const angle = pos * base ** ((-2 * i) / rotDim);
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    const [x1, x2] = [x[i], x[i + half]];
    x[i] = x1 * c - x2 * s;
    x[i + half] = x2 * c + x1 * s;
  }
}

/** Partial RoPE (ropeRef) of every head row of x[T, H, D], token t at positions[t]. */
export function ropeRows(x: ArrayLike<number>, positions: ArrayLike<number>, H: number, base: number, rot: number = MIMO_ATTENTION.ROPE_DIM, D: number = MIMO_ATTENTION.DQK): Float64Array {
  const out = new Float64Array(x.length);
  for (let row = 0; row * D < x.length; row++) {
    const v = Array.from({ length: D }, (_, d) => x[row * D + d]);
    ropeRef(v, positions[Math.floor(row / H)], base, rot);
    out.set(v, row * D);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Varlen batches, prefill and decode inputs

const { DQK, DV, WINDOW, SCALE, V_SCALE } = MIMO_ATTENTION;
/** The bf16 NaN that output buffers start as: an element a kernel should write but does not shows up. */
export const BF16_NAN = 0x7fc0;

export interface Batch {
  readonly HQ: number;
  readonly HKV: number;
  readonly cuQ: number[];
  readonly cuK: number[];
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
}

/** Sequences of [qLen, kLen]; q in [-3, 3], k in [-2, 2] give scores of std ~2 (peaked softmax rows). */
export function makeBatch(seed: number, HQ: number, HKV: number, lens: readonly (readonly [number, number])[]): Batch {
  const cuQ = [0], cuK = [0];
  for (const [ql, kl] of lens) {
    cuQ.push(cuQ[cuQ.length - 1] + ql);
    cuK.push(cuK[cuK.length - 1] + kl);
  }
  const T = cuQ[cuQ.length - 1], S = cuK[cuK.length - 1];
  return {
    HQ, HKV, cuQ, cuK,
    q: bf16(uniform(seed, T * HQ * DQK, -3, 3)),
    k: bf16(uniform(seed + 1, S * HKV * DQK, -2, 2)),
    v: bf16(uniform(seed + 2, S * HKV * DV, -1, 1)),
  };
}

export type Kind = 'swa' | 'global';
/** Query tokens of a batch. */
export const batchTokens = (b: Batch): number => b.cuQ[b.cuQ.length - 1];

/** swa_prefill / global_prefill arguments (B sequences: B + 1 offsets); sinks (swa only) default to zeros, out starts as NaN. */
export function prefillArgs(kind: Kind, b: Batch, sinks?: Float32Array): LaunchArgs {
  const T = batchTokens(b), S = b.cuK[b.cuK.length - 1];
  const tensors: Record<string, HostArray> = {
    q: packArray('bf16', b.q), k: packArray('bf16', b.k), v: packArray('bf16', b.v),
    cu_q: Int32Array.from(b.cuQ), cu_k: Int32Array.from(b.cuK), out: new Uint16Array(T * b.HQ * DV).fill(BF16_NAN),
  };
  if (kind === 'swa') tensors.sink = sinks ?? new Float32Array(b.HQ);
  return { tensors, scalars: { T, S, HQ: b.HQ, HKV: b.HKV, B: b.cuQ.length - 1 } };
}

/** The float64 reference of a batch. It slices its inputs per key: plain arrays make that ~20x faster than typed ones. */
export function batchReference(kind: Kind, b: Batch, sinks?: ArrayLike<number>): Float64Array {
  return attentionVarlen(Array.from(b.q), Array.from(b.k), Array.from(b.v), b.cuQ, b.cuK, { HQ: b.HQ, HKV: b.HKV, DQK, DV }, kind === 'swa' ? { scale: SCALE, window: WINDOW, sinks: sinks ?? new Float32Array(b.HQ) } : { scale: SCALE });
}

/** Decode: NQ new tokens per sequence, already in the cache. */
export interface DecodeCase {
  readonly HQ: number;
  readonly HKV: number;
  readonly NQ: number;
  /** Total length per sequence (including the NQ new tokens). */
  readonly lens: readonly number[];
  /** Whole sequences as a prefill batch (qLen = kLen = len). */
  readonly full: Batch;
}

export function decodeCase(seed: number, HQ: number, HKV: number, NQ: number, lens: readonly number[]): DecodeCase {
  return { HQ, HKV, NQ, lens, full: makeBatch(seed, HQ, HKV, lens.map((l) => [l, l] as const)) };
}

/** q of the new tokens: the last NQ query rows of every sequence, [B, NQ, HQ, DQK]. */
export function decodeQueries(c: DecodeCase): Float32Array {
  const out = new Float32Array(c.lens.length * c.NQ * c.HQ * DQK);
  c.lens.forEach((len, b) => {
    const start = (c.full.cuQ[b] + len - c.NQ) * c.HQ * DQK;
    out.set(c.full.q.subarray(start, start + c.NQ * c.HQ * DQK), b * c.NQ * c.HQ * DQK);
  });
  return out;
}

/**
 * Cache [B, slots, HKV, D] of c.full.k or c.full.v with key position p of sequence b in
 * slot p % ring (ring = slots for the global cache); slots no visible position maps to
 * hold NaN, so reading one poisons the output. Built once per case and size.
 */
export function decodeCache(c: DecodeCase, src: Float32Array, D: number, slots: number): Uint16Array {
  if (!caches.has(c)) caches.set(c, new Map());
  const mine = caches.get(c)!;
  const key = `${src === c.full.k ? 'k' : 'v'}${slots}`;
  if (!mine.has(key)) mine.set(key, buildCache(c, src, D, slots));
  return mine.get(key)!;
}
const caches = new WeakMap<DecodeCase, Map<string, Uint16Array>>();
function buildCache(c: DecodeCase, src: Float32Array, D: number, slots: number): Uint16Array {
  const out = new Uint16Array(c.lens.length * slots * c.HKV * D).fill(BF16_NAN);
  const row = c.HKV * D;
  c.lens.forEach((len, b) => {
    for (let p = Math.max(0, len - slots); p < len; p++) {
      out.set(packArray('bf16', src.subarray((c.full.cuK[b] + p) * row, (c.full.cuK[b] + p + 1) * row)), (b * slots + (p % slots)) * row);
    }
  });
  return out;
}

/** Only the new tokens after their prefix: the same rows as the end of a whole-sequence prefill. */
export function tailBatch(c: DecodeCase): Batch {
  return { ...c.full, cuQ: c.lens.map((_, b) => b * c.NQ).concat(c.lens.length * c.NQ), q: decodeQueries(c) };
}

/** Reference rows of the new tokens, [B, NQ, HQ, DV]. */
export const decodeReference = (kind: Kind, c: DecodeCase, sinks?: ArrayLike<number>): Float64Array => batchReference(kind, tailBatch(c), sinks);

/** global_decode_partial arguments: P splits over a cache of SMAX slots; partials start as NaN. */
export function globalDecodeArgs(c: DecodeCase, P: number, SMAX: number): LaunchArgs {
  const rowsN = c.lens.length * c.NQ * c.HQ;
  return {
    tensors: {
      q: packArray('bf16', decodeQueries(c)), k_cache: decodeCache(c, c.full.k, DQK, SMAX), v_cache: decodeCache(c, c.full.v, DV, SMAX), seq_lens: Int32Array.from(c.lens),
      part_acc: new Float32Array(rowsN * P * DV).fill(NaN), part_max: new Float32Array(rowsN * P).fill(NaN), part_sum: new Float32Array(rowsN * P).fill(NaN),
    },
    scalars: { B: c.lens.length, NQ: c.NQ, HQ: c.HQ, HKV: c.HKV, SMAX, P },
  };
}

export type Partials = Record<'part_acc' | 'part_max' | 'part_sum', Float32Array>;

/** decode_merge arguments for global_decode_partial's outputs. */
export function decodeMergeArgs(c: DecodeCase, P: number, part: Record<string, HostArray>): LaunchArgs {
  const rowsN = c.lens.length * c.NQ * c.HQ;
  return {
    tensors: { part_acc: part.part_acc, part_max: part.part_max, part_sum: part.part_sum, out: new Uint16Array(rowsN * DV).fill(BF16_NAN) },
    scalars: { B: c.lens.length, NQ: c.NQ, HQ: c.HQ, P },
  };
}

/** decode_merge's math in float64 on the host, from the f32 partials. */
export function hostMerge(p: Partials, P: number): Float64Array {
  const rowsN = p.part_max.length / P;
  const out = new Float64Array(rowsN * DV);
  for (let r = 0; r < rowsN; r++) {
    let M = -Infinity;
    for (let s = 0; s < P; s++) M = Math.max(M, p.part_max[r * P + s]);
    let sum = 0;
    for (let s = 0; s < P; s++) sum += p.part_sum[r * P + s] * Math.exp(p.part_max[r * P + s] - M);
    for (let d = 0; d < DV; d++) {
      let o = 0;
      for (let s = 0; s < P; s++) o += p.part_acc[(r * P + s) * DV + d] * Math.exp(p.part_max[r * P + s] - M);
      out[r * DV + d] = sum > 0 ? o / sum : 0;
    }
  }
  return out;
}

/** swa_decode arguments over a ring of R slots; out starts as NaN. */
export function swaDecodeArgs(c: DecodeCase, R: number, sinks: Float32Array): LaunchArgs {
  const B = c.lens.length;
  return {
    tensors: {
      q: packArray('bf16', decodeQueries(c)), k_ring: decodeCache(c, c.full.k, DQK, R), v_ring: decodeCache(c, c.full.v, DV, R),
      sink: sinks, seq_lens: Int32Array.from(c.lens), out: new Uint16Array(B * c.NQ * c.HQ * DV).fill(BF16_NAN),
    },
    scalars: { B, NQ: c.NQ, HQ: c.HQ, HKV: c.HKV, R },
  };
}

// ---------------------------------------------------------------------------------------
// KV-cache writes (kv_write_linear, kv_write_ring)

/** A signalling-NaN pattern no kernel output can produce (bf16 NaNs come out as 0x7fff): cache rows start as it. */
export const KV_SENTINEL = 0x7f81;

export interface Tokens { batch: Int32Array; pos: Int32Array }
export interface KvState { k: Uint16Array; v: Uint16Array }

/** The f64 reference of the V scale: product in f64, rounded to f32, then to bf16 (numerics' encode). */
export const scaleV = (v: ArrayLike<number>): Uint16Array => packArray('bf16', Float64Array.from(v, (x) => Math.fround(V_SCALE * x))) as Uint16Array;

/** The reference write: tokens applied in order (a later token wins its row), skipped where the kernel skips. */
export function writeRef(state: KvState, tok: Tokens, kBits: Uint16Array, vScaled: Uint16Array, HKV: number, B: number, S: number, ring: boolean): KvState {
  const k = state.k.slice(), v = state.v.slice();
  for (let t = 0; t < tok.batch.length; t++) {
    const [b, p] = [tok.batch[t], tok.pos[t]];
    if (b < 0 || b >= B || p < 0 || (!ring && p >= S)) continue;
    const slot = ring ? p % S : p;
    for (let h = 0; h < HKV; h++) {
      const row = (b * S + slot) * HKV + h;
      k.set(kBits.subarray((t * HKV + h) * DQK, (t * HKV + h + 1) * DQK), row * DQK);
      v.set(vScaled.subarray((t * HKV + h) * DV, (t * HKV + h + 1) * DV), row * DV);
    }
  }
  return { k, v };
}

/** kv_write_ring (S = R slots) or kv_write_linear (S = SMAX) arguments on `state`; v_scaled starts as the sentinel. */
export function kvWriteArgs(ring: boolean, state: KvState, tok: Tokens, kBits: Uint16Array, vBits: Uint16Array, HKV: number, B: number, S: number): LaunchArgs {
  const T = tok.batch.length;
  return {
    tensors: { k_rot: kBits, v: vBits, batch_idx: tok.batch, positions: tok.pos, k_cache: state.k, v_cache: state.v, v_scaled: new Uint16Array(T * HKV * DV).fill(KV_SENTINEL) },
    scalars: { T, HKV, DQK, DV, B, ...(ring ? { R: S } : { SMAX: S }) },
  };
}

export const emptyCache = (B: number, S: number, HKV: number): KvState => ({
  k: new Uint16Array(B * S * HKV * DQK).fill(KV_SENTINEL), v: new Uint16Array(B * S * HKV * DV).fill(KV_SENTINEL),
});

/** Sequences packed contiguously at consecutive positions: seqs[i] = [batch index, first position, token count]. */
export function packed(seqs: [number, number, number][]): Tokens {
  const batch: number[] = [], pos: number[] = [];
  for (const [b, p0, n] of seqs) for (let i = 0; i < n; i++) (batch.push(b), pos.push(p0 + i));
  return { batch: Int32Array.from(batch), pos: Int32Array.from(pos) };
}
