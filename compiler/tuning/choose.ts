import type { Kernel } from '../ir/nodes.js';
import type { TunableChoice } from '../passes/specialise.js';
import { COMPILER_VERSION } from '../version.js';
import { irHash } from '../ir/hash.js';
import type { TuningFile } from './dbFile.js';
import { forTarget } from '../ir/tunables.js';

/**
 * The tuned configurations of a kernel in a database: for each best configuration that
 * is not the default, the shape buckets it won. Entries measured on other IR (the
 * kernel changed since) or another compiler version are ignored: they would be stale.
 * Shapes outside every listed bucket use the default, the heuristic for any device
 * class: the kernel author's first candidate for the target, which must fit its limits.
 * A best that names a value outside the target's candidates is stale too: the list changed
 * since (the IR hash leaves the lists out, so that a new candidate is measured alone).
 */
export function tunedVariants(kernel: Kernel, target: 'wgsl' | 'cuda', db: TuningFile): { choice: TunableChoice; key: string; buckets: Record<string, number>[] }[] {
  const k = forTarget(kernel, target);
  const hash = irHash(k);
  const byConfig = new Map<string, Record<string, number>[]>();
  for (const e of Object.values(db.entries)) {
    if (e.kernel !== k.name || e.irHash !== hash || e.compiler !== COMPILER_VERSION || !e.best || e.best === 'default') continue;
    const best = parseChoice(e.best);
    if (!Object.entries(best).every(([n, v]) => k.tunables.some((t) => t.name === n && t.values.includes(v)))) continue;
    if (k.tunables.every((t) => best[t.name] === t.values[0])) continue;
    byConfig.set(e.best, [...(byConfig.get(e.best) ?? []), { ...e.bucket }]);
  }
  return [...byConfig].sort(([a], [b]) => a.localeCompare(b)).map(([key, buckets]) => ({ key, choice: parseChoice(key), buckets }));
}

export function parseChoice(key: string): TunableChoice {
  if (key === 'default') return {};
  return Object.fromEntries(key.split(',').map((kv) => {
    const [n, v] = kv.split('=');
    return [n, Number(v)];
  }));
}
