// Peer baseline: TensorFlow.js WebGPU backend matMul, running on *our* GpuContext
// device (so both sides share one Dawn device, driver and limits).
//
// Self-test: npx tsx bench/peers/tfjs-matmul.ts   (checks 64x48x40, times 512^3)
import * as tf from '@tensorflow/tfjs-core';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { pathToFileURL } from 'node:url';
import { describeGpu, getGpu, type GpuContext } from '../../backends/webgpu/device.ts';
import { uniform } from '../../test/harness/prng.ts';

export interface TfjsMatmul {
  /**
   * One C = A @ B, timed end to end as a user of tf.js would see it:
   * tf.matMul (tfjs engine + kernel selection + bind group / uniform setup +
   * recording the dispatch into tfjs's pending command encoder), then forcing
   * that encoder to be submitted, then awaiting queue.onSubmittedWorkDone().
   * No upload (A, B stay resident on the GPU) and no readback of C.
   * Pipeline compilation and the first upload happen in a warm-up run inside
   * createTfjsMatmul, so run() is steady state.
   */
  run(): Promise<void>;
  /** C as row-major Float32Array [M*N] (computes a fresh C and reads it back). */
  result(): Promise<Float32Array>;
  dispose(): void;
  /** The inputs, row-major A[M*K], B[K*N], for checking result() on the host. */
  inputs: { a: Float32Array; b: Float32Array };
}

const BACKEND = 'mimo-webgpu';
let registered: Promise<WebGPUBackend> | undefined;

// tfjs allows one active backend per process, so all peers share one backend
// bound to the shared device.
function useBackend(ctx: GpuContext): Promise<WebGPUBackend> {
  registered ??= (async () => {
    // WebGPUBackend's constructor only checks that navigator.gpu exists
    // (isWebGPUSupported); Node 20 has no navigator at all. We hand it our device,
    // so the stub is never used to create adapters or devices.
    const g = globalThis as { navigator?: { gpu?: unknown } };
    if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
    g.navigator!.gpu ??= { requestAdapter: async () => null };
    // Pass the real adapter info: tfjs tunes matmul for Intel based on it.
    tf.registerBackend(BACKEND, () => new WebGPUBackend(ctx.device, ctx.adapter.info));
    // Kernels are registered per backend name; ours is distinct from 'webgpu' so that
    // it never collides with the package's own navigator.gpu-based registration.
    for (const k of tf.getKernelsForBackend('webgpu')) tf.registerKernel({ ...k, backendName: BACKEND });
    if (!(await tf.setBackend(BACKEND))) throw new Error(`tfjs: could not initialise backend ${BACKEND}`);
    return tf.backend() as WebGPUBackend;
  })();
  return registered.then((b) => {
    if (b.device !== ctx.device) throw new Error('tfjs backend is already bound to a different GPUDevice');
    return b;
  });
}

export async function createTfjsMatmul(ctx: GpuContext, M: number, K: number, N: number): Promise<TfjsMatmul> {
  const backend = await useBackend(ctx);
  // Deterministic inputs in [-1, 1), from the same generator as our side of the bench.
  const aData = Float32Array.from(uniform(1 + M * 31 + K, M * K));
  const bData = Float32Array.from(uniform(7 + K * 17 + N, K * N));
  const a = tf.tensor2d(aData, [M, K], 'float32');
  const b = tf.tensor2d(bData, [K, N], 'float32');

  // tfjs batches up to WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches before
  // submitting; flush so that onSubmittedWorkDone covers this matmul.
  const flush = () => {
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.submitQueue();
  };
  const run = async () => {
    const c = tf.matMul(a, b);
    flush();
    await ctx.device.queue.onSubmittedWorkDone();
    c.dispose();
  };
  await run(); // warm-up: uploads A and B, compiles the pipeline

  return {
    run,
    async result() {
      const c = tf.matMul(a, b);
      const data = (await c.data()) as Float32Array;
      c.dispose();
      return data;
    },
    dispose() {
      a.dispose();
      b.dispose();
    },
    inputs: { a: aData, b: bData },
  };
}

function hostMatmul(a: Float32Array, b: Float32Array, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const aik = a[i * K + k];
      for (let j = 0; j < N; j++) c[i * N + j] += aik * b[k * N + j];
    }
  }
  return c;
}

async function selfTest(): Promise<void> {
  const ctx = await getGpu();
  console.log(describeGpu(ctx));
  console.log(`tfjs-core ${tf.version_core}, backend=${BACKEND}`);

  const [M, K, N] = [64, 48, 40];
  const small = await createTfjsMatmul(ctx, M, K, N);
  const got = await small.result();
  const want = hostMatmul(small.inputs.a, small.inputs.b, M, K, N);
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - want[i]));
  const ok = got.length === M * N && maxErr < 1e-4;
  console.log(`correctness ${M}x${K}x${N}: max abs err vs float64 host = ${maxErr.toExponential(3)} ${ok ? 'OK' : 'FAIL'}`);
  small.dispose();
  if (!ok) process.exitCode = 1;

  const S = 512;
  const big = await createTfjsMatmul(ctx, S, S, S);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await big.run();
    times.push(performance.now() - t0);
  }
  const best = Math.min(...times);
  console.log(`matMul ${S}^3: run() times ms = ${times.map((t) => t.toFixed(1)).join(', ')}; ` +
    `best ${best.toFixed(1)} ms = ${((2 * S ** 3) / (best * 1e6)).toFixed(2)} GFLOP/s`);
  big.dispose();
  ctx.device.destroy();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await selfTest();
