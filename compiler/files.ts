/**
 * A user's own kernel files, as named on a command line: paths, folders or globs,
 * relative to the current directory (shells that do not expand globs, e.g. npm scripts
 * on Windows or a quoted pattern, pass them through to us).
 */
import fs from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import type { Kernel } from './ir/nodes.js';
import { lowerFile } from './frontend/index.js';
import { CompileError } from './common/errors.js';

export interface KernelFiles {
  /** Absolute paths, sorted, each once. */
  readonly files: string[];
  /** Patterns that named no kernel file, with why: for a usage error naming them. */
  readonly unmatched: { readonly pattern: string; readonly why: string }[];
}

const isKernelSource = (name: string): boolean => /\.[cm]?ts$/.test(name) && !/\.d\.[cm]?ts$/.test(name);

/** Every kernel source under `dir`; node_modules and dot folders are not the user's kernels. */
function walk(dir: string, out: string[]): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.') || e.name === 'node_modules') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && isKernelSource(e.name)) out.push(p);
  }
}

/**
 * Expands each pattern: an existing file is itself, a folder is every .ts file under it,
 * anything else is a glob matched against the files under its fixed prefix.
 */
export function kernelFiles(patterns: readonly string[], cwd = process.cwd()): KernelFiles {
  const files = new Set<string>();
  const unmatched: { pattern: string; why: string }[] = [];
  for (const pattern of patterns) {
    const abs = path.resolve(cwd, pattern);
    const st = fs.statSync(abs, { throwIfNoEntry: false });
    if (st?.isFile()) {
      if (isKernelSource(pattern)) files.add(abs);
      else unmatched.push({ pattern, why: 'not a TypeScript file (.ts)' });
      continue;
    }
    const found: string[] = [];
    const scan = picomatch.scan(pattern);
    if (st?.isDirectory()) walk(abs, found);
    else if (scan.isGlob) {
      const base = path.resolve(cwd, scan.base || '.');
      if (fs.statSync(base, { throwIfNoEntry: false })?.isDirectory()) {
        const match = picomatch(scan.glob, { dot: false });
        const under: string[] = [];
        walk(base, under);
        for (const f of under) if (match(path.relative(base, f).split(path.sep).join('/'))) found.push(f);
      }
    }
    if (found.length) for (const f of found) files.add(f);
    else unmatched.push({ pattern, why: st?.isDirectory() ? 'a folder with no .ts files' : scan.isGlob ? 'matches no .ts file' : 'no such file' });
  }
  return { files: [...files].sort(), unmatched };
}

/** The kernels the files declare; two kernels of one name would overwrite each other's output. */
export function loadKernelFiles(files: readonly string[]): Kernel[] {
  const kernels = files.flatMap((f) => lowerFile(f));
  const seen = new Map<string, Kernel>();
  for (const k of kernels) {
    const other = seen.get(k.name);
    if (other) throw new CompileError(`kernel '${k.name}' is declared in both ${other.file} and ${k.file}; kernel names must be unique across the files compiled together`);
    seen.set(k.name, k);
  }
  return kernels;
}
