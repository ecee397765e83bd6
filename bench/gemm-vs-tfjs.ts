import path from 'node:path';
import type { GpuContext } from '../backends/webgpu/device.js';
import { WebGpuRuntime, type WgslModule } from '../backends/webgpu/runtime.js';
import { lowerFile } from '../compiler/frontend/index.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { compileKernel } from '../compiler/compile.js';
import type { TunableChoice } from '../compiler/passes/specialise.js';
import { createTfjsMatmul } from './peers/tfjs-matmul.js';
import { uniform } from '../test/harness/prng.js';

/**
 * Our gemm_f32 (compiled now from ops/gemm.ts, WebGPU defaults unless `choice` says
 * otherwise, so the numbers are the working tree's, not generated/'s) against tf.js's WebGPU
 * matMul on the same device, size^3 f32. Both sides keep inputs resident and time one
 * dispatch plus queue.onSubmittedWorkDone(); neither uploads nor reads back. Each round runs
 * both, in alternating order, and the result is the median over rounds of tfjs/ours: the
 * machine's load drifts between rounds, much less within one.
 */
export async function benchGemm(gpu: GpuContext, rounds = 9, size = 512, choice: TunableChoice = {}): Promise<void> {
  const M = size, N = size, K = size;
  const k = lowerFile(path.join(REPO_ROOT, 'ops/gemm.ts')).find((x) => x.name === 'gemm_f32')!;
  const c = compileKernel(k, 'wgsl', choice);
  const module = { manifest: { kernels: { gemm_f32: c.manifest } }, sources: { gemm_f32: c.source } } as unknown as WgslModule;
  const rt = new WebGpuRuntime(gpu, module);
  const a = rt.upload('f32', Float32Array.from(uniform(1, M * K)));
  const b = rt.upload('f32', Float32Array.from(uniform(2, K * N)));
  const out = rt.allocate('f32', M * N);
  const ours = async () => {
    await rt.launch('gemm_f32', { a, b, out }, { M, N, K });
    await rt.finish();
  };
  await ours(); // pipeline compilation stays out of the timing
  const tfjs = await createTfjsMatmul(gpu, M, K, N);
  const timed = async (f: () => Promise<void>) => {
    const t0 = performance.now();
    await f();
    return performance.now() - t0;
  };
  const mine: number[] = [], peer: number[] = [], ratio: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let m: number, p: number;
    if (r % 2) {
      p = await timed(() => tfjs.run());
      m = await timed(ours);
    } else {
      m = await timed(ours);
      p = await timed(() => tfjs.run());
    }
    mine.push(m);
    peer.push(p);
    ratio.push(p / m);
  }
  const median = (x: number[]) => [...x].sort((u, v) => u - v)[Math.floor(x.length / 2)];
  const gflops = (ms: number) => ((2 * M * N * K) / (ms * 1e-3) / 1e9).toFixed(2);
  const tiles = Object.entries(c.manifest.tunables).map(([n, v]) => `${n}=${v}`).join(' ');
  console.log(`gemm ${M}^3 f32 (${tiles}), ${rounds} interleaved rounds: mimo-kc median ${median(mine).toFixed(1)} ms (${gflops(median(mine))} GFLOP/s), tfjs ${median(peer).toFixed(1)} ms (${gflops(median(peer))} GFLOP/s); median of tfjs/ours per round = ${median(ratio).toFixed(2)} (>1: ours faster)\n`);
  tfjs.dispose();
  for (const t of [a, b, out]) t.buffer.destroy();
}
