/**
 * Float64 attention references written straight from the fact sheet
 * (../shared/mimo-v2-flash.md §2): scores q·k * scale, the sink appended as one extra
 * logit column per head (raw, not scaled), softmax over the row, the sink column
 * dropped, then p·V. Causal with an optional window of W keys including the query's own
 * position (key j visible from position i iff i - W < j <= i). GQA: query head h reads
 * KV head floor(h / (HQ / HKV)). Layouts are token-major: q[T, HQ, DQK],
 * k[S, HKV, DQK], v[S, HKV, DV], out[T, HQ, DV].
 */
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
