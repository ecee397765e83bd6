import type { Bench } from 'tinybench';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generatedFiles, loadKernels, opFiles } from '../compiler/compile.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';

/**
 * Time to compile every op in ops/ for both targets. "cold" is a fresh `mimo-compile`
 * process (Node start, TypeScript program and type checker built from scratch); the
 * in-process rows show where the time goes once the checker is warm.
 */
export async function benchCompile(bench: Bench): Promise<void> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-bench-'));
  bench.add('cold: mimo-compile --target all (new process)', () => {
    execFileSync(process.execPath, [path.join(REPO_ROOT, 'bin/mimo-compile.js'), '--target', 'all', '--out', out]);
  });
  const kernels = loadKernels();
  bench.add(`frontend: parse + type-check + lower ${opFiles().length} files`, () => {
    loadKernels();
  });
  bench.add(`passes + emit ${kernels.length} kernels x (wgsl, cuda)`, () => {
    generatedFiles(kernels, ['wgsl', 'cuda']);
  });
  await bench.run();
  console.table(bench.table());
  const [cold, front, back] = bench.tasks.map((t) => (t.result as { latency?: { mean: number } }).latency?.mean ?? NaN);
  console.log(`compile all ops (${kernels.length} kernels) for both targets: cold process ${cold.toFixed(0)} ms; warm in-process ${(front + back).toFixed(0)} ms (frontend ${front.toFixed(0)} ms, passes+emit ${back.toFixed(0)} ms)`);
  fs.rmSync(out, { recursive: true, force: true });
}
