import type { Kernel, Tunable } from './nodes.js';
import type { TargetName } from '../common/target.js';

/**
 * The targets a tunable may give its own candidates, by their DSL names
 * (`tunables: { BM: { webgpu: [64, 32], cuda: [128, 64] } }`), and the target each one is.
 * WebGPU's tiles must fit 16 KiB of workgroup memory and 256 invocations; CUDA's need not.
 */
export const TUNABLE_TARGETS = { webgpu: 'wgsl', cuda: 'cuda' } as const;
export type TunableTarget = keyof typeof TUNABLE_TARGETS;

/** The DSL name of an emitted target, for messages that must match what the kernel author wrote. */
export const dslTargetName = (target: 'wgsl' | 'cuda'): TunableTarget => (target === 'wgsl' ? 'webgpu' : 'cuda');

/**
 * A tunable's candidates on `target`, default first. The interpreter takes WebGPU's: it
 * checks WebGPU's limits (common/target.ts), so what it accepts also runs there.
 */
export const valuesFor = (t: Tunable, target: TargetName): readonly number[] =>
  (target === 'interp' ? undefined : t.perTarget?.[target]) ?? t.values;

/**
 * The kernel as one target sees it: each tunable with that target's candidates only, so
 * that specialisation, the manifest and the tuning space read one plain list.
 */
export function forTarget(k: Kernel, target: TargetName): Kernel {
  if (!k.tunables.some((t) => t.perTarget)) return k;
  return { ...k, tunables: k.tunables.map((t) => ({ name: t.name, values: valuesFor(t, target) })) };
}
