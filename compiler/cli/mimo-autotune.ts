import fs from 'node:fs';
import path from 'node:path';
import type { Kernel } from '../ir/nodes.js';
import { InputsError, PRESETS, type PresetName } from '../autotune/presets.js';
import type { TuneRow } from '../autotune/tuner.js';
import { ProgressBar } from '../autotune/progress.js';
import { TuningDbError } from '../tuning/dbFile.js';
import { choiceFlag, CliError, intFlag, numFlag, parseCliArgs, runCli, UsageError } from './args.js';
import { parseShape, readShapes, shapesFor, type Shape } from './shapes.js';

const HELP = `mimo-autotune — measure every legal tile configuration of each kernel on this device

Usage: mimo-autotune [FILE_OR_GLOB...] [options]
  FILE_OR_GLOB...            your kernel files (paths, folders or globs, relative to the current
                             directory); they need shapes: --shape or --shapes
  --target webgpu|cuda       device to tune on (cuda needs an NVIDIA GPU; see README)
  --ops GLOB                 kernels whose name matches (default: all with a preset or a shape)
  --preset tiny|mimo-v2-flash  shapes of the package's own ops (default: tiny)
  --shape SYM=N,...          a shape to tune at, e.g. --shape T=4,D=4096 (repeatable; each kernel
                             is tuned at every shape that gives all its shape symbols)
  --shapes FILE.json         shapes from a file: an array of {"SYM": N} objects
  --budget SECONDS           stop starting new measurements this long after the first one
                             (start-up, loading kernels and opening the device, is not counted;
                             default: 300)
  --out DIR                  tuning database folder (default: ./tuning); one JSON per device
  --reps N                   timed repetitions per configuration, median kept (default: 5)
  -h, --help                 show this help

Results are saved after every measurement (Ctrl-C keeps them); a rerun measures only
configurations the database lacks. When every configuration of a kernel fails at a shape
(e.g. the device cannot run that shape), the reasons are printed, nothing is written for
it, and the exit code is 2. Use the database with: mimo-compile --tuning DIR`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCliArgs({
    args: argv,
    options: {
      target: { type: 'string', default: 'webgpu' },
      ops: { type: 'string' },
      preset: { type: 'string' },
      shape: { type: 'string', multiple: true },
      shapes: { type: 'string' },
      budget: { type: 'string' },
      out: { type: 'string', default: 'tuning' },
      reps: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const target = choiceFlag('target', values.target, ['webgpu', 'cuda'], 'webgpu');
  const preset = choiceFlag<PresetName>('preset', values.preset, ['tiny', 'mimo-v2-flash'], 'tiny');
  const budget = numFlag('budget', values.budget, 300, (v) => v > 0, 'a positive number of seconds');
  const reps = intFlag('reps', values.reps, 5, 1);
  const given: Shape[] = [...(values.shape ?? []).map(parseShape), ...(values.shapes === undefined ? [] : readShapes(values.shapes))];
  if (positionals.length && values.preset !== undefined) throw new UsageError('--preset names shapes of the package\'s own ops; for your kernel files give --shape or --shapes');
  if (positionals.length && !given.length) throw new UsageError('your kernel files need shapes to tune at: give --shape SYM=N,... or --shapes FILE.json');
  // The compiler and the device are loaded once the command line is known to be good.
  const [{ selectKernels }, { loadDb }, { tuneKernel }, { candidates }, { WebGpuMeasurer }, { CudaMeasurer }, { cudaDevice }, { webgpuFingerprint }, { describeGpu, getGpu }] = await Promise.all([
    import('./select.js'), import('../autotune/db.js'), import('../autotune/tuner.js'), import('../autotune/space.js'),
    import('../autotune/measureWebgpu.js'), import('../autotune/measureCuda.js'), import('../../backends/cuda/fingerprint.js'), import('../../backends/webgpu/fingerprint.js'), import('../../backends/webgpu/device.js'),
  ]);
  const jobs = selectJobs(selectKernels(positionals, values.ops), values.ops, given, preset);
  const cuda = target === 'cuda' ? cudaDevice() : undefined;
  if (target === 'cuda' && !cuda) throw new UsageError('--target cuda measures with CUDA events on an NVIDIA GPU; this machine has none (nvidia-smi found no GPU). Run it where one is (see README "Autotuning").');
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error('\nmimo-autotune: interrupted; finishing the current measurement and keeping what was measured (Ctrl-C again to quit now)');
  });

  const gpu = cuda ? undefined : await getGpu();
  const device = cuda ?? webgpuFingerprint(gpu!);
  const out = path.resolve(values.out);
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new UsageError(`--out ${values.out}: not a folder`);
  const dbFile = path.join(out, `${device.fingerprint}.json`);
  let db;
  try {
    db = loadDb(dbFile, device);
  } catch (e) {
    if (e instanceof TuningDbError) throw new CliError(`${e.message}; give another --out, or move the file away`);
    throw e;
  }
  const where = path.relative(process.cwd(), dbFile);
  const kind = cuda ? 'cuda' : 'wgsl';
  console.error(`mimo-autotune: ${gpu ? describeGpu(gpu) : cuda!.description}\n  database ${where}; budget ${budget} s from the first measurement; ${jobs.length} kernel shapes`);
  const bar = new ProgressBar(jobs.reduce((a, j) => a + candidates(j.k, kind).filter((c) => !c.illegal).length, 0));
  const rows: TuneRow[] = [];
  // The budget is for measuring: start-up (ts-morph, the device) differs by machine, not by choice.
  const start = Date.now();
  const startup = start - performance.timeOrigin;
  const deadline = start + budget * 1000;
  for (const { k, dims } of jobs) {
    if (interrupted || Date.now() > deadline) break;
    const opts = { reps, timeoutMs: 20_000 };
    let measurer;
    try {
      measurer = cuda ? new CudaMeasurer(k, dims, { ...opts, arch: `sm_${cuda.computeCapability.replace('.', '')}${cuda.computeCapability === '9.0' ? 'a' : ''}` }) : new WebGpuMeasurer(gpu!, k, dims, opts);
    } catch (e) {
      // No inputs for this kernel, or inputs this device cannot hold (a RangeError names the limit).
      if (e instanceof InputsError || e instanceof RangeError) throw new CliError(`${k.name} (${Object.entries(dims).map(([n, v]) => `${n}=${v}`).join(' ')}): ${e.message}`);
      throw e;
    }
    try {
      rows.push(await tuneKernel(k, dims, db, dbFile, measurer, {
        deadline,
        target: kind,
        interrupted: () => interrupted,
        onMeasured: (kernel, config, m) => bar.tick(`${kernel} ${config} ${m.ms !== undefined ? `${m.ms.toFixed(2)} ms` : 'invalid'}`),
      }));
    } finally {
      measurer.dispose();
    }
  }
  bar.end();
  printTable(rows);
  const now = Date.now();
  console.log(`\n${((now - start) / 1000).toFixed(0)} s of ${budget} s budget (+ ${(startup / 1000).toFixed(0)} s start-up); ${rows.reduce((a, r) => a + r.measuredNow, 0)} configurations measured now; database: ${where}`);
  const failed = rows.filter((r) => r.failed);
  for (const r of failed) console.error(`mimo-autotune: ${r.kernel} (${r.shape}): ${r.failed}`);
  // Exit 2 as for a usage error: the kernel cannot run at the shape asked for on this device.
  return interrupted ? 130 : failed.length ? 2 : 0;
}

/**
 * What to tune: the selected kernels at the given shapes, or, with none given, the
 * package's ops at their preset shapes. Every selected kernel needs at least one shape.
 */
function selectJobs(selected: readonly Kernel[], ops: string | undefined, given: readonly Shape[], preset: PresetName): { k: Kernel; dims: Shape }[] {
  if (given.length) return shapesFor(selected, given).flatMap(({ k, shapes }) => shapes.map((dims) => ({ k, dims })));
  const tunable = selected.filter((k) => PRESETS[k.name]?.[preset]);
  if (!tunable.length) throw new UsageError(`no kernel with a '${preset}' preset matches --ops '${ops ?? '*'}' (have presets: ${Object.keys(PRESETS).join(', ')}); give --shape for others`);
  return tunable.flatMap((k) => PRESETS[k.name][preset].map((dims) => ({ k, dims })));
}

function printTable(rows: readonly TuneRow[]): void {
  const fmt = (ms?: number) => (ms === undefined || Number.isNaN(ms) ? '-' : ms.toFixed(2));
  const table = rows.map((r) => ({
    kernel: r.kernel, shape: r.shape, default: r.defaultConfig, 'default ms': fmt(r.defaultMs), best: r.bestConfig, 'best ms': fmt(r.bestMs),
    speedup: r.defaultMs && r.bestMs ? `${(r.defaultMs / r.bestMs).toFixed(2)}x` : '-', tried: r.tried, invalid: r.invalid.length,
  }));
  console.table(table);
  for (const r of rows) {
    if (r.note) console.log(`${r.kernel} (${r.shape}): ${r.note}`);
    for (const inv of r.invalid) console.log(`${r.kernel} (${r.shape}) invalid: ${inv}`);
  }
}

await runCli('mimo-autotune', main);
