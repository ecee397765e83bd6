import { packArray, unpackArray } from '../../compiler/ir/numerics.js';

/**
 * bf16 test data. Inputs are drawn as doubles and rounded to bf16 (nearest even) first, so a
 * float64 reference sees exactly the values the kernels read.
 */
export const bf16 = (v: ArrayLike<number>): Float32Array => unpackArray('bf16', packArray('bf16', v));
/** The bf16 bit patterns of `v` (rounded to nearest even): what a bf16 tensor argument holds. */
export const bf16Bits = (v: ArrayLike<number>): Uint16Array => packArray('bf16', v) as Uint16Array;
/** An output buffer of quiet NaNs, so an element the kernel never writes cannot pass as a value. */
export const nanBf16 = (n: number): Uint16Array => new Uint16Array(n).fill(0x7fc0);
