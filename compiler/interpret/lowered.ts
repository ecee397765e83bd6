import type { Kernel } from '../ir/nodes.js';
import type { LoweredKernel } from '../ir/lowered.js';
import { lowerForTarget } from '../passes/pipeline.js';
import type { TunableChoice } from '../passes/specialise.js';
import type { TargetName } from '../common/target.js';
import { interpret, type InterpretArgs, type InterpretOptions } from './interpret.js';

/**
 * Runs what a target renders rather than the target-neutral IR: the same pass pipeline as
 * compileKernel (pipeline.ts), so 'wgsl' runs packed storage and 'cuda' the mma.sync
 * fragment layouts. Lowered kernels are cached per (kernel, target, choice).
 */
const cache = new WeakMap<Kernel, Map<string, LoweredKernel>>();

export function lowerCached(k: Kernel, target: TargetName, choice: TunableChoice = {}): LoweredKernel {
  let m = cache.get(k);
  if (!m) cache.set(k, (m = new Map()));
  const key = `${target} ${JSON.stringify(Object.entries(choice).sort())}`;
  let x = m.get(key);
  if (!x) m.set(key, (x = lowerForTarget(k, target, choice)));
  return x;
}

export interface InterpretForOptions extends InterpretOptions {
  readonly choice?: TunableChoice;
}

export function interpretFor(k: Kernel, target: TargetName, args: InterpretArgs, opts: InterpretForOptions = {}): void {
  interpret(lowerCached(k, target, opts.choice), args, opts);
}
