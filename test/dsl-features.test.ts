import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { lowerFile } from '../compiler/frontend/index.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { BF16, encode, f32Bits } from '../compiler/ir/numerics.js';
import type { Kernel } from '../compiler/ir/nodes.js';
import { BACKENDS, runFresh } from './harness/backends.js';
import { prng } from './harness/prng.js';

/**
 * DSL features beyond the ops, on every backend, checked exactly (integers, bits):
 * atomics, subgroup collectives, while/break/continue, early return, integer division
 * and shifts, select, bitcast, and f32 -> bf16 rounding including NaN, inf and overflow.
 */
const kernels = new Map<string, Kernel>(lowerFile(path.join(REPO_ROOT, 'test/fixtures/kernels/features.ts')).map((k) => [k.name, k]));
const k = (name: string) => kernels.get(name)!;

function collatz(v: number): number {
  let s = 0;
  for (v = Math.abs(v) + 1; v !== 1; s++) v = v % 2 === 0 ? v / 2 : 3 * v + 1;
  return s;
}

for (const backend of BACKENDS) {
  const t = suite(`DSL features on ${backend}`);

  t('atomicAdd histogram: counts are exact', async () => {
    const N = 1001, B = 13;
    const r = prng(3);
    const x = Int32Array.from({ length: N }, () => Math.floor(r() * 1000));
    const out = await runFresh(backend, k('histogram'), { tensors: { x, bins: new Int32Array(B) }, scalars: { N, B } });
    const want = new Int32Array(B);
    for (const v of x) want[v % B]++;
    assert.equal(Array.from(out.bins), Array.from(want));
  });

  t('subgroupAdd, subgroupSize and subgroupShuffleXor agree with each other', async () => {
    const N = 70;
    const out = await runFresh(backend, k('subgroups'), { tensors: { count: new Float32Array(N), width: new Int32Array(N), swapped: new Int32Array(N) }, scalars: { N } });
    const width = out.width[0];
    assert.ok([4, 8, 16, 32, 64].includes(width), `subgroup size ${width}`);
    if (backend !== 'webgpu') assert.is(width, 32, 'CUDA warps and the interpreter use 32 lanes');
    for (let i = 0; i < N; i++) {
      assert.is(out.width[i], width);
      assert.is(out.count[i], width, `subgroupAdd(1) at ${i}`);
      assert.is(out.swapped[i], (i % width) ^ 1, `shuffleXor at ${i}`);
    }
  });

  t('integers: while/break/continue, early return, trunc division, shifts', async () => {
    const N = 45;
    const x = Int32Array.from({ length: N }, (_, i) => (i % 2 ? -1 : 1) * (i * 37 + (i % 5)));
    const out = await runFresh(backend, k('integers'), { tensors: { x, steps: new Int32Array(N), divmod: new Int32Array(N), bits: new Uint32Array(N) }, scalars: { N } });
    for (let i = 0; i < N; i++) {
      assert.is(out.steps[i], collatz(x[i]), `collatz ${x[i]}`);
      assert.is(out.divmod[i], Math.trunc(x[i] / 7) * 100 + (x[i] % 7), `divmod ${x[i]}`);
      assert.is(out.bits[i], ((x[i] >>> 3) ^ (x[i] << 5)) >>> 0, `bits ${x[i]}`);
    }
  });

  t('floats: bf16 rounding bit-exact (ties, NaN, inf, overflow), select, bitcast', async () => {
    const specials = [0, -0, 1, -1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -9, 3.3895313892515355e38, 3.4e38, Infinity, -Infinity, NaN, 1e-40, -1e-45, 65504, 0.1, -2.5];
    const r = prng(9);
    const x = Float32Array.from([...specials, ...Array.from({ length: 200 }, () => (r() - 0.5) * 10 ** Math.floor(r() * 20 - 10))]);
    const N = x.length;
    const out = await runFresh(backend, k('floats'), { tensors: { x, rounded: new Uint16Array(N), misc: new Float32Array(N), raw: new Uint32Array(N) }, scalars: { N } });
    for (let i = 0; i < N; i++) {
      // Rounding works on the bits, so subnormals round exactly even where arithmetic flushes them.
      assert.is(out.rounded[i], encode(BF16, x[i]), `bf16(${x[i]}) = 0x${out.rounded[i].toString(16)}, want 0x${encode(BF16, x[i]).toString(16)}`);
      assert.is(out.raw[i], f32Bits(x[i]), `bitcast ${x[i]}`);
      const v = x[i];
      // WGSL lets implementations flush f32 subnormals in arithmetic (SwiftShader does).
      if (backend === 'webgpu' && v !== 0 && Math.abs(v) < 2 ** -126) continue;
      const want = Math.abs(v) < 1e30 ? Math.floor(Math.min(Math.max(v, -100), 100)) + (v > 0 ? 1 : 0) : -1;
      assert.is(out.misc[i], want, `select/floor/min/max at ${v}`);
    }
  });

  t.run();
}
