import type { Kernel } from '../ir/nodes.js';
import type { LoweredKernel } from '../ir/lowered.js';
import { evalSize } from '../ir/size.js';
import { lowerForTarget } from '../passes/pipeline.js';
import { CAPS, type TargetCaps, type TargetName } from '../common/target.js';
import { CompileError } from '../common/errors.js';
import { valuesFor } from '../ir/tunables.js';
import type { TunableChoice } from '../passes/specialise.js';

export interface Candidate {
  readonly choice: TunableChoice;
  /** Why it cannot run on the target, if it cannot (constraint, limit), found without timing it. */
  readonly illegal?: string;
  /** Lower is more promising (cost model); only legal candidates are ranked. */
  readonly cost: number;
}

export const choiceKey = (c: TunableChoice): string =>
  Object.keys(c).sort().map((k) => `${k}=${c[k]}`).join(',') || 'default';

/** Every combination of the kernel's tunable candidates on `target` (its default first). */
export function enumerate(k: Kernel, target: TargetName): TunableChoice[] {
  let out: Record<string, number>[] = [{}];
  for (const t of k.tunables) out = out.flatMap((c) => valuesFor(t, target).map((v) => ({ ...c, [t.name]: v })));
  return out;
}

/**
 * Static legality (the kernel's constraints, then the target's limits on workgroup size,
 * workgroup memory and bindings, by running the real pass pipeline) and a cost model
 * that ranks the rest before anything is timed.
 */
export function candidates(k: Kernel, target: TargetName, caps: TargetCaps = CAPS[target]): Candidate[] {
  return enumerate(k, target).map((choice) => {
    const env = { ...k.consts, ...choice };
    const broken = k.constraints.find((c) => evalSize(c.expr, env) <= 0);
    if (broken) return { choice, illegal: `constraint ${broken.text}`, cost: Infinity };
    try {
      const lowered = lowerForTarget(k, target, choice);
      return { choice, cost: costModel(lowered, caps) };
    } catch (e) {
      if (e instanceof CompileError) return { choice, illegal: e.detail, cost: Infinity };
      throw e;
    }
  });
}

/**
 * A deliberately simple model: favour workgroups that fill a good share of the
 * invocation limit (latency hiding) and use little workgroup memory per thread (more
 * resident workgroups). It orders the search; measurements decide.
 */
function costModel(k: LoweredKernel, caps: TargetCaps): number {
  const { threads, sharedBytes } = k.facts;
  const occupancy = threads / caps.maxInvocations;
  return Math.abs(Math.log2(occupancy * 2)) + sharedBytes / caps.maxWorkgroupStorage;
}
