/**
 * Builds the emulator server (server-source.ts) for a set of generated kernels, cached by
 * content hash under .cache/cuda-emu/: the kernels are split into a few translation units
 * compiled in parallel (g++ at -O1 spends its time on the kernels' fiber-switching code,
 * so the split is by source size), then linked with the server's main TU. The emulator
 * header is written to be included by several TUs (inline state, a weak context switch).
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ManifestKernel } from '../../../compiler/codegen/manifest.js';
import { EMU_CACHE, EMU_CXX_FLAGS, EMU_INCLUDE } from '../hostRunner.js';
import { serverSource } from './server-source.js';

const run = promisify(execFile);

export interface ServerBuild {
  readonly exe: string;
  /** Kernel names in the server's order: LAUNCH's kernel index. */
  readonly kernels: readonly string[];
  /** 0 when the cached executable was reused. */
  readonly buildMs: number;
}

/** Kernels into `parts` groups of about equal source size (largest first, each to the lightest group). */
function split(names: readonly string[], sources: Readonly<Record<string, string>>, parts: number): string[][] {
  const groups = Array.from({ length: parts }, () => ({ names: [] as string[], size: 0 }));
  for (const n of [...names].sort((a, b) => sources[b].length - sources[a].length || (a < b ? -1 : 1))) {
    const g = groups.reduce((a, b) => (b.size < a.size ? b : a));
    g.names.push(n);
    g.size += sources[n].length;
  }
  return groups.filter((g) => g.names.length).map((g) => g.names.sort());
}

async function compile(what: string, args: string[]): Promise<void> {
  try {
    await run('g++', args, { maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as { stderr?: string };
    throw new Error(`[${what}] host build of generated CUDA failed:\n${err.stderr ?? e}`);
  }
}

export async function buildServer(manifest: Readonly<Record<string, ManifestKernel>>, sources: Readonly<Record<string, string>>, names: readonly string[]): Promise<ServerBuild> {
  const kernels = [...names].sort();
  for (const n of kernels) if (!manifest[n] || sources[n] === undefined) throw new Error(`CudaEmuRuntime: no generated CUDA for kernel '${n}'`);
  const main = serverSource(kernels.map((n) => manifest[n]));
  const parts = split(kernels, sources, Math.max(1, Math.min(4, os.availableParallelism())));
  const h = createHash('sha256').update(main).update(JSON.stringify(EMU_CXX_FLAGS)).update(JSON.stringify(parts));
  for (const f of ['mimo_prelude.cuh', 'mimo_cuda_emu.h']) h.update(fs.readFileSync(path.join(EMU_INCLUDE, f)));
  for (const n of kernels) h.update(n).update(sources[n]);
  const dir = path.join(EMU_CACHE, `server-${h.digest('hex').slice(0, 16)}`);
  const exe = path.join(dir, 'server');
  if (fs.existsSync(exe)) return { exe, kernels, buildMs: 0 };
  const t0 = performance.now();
  fs.mkdirSync(dir, { recursive: true });
  // The generated files are written under short ASCII names; a kernel's name need not be one.
  const file = new Map(kernels.map((n, i) => [n, `kernel${i}.cu`]));
  for (const n of kernels) fs.writeFileSync(path.join(dir, file.get(n)!), sources[n]);
  fs.writeFileSync(path.join(dir, 'main.cpp'), main);
  parts.forEach((p, i) => fs.writeFileSync(path.join(dir, `part${i}.cpp`), p.map((n) => `#include "${file.get(n)}"`).join('\n') + '\n'));
  const units = ['main.cpp', ...parts.map((_, i) => `part${i}.cpp`)];
  // A concurrent build of the same hash writes its own objects and executable; the rename is atomic.
  const objects = units.map((u) => path.join(dir, `${u}.${process.pid}.o`));
  try {
    await Promise.all(units.map((u, i) => compile(i ? `kernel ${parts[i - 1].join(', ')}` : 'emulator server', [...EMU_CXX_FLAGS, '-c', path.join(dir, u), '-o', objects[i]])));
    const tmp = `${exe}.${process.pid}.tmp`;
    await compile('emulator server link', ['-o', tmp, ...objects]);
    fs.renameSync(tmp, exe);
  } finally {
    for (const o of objects) fs.rmSync(o, { force: true });
  }
  return { exe, kernels, buildMs: performance.now() - t0 };
}
