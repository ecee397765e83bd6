import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { lowerFile } from '../compiler/frontend/index.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { BF16, E4M3, E5M2, F16, decode, encode, f32Bits } from '../compiler/ir/numerics.js';
import type { Kernel } from '../compiler/ir/nodes.js';
import { BACKENDS, runFresh } from './harness/backends.js';
import { compileKernel } from '../compiler/compile.js';
import { getGpu } from '../backends/webgpu/device.js';
import { WebGpuRuntime } from '../backends/webgpu/runtime.js';
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

  if (backend === 'webgpu') {
    t('a launch the device rejects makes finish() throw, naming the kernel', async () => {
      const c = compileKernel(k('unused_uniform'), 'wgsl');
      const gpu = await getGpu();
      const rt = new WebGpuRuntime(gpu, { manifest: { kernels: { unused_uniform: c.manifest } }, sources: { unused_uniform: c.source } });
      // A buffer without STORAGE usage cannot be bound as a storage buffer.
      const x = { buffer: gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST }), dtype: 'f32' as const, length: 4 };
      await rt.launch('unused_uniform', { x, y: rt.allocate('f32', 4) }, { N: 4 });
      let message = '';
      await rt.finish().catch((e: Error) => (message = e.message));
      assert.match(message, /^\[kernel unused_uniform\] the device rejected the launch: /);
      x.buffer.destroy();
    });
  }

  t('shared-memory atomicAdd and atomicMax: per-workgroup counts and maxima are exact', async () => {
    const N = 200, G = Math.ceil(N / 64);
    const r = prng(5);
    const x = Int32Array.from({ length: N }, () => Math.floor(r() * 1000));
    const out = await runFresh(backend, k('shared_histogram'), { tensors: { x, bins: new Int32Array(G * 17).fill(-1) }, scalars: { N, NB: G * 17 } });
    const want = new Int32Array(G * 17);
    x.forEach((v, i) => {
      const g = Math.floor(i / 64);
      want[g * 17 + (v % 16)]++;
      want[g * 17 + 16] = Math.max(want[g * 17 + 16], v);
    });
    assert.equal(Array.from(out.bins), Array.from(want));
  });

  t('a kernel that reads none of its scalars still runs (its uniform block is bound, not dropped)', async () => {
    const out = await runFresh(backend, k('unused_uniform'), { tensors: { x: Float32Array.from([1, -2, 3.5, 4]), y: new Float32Array(4).fill(NaN) }, scalars: { N: 4 } });
    assert.equal(Array.from(out.y), [2, -4, 7, 8]);
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

  t('floats: bf16/f16/fp8 rounding bit-exact (ties, NaN, inf, overflow, saturation), select, bitcast', async () => {
    const specials = [
      0, -0, 1, -1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -9, 3.3895313892515355e38, 3.4e38, Infinity, -Infinity, NaN, 1e-40, -1e-45, 65504, 65520, 65519.99, 0.1, -2.5,
      448, 464, 480, -500, 57344, 61440, 61439, 1e5, 2 ** -6, 2 ** -9, 2 ** -10, 3 * 2 ** -10, 2 ** -14, 2 ** -16, 2 ** -17, 3 * 2 ** -17, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 240, 232, 248,
    ];
    const r = prng(9);
    const x = Float32Array.from([...specials, ...Array.from({ length: 200 }, () => (r() - 0.5) * 10 ** Math.floor(r() * 20 - 10))]);
    const N = x.length;
    const out = await runFresh(backend, k('floats'), {
      tensors: { x, rounded: new Uint16Array(N), half: new Uint16Array(N), e4m3: new Uint8Array(N), e5m2: new Uint8Array(N), misc: new Float32Array(N), raw: new Uint32Array(N) },
      scalars: { N },
    });
    const hex = (v: number) => `0x${v.toString(16)}`;
    for (let i = 0; i < N; i++) {
      // Rounding works on the bits, so subnormal inputs round exactly even where arithmetic flushes them.
      for (const [name, fmt] of [['rounded', BF16], ['half', F16], ['e4m3', E4M3], ['e5m2', E5M2]] as const) {
        const got = out[name][i];
        assert.is(got, encode(fmt, x[i]), `${name}(${x[i]}) = ${hex(got)}, want ${hex(encode(fmt, x[i]))}`);
      }
      assert.is(out.raw[i], f32Bits(x[i]), `bitcast ${x[i]}`);
      const v = x[i];
      // WGSL lets implementations flush f32 subnormals in arithmetic (SwiftShader does).
      if (backend === 'webgpu' && v !== 0 && Math.abs(v) < 2 ** -126) continue;
      const want = Math.abs(v) < 1e30 ? Math.floor(Math.min(Math.max(v, -100), 100)) + (v > 0 ? 1 : 0) : -1;
      assert.is(out.misc[i], want, `select/floor/min/max at ${v}`);
    }
  });

  if (backend !== 'interp') {
    t('a 1-D grid of 65,538 workgroups (folded to 2-D on WebGPU) covers every element once', async () => {
      const N = 65537 * 64 + 5;
      const out = await runFresh(backend, k('iota'), { tensors: { out: new Int32Array(N).fill(-1) }, scalars: { N } });
      for (let i = 0; i < N; i++) if (out.out[i] !== i) assert.unreachable(`out[${i}] = ${out.out[i]}`);
    });
  }

  t('non-finite constants (inf, -inf, NaN folded at compile time) reach run time', async () => {
    const out = await runFresh(backend, k('nonfinite'), { tensors: { out: new Float32Array(3) }, scalars: { N: 3 } });
    assert.is(out.out[0], Infinity);
    assert.is(out.out[1], -Infinity);
    assert.ok(Number.isNaN(out.out[2]));
  });

  t('widening every f16 and fp8 bit pattern to f32 is exact', async () => {
    const N = 1 << 16, M = 256;
    const half = Uint16Array.from({ length: N }, (_, i) => i);
    const bytes = Uint8Array.from({ length: M }, (_, i) => i);
    const out = await runFresh(backend, k('widen'), { tensors: { half, e4m3: bytes, e5m2: bytes, h: new Float32Array(N), a: new Float32Array(M), b: new Float32Array(M) }, scalars: { N, M } });
    const same = (got: number, want: number) => (Number.isNaN(want) ? Number.isNaN(got) : Object.is(got, want));
    // WGSL may flush f32 subnormals; f16 subnormals are normal f32 numbers, so none are lost here.
    for (let i = 0; i < N; i++) if (!same(out.h[i], decode(F16, i))) assert.unreachable(`f16 0x${i.toString(16)} -> ${out.h[i]}, want ${decode(F16, i)}`);
    for (let i = 0; i < M; i++) {
      assert.ok(same(out.a[i], decode(E4M3, i)), `e4m3 0x${i.toString(16)} -> ${out.a[i]}, want ${decode(E4M3, i)}`);
      assert.ok(same(out.b[i], decode(E5M2, i)), `e5m2 0x${i.toString(16)} -> ${out.b[i]}, want ${decode(E5M2, i)}`);
    }
  });

  t.run();
}
