/**
 * One step's launches on the runtime (which may defer them: WebGPU records one command
 * encoder per step, submitted at finish) and its activations from the arena. Buffer copies
 * (history rows of a ring, fresh rows after them) go in order with the launches.
 */
import type { DeviceTensor, KernelRuntime } from '../../backends/common/kernel-runtime.js';
import { BYTES } from '../../compiler/ir/types.js';
import type { Arena } from './arena.js';

const PROFILE = process.env.MIMO_PROFILE ? new Map<string, number>() : undefined;
if (PROFILE) process.on('exit', () => console.error([...PROFILE].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(0)}ms`).join('\n')));

/** Sums the device time of every recorded kernel (the runtime's KernelTimer), for the runtime-overhead bench. */
export interface KernelClock {
  gpuMs: number;
}

export class Recorder {
  launches = 0;

  constructor(readonly rt: KernelRuntime, readonly arena: Arena, readonly clock?: KernelClock) {
    if (clock) {
      if (!rt.timer) throw new Error(`kernel timing: the ${rt.backend} runtime cannot time kernels here (WebGPU needs the timestamp-query feature)`);
      rt.timer.start();
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
    await this.rt.launch(name, tensors, scalars);
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
    this.rt.copy(src.buffer, so, dst.buffer, dO, size);
  }

  /** Waits for the step; launch errors surface here. */
  async submit(): Promise<void> {
    await this.rt.finish();
    this.arena.collect();
    if (this.clock) this.clock.gpuMs += await this.rt.timer!.stop();
  }
}
