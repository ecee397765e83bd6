import type { Bench } from 'tinybench';
import type { GpuContext } from '../backends/webgpu/device.js';
import { WebGpuRuntime, type DeviceTensor, type WgslModule } from '../backends/webgpu/runtime.js';
import * as generated from '../generated/wgsl/kernels.js';
import { packArray } from '../compiler/ir/numerics.js';
import { uniform } from '../test/harness/prng.js';

/**
 * SWA prefill (window 128 + sink) against global causal prefill, one sequence of T
 * tokens, T = 512, 1024, 2048, HQ = 2, HKV = 1 (small so that SwiftShader finishes in
 * minutes), generated WGSL with default tunables. Inputs stay resident; each sample is
 * one dispatch plus queue.onSubmittedWorkDone() (rt.finish()). SWA work is O(T * W): its
 * time should grow ~linearly (time(2048)/time(512) ~ 4), global causal ~quadratically (~16).
 */
export async function benchAttentionPrefill(gpu: GpuContext, bench: Bench, lengths: readonly number[] = [512, 1024, 2048]): Promise<void> {
  const HQ = 2, HKV = 1, DQK = 192, DV = 128;
  const rt = new WebGpuRuntime(gpu, generated as unknown as WgslModule);
  const resident: DeviceTensor[] = [];
  const keep = (t: DeviceTensor) => (resident.push(t), t);
  // CPU time of this process (SwiftShader's worker threads included) per sample: on a
  // shared machine it moves much less than wall time when other jobs compete for the cores.
  const cpuMs = new Map<string, number[]>();
  for (const T of lengths) {
    const q = keep(rt.upload('bf16', packArray('bf16', uniform(T, T * HQ * DQK, -3, 3))));
    const k = keep(rt.upload('bf16', packArray('bf16', uniform(T + 1, T * HKV * DQK, -2, 2))));
    const v = keep(rt.upload('bf16', packArray('bf16', uniform(T + 2, T * HKV * DV))));
    const cu = keep(rt.upload('i32', Int32Array.from([0, T])));
    const sink = keep(rt.upload('f32', new Float32Array(HQ)));
    const out = keep(rt.allocate('bf16', T * HQ * DV));
    const scalars = { T, S: T, HQ, HKV, B: 1 };
    for (const kind of ['swa', 'global'] as const) {
      const tensors: Record<string, DeviceTensor> = kind === 'swa' ? { q, k, v, sink, cu_q: cu, cu_k: cu, out } : { q, k, v, cu_q: cu, cu_k: cu, out };
      const name = `${kind}_prefill T=${T}`;
      const once = async () => {
        const c0 = process.cpuUsage();
        await rt.launch(`${kind}_prefill`, tensors, scalars);
        await rt.finish();
        const c = process.cpuUsage(c0);
        cpuMs.set(name, [...(cpuMs.get(name) ?? []), (c.user + c.system) / 1000]);
      };
      await once(); // pipeline compilation stays out of the timing
      cpuMs.set(name, []);
      bench.add(name, once);
    }
  }
  await bench.run();
  console.table(bench.table());
  // These machines are shared: other jobs only ever add time, so the minimum over the
  // samples is the least disturbed estimate; the median is shown next to it.
  const latency = (name: string) => (bench.tasks.find((t) => t.name === name)?.result as { latency?: { min: number; p50: number } } | undefined)?.latency;
  const clocks = {
    'wall min': (name: string) => latency(name)?.min ?? NaN,
    'wall median': (name: string) => latency(name)?.p50 ?? NaN,
    'cpu min': (name: string) => Math.min(...(cpuMs.get(name) ?? [NaN])),
  };
  const [first, last] = [lengths[0], lengths[lengths.length - 1]];
  const rows = (['swa', 'global'] as const).flatMap((kind) =>
    (Object.keys(clocks) as (keyof typeof clocks)[]).map((clock) => {
      const ms = lengths.map((T) => clocks[clock](`${kind}_prefill T=${T}`));
      return { kernel: `${kind}_prefill`, clock, ...Object.fromEntries(lengths.map((T, i) => [`T=${T} ms`, ms[i].toFixed(1)])), [`time(${last})/time(${first})`]: (ms[ms.length - 1] / ms[0]).toFixed(2) };
    }),
  );
  console.log(`attention prefill, one sequence, HQ=${HQ} HKV=${HKV}, DQK=${DQK} DV=${DV}, window 128 (SWA) vs causal (global); per launch: wall time (min, median) and process CPU time (min):`);
  console.table(rows);
  for (const t of resident) t.buffer.destroy();
}
