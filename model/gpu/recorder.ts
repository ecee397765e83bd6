/**
 * Records one step's launches into a single command encoder (one submit per step) and
 * hands out its activations from the arena. Buffer copies (history rows of a ring, fresh
 * rows after them) go into the same encoder, in order with the launches.
 */
import type { DeviceTensor, WebGpuRuntime } from '../../backends/webgpu/runtime.js';
import { BYTES } from '../../compiler/ir/types.js';
import type { Arena } from './arena.js';

const PROFILE = process.env.MIMO_PROFILE ? new Map<string, number>() : undefined;
if (PROFILE) process.on('exit', () => console.error([...PROFILE].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(0)}ms`).join('\n')));

/** Sums the GPU time of every recorded kernel (timestamp-query around each pass), for the runtime-overhead bench. */
export interface KernelClock {
  gpuMs: number;
}

// WebGPU allows 4096 queries per set: two per pass.
const MAX_TIMED = 2048;

export class Recorder {
  readonly encoder: GPUCommandEncoder;
  launches = 0;
  private readonly queries?: GPUQuerySet;

  constructor(readonly rt: WebGpuRuntime, readonly arena: Arena, readonly clock?: KernelClock) {
    this.encoder = rt.gpu.device.createCommandEncoder();
    if (clock) {
      if (!rt.gpu.features.includes('timestamp-query')) throw new Error('kernel timing needs the timestamp-query feature, which this adapter lacks');
      this.queries = rt.gpu.device.createQuerySet({ type: 'timestamp', count: 2 * MAX_TIMED });
    }
  }

  async launch(name: string, tensors: Readonly<Record<string, DeviceTensor>>, scalars: Readonly<Record<string, number>>): Promise<void> {
    this.launches++;
    if (PROFILE) {
      const t0 = performance.now();
      await this.rt.launch(name, tensors, scalars);
      await this.rt.finish();
      PROFILE.set(name, (PROFILE.get(name) ?? 0) + performance.now() - t0);
      return;
    }
    if (this.queries && this.launches > MAX_TIMED) throw new Error(`kernel timing: more than ${MAX_TIMED} launches in one step`);
    const i = this.launches - 1;
    const timestampWrites = this.queries ? { querySet: this.queries, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } : undefined;
    await this.rt.launch(name, tensors, scalars, { encoder: this.encoder, timestampWrites });
  }

  /** An activation of `role` (valid for this step). */
  tensor(role: string, dtype: DeviceTensor['dtype'], length: number): DeviceTensor {
    return this.arena.get(role, dtype, length);
  }

  /** An i32 per-step input. */
  ints(role: string, values: ArrayLike<number>): DeviceTensor {
    return this.arena.input(role, Int32Array.from(values));
  }

  /** Copies `n` elements from src[srcAt..] to dst[dstAt..]; byte offsets and sizes must be multiples of 4. */
  copy(src: DeviceTensor, srcAt: number, dst: DeviceTensor, dstAt: number, n: number): void {
    if (n <= 0) return;
    const b = BYTES[src.dtype];
    const [so, dO, size] = [srcAt * b + (src.offset ?? 0), dstAt * b + (dst.offset ?? 0), n * b];
    if (so % 4 || dO % 4 || size % 4) throw new Error(`copy of ${n} ${src.dtype} elements at ${srcAt} -> ${dstAt} is not 4-byte aligned`);
    this.encoder.copyBufferToBuffer(src.buffer, so, dst.buffer, dO, size);
  }

  /** Submits the step and waits for it; launch errors surface here. */
  async submit(): Promise<void> {
    const device = this.rt.gpu.device;
    let read: GPUBuffer | undefined;
    let resolve: GPUBuffer | undefined;
    const n = 2 * this.launches;
    if (this.queries && n) {
      resolve = device.createBuffer({ size: 8 * n, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
      read = device.createBuffer({ size: 8 * n, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
      this.encoder.resolveQuerySet(this.queries, 0, n, resolve, 0);
      this.encoder.copyBufferToBuffer(resolve, 0, read, 0, 8 * n);
    }
    device.queue.submit([this.encoder.finish()]);
    await this.rt.finish();
    this.arena.collect();
    if (read && this.clock) {
      await read.mapAsync(GPUMapMode.READ);
      const t = new BigUint64Array(read.getMappedRange());
      for (let i = 0; i < n; i += 2) this.clock.gpuMs += Number(t[i + 1] - t[i]) / 1e6;
      read.unmap();
    }
    for (const b of [read, resolve]) b?.destroy();
    this.queries?.destroy();
  }
}
