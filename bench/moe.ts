import type { Bench } from 'tinybench';
import type { GpuContext } from '../backends/webgpu/device.js';
import { WebGpuRuntime, type DeviceTensor, type WgslModule } from '../backends/webgpu/runtime.js';
import * as generated from '../generated/wgsl/kernels.js';
import { packArray } from '../compiler/ir/numerics.js';
import { moeDims } from '../ops/moe/shapes.js';
import { moeAlign } from '../model/gpu/blocks.js';
import { prng, uniform } from '../test/harness/prng.js';

/**
 * A MoE layer of a tiny config on one device (generated WGSL, default tunables), and the
 * grouped GEMM against one dense gemm_bf16 doing the same useful FLOPs (M = T*TOPK routed
 * rows), reported as time ratios. Everything stays resident; each task records its
 * launches into one command encoder, submits, and waits (queue.onSubmittedWorkDone).
 */
export async function benchMoe(gpu: GpuContext, bench: Bench, cfg = { T: 64, TOPK: 4, E: 16, H: 256, F: 128 }): Promise<void> {
  const { T, TOPK, E, H, F } = cfg;
  const rt = new WebGpuRuntime(gpu, generated as unknown as WgslModule);
  const align = moeAlign(rt, 'bf16');
  const { NC, MP, slots } = moeDims(T, TOPK, E, align);
  const r = prng(7);
  const ids = new Int32Array(slots);
  const w = new Float32Array(slots);
  for (let t = 0; t < T; t++) {
    const perm = Array.from({ length: E }, (_, i) => i).sort(() => r() - 0.5);
    for (let j = 0; j < TOPK; j++) {
      ids[t * TOPK + j] = perm[j];
      w[t * TOPK + j] = 1 / TOPK;
    }
  }
  const bf = (seed: number, n: number, s = 1) => rt.upload('bf16', packArray('bf16', uniform(seed, n, -s, s)));
  // Masked capacity: the largest expert count of this routing (no drops), as a
  // dispatcher sized for the worst case would allocate.
  const perExpert = new Int32Array(E);
  for (const e of ids) perExpert[e]++;
  const C = Math.max(...perExpert);
  const d: Record<string, DeviceTensor> = {
    ids: rt.upload('i32', ids), w: rt.upload('f32', w), x: bf(1, T * H),
    wg: bf(2, E * F * H, H ** -0.5), wu: bf(3, E * F * H, H ** -0.5), wd: bf(4, E * H * F, F ** -0.5),
    chunkCounts: rt.allocate('i32', NC * E), chunkOffsets: rt.allocate('i32', NC * E), counts: rt.allocate('i32', E), offsets: rt.allocate('i32', E),
    rowIndex: rt.allocate('i32', MP), rowExpert: rt.allocate('i32', MP), slotRow: rt.allocate('i32', slots),
    rowIndexM: rt.allocate('i32', E * C), slotRowM: rt.allocate('i32', slots), maskedCount: rt.allocate('i32', E),
    xp: rt.allocate('bf16', MP * H), h: rt.allocate('bf16', MP * F), y: rt.allocate('bf16', MP * H),
    xm: rt.allocate('bf16', E * C * H), hm: rt.allocate('bf16', E * C * F), ym: rt.allocate('bf16', E * C * H),
    out: rt.allocate('bf16', T * H),
    // Dense stand-ins with the same useful FLOPs: [slots, H] x [H, 2F] and [slots, F] x [F, H].
    a1: bf(5, slots * H), b1: bf(6, H * 2 * F), c1: rt.allocate('f32', slots * 2 * F),
    a2: bf(7, slots * F), b2: bf(8, F * H), c2: rt.allocate('f32', slots * H),
  };
  const run = (launches: [string, Record<string, DeviceTensor>, Record<string, number>][]) => async () => {
    const encoder = gpu.device.createCommandEncoder();
    for (const [name, tensors, scalars] of launches) await rt.launch(name, tensors, scalars, { encoder });
    gpu.device.queue.submit([encoder.finish()]);
    await rt.finish();
  };
  const permute: [string, Record<string, DeviceTensor>, Record<string, number>][] = [
    ['moe_count', { ids: d.ids, chunkCounts: d.chunkCounts }, { T, TOPK, E }],
    ['moe_scan', { chunkCounts: d.chunkCounts, chunkOffsets: d.chunkOffsets, counts: d.counts, offsets: d.offsets }, { NC, E }],
  ];
  const gateUp: [string, Record<string, DeviceTensor>, Record<string, number>] = ['moe_gate_up_bf16', { x: d.xp, wg: d.wg, wu: d.wu, rowExpert: d.rowExpert, h: d.h }, { M: MP, H, E, F }];
  const down: [string, Record<string, DeviceTensor>, Record<string, number>] = ['moe_down_bf16', { h: d.h, wd: d.wd, rowExpert: d.rowExpert, y: d.y }, { M: MP, H, E, F }];
  const contiguous = run([
    ...permute,
    ['moe_place_contiguous', { ids: d.ids, chunkOffsets: d.chunkOffsets, counts: d.counts, offsets: d.offsets, rowIndex: d.rowIndex, rowExpert: d.rowExpert, slotRow: d.slotRow }, { T, TOPK, E, MP }],
    ['moe_gather', { x: d.x, rowIndex: d.rowIndex, xp: d.xp }, { T, H, R: MP, TOPK }],
    gateUp, down,
    ['moe_combine', { y: d.y, slotRow: d.slotRow, w: d.w, out: d.out }, { R: MP, H, T, TOPK }],
  ]);
  const masked = run([
    ...permute,
    ['moe_place_masked', { ids: d.ids, chunkOffsets: d.chunkOffsets, counts: d.counts, rowIndex: d.rowIndexM, slotRow: d.slotRowM, maskedCount: d.maskedCount }, { T, TOPK, E, C }],
    ['moe_gather', { x: d.x, rowIndex: d.rowIndexM, xp: d.xm }, { T, H, R: E * C, TOPK }],
    ['moe_gate_up_bf16_masked', { x: d.xm, wg: d.wg, wu: d.wu, maskedCount: d.maskedCount, h: d.hm }, { C, H, E, F }],
    ['moe_down_bf16_masked', { h: d.hm, wd: d.wd, maskedCount: d.maskedCount, y: d.ym }, { C, H, E, F }],
    ['moe_combine', { y: d.ym, slotRow: d.slotRowM, w: d.w, out: d.out }, { R: E * C, H, T, TOPK }],
  ]);
  const tasks: [string, () => Promise<void>][] = [
    [`MoE layer bf16, contiguous (7 kernels) T=${T} k=${TOPK} E=${E} H=${H} F=${F}`, contiguous],
    [`MoE layer bf16, masked (7 kernels, C=${C})`, masked],
    [`grouped gate/up+SwiGLU (M=${MP} padded rows)`, run([gateUp])],
    [`dense gemm_bf16 ${slots}x${2 * F}x${H} (same FLOPs)`, run([['gemm_bf16', { a: d.a1, b: d.b1, out: d.c1 }, { M: slots, N: 2 * F, K: H }]])],
    ['grouped down', run([down])],
    [`dense gemm_bf16 ${slots}x${H}x${F} (same FLOPs)`, run([['gemm_bf16', { a: d.a2, b: d.b2, out: d.c2 }, { M: slots, N: H, K: F }]])],
  ];
  for (const [, fn] of tasks) await fn(); // pipelines compiled and routing in place before timing
  for (const [name, fn] of tasks) bench.add(name, fn);
  await bench.run();
  console.table(bench.table());
  const p50 = bench.tasks.map((t) => (t.result as { latency?: { p50?: number } }).latency?.p50 ?? NaN);
  // The ratios from interleaved rounds (grouped, dense, grouped, dense, ...), median of the
  // per-round ratios: other work on a shared CPU shifts both sides of a round alike.
  const ratio = async (a: () => Promise<void>, b: () => Promise<void>, rounds = 7) => {
    const rs: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await a();
      const t1 = performance.now();
      await b();
      rs.push((t1 - t0) / (performance.now() - t1));
    }
    return rs.sort((x, y) => x - y)[rounds >> 1];
  };
  const gateUpRatio = await ratio(tasks[2][1], tasks[3][1]);
  const downRatio = await ratio(tasks[4][1], tasks[5][1]);
  const offsets = (await rt.download(d.offsets)) as Int32Array;
  const counts = (await rt.download(d.counts)) as Int32Array;
  const used = offsets[E - 1] + Math.ceil(counts[E - 1] / align) * align;
  const flops = (n: number) => 2 * slots * n;
  console.log(
    `MoE layer (median): contiguous ${p50[0].toFixed(0)} ms, masked ${p50[1].toFixed(0)} ms\n` +
      `grouped/dense time (median of 7 interleaved rounds): gate/up+SwiGLU ${gateUpRatio.toFixed(2)}, down ${downRatio.toFixed(2)}; ` +
      `${slots} routed rows in ${used} rows padded to ${align} per expert (grid sized for MP = ${MP}); ` +
      `useful ${(flops(2 * F * H) / 1e6).toFixed(1)} + ${(flops(H * F) / 1e6).toFixed(1)} MFLOP\n`,
  );
  for (const t of Object.values(d)) t.buffer.destroy();
}
