/**
 * Exact conversions between f32 and the narrow storage formats, in float64 arithmetic
 * (every f32 is an exact double, and rounding to a narrow format with power-of-two
 * quanta is exact there). Shared by constant folding, the interpreter and tests' host
 * data, so all three agree bit for bit.
 */
export interface MiniFloat {
  readonly ebits: number;
  readonly mbits: number;
  readonly bias: number;
  /** Largest finite magnitude. */
  readonly max: number;
  /** Out-of-range values clamp to ±max (NVIDIA __NV_SATFINITE) instead of becoming ±inf. */
  readonly saturate: boolean;
  /** The format has no infinities (e4m3): exponent-all-ones is still a finite binade. */
  readonly noInf: boolean;
  /** Bit pattern for NaN: NVIDIA's canonical one, sign discarded (cuda_bf16.h, cuda_fp8.h). */
  readonly nan: number;
}

export const BF16: MiniFloat = { ebits: 8, mbits: 7, bias: 127, max: 3.3895313892515355e38, saturate: false, noInf: false, nan: 0x7fff };
export const F16: MiniFloat = { ebits: 5, mbits: 10, bias: 15, max: 65504, saturate: false, noInf: false, nan: 0x7fff };
export const E4M3: MiniFloat = { ebits: 4, mbits: 3, bias: 7, max: 448, saturate: true, noInf: true, nan: 0x7f };
export const E5M2: MiniFloat = { ebits: 5, mbits: 2, bias: 15, max: 57344, saturate: true, noInf: false, nan: 0x7f };

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
export const f32Bits = (x: number): number => ((f32buf[0] = x), u32buf[0]);
export const bitsF32 = (b: number): number => ((u32buf[0] = b >>> 0), f32buf[0]);

/** Round half to even of a non-negative double. */
function roundEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Bit pattern of x (an f32 value) in format `fmt`, round to nearest even. */
export function encode(fmt: MiniFloat, x: number): number {
  const signBit = 1 << (fmt.ebits + fmt.mbits);
  if (Number.isNaN(x)) return fmt.nan;
  const sign = x < 0 || Object.is(x, -0) ? signBit : 0;
  const a = Math.abs(x);
  const infBits = ((1 << fmt.ebits) - 1) << fmt.mbits;
  const overflow = () => sign | (fmt.saturate ? encodeMagnitude(fmt, fmt.max) : infBits);
  if (a === Infinity) return overflow();
  if (a === 0) return sign;
  const minNormalExp = 1 - fmt.bias;
  let e = Math.floor(Math.log2(a));
  // log2 can be off by one near powers of two; fix it exactly.
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const quantum = 2 ** (Math.max(e, minNormalExp) - fmt.mbits);
  const q = roundEven(a / quantum) * quantum;
  if (q > fmt.max) return overflow();
  return sign | encodeMagnitude(fmt, q);
}

function encodeMagnitude(fmt: MiniFloat, q: number): number {
  const minNormal = 2 ** (1 - fmt.bias);
  if (q < minNormal) return Math.round(q / 2 ** (1 - fmt.bias - fmt.mbits));
  let e = Math.floor(Math.log2(q));
  if (2 ** e > q) e--;
  if (2 ** (e + 1) <= q) e++;
  const m = Math.round((q / 2 ** e - 1) * 2 ** fmt.mbits);
  return ((e + fmt.bias) << fmt.mbits) | m;
}

/** Value of a bit pattern of format `fmt`. */
export function decode(fmt: MiniFloat, bits: number): number {
  const signBit = 1 << (fmt.ebits + fmt.mbits);
  const s = bits & signBit ? -1 : 1;
  const e = (bits >> fmt.mbits) & ((1 << fmt.ebits) - 1);
  const m = bits & ((1 << fmt.mbits) - 1);
  const eMax = (1 << fmt.ebits) - 1;
  if (fmt.noInf) {
    if (e === eMax && m === (1 << fmt.mbits) - 1) return NaN;
  } else if (e === eMax) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** (1 - fmt.bias - fmt.mbits);
  return s * (1 + m / 2 ** fmt.mbits) * 2 ** (e - fmt.bias);
}

export const FORMATS = { bf16: BF16, f16: F16, fp8e4m3: E4M3, fp8e5m2: E5M2 } as const;
export type NarrowType = keyof typeof FORMATS;

/** Rounds an f32 value to the nearest value of the narrow type (as an f32). */
export const roundTo = (t: NarrowType, x: number): number => decode(FORMATS[t], encode(FORMATS[t], x));

/** Host-side packing helpers used by runtimes and tests. */
export function packArray(t: NarrowType, values: ArrayLike<number>): Uint16Array | Uint8Array {
  const out = t === 'bf16' || t === 'f16' ? new Uint16Array(values.length) : new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = encode(FORMATS[t], Math.fround(values[i]));
  return out;
}

export function unpackArray(t: NarrowType, bits: ArrayLike<number>): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = decode(FORMATS[t], bits[i]);
  return out;
}

/**
 * fma(a, b, c) rounded once to f32, for a*b exact in float64 (true of f32 operands and of
 * every mma operand type): the DSL's fma and the tensor-core accumulation. The float64 sum s = a*b + c may itself be rounded; rounding s to f32 is then
 * wrong only when s lies exactly on an f32 tie, and the sign of the two-sum error term
 * says which way the exact value lies.
 */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const r = Math.fround(s);
  if (r === s || !Number.isFinite(s)) return r;
  const bb = s - p;
  const err = (p - (s - bb)) + (c - bb);
  if (err === 0) return r;
  const other = 2 * s - r; // the f32 on the far side of s, when s is their midpoint
  if (Math.fround(other) !== other || other - s !== s - r) return r;
  return (err > 0) === (other > r) ? other : r;
}
