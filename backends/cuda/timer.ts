/**
 * Kernel timing on CUDA: while started, every launch is bracketed by a pair of CUDA events
 * on the runtime's stream; stop() waits for the stream and sums the pairs' elapsed times,
 * so host gaps between launches are not counted (as WebGPU's per-pass timestamps).
 */
import type { KernelTimer } from '../common/kernel-runtime.js';
import type { Handle, NativeCuda } from './native.js';

export class CudaTimer implements KernelTimer {
  private active = false;
  private pairs: [Handle, Handle][] = [];
  /** Events of earlier pairs, reused: creating two per launch would cost more than the launch. */
  private spare: Handle[] = [];

  constructor(private readonly native: NativeCuda, private readonly context: Handle, private readonly stream: Handle) {}

  start(): void {
    this.recycle();
    this.active = true;
  }

  /** Runs `enqueue` (one launch), between two recorded events while timing. */
  around(enqueue: () => void): void {
    if (!this.active) return enqueue();
    const begin = this.spare.pop() ?? this.native.eventCreate();
    this.native.eventRecord(begin, this.stream);
    try {
      enqueue();
    } catch (e) {
      this.spare.push(begin);
      throw e;
    }
    const end = this.spare.pop() ?? this.native.eventCreate();
    this.native.eventRecord(end, this.stream);
    this.pairs.push([begin, end]);
  }

  /** Call after finish(): the summed device time of the launches timed since start(), in ms. */
  async stop(): Promise<number> {
    this.active = false;
    await this.native.synchronize(this.context, this.stream);
    const ms = this.pairs.reduce((sum, [a, b]) => sum + this.native.eventElapsed(a, b), 0);
    this.recycle();
    return ms;
  }

  private recycle(): void {
    for (const [a, b] of this.pairs) this.spare.push(a, b);
    this.pairs = [];
  }

  /** Destroys every event; the timer is not used afterwards. */
  close(): void {
    this.recycle();
    for (const e of this.spare) this.native.eventDestroy(e);
    this.spare = [];
  }
}
