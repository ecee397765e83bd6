import type { Kernel } from '../ir/nodes.js';
import type { TunableChoice } from '../passes/specialise.js';
import { candidates, choiceKey } from './space.js';
import { search, bestOf } from './search.js';
import { bucketOf, entryFor, entryKey, saveDb } from './db.js';
import type { Measurement, TuningFile } from '../tuning/dbFile.js';

export interface Measurer {
  measure(choice: TunableChoice): Promise<Measurement>;
  dispose(): void;
}

export interface TuneRow {
  readonly kernel: string;
  readonly shape: string;
  readonly defaultConfig: string;
  readonly bestConfig: string;
  /** Re-measured in this run, default and best interleaved. */
  readonly defaultMs?: number;
  readonly bestMs?: number;
  readonly tried: number;
  readonly measuredNow: number;
  readonly invalid: readonly string[];
  readonly note?: string;
  /** Set when no configuration ran at all: why, and that nothing was written. */
  readonly failed?: string;
}

export interface TuneOptions {
  /** The target whose limits decide legality (default wgsl). */
  readonly target?: 'wgsl' | 'cuda';
  readonly deadline: number;
  readonly interrupted: () => boolean;
  readonly onMeasured?: (kernel: string, config: string, m: Measurement) => void;
}

/**
 * Tunes one kernel at one shape into `db` (saved after every measurement), then
 * re-measures the best against the default, alternating them, and keeps the default
 * unless the best is faster there too: a tuned config is never slower than the default
 * on the re-measurement.
 */
export async function tuneKernel(k: Kernel, dims: Readonly<Record<string, number>>, db: TuningFile, dbFile: string, measurer: Measurer, opts: TuneOptions): Promise<TuneRow> {
  const shape = Object.entries(dims).map(([n, v]) => `${n}=${v}`).join(' ');
  const key = entryKey(k, bucketOf(k, dims));
  const existed = Object.hasOwn(db.entries, key);
  const entry = entryFor(db, k, dims);
  const space = candidates(k, opts.target ?? 'wgsl');
  let measuredNow = 0;
  const mayContinue = () => !opts.interrupted() && Date.now() < opts.deadline;
  // Rejections wait here until some configuration has run: when every one fails, the
  // measurement itself failed (a shape the device cannot run, a broken runtime), which
  // says nothing about the configurations, so none of it is written.
  const pending = new Map<string, Measurement>();
  let anyTimed = Object.values(entry.configs).some((m) => m.ms !== undefined);
  for (const c of space) if (c.illegal && !entry.configs[choiceKey(c.choice)]) pending.set(choiceKey(c.choice), { invalid: `illegal: ${c.illegal}`, at: new Date().toISOString() });
  const results = await search(space, {
    known: (c) => entry.configs[choiceKey(c)],
    measure: async (c) => {
      const m = await measurer.measure(c);
      measuredNow++;
      pending.set(choiceKey(c), m);
      anyTimed ||= m.ms !== undefined;
      if (anyTimed) {
        for (const [c, p] of pending) entry.configs[c] = p;
        pending.clear();
        saveDb(dbFile, db);
      }
      opts.onMeasured?.(k.name, choiceKey(c), m);
      return m;
    },
    mayContinue,
  });
  if (!anyTimed) {
    if (!existed) delete db.entries[key];
    const failed = [...results].filter(([, m]) => m.invalid && !m.invalid.startsWith('illegal'));
    const reasons = [...new Set(failed.map(([, m]) => m.invalid!))].slice(0, 3);
    return {
      kernel: k.name, shape, defaultConfig: choiceKey(space[0].choice), bestConfig: '-', tried: failed.length, measuredNow,
      invalid: failed.map(([c, m]) => `${c}: ${m.invalid}`),
      failed: failed.length ? `every configuration failed (${reasons.join('; ')}); nothing was written to the database` : undefined,
    };
  }
  const defaultKey = choiceKey(space[0].choice);
  let best = bestOf(new Map(Object.entries(entry.configs))) ?? defaultKey;
  let defaultMs: number | undefined;
  let bestMs: number | undefined;
  let note: string | undefined;
  if (best !== defaultKey && entry.configs[defaultKey]?.ms !== undefined) {
    const d: number[] = [];
    const b: number[] = [];
    const bestChoice = space.find((c) => choiceKey(c.choice) === best)!.choice;
    for (let i = 0; i < 3; i++) {
      const md = await measurer.measure(space[0].choice);
      const mb = await measurer.measure(bestChoice);
      if (md.ms !== undefined) d.push(md.ms);
      if (mb.ms !== undefined) b.push(mb.ms);
    }
    defaultMs = median(d);
    bestMs = median(b);
    if (!(bestMs < defaultMs)) {
      note = `kept default: ${best} was not faster on re-measurement`;
      best = defaultKey;
      bestMs = defaultMs;
    }
  } else {
    defaultMs = bestMs = entry.configs[defaultKey]?.ms;
  }
  entry.best = best;
  saveDb(dbFile, db);
  return {
    kernel: k.name,
    shape,
    defaultConfig: defaultKey,
    bestConfig: best,
    defaultMs,
    bestMs,
    tried: Object.values(entry.configs).filter((m) => !m.invalid?.startsWith('illegal')).length,
    measuredNow,
    invalid: Object.entries(entry.configs).filter(([, m]) => m.invalid && !m.invalid.startsWith('illegal')).map(([c, m]) => `${c}: ${m.invalid}`),
    note,
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : NaN;
};
