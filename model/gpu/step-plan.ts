/**
 * Where a step's rows go: for every new token, its sequence (cache slot), its RoPE
 * position and its cache position, and which attention path serves the step
 * (model/gpu/attention.ts). Streams are the KV-cache streams of model/kvcache.ts: the
 * main model (stream 0, cache position = RoPE position) and MTP layer k (stream 1 + k,
 * whose entry i sits at position i + k + 1: the layer has no entry for positions <= k).
 */
import type { DeviceTensor } from '../../backends/common/kernel-runtime.js';
import type { KvCache } from '../kvcache.js';
import type { Recorder } from './recorder.js';

export type AttendMode = 'fresh' | 'uniform' | 'chunk';

export interface DevicePlan {
  readonly mode: AttendMode;
  readonly T: number;
  readonly ropePos: DeviceTensor;
  readonly cachePos: DeviceTensor;
  /** Cache slot per row; -1 for the padding rows of a uniform step (not written). */
  readonly batchIdx: DeviceTensor;
  /** fresh: cumulative row counts, B + 1 entries (B sequences). */
  readonly cu?: DeviceTensor;
  /** uniform: tokens per slot, cache lengths after the step ([B], 0 for idle slots), the longest. */
  readonly NQ?: number;
  readonly seqLens?: DeviceTensor;
  readonly maxLen?: number;
  /** chunk: the one sequence and its length before the step. */
  readonly seq: number;
  readonly hist: number;
}

export interface StepRows {
  readonly mode: AttendMode;
  /** Host view of the rows: sequence (-1 = padding) and index among its new tokens. */
  readonly rows: readonly { readonly seq: number; readonly i: number }[];
}

/**
 * Plans one step of `stream` adding `n` tokens to each listed sequence. `uniform` asks for
 * the decode path (every listed sequence adds the same n <= slack; rows are slot-major,
 * B * n of them). Otherwise sequences without history are packed (fresh), or a single
 * sequence with history is a chunk.
 */
export function planStep(
  r: Recorder, kv: KvCache, stream: number, seqs: readonly { seq: number; n: number }[], uniform: boolean,
): { plan: DevicePlan; rows: StepRows } {
  const shift = stream === 0 ? 0 : stream;
  const lens = seqs.map((s) => kv.length(s.seq, stream));
  seqs.forEach((s) => kv.ensureRoom(s.seq, s.n, stream));
  const tag = `plan${stream}`;
  const rope: number[] = [], cache: number[] = [], batch: number[] = [];
  const rows: { seq: number; i: number }[] = [];
  const put = (seq: number, i: number, c: number) => {
    rows.push({ seq, i });
    batch.push(seq);
    cache.push(seq < 0 ? 0 : c);
    rope.push(seq < 0 ? 0 : c + shift);
  };
  const inputs = () => ({
    ropePos: r.ints(`${tag}.rope`, rope), cachePos: r.ints(`${tag}.cache`, cache), batchIdx: r.ints(`${tag}.batch`, batch),
  });
  if (uniform) {
    const n = seqs[0]?.n ?? 0;
    if (seqs.some((s) => s.n !== n)) throw new Error(`uniform step: every sequence must add the same number of tokens (got ${seqs.map((s) => s.n).join(', ')})`);
    if (n < 1 || n > kv.slack) throw new Error(`uniform step: ${n} tokens per sequence; the rings have room for 1..${kv.slack}`);
    const after = new Array<number>(kv.B).fill(0);
    const lenOf = new Map(seqs.map((s, j) => [s.seq, lens[j]]));
    for (let b = 0; b < kv.B; b++) {
      const len = lenOf.get(b);
      for (let i = 0; i < n; i++) put(len === undefined ? -1 : b, i, (len ?? 0) + i);
      if (len !== undefined) after[b] = len + n;
    }
    const plan: DevicePlan = {
      mode: 'uniform', T: kv.B * n, ...inputs(), NQ: n, seqLens: r.ints(`${tag}.lens`, after), maxLen: Math.max(...after), seq: -1, hist: 0,
    };
    return { plan, rows: { mode: 'uniform', rows } };
  }
  if (lens.every((l) => l === 0)) {
    const cu = [0];
    for (const s of seqs) {
      for (let i = 0; i < s.n; i++) put(s.seq, i, i);
      cu.push(cu[cu.length - 1] + s.n);
    }
    const plan: DevicePlan = { mode: 'fresh', T: cu[cu.length - 1], ...inputs(), cu: r.ints(`${tag}.cu`, cu), seq: -1, hist: 0 };
    return { plan, rows: { mode: 'fresh', rows } };
  }
  if (seqs.length !== 1) throw new Error('a step over sequences with history adds tokens to one sequence at a time, or the same count to each (uniform)');
  const [{ seq, n }] = seqs;
  for (let i = 0; i < n; i++) put(seq, i, lens[0] + i);
  const plan: DevicePlan = { mode: 'chunk', T: n, ...inputs(), seq, hist: lens[0] };
  return { plan, rows: { mode: 'chunk', rows } };
}
