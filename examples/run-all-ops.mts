/**
 * The main job's last step: runs every generated kernel on the software GPU (WebGPU on
 * SwiftShader) and as generated CUDA on the CPU emulator, on one realistic shape each, and
 * prints the worst error of each run against a host reference (float64 math, or exact
 * results for integer kernels, permutations, casts and cache writes). Fails when a run
 * disagrees, or when a kernel of generated/ has no case here (the `_tuned_` variants are
 * the runtime's picks for a base kernel and run as that kernel).
 *   npx tsx examples/run-all-ops.mts
 * The cases, by family, with their tolerances: examples/cases/*.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { describeGpu, getGpu } from '../backends/webgpu/device.js';
import type { Backend } from '../test/harness/backends.js';
import type { Case, Verdict } from './cases/check.js';
import { denseCases } from './cases/dense.js';
import { attentionCases } from './cases/attention.js';
import { fp8Cases } from './cases/fp8.js';
import { moeCases } from './cases/moe.js';
import { modelOpsCases } from './cases/model-ops.js';
import { rowsCases } from './cases/rows.js';
import { samplingCases } from './cases/sampling.js';

const t0 = performance.now();
const BACKENDS: Backend[] = ['webgpu', 'cuda-emu'];
const cases: Case[] = [...denseCases(), ...attentionCases(), ...fp8Cases(), ...moeCases(), ...modelOpsCases(), ...rowsCases(), ...samplingCases()];

/** Every base kernel of both generated manifests. */
function manifestKernels(): string[] {
  const names = new Set<string>();
  for (const target of ['wgsl', 'cuda']) {
    const m = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'generated', target, 'manifest.json'), 'utf8')) as { kernels: Record<string, unknown> };
    for (const name of Object.keys(m.kernels)) if (!name.includes('_tuned_')) names.add(name);
  }
  return [...names].sort();
}

const kernels = manifestKernels();
const covered = new Set(cases.map((c) => c.kernel));
const missing = kernels.filter((k) => !covered.has(k));
const unknown = [...covered].filter((k) => !kernels.includes(k));

/** The output that used most of its allowance (a failing one first). */
function worst(verdicts: Record<string, Verdict>): [string, Verdict] {
  const all = Object.entries(verdicts);
  return all.reduce((a, b) => ((!b[1].ok && a[1].ok) || (b[1].ok === a[1].ok && b[1].score > a[1].score) ? b : a));
}

console.log(`device: ${describeGpu(await getGpu())}`);
console.log(`${kernels.length} kernels in generated/, ${cases.length} cases, ${BACKENDS.join(' and ')}`);
console.log(`${'kernel'.padEnd(24)} ${'shape'.padEnd(40)} ${'backend'.padEnd(9)} ${'time'.padStart(8)}  worst error`);
let failed = 0;
for (const c of cases) {
  for (const backend of BACKENDS) {
    const start = performance.now();
    let result: [string, Verdict];
    let ms: number;
    try {
      const out = await c.run(backend);
      ms = performance.now() - start;
      const verdicts = c.check(out, backend);
      const names = Object.keys(verdicts);
      const [name, v] = worst(verdicts);
      result = [names.length > 1 ? `${name}: ` : '', v];
    } catch (e) {
      ms = performance.now() - start;
      result = ['', { ok: false, score: Infinity, text: `error: ${(e as Error).message.split('\n')[0]}` }];
    }
    const [label, v] = result;
    if (!v.ok) failed++;
    console.log(`${c.kernel.padEnd(24)} ${c.shape.padEnd(40)} ${backend.padEnd(9)} ${`${ms.toFixed(0)} ms`.padStart(8)}  ${label}${v.text}${v.ok ? '' : '  MISMATCH'}`);
  }
}
console.log(`${cases.length * BACKENDS.length - failed}/${cases.length * BACKENDS.length} runs agree with the reference (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
if (failed) {
  console.error(`${failed} runs disagree with the reference`);
  process.exitCode = 1;
}
if (missing.length) {
  console.error(`${missing.length} kernels in generated/ have no case in examples/cases: ${missing.join(', ')}`);
  process.exitCode = 1;
}
if (unknown.length) {
  console.error(`cases for kernels not in generated/: ${unknown.join(', ')}`);
  process.exitCode = 1;
}
