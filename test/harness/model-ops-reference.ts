/**
 * Float64 references of the forward-pass glue kernels (ops/model/), and their inputs,
 * shared by test/model-ops.test.ts and examples/cases/model-ops.ts. Plain loops over
 * row-major arrays; bf16 data is handled as its exact values.
 */
import { roundTo } from '../../compiler/ir/numerics.js';
import { prng } from './prng.js';

/** out[r, :] = src[idx[r], :] for idx[r] in [0, rows), a zero row otherwise (embed_tokens, gather_rows). */
export function gatherRowsRef(src: ArrayLike<number>, idx: ArrayLike<number>, rows: number, H: number): Float64Array {
  const out = new Float64Array(idx.length * H);
  for (let r = 0; r < idx.length; r++) {
    const s = idx[r];
    if (Number.isInteger(s) && s >= 0 && s < rows) for (let h = 0; h < H; h++) out[r * H + h] = src[s * H + h];
  }
  return out;
}

/** out[t, :] = concat(a[t, :], b[t, :]). */
export function concatHalvesRef(a: ArrayLike<number>, b: ArrayLike<number>, T: number, H: number): Float64Array {
  const out = new Float64Array(T * 2 * H);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      out[t * 2 * H + h] = a[t * H + h];
      out[t * 2 * H + H + h] = b[t * H + h];
    }
  }
  return out;
}

/** bf16 of the exact sum (double addition then one rounding; the sum of two bf16 values is exact in double unless far apart, where rounding it first cannot matter). */
export function residualAddRef(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => roundTo('bf16', a[i] + b[i]));
}

/**
 * logits[t, e] = sum_h x[t, h] w[e, h] in float64, and sum_h |x[t, h] w[e, h]|, which
 * scales the f32 rounding error bound (see linearErrorBound).
 */
export function linearRef(x: ArrayLike<number>, w: ArrayLike<number>, T: number, H: number, E: number): { y: Float64Array; absSum: Float64Array } {
  const y = new Float64Array(T * E);
  const absSum = new Float64Array(T * E);
  for (let t = 0; t < T; t++) {
    for (let e = 0; e < E; e++) {
      let s = 0;
      let a = 0;
      for (let h = 0; h < H; h++) {
        const p = x[t * H + h] * w[e * H + h];
        s += p;
        a += Math.abs(p);
      }
      y[t * E + e] = s;
      absSum[t * E + e] = a;
    }
  }
  return { y, absSum };
}

/**
 * Worst-case error of an f32 dot product summed by `threads` threads (each adding every
 * threads-th product in order) and a tree over the threads: every product passes through
 * at most d = ceil(H / threads) + log2(threads) + 1 roundings (the +1 is the product's own),
 * so |err| <= gamma_d * sum|x w| with gamma_d = d u / (1 - d u), u = 2^-24 (Higham, ch. 3).
 */
export function linearErrorBound(absSum: number, H: number, threads: number): number {
  const d = Math.ceil(H / threads) + Math.log2(threads) + 1;
  const u = 2 ** -24;
  return ((d * u) / (1 - d * u)) * absSum;
}

/**
 * n bf16 values as float32s: random sign, mantissa and binade in [2^lo, 2^hi), and a few
 * specials (±0, ±inf, subnormals, the largest finite) when `specials`.
 */
export function bf16Values(seed: number, n: number, lo: number, hi: number, specials = false): Float32Array {
  const r = prng(seed);
  const extra = [0, -0, Infinity, -Infinity, 2 ** -133, -(2 ** -128), 3.3895313892515355e38];
  return Float32Array.from({ length: n }, () => {
    if (specials && r() < 0.05) return extra[Math.floor(r() * extra.length)];
    const v = (1 + Math.floor(r() * 128) / 128) * 2 ** Math.floor(lo + (hi - lo) * r());
    return r() < 0.5 ? -v : v;
  });
}

/** n row indices, mostly in [0, rows), some out of range on either side (-1, rows, large). */
export function rowIndices(seed: number, n: number, rows: number): Int32Array {
  const r = prng(seed);
  const bad = [-1, -2147483648, rows, rows + 1, 2147483647];
  return Int32Array.from({ length: n }, () => (r() < 0.2 ? bad[Math.floor(r() * bad.length)] : Math.floor(r() * rows)));
}
