/**
 * The KV caches of one model instance, for up to `sequences` sequences at once:
 *  - global layers keep every position: k[B, SMAX, HKV, 192], v[B, SMAX, HKV, 128];
 *  - sliding-window layers keep a ring of R = window + slack slots per sequence, position p
 *    in slot p % R. slack >= the tokens one step adds per sequence (MTP verify: 4), because
 *    a step writes its keys before attending, and its first query must still see the
 *    window behind it (R >= window + n - 1), and because a rejected speculative write must
 *    only ever overwrite slots that have left every future window (R >= window + n - 1);
 *  - each MTP layer keeps such a ring of its own, with its own length (layer k has no
 *    entry for positions <= k, so its entry count trails the main model's; see model/mtp).
 * A sequence's committed length is the only state: truncating it back restores exactly
 * what every later query can see, since masks use absolute positions and a slot past the
 * length is overwritten before it is read again.
 */
import { tensorBytes, type DeviceTensor, type KernelRuntime } from '../backends/common/kernel-runtime.js';
import { KERNEL_LIMITS } from './kernel-limits.js';
import type { AttentionKind, MimoConfig } from './config.js';

export interface LayerCache {
  readonly kind: AttentionKind;
  readonly k: DeviceTensor;
  readonly v: DeviceTensor;
  /** Rows per sequence: SMAX (global) or R (ring). */
  readonly rows: number;
  readonly kvHeads: number;
}

export interface KvCacheOptions {
  /** Sequences held at once (the cache's batch B). */
  readonly sequences: number;
  /** Positions per sequence the global layers can hold (SMAX). */
  readonly maxContext: number;
  /** Ring slots beyond the window (>= tokens per sequence per step; 4 for MTP verify). */
  readonly slack?: number;
  readonly mtpLayers?: number;
}

export class KvCacheError extends Error {}

/** Lengths per stream: stream 0 is the main model, stream 1 + k MTP layer k. */
export class KvCache {
  readonly B: number;
  readonly SMAX: number;
  readonly R: number;
  readonly slack: number;
  readonly layers: readonly LayerCache[];
  readonly mtp: readonly LayerCache[];
  readonly bytes: number;
  private readonly lengths: Int32Array[];
  private readonly live: boolean[];

  constructor(readonly rt: KernelRuntime, readonly cfg: MimoConfig, opts: KvCacheOptions) {
    const { sequences, maxContext } = opts;
    this.slack = opts.slack ?? 4;
    if (!Number.isInteger(sequences) || sequences < 1) throw new KvCacheError(`KV cache: sequences must be a positive integer, got ${sequences}`);
    if (!Number.isInteger(maxContext) || maxContext < 1) throw new KvCacheError(`KV cache: maxContext must be a positive integer, got ${maxContext}`);
    if (maxContext > cfg.maxPositions) throw new KvCacheError(`KV cache: maxContext ${maxContext} exceeds the model's max_position_embeddings ${cfg.maxPositions}`);
    if (!Number.isInteger(this.slack) || this.slack < 1) throw new KvCacheError(`KV cache: slack must be a positive integer, got ${this.slack}`);
    this.B = sequences;
    // Even, so a sequence's slice of a global cache starts on a 256-byte boundary (a bindable view).
    this.SMAX = Math.ceil(maxContext / 2) * 2;
    this.R = KERNEL_LIMITS.window + this.slack;
    let bytes = 0;
    const make = (kind: AttentionKind, label: string): LayerCache => {
      const a = cfg.attention[kind];
      const rows = kind === 'global' ? this.SMAX : this.R;
      const n = this.B * rows * a.kvHeads;
      const k = this.alloc('bf16', n * a.headDim, `${label}.k`);
      const v = this.alloc('bf16', n * a.vHeadDim, `${label}.v`);
      bytes += tensorBytes('bf16', n * a.headDim) + tensorBytes('bf16', n * a.vHeadDim);
      return { kind, k, v, rows, kvHeads: a.kvHeads };
    };
    this.layers = cfg.layers.map((l, i) => make(l.attention, `layer${i}`));
    this.mtp = Array.from({ length: opts.mtpLayers ?? 0 }, (_, k) => make('swa', `mtp${k}`));
    this.bytes = bytes;
    this.lengths = Array.from({ length: 1 + this.mtp.length }, () => new Int32Array(this.B));
    this.live = Array.from({ length: this.B }, () => false);
  }

  private alloc(dtype: 'bf16', length: number, label: string): DeviceTensor {
    const limit = this.rt.maxBindingBytes;
    const size = tensorBytes(dtype, length);
    if (size > limit) throw new KvCacheError(`KV cache: ${label} needs ${size} bytes, more than this device binds (${limit}); use fewer sequences or a shorter maxContext`);
    return { buffer: this.rt.createBuffer(size, label), dtype, length };
  }

  /** Takes the lowest free sequence slot, empty. */
  allocate(): number {
    const seq = this.live.indexOf(false);
    if (seq < 0) throw new KvCacheError(`KV cache: all ${this.B} sequence slots are in use`);
    this.live[seq] = true;
    for (const l of this.lengths) l[seq] = 0;
    return seq;
  }

  release(seq: number): void {
    this.check(seq);
    this.live[seq] = false;
  }

  private check(seq: number, stream = 0): void {
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.B || !this.live[seq]) {
      throw new KvCacheError(`KV cache: no sequence ${seq} (live: ${this.live.flatMap((l, i) => (l ? [i] : [])).join(', ') || 'none'})`);
    }
    if (!Number.isInteger(stream) || stream < 0 || stream >= this.lengths.length) throw new KvCacheError(`KV cache: no stream ${stream}`);
  }

  /** Committed positions of `seq` (stream 0: the main model; 1 + k: MTP layer k's entries). */
  length(seq: number, stream = 0): number {
    this.check(seq, stream);
    return this.lengths[stream][seq];
  }

  /** Records that `n` more positions of `seq` were written; refuses to pass the capacity. */
  advance(seq: number, n: number, stream = 0): void {
    this.ensureRoom(seq, n, stream);
    this.lengths[stream][seq] += n;
  }

  /** Throws unless `n` more positions fit (global layers hold SMAX per sequence). */
  ensureRoom(seq: number, n: number, stream = 0): void {
    this.check(seq, stream);
    const len = this.lengths[stream][seq];
    if (!Number.isInteger(n) || n < 0) throw new KvCacheError(`KV cache: cannot add ${n} positions`);
    if (len + n > this.SMAX) throw new KvCacheError(`KV cache: sequence ${seq} would hold ${len + n} positions, capacity is ${this.SMAX}`);
  }

  /** Back to `len` committed positions (never forward). */
  truncate(seq: number, len: number, stream = 0): void {
    this.check(seq, stream);
    const cur = this.lengths[stream][seq];
    if (!Number.isInteger(len) || len < 0 || len > cur) throw new KvCacheError(`KV cache: cannot truncate sequence ${seq} (stream ${stream}) from ${cur} to ${len}`);
    this.lengths[stream][seq] = len;
  }

  /** One sequence's slice of a global layer's cache, as a [1, SMAX, HKV, D] view. */
  view(t: DeviceTensor, seq: number): DeviceTensor {
    const per = t.length / this.B;
    const offset = tensorBytes(t.dtype, per) * seq;
    return { buffer: t.buffer, dtype: t.dtype, length: per, offset };
  }

  /**
   * What later queries of `seq` can see, downloaded (tests): per layer the K and V rows of
   * the live positions — every position for global layers, the last `window` for rings.
   */
  async visible(seq: number): Promise<{ k: Uint16Array; v: Uint16Array }[]> {
    const out: { k: Uint16Array; v: Uint16Array }[] = [];
    const all = [...this.layers.map((c) => [c, 0] as const), ...this.mtp.map((c, k) => [c, 1 + k] as const)];
    for (const [c, stream] of all) {
      const len = this.length(seq, stream);
      const lo = c.kind === 'global' ? 0 : Math.max(0, len - KERNEL_LIMITS.window);
      const rows = (t: DeviceTensor, d: number) => this.rows(t, seq, c, c.kvHeads * d, lo, len);
      out.push({ k: await rows(c.k, KERNEL_LIMITS.headDim), v: await rows(c.v, KERNEL_LIMITS.vHeadDim) });
    }
    return out;
  }

  private async rows(t: DeviceTensor, seq: number, c: LayerCache, width: number, lo: number, hi: number): Promise<Uint16Array> {
    const all = (await this.rt.download(t)) as Uint16Array;
    const out = new Uint16Array((hi - lo) * width);
    for (let p = lo; p < hi; p++) {
      const row = seq * c.rows + (c.kind === 'global' ? p : p % this.R);
      out.set(all.subarray(row * width, (row + 1) * width), (p - lo) * width);
    }
    return out;
  }

  destroy(): void {
    for (const c of [...this.layers, ...this.mtp]) {
      c.k.buffer.destroy();
      c.v.buffer.destroy();
    }
  }
}
