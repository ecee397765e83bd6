import type { Kernel } from '../ir/nodes.js';
import type { TunableChoice } from '../passes/specialise.js';
import { candidates, choiceKey } from './space.js';
import { search, bestOf } from './search.js';
import { entryFor, saveDb, type Measurement, type TuningFile } from './db.js';

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
  const entry = entryFor(db, k, dims);
  const space = candidates(k, opts.target ?? 'wgsl');
  let measuredNow = 0;
  const mayContinue = () => !opts.interrupted() && Date.now() < opts.deadline;
  for (const c of space) if (c.illegal && !entry.configs[choiceKey(c.choice)]) entry.configs[choiceKey(c.choice)] = { invalid: `illegal: ${c.illegal}`, at: new Date().toISOString() };
  await search(space, {
    known: (c) => entry.configs[choiceKey(c)],
    measure: async (c) => {
      const m = await measurer.measure(c);
      measuredNow++;
      entry.configs[choiceKey(c)] = m;
      saveDb(dbFile, db);
      opts.onMeasured?.(k.name, choiceKey(c), m);
      return m;
    },
    mayContinue,
  });
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
    shape: Object.entries(dims).map(([n, v]) => `${n}=${v}`).join(' '),
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
