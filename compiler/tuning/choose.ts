import type { Kernel } from '../ir/nodes.js';
import type { TunableChoice } from '../passes/specialise.js';
import { COMPILER_VERSION } from '../version.js';
import { irHash } from '../ir/hash.js';
import type { TuningFile } from './dbFile.js';

/**
 * The tuned configurations of a kernel in a database: for each best configuration that
 * is not the default, the shape buckets it won. Entries measured on other IR (the
 * kernel changed since) or another compiler version are ignored: they would be stale.
 * Shapes outside every listed bucket use the default, the heuristic for any device
 * class: the kernel author's first candidate, which must fit WebGPU's default limits.
 */
export function tunedVariants(k: Kernel, db: TuningFile): { choice: TunableChoice; key: string; buckets: Record<string, number>[] }[] {
  const hash = irHash(k);
  const byConfig = new Map<string, Record<string, number>[]>();
  for (const e of Object.values(db.entries)) {
    if (e.kernel !== k.name || e.irHash !== hash || e.compiler !== COMPILER_VERSION || !e.best || e.best === 'default') continue;
    if (k.tunables.every((t) => parseChoice(e.best!)[t.name] === t.values[0])) continue;
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
