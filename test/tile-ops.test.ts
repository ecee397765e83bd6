import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { lowerFile } from '../compiler/frontend/index.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { packArray, unpackArray, type NarrowType } from '../compiler/ir/numerics.js';
import type { Kernel } from '../compiler/ir/nodes.js';
import { compileKernel } from '../compiler/compile.js';
import { BACKENDS, runFresh } from './harness/backends.js';
import { uniform } from './harness/prng.js';

/**
 * Warp tile ops (test/fixtures/kernels/tiles.ts) for every operand type on every backend:
 * mma with a k-major B, mmaTransposedB, and accumulateScaled (of A·Aᵀ) over MMA-deep K blocks
 * (16 for f32/bf16/f16, 32 for fp8, where CUDA uses the m16n8k32 FP8 tensor-core path),
 * against float64 on the operands as stored. Products of bf16/f16/fp8 values are exact in
 * f32 and f32 products are rounded once inside fma, so each output may differ from float64
 * by f32 rounding only: |got - ref| <= (K + 8) * 2^-24 * Σ|terms| (K = 64 accumulations,
 * plus the scale product and promotion). A layout mistake misses by whole products.
 * (The bound assumes f32 accumulation, as the CUDA emulator does; sm_89/sm_90 fp8 tensor
 * cores keep about 13 mantissa bits while summing, so on hardware fp8 needs ~2^-12 * Σ|terms|.)
 */
const kernels = new Map<string, Kernel>(lowerFile(path.join(REPO_ROOT, 'test/fixtures/kernels/tiles.ts')).map((k) => [k.name, k]));
const K = 64;
const TYPES: readonly [string, NarrowType | 'f32', number][] = [['f32', 'f32', 16], ['bf16', 'bf16', 16], ['f16', 'f16', 16], ['e4m3', 'fp8e4m3', 32], ['e5m2', 'fp8e5m2', 32]];

/** Values as the kernel sees them (rounded to the operand type), and the packed host array. */
function operand(type: NarrowType | 'f32', seed: number, n: number, range: number) {
  const raw = uniform(seed, n, -range, range);
  if (type === 'f32') {
    const f = Float32Array.from(raw);
    return { values: Float64Array.from(f), host: f };
  }
  const host = packArray(type, raw);
  return { values: Float64Array.from(unpackArray(type, host)), host };
}

for (const backend of BACKENDS) {
  const t = suite(`tile ops on ${backend}`);
  for (const [name, type, depth] of TYPES) {
    t(`tile_${name}: mma, mmaTransposedB and accumulateScaled (depth ${depth}) match float64`, async () => {
      const range = type === 'fp8e5m2' ? 100 : 3;
      const a = operand(type, 1, 16 * K, range);
      const bNK = operand(type, 2, 16 * K, range); // B transposed: bt[n][k]
      const bKN = new Float64Array(K * 16);
      for (let n = 0; n < 16; n++) for (let k = 0; k < K; k++) bKN[k * 16 + n] = bNK.values[n * K + k];
      const bkHost = type === 'f32' ? Float32Array.from(bKN) : packArray(type, bKN);
      const rs = Float32Array.from(uniform(3, 16, 0.25, 4));
      const bs = Float32Array.from(uniform(4, K / depth, -2, 2));
      const out = await runFresh(backend, kernels.get(`tile_${name}`)!, {
        tensors: { a: a.host, bk: bkHost, bt: bNK.host, rs, bs, c1: new Float32Array(256).fill(NaN), c2: new Float32Array(256).fill(NaN), c3: new Float32Array(256).fill(NaN) },
        scalars: { MK: 16 * K, NK: 16 * K, M: 16, MN: 256, BS: K / depth },
      });
      for (let r = 0; r < 16; r++) {
        for (let n = 0; n < 16; n++) {
          let dot = 0, mag = 0, scaled = 0, scaledMag = 0;
          for (let kb = 0; kb < K; kb += depth) {
            let block = 0, blockMag = 0;
            for (let k = kb; k < kb + depth; k++) {
              const p = a.values[r * K + k] * bNK.values[n * K + k];
              dot += p;
              mag += Math.abs(p);
              const q = a.values[r * K + k] * a.values[n * K + k];
              block += q;
              blockMag += Math.abs(q);
            }
            scaled += block * rs[r] * bs[kb / depth];
            scaledMag += blockMag * Math.abs(rs[r] * bs[kb / depth]);
          }
          const at = `[${r}][${n}]`;
          const tol = (m: number) => (K + 8) * 2 ** -24 * m;
          for (const [label, got] of [['mma', out.c1[r * 16 + n]], ['mmaTransposedB (ldmatrix B on CUDA)', out.c2[r * 16 + n]]] as const) {
            assert.ok(Math.abs(got - dot) <= tol(mag), `${label} ${at}: ${got} vs float64 ${dot}`);
          }
          const got = out.c3[r * 16 + n];
          assert.ok(Math.abs(got - scaled) <= tol(scaledMag), `accumulateScaled of mmaTransposedB (packed B) ${at}: ${got} vs float64 ${scaled}`);
        }
      }
    });
  }
  t.run();
}

// Which loads the CUDA lowering picks for a transposed B: ldmatrix.x4 (non-transposed) for the
// 16-byte-aligned rows of stride K, packed element loads for stride K + 1; f32 has no tensor cores.
const lowering = suite('mmaTransposedB B loads on CUDA');
for (const [name, , depth] of TYPES) {
  lowering(`tile_${name}: ${name === 'f32' ? 'no ldmatrix' : 'one ldmatrix.x4 per K step of the aligned B only'}`, () => {
    const src = compileKernel(kernels.get(`tile_${name}`)!, 'cuda').source;
    const calls = src.match(/mimo_ldmatrix_x4\(/g)?.length ?? 0;
    assert.is(calls, name === 'f32' ? 0 : 1, `tile_${name} (depth ${depth}): ${calls} non-transposed ldmatrix.x4 calls`);
    assert.not.match(src, /mimo_ldmatrix_x4_trans/);
  });
}
lowering.run();
