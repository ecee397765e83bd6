import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generatedFiles, loadKernels, type EmitTarget } from '../compile.js';
import { lowerForTarget } from '../pipeline.js';
import { printKernel } from '../ir/printer.js';
import { CompileError, CompileErrors } from '../frontend/errors.js';
import { REPO_ROOT } from '../frontend/source.js';
import { COMPILER_VERSION } from '../version.js';
import type { TuningFile } from '../autotune/db.js';

const HELP = `mimo-compile — compile mimo-kc DSL kernels (ops/**/*.ts) to WGSL and CUDA C++

Usage: mimo-compile [options]

  --target wgsl|cuda|all   targets to emit (default: all)
  --out DIR                output folder (default: generated/)
  --ops GLOB               only kernels whose name matches, e.g. 'gemm*' (default: all)
  --arch sm_80|sm_90a      CUDA architecture the output is meant for (recorded in the manifest; default sm_80)
  --dump-ir                print each selected kernel's IR: as written, then as lowered per target
  --check                  compare with the files in --out instead of writing; exit 1 if any is stale
  --tuning FILE|DIR|none   tuned variants from mimo-autotune databases, each device's file for its
                           target (default: the repo's tuning/ folder; none: defaults only)
  -h, --help               show this help

Output per target: one source file per kernel, manifest.json (bindings, uniform layout,
workgroup size, grid formulas, tunables), and for CUDA mimo_kernels.h with extern "C"
launchers (device pointers, sizes, stream) plus the prelude headers they include.
${COMPILER_VERSION}`;

function main(argv: string[]): number {
  const { values } = parseArgs({
    args: argv,
    options: {
      target: { type: 'string', default: 'all' },
      out: { type: 'string', default: path.join(REPO_ROOT, 'generated') },
      ops: { type: 'string' },
      arch: { type: 'string', default: 'sm_80' },
      'dump-ir': { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
      tuning: { type: 'string', default: path.join(REPO_ROOT, 'tuning') },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const targets: EmitTarget[] = values.target === 'all' ? ['wgsl', 'cuda'] : [values.target as EmitTarget];
  if (!targets.every((t) => t === 'wgsl' || t === 'cuda')) throw new UsageError(`--target must be wgsl, cuda or all (got '${values.target}')`);
  if (values.arch !== 'sm_80' && values.arch !== 'sm_90a') throw new UsageError(`--arch must be sm_80 or sm_90a (got '${values.arch}')`);
  const kernels = loadKernels(values.ops);
  if (!kernels.length) throw new UsageError(`no kernel matches --ops '${values.ops}'`);
  if (values['dump-ir']) {
    for (const k of kernels) {
      console.log(`// ---- ${k.name}: as written\n${printKernel(k)}`);
      for (const t of targets) console.log(`// ---- ${k.name}: lowered for ${t}\n${printKernel(lowerForTarget(k, t))}`);
    }
    return 0;
  }
  // The repo's tuning/ holds the shipped tuned tables; 'none' compiles defaults only.
  const tuning = values.tuning === 'none' || !fs.existsSync(values.tuning) ? [] : readTuning(values.tuning);
  const files = generatedFiles(kernels, targets, values.arch, tuning);
  // With --ops, the manifests and modules still describe every kernel: merge into what exists.
  if (values.ops) mergePartial(files, values.out);
  if (values.check) return check(files, values.out, !values.ops, targets);
  for (const [rel, text] of files) {
    const p = path.join(values.out, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (!fs.existsSync(p) || fs.readFileSync(p, 'utf8') !== text) fs.writeFileSync(p, text);
  }
  // The target folders belong to the compiler: a full run removes what it no longer makes
  // (a kernel renamed, a tuned variant that lost).
  if (!values.ops) {
    for (const t of targets) {
      const dir = path.join(values.out, t);
      for (const f of fs.readdirSync(dir)) if (!files.has(`${t}/${f}`)) fs.rmSync(path.join(dir, f));
    }
  }
  console.log(`mimo-compile: ${kernels.length} kernels x ${targets.join('+')} -> ${path.relative(process.cwd(), values.out) || '.'}`);
  return 0;
}

function mergePartial(files: Map<string, string>, out: string): void {
  for (const [rel, text] of files) {
    if (!rel.endsWith('manifest.json')) continue;
    const p = path.join(out, rel);
    if (!fs.existsSync(p)) continue;
    const old = JSON.parse(fs.readFileSync(p, 'utf8'));
    const fresh = JSON.parse(text);
    files.set(rel, JSON.stringify({ ...fresh, kernels: { ...old.kernels, ...fresh.kernels } }, null, 2) + '\n');
  }
  // The header and JS module list every kernel; only a full run regenerates them.
  files.delete('cuda/mimo_kernels.h');
  files.delete('wgsl/kernels.js');
  files.delete('wgsl/kernels.d.ts');
}

function check(files: Map<string, string>, out: string, full: boolean, targets: EmitTarget[]): number {
  const problems: string[] = [];
  for (const [rel, text] of files) {
    const p = path.join(out, rel);
    if (!fs.existsSync(p)) problems.push(`missing: ${rel}`);
    else if (fs.readFileSync(p, 'utf8') !== text) problems.push(`stale:   ${rel}`);
  }
  if (full) {
    for (const t of targets) {
      const dir = path.join(out, t);
      if (!fs.existsSync(dir)) continue;
      for (const f of fs.readdirSync(dir)) if (!files.has(`${t}/${f}`)) problems.push(`extra:   ${t}/${f}`);
    }
  }
  if (problems.length) {
    console.error(`mimo-compile --check: ${path.relative(process.cwd(), out) || out} is out of date:\n  ${problems.join('\n  ')}\nrun: npx mimo-compile`);
    return 1;
  }
  console.log(`mimo-compile --check: ${files.size} files up to date`);
  return 0;
}

class UsageError extends Error {}

/** A database file, or a folder of them (one per device; each applies to its own target). */
function readTuning(file: string): TuningFile[] {
  if (!fs.existsSync(file)) throw new UsageError(`--tuning: no such file or folder '${file}'`);
  const files = fs.statSync(file).isDirectory() ? fs.readdirSync(file).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(file, f)) : [file];
  return files.map((f) => {
    const db = JSON.parse(fs.readFileSync(f, 'utf8')) as TuningFile;
    if (!db.device?.fingerprint || !db.entries) throw new UsageError(`--tuning: '${f}' is not a mimo-autotune database`);
    return db;
  });
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (e instanceof CompileErrors || e instanceof CompileError || e instanceof UsageError) {
    console.error(e.message);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  } else throw e;
}
