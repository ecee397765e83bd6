import type { Stmt } from '../ir/nodes.js';
import type { LoweredKernel } from '../ir/lowered.js';
import type { SourceLoc } from '../common/source-loc.js';
import { formatLoc } from '../common/source-loc.js';
import { sharedLiveRanges } from '../passes/sharedLiveness.js';
import type { WgState } from './state.js';

/**
 * The interpreter's check of the shared-memory liveness that CUDA's arena relies on
 * (passes/sharedLiveness.ts, passes/sharedReuse.ts): at the first barrier past an array's
 * live range (outside every loop, so every thread is past its last use), the array is
 * poisoned, every element unwritten again, so a read that the analysis did not see as a use
 * fails as a read of unwritten shared memory, naming the barrier. On CUDA another array may
 * own those bytes by then.
 */
const plans = new WeakMap<LoweredKernel, Map<Stmt, number[]>>();

/** Indices (into k.shared) of the arrays that die at barrier `s`, or undefined. */
export function poisonAfter(k: LoweredKernel, s: Stmt): readonly number[] | undefined {
  let plan = plans.get(k);
  if (!plan) {
    plan = new Map();
    const ranges = sharedLiveRanges(k);
    k.shared.forEach((a, i) => {
      const r = ranges.get(a.name)!;
      const bar = r.barriers.find((b) => b.pre > r.last.post);
      if (bar?.stmt) plan!.set(bar.stmt, [...(plan!.get(bar.stmt) ?? []), i]);
    });
    plans.set(k, plan);
  }
  return plan.get(s);
}

/** Marks every element of the arrays unwritten (floats NaN) once all threads passed the barrier at `loc`. */
export function poisonShared(k: LoweredKernel, wg: WgState, arrays: readonly number[], loc: SourceLoc | undefined): void {
  for (const i of arrays) {
    const m = wg.shared[i];
    m.init.fill(0);
    if (m.data instanceof Float32Array) m.data.fill(NaN);
    (wg.poisoned ??= new Map()).set(k.shared[i].name, loc);
  }
}

/** Why a read of unwritten shared memory failed, when the array was poisoned rather than never written. */
export function poisonedNote(wg: WgState, buf: string): string {
  if (!wg.poisoned?.has(buf)) return '';
  return `; its live range ended at the barrier at ${formatLoc(wg.poisoned.get(buf))} (compiler/passes/sharedLiveness.ts did not see this use, and on CUDA another array may share its bytes)`;
}
