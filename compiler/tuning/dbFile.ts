/**
 * The tuning database as a file: its types, and reading one with its errors naming the
 * file. The compiler reads it (mimo-compile --tuning); the autotuner writes it
 * (autotune/db.ts: keys, entries, saving). Dependency-free, so that a CLI can check a
 * --tuning path before loading the compiler.
 */
import fs from 'node:fs';

/** One configuration's result: a median time, or why it was rejected. */
export interface Measurement {
  readonly ms?: number;
  readonly invalid?: string;
  readonly samples?: number;
  readonly at: string;
}

export interface TuningEntry {
  readonly kernel: string;
  readonly irHash: string;
  readonly compiler: string;
  readonly dtypes: string;
  /** Shape bucket: each dynamic dimension rounded up to a power of two. */
  readonly bucket: Readonly<Record<string, number>>;
  /** Every configuration ever tried for this key, not only the winner. */
  configs: Record<string, Measurement>;
  /** The chosen configuration (after re-measuring it against the default). */
  best?: string;
}

export interface TuningFile {
  readonly device: { readonly fingerprint: string; readonly description: string; readonly [k: string]: unknown };
  entries: Record<string, TuningEntry>;
}

/** A database file that cannot be used: unreadable, not JSON, not a database, another device's. */
export class TuningDbError extends Error {}

/**
 * A configuration result that counts: a time from at least one sample, or a reason it
 * is invalid. Anything else (an entry written with no samples by an older tuner) is
 * dropped when reading, so it is measured again instead of being taken as measured.
 */
export const isResult = (m: Measurement): boolean => typeof m.invalid === 'string' || (typeof m.ms === 'number' && Number.isFinite(m.ms) && (m.samples ?? 1) > 0);

/** Reads and checks a database file; errors name the file. */
export function readDb(file: string): TuningFile {
  let db: TuningFile;
  try {
    db = JSON.parse(fs.readFileSync(file, 'utf8')) as TuningFile;
  } catch (e) {
    // JSON.parse quotes the text it choked on, newlines and all: say what, not that.
    const why = e instanceof SyntaxError ? 'not valid JSON' : `cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
    throw new TuningDbError(`${file}: ${why}; expected a mimo-autotune database`);
  }
  if (typeof db?.device?.fingerprint !== 'string' || typeof db.entries !== 'object' || db.entries === null) {
    throw new TuningDbError(`${file}: not a mimo-autotune database (expected {"device": {"fingerprint": ...}, "entries": {...}})`);
  }
  for (const e of Object.values(db.entries)) {
    e.configs = Object.fromEntries(Object.entries(e.configs ?? {}).filter(([, m]) => isResult(m)));
    if (e.best !== undefined && e.best !== 'default' && !(typeof e.configs[e.best]?.ms === 'number')) delete e.best;
  }
  return db;
}
