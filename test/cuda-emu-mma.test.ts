import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { E4M3, E5M2, decode, type MiniFloat } from '../compiler/ir/numerics.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { prng } from './harness/prng.js';
import { CUDA_INCLUDE } from './harness/cuda-toolkit.js';

/**
 * The FP8 tensor-core MMA of backends/cuda/include/mimo_prelude.cuh (m16n8k32, e4m3 and
 * e5m2) against a float64 reference, on the CPU emulator: once through the native sm_89+
 * fragment layout and once through the pre-sm_89 path (-DMIMO_EMU_FP8_VIA_F16: two f16
 * m16n8k16 mmas on the same registers with K permuted). Operands are random finite fp8
 * bytes of every exponent, the accumulator starts non-zero. Products of fp8 values are
 * exact in f32, so the only error is f32 summation of 33 terms:
 * |D - ref| <= 33 * 2^-24 * (sum |a*b| + |c|). A wrong fragment layout pairs the wrong
 * operands and misses by whole products.
 */
const FORMATS: readonly [string, MiniFloat][] = [['e4m3', E4M3], ['e5m2', E5M2]];

function finiteBytes(fmt: MiniFloat, n: number, seed: number): Uint8Array {
  const r = prng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let b: number;
    do b = Math.floor(r() * 256); while (!Number.isFinite(decode(fmt, b)));
    out[i] = b;
  }
  return out;
}

function build(viaF16: boolean): string {
  const exe = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-fp8-mma-')), 'run');
  const flags = viaF16 ? ['-DMIMO_EMU_FP8_VIA_F16'] : [];
  execFileSync('g++', ['-x', 'c++', '-std=c++17', '-O1', '-Wall', '-Werror', '-DMIMO_HOST_EMU', ...flags, `-I${path.join(REPO_ROOT, 'backends/cuda/include')}`, `-I${CUDA_INCLUDE}`, '-o', exe, path.join(REPO_ROOT, 'test/fixtures/fp8_mma.cu')], { stdio: ['ignore', 'pipe', 'pipe'] });
  return exe;
}

for (const viaF16 of [false, true]) {
  test(`mimo_mma_m16n8k32_{e4m3,e5m2} ${viaF16 ? 'pre-sm_89 path (two f16 mmas)' : 'sm_89+ layout'} matches float64 within f32 summation error`, () => {
    const exe = build(viaF16);
    for (let trial = 0; trial < 3; trial++) {
      const inputs = FORMATS.map(([, fmt], f) => {
        const a = finiteBytes(fmt, 16 * 32, 100 * trial + 10 * f + 1);
        const bt = finiteBytes(fmt, 8 * 32, 100 * trial + 10 * f + 2);
        const r = prng(100 * trial + 10 * f + 3);
        const c = Float32Array.from({ length: 16 * 8 }, () => (r() - 0.5) * 1000);
        return { fmt, a, bt, c };
      });
      const stdin = Buffer.concat(inputs.flatMap(({ a, bt, c }) => [Buffer.from(a), Buffer.from(bt), Buffer.from(c.buffer)]));
      const out = execFileSync(exe, { input: stdin });
      assert.is(out.length, FORMATS.length * 16 * 8 * 4, 'output size');
      inputs.forEach(({ fmt, a, bt, c }, f) => {
        const d = new Float32Array(out.buffer.slice(out.byteOffset + f * 512, out.byteOffset + (f + 1) * 512));
        for (let i = 0; i < 16; i++) {
          for (let j = 0; j < 8; j++) {
            let ref = c[i * 8 + j], mag = Math.abs(ref);
            for (let k = 0; k < 32; k++) {
              const p = decode(fmt, a[i * 32 + k]) * decode(fmt, bt[j * 32 + k]);
              ref += p;
              mag += Math.abs(p);
            }
            const err = Math.abs(d[i * 8 + j] - ref);
            const bound = 33 * 2 ** -24 * mag;
            assert.ok(err <= bound, `${FORMATS[f][0]} trial ${trial} D[${i}][${j}] = ${d[i * 8 + j]}, float64 ${ref}, error ${err} > ${bound}`);
          }
        }
      });
    }
  });
}

test('the emulator stops on a misaligned 32-bit operand load (a GPU would fault)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-ld-u32-'));
  const src = path.join(dir, 'misaligned.cu');
  fs.writeFileSync(src, [
    '#include "mimo_prelude.cuh"',
    '__global__ void k(unsigned* out) { __shared__ __align__(16) __nv_bfloat16 s[8]; s[threadIdx.x] = __float2bfloat16(1.0f); __syncthreads(); out[0] = mimo_ld_u32(&s[1]); }',
    'int main() { unsigned out = 0; MIMO_LAUNCH(k, 1, 8, 0, 0, &out); return 0; }',
  ].join('\n'));
  execFileSync('g++', ['-x', 'c++', '-std=c++17', '-O1', '-DMIMO_HOST_EMU', `-I${path.join(REPO_ROOT, 'backends/cuda/include')}`, `-I${CUDA_INCLUDE}`, '-o', path.join(dir, 'run'), src], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  try {
    execFileSync(path.join(dir, 'run'), { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    stderr = String((e as { stderr?: Buffer }).stderr ?? '');
  }
  assert.match(stderr, /mimo_ld_u32: address .* is not 4-byte aligned/);
});

test.run();
