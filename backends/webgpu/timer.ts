/// <reference types="@webgpu/types" preserve="true" />
/**
 * Kernel timing on WebGPU: while started, every launch into the runtime's open step gets a
 * timestamp pair around its compute pass; finish() resolves the pairs into the step's
 * encoder and reads them back once the step is done (bench/'s runtime-overhead figures).
 */
import type { KernelTimer } from '../common/kernel-runtime.js';

// WebGPU allows 4096 queries per set: two per pass.
const MAX_TIMED = 2048;

export class WebGpuTimer implements KernelTimer {
  private queries?: GPUQuerySet;
  private active = false;
  private used = 0;
  private ms = 0;

  constructor(private readonly device: GPUDevice) {}

  start(): void {
    this.queries ??= this.device.createQuerySet({ type: 'timestamp', count: 2 * MAX_TIMED });
    this.active = true;
    this.used = 0;
    this.ms = 0;
  }

  /** The timestamp writes of the next pass while timing; refuses more passes than one step can hold. */
  next(): GPUComputePassTimestampWrites | undefined {
    if (!this.active || !this.queries) return undefined;
    if (this.used >= MAX_TIMED) throw new Error(`kernel timing: more than ${MAX_TIMED} launches between two finish() calls`);
    const i = this.used++;
    return { querySet: this.queries, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Records the resolution of the pending pairs into `encoder()`; the returned read-back runs after the submission is done. */
  resolve(encoder: () => GPUCommandEncoder): (() => Promise<void>) | undefined {
    const n = 2 * this.used;
    if (!n || !this.queries) return undefined;
    this.used = 0;
    const resolved = this.device.createBuffer({ size: 8 * n, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const read = this.device.createBuffer({ size: 8 * n, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
    const enc = encoder();
    enc.resolveQuerySet(this.queries, 0, n, resolved, 0);
    enc.copyBufferToBuffer(resolved, 0, read, 0, 8 * n);
    return async () => {
      try {
        await read.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(read.getMappedRange());
        for (let i = 0; i < n; i += 2) this.ms += Number(t[i + 1] - t[i]) / 1e6;
        read.unmap();
      } finally {
        resolved.destroy();
        read.destroy();
      }
    };
  }

  /** Call after finish(): the summed device time of the launches timed since start(), in ms. */
  async stop(): Promise<number> {
    this.active = false;
    this.used = 0;
    return this.ms;
  }
}
