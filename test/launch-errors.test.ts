import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { lowerText } from '../compiler/frontend/index.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { compileKernel } from '../compiler/compile.js';
import { lowerForTarget } from '../compiler/passes/pipeline.js';
import { InterpretError, interpret } from '../compiler/interpret/interpret.js';
import { KernelArgError, type LaunchArgs } from '../compiler/launch/args.js';
import { getGpu, type GpuContext } from '../backends/webgpu/device.js';
import { DeviceLostError } from '../backends/webgpu/deviceErrors.js';
import { WebGpuRuntime } from '../backends/webgpu/runtime.js';
import { CudaHostRunner } from '../backends/cuda/hostRunner.js';

/**
 * Every launch gets its own outcome: concurrent run() calls with failures among them,
 * launch() and run() refusing the same arguments, malformed arguments, buffers over the
 * device's limits, a destroyed device, and the step/time budgets that stop a kernel that
 * never ends in the interpreter and the CUDA emulator. (WebGPU cannot stop a running
 * dispatch from outside, so `spin` never runs there.)
 */

const FIXTURE = path.join(REPO_ROOT, 'test/launch-errors-fixture.ts');
const SRC = `import { kernel, cdiv, localId, workgroupId, f32, type i32, type Out, type Tensor } from '../compiler/dsl/index.js';

export const axpy = kernel(
  { workgroup: () => [64], grid: (c) => [cdiv(c.N, 64)] },
  (x: Tensor<f32, ['N']>, y: Out<f32, ['N']>, c: { N: i32; s: f32 }) => {
    const i = workgroupId.x * 64 + localId.x;
    if (i < c.N) {
      y[i] = x[i] * c.s + 1.0;
    }
  },
);

export const count_to = kernel(
  { workgroup: () => [1], grid: () => [1] },
  (y: Out<i32, ['R']>, c: { R: i32; N: i32 }) => {
    let n = 0;
    for (let i = 0; i < c.N; i++) {
      n += 1;
    }
    y[0] = n;
  },
);

export const spin = kernel(
  { workgroup: () => [1], grid: () => [1] },
  (y: Out<i32, ['N']>, c: { N: i32 }) => {
    while (true) {}
    y[0] = 1;
  },
);
`;
const kernels = new Map(lowerText(FIXTURE, SRC).map((k) => [k.name, k]));
const k = (name: string) => kernels.get(name)!;
const wgslModule = () => {
  const cs = ['axpy', 'count_to'].map((name) => compileKernel(k(name), 'wgsl'));
  return { manifest: { kernels: Object.fromEntries(cs.map((c) => [c.manifest.name, c.manifest])) }, sources: Object.fromEntries(cs.map((c) => [c.manifest.name, c.source])) };
};

// WebGPU's default binding limit, which a device requested without raised limits gets.
const BIND_LIMIT = 134217728;
// Dawn's instance owns the second device's adapter: kept reachable for the whole file.
let instance: GPU | undefined;

/** A device of its own (default limits), to push against the limits and to destroy; never the shared one. */
async function ownDevice(): Promise<GpuContext & { uncaptured: string[] }> {
  const shared = await getGpu(); // sets Dawn's globals and the Vulkan driver environment
  const { create } = await import('webgpu');
  instance ??= create([]);
  const adapter = await instance.requestAdapter();
  if (!adapter) throw new Error('launch-errors: no second WebGPU adapter');
  const device = await adapter.requestDevice();
  const uncaptured: string[] = [];
  device.addEventListener('uncapturederror', (ev) => uncaptured.push((ev as GPUUncapturedErrorEvent).error.message));
  const limits: Record<string, number> = {};
  const granted = device.limits as unknown as Record<string, unknown>;
  for (const key in granted) if (typeof granted[key] === 'number') limits[key] = granted[key] as number;
  return { device, adapter, info: shared.info, features: [], limits, uncaptured };
}

const pattern = (i: number) => Float32Array.from({ length: 100 + i }, (_, j) => ((j * 7 + i) % 23) - 11);
/** Exact: small integers times a half-integer, plus one, are all exact in f32. */
const axpyRef = (x: Float32Array, s: number) => Array.from(x, (v) => v * s + 1);

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  assert.unreachable('expected a rejection');
  throw new Error('unreachable');
}

const gpu = suite('launch errors: WebGPU');
let ctx: Awaited<ReturnType<typeof ownDevice>>;
let rt: WebGpuRuntime;

gpu.before(async () => {
  ctx = await ownDevice();
  assert.is(ctx.limits.maxStorageBufferBindingSize, BIND_LIMIT, 'a device without raised limits binds 128 MiB');
  rt = new WebGpuRuntime(ctx, wgslModule());
});

gpu('twelve concurrent run() calls and a rejected launch() each get their own outcome', async () => {
  const x0 = pattern(0);
  assert.equal(Array.from((await rt.run('axpy', { tensors: { x: x0, y: new Float32Array(x0.length) }, scalars: { N: x0.length, s: 2.5 } })).y), axpyRef(x0, 2.5), 'warm-up');
  const huge = BIND_LIMIT / 4 + 1;
  const args = (i: number): LaunchArgs => {
    const x = pattern(i);
    if (i === 3) return { tensors: { x: new Float32Array(huge), y: new Float32Array(huge) }, scalars: { N: huge, s: 1 } };
    if (i === 6) return { tensors: { x: new Int32Array(x.length), y: new Float32Array(x.length) }, scalars: { N: x.length, s: 1 } };
    if (i === 9) return { tensors: { x, y: new Float32Array(x.length) }, scalars: { N: x.length } };
    return { tensors: { x, y: new Float32Array(x.length) }, scalars: { N: x.length, s: i + 0.5 } };
  };
  const runs = Array.from({ length: 12 }, (_, i) => rt.run('axpy', args(i)));
  // A launch the device rejects (x lacks STORAGE usage), in flight with the runs.
  const bad = ctx.device.createBuffer({ size: 64, usage: GPUBufferUsage.COPY_DST });
  const y = rt.allocate('f32', 16);
  await rt.launch('axpy', { x: { buffer: bad, dtype: 'f32', length: 16 }, y }, { N: 16, s: 1 });
  const finished = rejection(rt.finish());
  const outcomes = await Promise.allSettled(runs);
  const finishError = await finished;
  assert.match(finishError.message, /^\[kernel axpy\] the device rejected the launch: /);
  assert.is(finishError.message.split('[kernel ').length, 2, 'finish() reports only the one launch() it waited for');
  outcomes.forEach((o, i) => {
    if (i === 3 || i === 6 || i === 9) {
      assert.is(o.status, 'rejected', `run ${i} must fail`);
      const e = (o as PromiseRejectedResult).reason as Error;
      assert.instance(e, KernelArgError, `run ${i}: ${e}`);
      const want = {
        3: `[kernel axpy] argument 'x': f32[${huge}] needs ${4 * huge} bytes, over this device's maxStorageBufferBindingSize of ${BIND_LIMIT} bytes`,
        6: `[kernel axpy] argument 'x': expected dtype f32 (Float32Array), got Int32Array`,
        9: `[kernel axpy] argument 's': missing scalar (f32)`,
      }[i];
      assert.is(e.message, want);
      return;
    }
    assert.is(o.status, 'fulfilled', `run ${i}: ${(o as PromiseRejectedResult).reason}`);
    const got = (o as PromiseFulfilledResult<Record<string, Float32Array>>).value.y;
    assert.equal(Array.from(got), axpyRef(pattern(i), i + 0.5), `run ${i} output`);
  });
  assert.equal(ctx.uncaptured, [], 'every device error was caught by the launch it belongs to');
  bad.destroy();
  y.buffer.destroy();
});

gpu('launches recorded into one encoder: finish() names the one the device rejected, the others ran', async () => {
  const x = pattern(2);
  const [dx, dy, counts] = [rt.upload('f32', x), rt.allocate('f32', x.length), rt.allocate('i32', 1)];
  const bad = ctx.device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST });
  const encoder = ctx.device.createCommandEncoder();
  await rt.launch('axpy', { x: dx, y: dy }, { N: x.length, s: 0.5 }, { encoder });
  await rt.launch('count_to', { y: { buffer: bad, dtype: 'i32', length: 1 } }, { R: 1, N: 3 }, { encoder });
  await rt.launch('count_to', { y: counts }, { R: 1, N: 7 }, { encoder });
  // The encoder holds an invalid bind group, so its finish() fails: the caller's error, not a launch's.
  ctx.device.pushErrorScope('validation');
  ctx.device.queue.submit([encoder.finish()]);
  const submitError = await ctx.device.popErrorScope();
  assert.ok(submitError, 'the shared encoder is invalid');
  const e = await rejection(rt.finish());
  assert.match(e.message, /^\[kernel count_to\] the device rejected the launch: /);
  assert.is(e.message.split('[kernel ').length, 2, e.message);
  // Nothing of an invalid encoder runs; each launch alone does, as its own.
  await rt.launch('axpy', { x: dx, y: dy }, { N: x.length, s: 0.5 });
  await rt.launch('count_to', { y: counts }, { R: 1, N: 7 });
  await rt.finish();
  assert.equal(Array.from(await rt.download(dy)), axpyRef(x, 0.5));
  assert.equal(Array.from(await rt.download(counts)), [7]);
  for (const t of [dx, dy, counts]) t.buffer.destroy();
  bad.destroy();
});

gpu('launch() refuses what run() refuses, with the same messages', async () => {
  const x = new Float32Array(8);
  const [dx, dy] = [rt.upload('f32', x), rt.allocate('f32', 8)];
  const host = async (tensors: Record<string, unknown>) => (await rejection(rt.run('axpy', { tensors, scalars: { N: 8, s: 1 } } as LaunchArgs))).message;
  const resident = async (tensors: Record<string, unknown>) => (await rejection(rt.launch('axpy', tensors as never, { N: 8, s: 1 }))).message;
  assert.is(await resident({ x: dx, y: dy, z: dy }), await host({ x, y: x, z: x }));
  assert.is(await resident({ x: dx, y: dy, z: dy }), `[kernel axpy] argument 'z': unknown tensor (expected: x, y)`);
  assert.is(await resident({ x: dx }), await host({ x }));
  assert.is(await resident({ x: dx, y: x }), `[kernel axpy] argument 'y': expected a DeviceTensor { buffer, dtype, length }, got Float32Array`);
  assert.is(await resident({ x: dx, y: { ...dy, dtype: 'i32' } }), `[kernel axpy] argument 'y': expected dtype f32, got i32`);
  // A resident buffer may exceed the binding limit (it is under maxBufferSize); binding it whole may not.
  const big = rt.allocate('f32', BIND_LIMIT / 4 + 1);
  assert.is(await resident({ x: dx, y: big }), `[kernel axpy] argument 'y': binds ${BIND_LIMIT + 4} bytes, over this device's maxStorageBufferBindingSize of ${BIND_LIMIT} bytes`);
  big.buffer.destroy();
  const over = ctx.limits.maxBufferSize / 4 + 1;
  assert.throws(() => rt.allocate('f32', over), (e: Error) => e.message === `allocation of f32[${over}]: ${4 * over} bytes is over this device's maxBufferSize of ${ctx.limits.maxBufferSize} bytes`);
  for (const t of [dx, dy]) t.buffer.destroy();
});

gpu('malformed arguments are KernelArgErrors naming the field, from run() and launch()', async () => {
  const x = new Float32Array(4);
  const cases: [unknown, string][] = [
    [undefined, `[kernel axpy] argument 'args': expected { tensors, scalars }, got undefined`],
    [{ scalars: { N: 4, s: 1 } }, `[kernel axpy] argument 'tensors': expected an object of named tensors, got undefined`],
    [{ tensors: 5, scalars: { N: 4, s: 1 } }, `[kernel axpy] argument 'tensors': expected an object of named tensors, got number 5`],
    [{ tensors: { x, y: x } }, `[kernel axpy] argument 'scalars': expected an object of named scalars, got undefined`],
    [{ tensors: { x, y: x }, scalars: { N: 4, s: '2' } }, `[kernel axpy] argument 's': expected a number`],
  ];
  for (const [args, want] of cases) {
    const e = await rejection(rt.run('axpy', args as LaunchArgs));
    assert.instance(e, KernelArgError, String(e));
    assert.ok(e.message.startsWith(want), e.message);
  }
  const e = await rejection(rt.launch('axpy', undefined as never, { N: 4, s: 1 }));
  assert.is(e.message, `[kernel axpy] argument 'tensors': expected an object of named tensors, got undefined`);
});

gpu('a destroyed device is reported as such, naming the kernel or the transfer', async () => {
  const x = pattern(1);
  const kept = rt.upload('f32', x);
  const inFlight = rt.run('axpy', { tensors: { x, y: new Float32Array(x.length) }, scalars: { N: x.length, s: 1 } });
  ctx.device.destroy();
  const lost = (e: Error, where: string) => {
    assert.instance(e, DeviceLostError, String(e));
    assert.is(e.message, `[${where}] the WebGPU device was destroyed (device was destroyed)`);
  };
  lost(await rejection(inFlight), 'kernel axpy');
  lost(await rejection(rt.run('axpy', { tensors: { x, y: new Float32Array(x.length) }, scalars: { N: x.length, s: 1 } })), 'kernel axpy');
  lost(await rejection(rt.launch('axpy', { x: kept, y: kept }, { N: x.length, s: 1 })), 'kernel axpy');
  lost(await rejection(rt.download(kept)), `download of f32[${x.length}]`);
  assert.throws(() => rt.upload('f32', x), (e: Error) => e instanceof DeviceLostError && e.message.startsWith(`[upload of f32[${x.length}]] the WebGPU device was destroyed`));
});

gpu.run();

const budget = suite('launch errors: step and time budgets, malformed arguments off WebGPU');

budget('the interpreter stops a kernel that never ends after its step budget, naming the kernel', () => {
  const y = new Int32Array(1);
  try {
    interpret(lowerForTarget(k('spin'), 'interp'), { tensors: { y }, scalars: { N: 1 } }, { maxSteps: 100000 });
    assert.unreachable('spin returned');
  } catch (e) {
    assert.instance(e, InterpretError, String(e));
    assert.match((e as Error).message, /\[kernel spin\] interpreter stopped after 100000 steps \(an infinite loop\?\)/);
  }
  // The budget counts loop iterations: exactly N of them fit, N - 1 do not.
  const count = lowerForTarget(k('count_to'), 'interp');
  interpret(count, { tensors: { y }, scalars: { R: 1, N: 500 } }, { maxSteps: 500 });
  assert.is(y[0], 500);
  assert.throws(() => interpret(count, { tensors: { y }, scalars: { R: 1, N: 500 } }, { maxSteps: 499 }), /interpreter stopped after 499 steps/);
});

budget('the CUDA emulator run is killed after its time limit, naming the kernel', () => {
  const c = compileKernel(k('spin'), 'cuda');
  const runner = new CudaHostRunner({ kernels: { spin: c.manifest } }, { spin: c.source }, { timeoutMs: 300 });
  runner.binary('spin'); // the g++ build is not part of the run's time limit
  const t0 = performance.now();
  assert.throws(() => runner.run('spin', { tensors: { y: new Int32Array(1) }, scalars: { N: 1 } }), (e: Error) =>
    e.message === `[kernel spin] emulated CUDA run stopped after 300 ms (an infinite loop?); CudaHostRunner's timeoutMs sets the limit`);
  assert.ok(performance.now() - t0 < 5000, 'killed, not waited for');
});

budget('malformed arguments are refused by the interpreter and the CUDA runner too', () => {
  const c = compileKernel(k('axpy'), 'cuda');
  const runner = new CudaHostRunner({ kernels: { axpy: c.manifest } }, { axpy: c.source });
  const lowered = lowerForTarget(k('axpy'), 'interp');
  const bad: unknown[] = [undefined, { scalars: { N: 4, s: 1 } }, { tensors: { x: new Float32Array(4), y: new Float32Array(4) }, scalars: 7 }];
  for (const args of bad) {
    assert.throws(() => runner.run('axpy', args as LaunchArgs), (e: Error) => e instanceof KernelArgError && /^\[kernel axpy\] argument '(args|tensors|scalars)': expected /.test(e.message));
    assert.throws(() => interpret(lowered, args as LaunchArgs), (e: Error) => e instanceof InterpretError && /\[kernel axpy\] argument '(args|tensors|scalars)': expected /.test(e.message));
  }
});

budget.run();
