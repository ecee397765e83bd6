/**
 * Device memory for one forward step: activations are named by role and reused from step
 * to step (a buffer grows when a role needs more, and is never shrunk), so a decode step
 * allocates nothing. A tensor handed out may sit in a larger buffer: launches check the
 * tensor's length, not the buffer's size.
 *
 * Small per-step inputs (positions, sequence lengths, counts) are written into buffers
 * keyed by role too, so that an input still read by an earlier launch of the step is
 * never overwritten by a later one's.
 */
import type { DType } from '../../compiler/ir/types.js';
import { tensorBytes, type DeviceBuffer, type DeviceTensor, type KernelRuntime } from '../../backends/common/kernel-runtime.js';

export class Arena {
  private readonly buffers = new Map<string, DeviceBuffer>();
  /** Outgrown buffers: launches recorded but not yet finished may still bind them. */
  private retired: DeviceBuffer[] = [];

  constructor(readonly rt: KernelRuntime) {}

  /** A tensor of exactly `length` elements for `role`, valid until the role is asked for again. */
  get(role: string, dtype: DType, length: number): DeviceTensor {
    const bytes = tensorBytes(dtype, length);
    let buf = this.buffers.get(role);
    if (!buf || buf.size < bytes) {
      if (buf) this.retired.push(buf);
      // Grow by at least half, so a prefill of slowly rising length does not reallocate every step.
      const size = Math.max(bytes, buf ? Math.ceil((buf.size * 1.5) / 256) * 256 : 0);
      buf = this.rt.createBuffer(size, role);
      this.buffers.set(role, buf);
    }
    return { buffer: buf, dtype, length };
  }

  /** An i32/f32 host array written into `role`'s buffer for this step. */
  input(role: string, data: Int32Array | Float32Array): DeviceTensor {
    const t = this.get(role, data instanceof Int32Array ? 'i32' : 'f32', data.length);
    if (data.length) this.rt.write(t.buffer, 0, data);
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
