/**
 * Device memory for one forward step: activations are named by role and reused from step
 * to step (a buffer grows when a role needs more, and is never shrunk), so a decode step
 * allocates nothing. A tensor handed out may sit in a larger buffer: launches check the
 * tensor's length, not the buffer's size.
 *
 * Small per-step inputs (positions, sequence lengths, counts) are written with
 * queue.writeBuffer, which takes effect before the step's commands run, so every distinct
 * input of one step needs a buffer of its own: `input` keys them by role too.
 */
import type { DType } from '../../compiler/ir/types.js';
import { tensorBytes, type DeviceTensor, type WebGpuRuntime } from '../../backends/webgpu/runtime.js';

// Read when a buffer is made: the GPUBufferUsage global only exists once a device does.
const usage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class Arena {
  private readonly buffers = new Map<string, GPUBuffer>();
  /** Outgrown buffers: launches recorded but not yet submitted may still bind them. */
  private retired: GPUBuffer[] = [];

  constructor(readonly rt: WebGpuRuntime) {}

  /** A tensor of exactly `length` elements for `role`, valid until the role is asked for again. */
  get(role: string, dtype: DType, length: number): DeviceTensor {
    const bytes = tensorBytes(dtype, length);
    let buf = this.buffers.get(role);
    if (!buf || buf.size < bytes) {
      if (buf) this.retired.push(buf);
      // Grow by at least half, so a prefill of slowly rising length does not reallocate every step.
      const size = Math.max(bytes, buf ? Math.ceil((buf.size * 1.5) / 256) * 256 : 0);
      buf = this.rt.gpu.device.createBuffer({ size, usage: usage(), label: role });
      this.buffers.set(role, buf);
    }
    return { buffer: buf, dtype, length };
  }

  /** An i32/f32 host array written into `role`'s buffer for this step. */
  input(role: string, data: Int32Array | Float32Array): DeviceTensor {
    const t = this.get(role, data instanceof Int32Array ? 'i32' : 'f32', data.length);
    if (data.length) this.rt.gpu.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return t;
  }

  /** Frees outgrown buffers; call once the step that might bind them has completed. */
  collect(): void {
    for (const b of this.retired) b.destroy();
    this.retired = [];
  }

  destroy(): void {
    this.collect();
    for (const b of this.buffers.values()) b.destroy();
    this.buffers.clear();
  }
}
