import fs from 'node:fs';
import path from 'node:path';
import type { EmitTarget } from '../compile.js';
import { readDb, TuningDbError, type TuningFile } from '../tuning/dbFile.js';
import { COMPILER_VERSION } from '../version.js';
import { choiceFlag, parseCliArgs, runCli, UsageError } from './args.js';
import { mergePartial } from './merge.js';
import { CUDA_ARCHS, type CudaArch } from '../codegen/cuda/arch.js';

// The compiler (ts-morph and the TypeScript checker) is loaded once the command line is
// known to be good: a usage error comes back at once.
const compiler = () => Promise.all([import('../compile.js'), import('./select.js'), import('../passes/pipeline.js'), import('../ir/printer.js')]);

const HELP = `mimo-compile — compile mimo-kc DSL kernels to WGSL and CUDA C++

Usage: mimo-compile [FILE_OR_GLOB...] [options]

  FILE_OR_GLOB...          your kernel files: paths, folders or globs ('kernels/**/*.ts'),
                           relative to the current directory (default: the package's own ops)
  --target wgsl|cuda|all   targets to emit (default: all)
  --out DIR                output folder (default: ./generated)
  --ops GLOB               only kernels whose name matches, e.g. 'gemm*' (default: all)
  --arch sm_80|sm_90a      CUDA architecture the output is for (default sm_80): the library's default
                           CMAKE_CUDA_ARCHITECTURES (80;90a or 90a) and the lowest one it compiles for
  --dump-ir                print each selected kernel's IR: as written, then as lowered per target
  --check                  compare with the files in --out instead of writing; exit 1 if any is stale
  --tuning FILE|DIR|none   tuned variants from mimo-autotune databases, each device's file for its
                           target (default: ./tuning if it exists, else none; none: defaults only)
  -h, --help               show this help

Output per target: one source file per kernel, manifest.json (bindings, uniform layout,
workgroup size, grid formulas, tunables); for CUDA a library folder: mimo_kernels.h with
extern "C" launchers (device pointers, sizes, stream), the prelude they include, and
CMakeLists.txt building libmimo_kernels (static and shared).
Exit codes: 0 done, 1 a compile error or --check found stale files, 2 a usage error.
${COMPILER_VERSION}`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCliArgs({
    args: argv,
    options: {
      target: { type: 'string', default: 'all' },
      out: { type: 'string', default: 'generated' },
      ops: { type: 'string' },
      arch: { type: 'string', default: 'sm_80' },
      'dump-ir': { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
      tuning: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const target = choiceFlag('target', values.target, ['wgsl', 'cuda', 'all'], 'all');
  const targets: EmitTarget[] = target === 'all' ? ['wgsl', 'cuda'] : [target];
  const arch = choiceFlag('arch', values.arch, Object.keys(CUDA_ARCHS) as CudaArch[], 'sm_80');
  // Read before compiling: a bad --tuning is a usage error, found without the wait.
  const tuning = values['dump-ir'] ? [] : readTuning(values.tuning);
  const [{ generatedFiles }, { selectKernels }, { lowerForTarget }, { printKernel }] = await compiler();
  const kernels = selectKernels(positionals, values.ops);
  if (values['dump-ir']) {
    for (const k of kernels) {
      console.log(`// ---- ${k.name}: as written\n${printKernel(k)}`);
      for (const t of targets) console.log(`// ---- ${k.name}: lowered for ${t}\n${printKernel(lowerForTarget(k, t))}`);
    }
    return 0;
  }
  const out = path.resolve(values.out);
  const files = generatedFiles(kernels, targets, arch, tuning);
  // With --ops, the manifests, the CUDA header and CMakeLists.txt still describe every kernel.
  if (values.ops) mergePartial(files, out);
  if (values.check) return check(files, out, !values.ops, targets);
  for (const [rel, text] of files) {
    const p = path.join(out, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (!fs.existsSync(p) || fs.readFileSync(p, 'utf8') !== text) fs.writeFileSync(p, text);
  }
  // The target folders belong to the compiler: a full run removes what it no longer makes
  // (a kernel renamed, a tuned variant that lost).
  if (!values.ops) {
    for (const t of targets) {
      const dir = path.join(out, t);
      for (const f of fs.readdirSync(dir)) if (!files.has(`${t}/${f}`)) fs.rmSync(path.join(dir, f));
    }
  }
  console.log(`mimo-compile: ${kernels.length} kernels x ${targets.join('+')} -> ${path.relative(process.cwd(), out) || '.'}`);
  return 0;
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

/**
 * A database file, or a folder of them (one per device; each applies to its own target).
 * With no --tuning, ./tuning is used if it is there; a path given explicitly must be usable.
 */
function readTuning(flag: string | undefined): TuningFile[] {
  if (flag === 'none') return [];
  const file = flag ?? 'tuning';
  const st = fs.statSync(file, { throwIfNoEntry: false });
  if (!st) {
    if (flag === undefined) return [];
    throw new UsageError(`--tuning ${flag}: no such file or folder`);
  }
  const files = st.isDirectory() ? fs.readdirSync(file).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(file, f)) : [file];
  if (flag !== undefined && !files.length) throw new UsageError(`--tuning ${flag}: a folder with no .json tuning databases`);
  return files.map((f) => {
    try {
      return readDb(f);
    } catch (e) {
      if (e instanceof TuningDbError) throw new UsageError(`--tuning ${e.message}`);
      throw e;
    }
  });
}

await runCli('mimo-compile', main);
