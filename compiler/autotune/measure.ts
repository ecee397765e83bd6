import type { Kernel } from '../ir/nodes.js';

/** What every measurer (WebGPU, CUDA) is told about how to time a candidate. */
export interface MeasureOptions {
  /** Timed repetitions after one warm-up; the median counts. */
  readonly reps: number;
  /** A candidate whose warm-up launch takes longer than this is recorded as too slow. */
  readonly timeoutMs: number;
}

/** A median of no samples is no measurement: refuse the options before anything runs. */
export function checkMeasureOptions(k: Kernel, opts: MeasureOptions): void {
  if (!Number.isInteger(opts.reps) || opts.reps < 1) throw new RangeError(`measure ${k.name}: reps must be an integer >= 1, got ${opts.reps}`);
  if (!(opts.timeoutMs > 0)) throw new RangeError(`measure ${k.name}: timeoutMs must be > 0, got ${opts.timeoutMs}`);
}
