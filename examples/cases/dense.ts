/**
 * Dense kernels: SwiGLU, RMSNorm, softmax, the two GEMMs (test/ops.test.ts covers them in
 * depth). References: test/harness/reference.ts.
 */
import { packArray, unpackArray } from '../../compiler/ir/numerics.js';
import type { Tolerance } from '../../test/harness/close.js';
import { uniform } from '../../test/harness/prng.js';
import { gemmRef, rmsnormRef, softmaxRef, swigluRef } from '../../test/harness/reference.js';
import { close, floats, launch, type Case } from './check.js';

/** bf16 outputs: one bf16 rounding (2^-9 relative) of an f32 result. */
const BF16_OUT: Tolerance = { rtol: 1e-2, atol: 1e-2 };
/** f32 softmax: f32 exp and sums (test/ops.test.ts). */
const F32_OUT: Tolerance = { rtol: 1e-5, atol: 1e-6 };
/** f32 GEMM: f32 accumulation over K terms of O(1) products (test/ops.test.ts). */
const gemmTol = (K: number): Tolerance => ({ rtol: 1e-5, atol: 2e-6 * Math.max(1, K) });
const bf16 = (v: ArrayLike<number>) => unpackArray('bf16', packArray('bf16', v));

export function denseCases(): Case[] {
  const T = 5, F = 2048, D = 4096, R = 4, N = 1000, M = 64, K = 96, Nn = 80;
  const gate = bf16(uniform(1, T * F, -4, 4)), up = bf16(uniform(2, T * F));
  const x = bf16(uniform(3, T * D, -3, 3)), w = bf16(uniform(4, D, 0.5, 1.5));
  const s = Float32Array.from(uniform(5, R * N, -20, 20));
  const a = bf16(uniform(6, M * K)), b = bf16(uniform(7, K * Nn));
  const gemm = gemmRef(a, b, M, Nn, K);
  return [
    launch('swiglu', `T=${T} F=${F}`, () => ({ tensors: { gate: packArray('bf16', gate), up: packArray('bf16', up), out: new Uint16Array(T * F) }, scalars: { N: T * F } }),
      (o) => ({ out: close(floats(o.out), swigluRef(gate, up), BF16_OUT) })),
    launch('rmsnorm', `T=${T} D=${D}`, () => ({ tensors: { x: packArray('bf16', x), w: packArray('bf16', w), y: new Uint16Array(T * D) }, scalars: { T, D } }),
      (o) => ({ y: close(floats(o.y), rmsnormRef(x, w, T, D), BF16_OUT) })),
    launch('softmax', `R=${R} N=${N}`, () => ({ tensors: { x: s, y: new Float32Array(R * N) }, scalars: { R, N } }),
      (o) => ({ y: close(floats(o.y), softmaxRef(s, R, N), F32_OUT) })),
    launch('gemm_f32', `M=${M} N=${Nn} K=${K}`, () => ({ tensors: { a, b, out: new Float32Array(M * Nn) }, scalars: { M, N: Nn, K } }),
      (o) => ({ out: close(floats(o.out), gemm, gemmTol(K)) })),
    launch('gemm_bf16', `M=${M} N=${Nn} K=${K}`, () => ({ tensors: { a: packArray('bf16', a), b: packArray('bf16', b), out: new Float32Array(M * Nn) }, scalars: { M, N: Nn, K } }),
      (o) => ({ out: close(floats(o.out), gemm, gemmTol(K)) })),
  ];
}
