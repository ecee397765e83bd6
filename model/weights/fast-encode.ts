/**
 * Bulk f32 -> narrow-format encoding for writing millions of weights. numerics.encode is
 * exact but costs microseconds per value (log2, powers); this encoder is built *from*
 * numerics.decode — the sorted table of the format's finite values — and rounds by binary
 * search with ties to the even code, so it yields the same bits (test/weights.test.ts
 * checks it against encode) at a few tens of nanoseconds per value.
 */
import { decode, type MiniFloat } from '../../compiler/ir/numerics.js';

export function tableEncoder(fmt: MiniFloat): (x: number) => number {
  const signBit = 1 << (fmt.ebits + fmt.mbits);
  // Positive finite codes are 0..top, and decode is increasing over them.
  const values: number[] = [];
  for (let c = 0; c < signBit && Number.isFinite(decode(fmt, c)); c++) values.push(decode(fmt, c));
  const table = Float64Array.from(values);
  const top = table.length - 1;
  const infBits = ((1 << fmt.ebits) - 1) << fmt.mbits;
  // Past max: saturating formats clamp (inf included); the others round to inf from max + half an ulp on.
  const overflowFrom = table[top] + (table[top] - table[top - 1]) / 2;
  return (x: number): number => {
    if (Number.isNaN(x)) return fmt.nan;
    const sign = x < 0 || Object.is(x, -0) ? signBit : 0;
    const a = Math.abs(x);
    if (a >= table[top]) return sign | (!fmt.saturate && a >= overflowFrom ? infBits : top);
    let lo = 0;
    let hi = top; // table[lo] <= a < table[hi]
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (table[mid] <= a) lo = mid;
      else hi = mid;
    }
    const half = (table[lo] + table[hi]) / 2; // exact: both have few significant bits
    return sign | (a < half ? lo : a > half ? hi : lo % 2 === 0 ? lo : hi);
  };
}

/** Encodes every value (each an f32) into a fresh array of the format's bit patterns. */
export function encodeAll(encode: (x: number) => number, bytesPerValue: 1 | 2, values: ArrayLike<number>): Uint8Array | Uint16Array {
  const out = bytesPerValue === 1 ? new Uint8Array(values.length) : new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = encode(values[i]);
  return out;
}
