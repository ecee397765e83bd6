import type { Bench } from 'tinybench';
import type { GpuContext } from '../backends/webgpu/device.js';
import { WebGpuRuntime, type WgslModule } from '../backends/webgpu/runtime.js';
import * as generated from '../generated/wgsl/kernels.js';
import { createTfjsMatmul } from './peers/tfjs-matmul.js';
import { uniform } from '../test/harness/prng.js';

/**
 * Our gemm_f32 (generated WGSL, default tunables) against tf.js's WebGPU matMul on the
 * same device, 512x512x512 f32. Both sides keep inputs resident and time one dispatch
 * plus queue.onSubmittedWorkDone(); neither uploads nor reads back.
 */
export async function benchGemm(gpu: GpuContext, bench: Bench, size = 512): Promise<void> {
  const M = size, N = size, K = size;
  const rt = new WebGpuRuntime(gpu, generated as unknown as WgslModule);
  const a = rt.upload('f32', Float32Array.from(uniform(1, M * K)));
  const b = rt.upload('f32', Float32Array.from(uniform(2, K * N)));
  const out = rt.allocate('f32', M * N);
  const ours = async () => {
    await rt.launch('gemm_f32', { a, b, out }, { M, N, K });
    await rt.finish();
  };
  await ours(); // pipeline compilation stays out of the timing
  const tfjs = await createTfjsMatmul(gpu, M, K, N);
  bench.add(`mimo-kc gemm_f32 ${M}x${N}x${K}`, ours);
  bench.add(`tfjs-webgpu matMul ${M}x${N}x${K}`, () => tfjs.run());
  await bench.run();
  console.table(bench.table());
  const [mine, peer] = bench.tasks.map((t) => (t.result as { latency?: { mean: number } }).latency?.mean ?? NaN);
  const gflops = (ms: number) => ((2 * M * N * K) / (ms * 1e-3) / 1e9).toFixed(2);
  console.log(`gemm ${M}^3 f32: mimo-kc ${mine.toFixed(1)} ms (${gflops(mine)} GFLOP/s), tfjs ${peer.toFixed(1)} ms (${gflops(peer)} GFLOP/s); tfjs/ours time ratio = ${(peer / mine).toFixed(2)} (>1: ours faster)\n`);
  tfjs.dispose();
  for (const t of [a, b, out]) t.buffer.destroy();
}
