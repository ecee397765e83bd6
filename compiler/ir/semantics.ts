import type { BinOp, MathFn, UnOp } from './nodes.js';
import type { DType } from './types.js';
import { STORAGE_ONLY } from './types.js';
import { FORMATS, bitsF32, decode, encode, f32Bits, fmaF32, roundTo, type NarrowType } from './numerics.js';

/**
 * The meaning of every IR operation on host numbers: what constant folding computes and
 * what the interpreter executes. Values of storage types (bf16, fp8) are held as the f32
 * number they represent; i32 wraps, u32 wraps, f32 rounds after each operation.
 */
export function normalise(type: DType, v: number): number {
  switch (type) {
    case 'i32': return v | 0;
    case 'u32': return v >>> 0;
    case 'f32': return Math.fround(v);
    default: return v;
  }
}

export function evalBin(op: BinOp, type: DType, a: number | boolean, b: number | boolean): number | boolean {
  const x = a as number;
  const y = b as number;
  const int = type === 'i32' || type === 'u32';
  switch (op) {
    case '+': return normalise(type, x + y);
    case '-': return normalise(type, x - y);
    case '*': return int ? normalise(type, type === 'u32' ? Math.imul(x, y) >>> 0 : Math.imul(x, y)) : normalise(type, x * y);
    case '/':
      if (int) {
        // WGSL defines x / 0 as x and CUDA leaves it undefined: report instead of guessing.
        if (y === 0) throw new RangeError('integer division by zero');
        return normalise(type, Math.trunc(x / y));
      }
      return normalise(type, x / y);
    case '%':
      if (int && y === 0) throw new RangeError('integer remainder by zero');
      return normalise(type, x % y);
    case '<': return x < y;
    case '<=': return x <= y;
    case '>': return x > y;
    case '>=': return x >= y;
    case '==': return a === b;
    case '!=': return a !== b;
    case '&&': return (a as boolean) && (b as boolean);
    case '||': return (a as boolean) || (b as boolean);
    case '&': return normalise(type, x & y);
    case '|': return normalise(type, x | y);
    case '^': return normalise(type, x ^ y);
    case '<<': return normalise(type, x << (y & 31));
    case '>>': return type === 'u32' ? x >>> (y & 31) : x >> (y & 31);
  }
}

export function evalUn(op: UnOp, type: DType, a: number | boolean): number | boolean {
  if (op === '!') return !a;
  if (op === '~') return normalise(type, ~(a as number));
  return normalise(type, -(a as number));
}

export function evalCast(from: DType, to: DType, v: number | boolean): number | boolean {
  const x = typeof v === 'boolean' ? (v ? 1 : 0) : v;
  if (to === 'bool') return x !== 0;
  if (STORAGE_ONLY.has(to)) return roundTo(to as NarrowType, Math.fround(x));
  if (to === 'f32') return Math.fround(x);
  // Float to int truncates toward zero and saturates, as both WGSL and CUDA's cvt.rzi.sat do.
  if (from === 'f32' || STORAGE_ONLY.has(from)) {
    if (Number.isNaN(x)) return 0;
    const t = Math.trunc(x);
    if (to === 'i32') return Math.max(-2147483648, Math.min(2147483647, t));
    return Math.max(0, Math.min(4294967295, t));
  }
  return normalise(to, x);
}

export function evalBitcast(from: DType, to: DType, v: number): number {
  const bits = from === 'f32' ? f32Bits(v) : v >>> 0;
  if (to === 'f32') return bitsF32(bits);
  return to === 'i32' ? bits | 0 : bits;
}

const NARROW_FNS: Record<string, NarrowType> = {
  round_bf16: 'bf16', round_f16: 'f16', round_fp8e4m3: 'fp8e4m3', round_fp8e5m2: 'fp8e5m2',
  unpack_bf16: 'bf16', unpack_f16: 'f16', unpack_fp8e4m3: 'fp8e4m3', unpack_fp8e5m2: 'fp8e5m2',
  bits_bf16: 'bf16', bits_f16: 'f16', bits_fp8e4m3: 'fp8e4m3', bits_fp8e5m2: 'fp8e5m2',
};

/** Hot in the interpreter: no closures here (one per call cost ten times the math). */
export function evalCall(fn: MathFn, type: DType, args: readonly number[]): number {
  const [a, b, c] = args;
  switch (fn) {
    case 'exp': return normalise(type, Math.exp(a));
    case 'exp2': return normalise(type, 2 ** a);
    case 'log': return normalise(type, Math.log(a));
    case 'sqrt': return normalise(type, Math.sqrt(a));
    case 'rsqrt': return normalise(type, 1 / Math.sqrt(a));
    case 'tanh': return normalise(type, Math.tanh(a));
    case 'abs': return normalise(type, Math.abs(a));
    case 'floor': return normalise(type, Math.floor(a));
    case 'max': return normalise(type, Math.max(a, b));
    case 'min': return normalise(type, Math.min(a, b));
    // a*b + c in float64 then to f32 would round twice; an f32 fma rounds once.
    case 'fma': return type === 'f32' ? fmaF32(a, b, c) : normalise(type, a * b + c);
    case 'pack2': case 'pack4':
      // Operand packing exists only after CUDA tensor-core lowering; nothing evaluates it.
      throw new RangeError(`${fn} has no host value: only the CUDA emitter renders it`);
  }
  const narrow = NARROW_FNS[fn];
  const fmt = FORMATS[narrow];
  if (fn.startsWith('round_')) return roundTo(narrow, a);
  if (fn.startsWith('unpack_')) return decode(fmt, (a >>> b) & (narrow === 'bf16' || narrow === 'f16' ? 0xffff : 0xff));
  return encode(fmt, a);
}
