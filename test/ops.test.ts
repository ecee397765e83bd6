import { suite } from 'uvu';
import { packArray, unpackArray } from '../compiler/ir/numerics.js';
import { BACKENDS, runKernel } from './harness/backends.js';
import { bf16 } from './harness/bf16.js';
import type { TunableChoice } from '../compiler/passes/specialise.js';
import { assertClose, type Tolerance } from './harness/close.js';
import { uniform } from './harness/prng.js';
import { gemmRef, rmsnormRef, softmaxRef, swigluRef } from './harness/reference.js';

/**
 * Every op on every backend (SwiftShader WebGPU, generated CUDA on the CPU emulator,
 * the IR interpreter) against float64 references, on odd shapes that are not multiples
 * of any tile. bf16 inputs are bf16-representable, so references see exactly what the
 * kernels see; the tolerances below cover only the kernels' own rounding.
 */
/** One bf16 rounding of the output (2^-8 relative) plus f32 math. */
const BF16_OUT: Tolerance = { rtol: 1e-2, atol: 1e-2 };
const F32: Tolerance = { rtol: 1e-5, atol: 1e-6 };
/** f32 accumulation over K terms of size ~1: error grows like sqrt(K) ulps. */
const gemmTol = (K: number): Tolerance => ({ rtol: 1e-5, atol: 2e-6 * Math.max(1, K) });

for (const backend of BACKENDS) {
  const t = suite(`ops on ${backend}`);

  for (const N of [1, 7, 33, 165, 254, 257, 900]) {
    t(`swiglu N=${N}`, async () => {
      const gate = bf16(uniform(N * 100, N, -6, 6));
      const up = bf16(uniform(N * 7 + 1, N, -2, 2));
      const out = await runKernel(backend, 'swiglu', { tensors: { gate: packArray('bf16', gate), up: packArray('bf16', up), out: new Uint16Array(N) }, scalars: { N } });
      assertClose(unpackArray('bf16', out.out as Uint16Array), swigluRef(gate, up), BF16_OUT, `swiglu ${backend}`);
    });
  }

  for (const [T, D] of [[1, 1], [3, 7], [2, 33], [5, 127], [1, 257], [4, 300], [2, 4096]]) {
    t(`rmsnorm T=${T} D=${D}`, async () => {
      const x = bf16(uniform(T + D, T * D, -3, 3));
      const w = bf16(uniform(D, D, 0.5, 1.5));
      const out = await runKernel(backend, 'rmsnorm', { tensors: { x: packArray('bf16', x), w: packArray('bf16', w), y: new Uint16Array(T * D) }, scalars: { T, D } });
      assertClose(unpackArray('bf16', out.y as Uint16Array), rmsnormRef(x, w, T, D), BF16_OUT, `rmsnorm ${backend}`);
    });
  }

  for (const [R, N, scale] of [[1, 1, 1], [2, 7, 1], [3, 33, 10], [1, 127, 1], [2, 257, 30], [1, 1000, 80]]) {
    t(`softmax R=${R} N=${N} |x|<=${scale}`, async () => {
      const x = Float32Array.from(uniform(R * N, R * N, -scale, scale));
      const out = await runKernel(backend, 'softmax', { tensors: { x, y: new Float32Array(R * N) }, scalars: { R, N } });
      assertClose(out.y as Float32Array, softmaxRef(x, R, N), F32, `softmax ${backend}`);
    });
  }

  for (const [M, N, K] of [[1, 1, 1], [7, 5, 3], [33, 17, 40], [16, 16, 16], [65, 31, 47], [1, 257, 9], [2, 3, 0]]) {
    for (const dtype of ['f32', 'bf16'] as const) {
      t(`gemm_${dtype} M=${M} N=${N} K=${K}`, async () => {
        const a = bf16(uniform(M * 31 + K, M * K));
        const b = bf16(uniform(N * 17 + K, K * N));
        const pack = (v: Float32Array) => (dtype === 'bf16' ? packArray('bf16', v) : v);
        const out = await runKernel(backend, `gemm_${dtype}`, { tensors: { a: pack(a), b: pack(b), out: new Float32Array(M * N).fill(NaN) }, scalars: { M, N, K } });
        assertClose(out.out as Float32Array, gemmRef(a, b, M, N, K), gemmTol(K), `gemm_${dtype} ${backend}`);
      });
    }
  }

  t.run();
}

/**
 * Non-default tunables, compiled fresh for each backend: a tile choice must not change
 * results. Every variant here is legal on all targets (WGSL's 16 KiB workgroup memory).
 */
const VARIANTS: [string, TunableChoice][] = [
  ['swiglu', { BLOCK: 64 }], ['rmsnorm', { WG: 64 }], ['rmsnorm', { WG: 256 }], ['softmax', { WG: 64 }],
  ['gemm_f32', { BM: 16, BN: 64, BK: 32 }], ['gemm_bf16', { BM: 64, BN: 32, BK: 16 }], ['gemm_bf16', { BM: 16, BN: 16, BK: 32 }],
];
for (const backend of BACKENDS) {
  const t = suite(`tunable variants on ${backend}`);
  for (const [name, choice] of VARIANTS) {
    t(`${name} ${JSON.stringify(choice)}`, async () => {
      if (name === 'swiglu') {
        const N = 303;
        const gate = bf16(uniform(11, N, -6, 6)), up = bf16(uniform(12, N));
        const out = await runKernel(backend, name, { tensors: { gate: packArray('bf16', gate), up: packArray('bf16', up), out: new Uint16Array(N) }, scalars: { N } }, choice);
        assertClose(unpackArray('bf16', out.out as Uint16Array), swigluRef(gate, up), BF16_OUT, name);
      } else if (name === 'rmsnorm') {
        const [T, D] = [3, 301];
        const x = bf16(uniform(13, T * D, -3, 3)), w = bf16(uniform(14, D, 0.5, 1.5));
        const out = await runKernel(backend, name, { tensors: { x: packArray('bf16', x), w: packArray('bf16', w), y: new Uint16Array(T * D) }, scalars: { T, D } }, choice);
        assertClose(unpackArray('bf16', out.y as Uint16Array), rmsnormRef(x, w, T, D), BF16_OUT, name);
      } else if (name === 'softmax') {
        const [R, N] = [2, 333];
        const x = Float32Array.from(uniform(15, R * N, -30, 30));
        const out = await runKernel(backend, name, { tensors: { x, y: new Float32Array(R * N) }, scalars: { R, N } }, choice);
        assertClose(out.y as Float32Array, softmaxRef(x, R, N), F32, name);
      } else {
        const [M, N, K] = [37, 71, 45];
        const a = bf16(uniform(16, M * K)), b = bf16(uniform(17, K * N));
        const pack = (v: Float32Array) => (name === 'gemm_bf16' ? packArray('bf16', v) : v);
        const out = await runKernel(backend, name, { tensors: { a: pack(a), b: pack(b), out: new Float32Array(M * N).fill(NaN) }, scalars: { M, N, K } }, choice);
        assertClose(out.out as Float32Array, gemmRef(a, b, M, N, K), gemmTol(K), name);
      }
    });
  }
  t.run();
}
