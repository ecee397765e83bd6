import type { MmaDType } from '../ir/nodes.js';
import { mmaDepth } from '../ir/nodes.js';
import type { NarrowType } from '../ir/numerics.js';
import { decodeTable, type MmaLane } from './state.js';
import { fmaF32 } from '../ir/numerics.js';

/**
 * One warp's tensor-core step (IR `mmaSync`), PTX ISA "Matrix Fragments for mma.m16n8k16
 * with floating point type" and "for mma.m16n8k32" (8-bit types). g = lane >> 2,
 * t = lane & 3; each u32 register holds `per` elements consecutive along K, the lowest k
 * in the low bits (2 of 16 bits, or 4 of 8):
 *   a[0..3]: rows g, g+8, g, g+8 at k = per*t (a[0], a[1]) and per*t + depth/2 (a[2], a[3]);
 *   b[0], b[1]: column g at k = per*t and per*t + depth/2;
 *   c/d[0..3]: (g, 2t), (g, 2t+1), (g+8, 2t), (g+8, 2t+1).
 * The same layouts as backends/cuda/include/mimo_cuda_emu.h (mma_decode).
 *
 * Accumulation order, also the emulator's: d = c, then d = fma(A[r][k], B[k][c], d) for k
 * ascending, each step rounded once to f32. Products of these types are exact in f32, so
 * the result differs from float64 by at most depth * 2^-24 * (|c| + sum_k |A[r][k] B[k][c]|);
 * a tensor core sums with its own internal precision and order, so it agrees with this to
 * that bound, not bit for bit.
 */
const scratchA = new Float64Array(16 * 32);
const scratchB = new Float64Array(32 * 8);

/** Computes every lane's d from all 32 lanes' registers; lanes[i] is lane i. */
export function mmaWarp(dtype: MmaDType, lanes: readonly MmaLane[]): void {
  const depth = mmaDepth(dtype);
  const per = depth === 32 ? 4 : 2;
  const bits = 32 / per;
  const mask = (1 << bits) - 1;
  const half = depth / 2;
  const tab = decodeTable(dtype as NarrowType);
  const A = scratchA, B = scratchB; // A[row * depth + k], B[k * 8 + col]
  for (let lane = 0; lane < 32; lane++) {
    const r = lanes[lane].regs;
    const g = lane >> 2, k0 = per * (lane & 3);
    for (let e = 0; e < per; e++) {
      const sh = bits * e;
      A[g * depth + k0 + e] = tab[(r[0] >>> sh) & mask];
      A[(g + 8) * depth + k0 + e] = tab[(r[1] >>> sh) & mask];
      A[g * depth + k0 + half + e] = tab[(r[2] >>> sh) & mask];
      A[(g + 8) * depth + k0 + half + e] = tab[(r[3] >>> sh) & mask];
      B[(k0 + e) * 8 + g] = tab[(r[4] >>> sh) & mask];
      B[(k0 + half + e) * 8 + g] = tab[(r[5] >>> sh) & mask];
    }
  }
  for (let lane = 0; lane < 32; lane++) {
    const acc = lanes[lane].acc;
    const g = lane >> 2, t = lane & 3;
    for (let i = 0; i < 4; i++) {
      const row = g + (i >= 2 ? 8 : 0), col = 2 * t + (i & 1);
      let d = acc[i];
      for (let k = 0; k < depth; k++) d = fmaF32(A[row * depth + k], B[k * 8 + col], d);
      acc[i] = d;
    }
  }
}
