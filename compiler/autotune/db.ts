import fs from 'node:fs';
import path from 'node:path';
import type { Kernel } from '../ir/nodes.js';
import { COMPILER_VERSION } from '../version.js';
import { irHash } from '../ir/hash.js';
import { nextPow2 } from '../launch/variants.js';
import { readDb, TuningDbError, type TuningEntry, type TuningFile } from '../tuning/dbFile.js';

export function bucketOf(k: Kernel, dims: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(k.scalars.filter((s) => s.isDim).map((s) => [s.name, nextPow2(dims[s.name])]));
}

/** Triton keys on argument values; we key on what changes the code or its best tiles. */
export function entryKey(k: Kernel, bucket: Readonly<Record<string, number>>): string {
  const dtypes = k.tensors.map((t) => t.dtype).join(',');
  const b = Object.entries(bucket).map(([n, v]) => `${n}=${v}`).join(',');
  return `${k.name}|${irHash(k)}|${COMPILER_VERSION}|${dtypes}|${b}`;
}

export function loadDb(file: string, device: TuningFile['device']): TuningFile {
  if (!fs.existsSync(file)) return { device, entries: {} };
  const db = readDb(file);
  if (db.device.fingerprint !== device.fingerprint) {
    throw new TuningDbError(`${file} was tuned on device ${db.device.fingerprint}, this is ${device.fingerprint}`);
  }
  return db;
}

/** Written after every measurement (atomically), so an interrupted run keeps what it measured. */
export function saveDb(file: string, db: TuningFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const sorted = { device: db.device, entries: Object.fromEntries(Object.entries(db.entries).sort(([a], [b]) => a.localeCompare(b))) };
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(sorted, null, 2) + '\n');
  fs.renameSync(`${file}.tmp`, file);
}

export function entryFor(db: TuningFile, k: Kernel, dims: Readonly<Record<string, number>>): TuningEntry {
  const bucket = bucketOf(k, dims);
  const key = entryKey(k, bucket);
  db.entries[key] ??= { kernel: k.name, irHash: irHash(k), compiler: COMPILER_VERSION, dtypes: k.tensors.map((t) => t.dtype).join(','), bucket, configs: {} };
  return db.entries[key];
}
