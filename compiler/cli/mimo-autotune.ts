import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadKernels } from '../compile.js';
import { REPO_ROOT } from '../frontend/source.js';
import { loadDb } from '../autotune/db.js';
import { PRESETS, type PresetName } from '../autotune/presets.js';
import { tuneKernel, type TuneRow } from '../autotune/tuner.js';
import { ProgressBar } from '../autotune/progress.js';
import { candidates } from '../autotune/space.js';
import { WebGpuMeasurer } from '../autotune/measureWebgpu.js';
import { CudaMeasurer, cudaDevice } from '../autotune/measureCuda.js';
import { webgpuFingerprint } from '../autotune/fingerprint.js';
import { describeGpu, getGpu } from '../../backends/webgpu/device.js';

const HELP = `mimo-autotune — measure every legal tile configuration of each kernel on this device

Usage: mimo-autotune [options]
  --target webgpu|cuda       device to tune on (cuda needs an NVIDIA GPU; see README)
  --ops GLOB                 kernels whose name matches (default: all with a preset)
  --preset tiny|mimo-v2-flash  shapes to tune for (default: tiny)
  --budget SECONDS           stop starting new measurements after this long (default: 300)
  --out DIR                  tuning database folder (default: tuning/); one JSON per device
  --reps N                   timed repetitions per configuration, median kept (default: 5)
  -h, --help                 show this help

Results are saved after every measurement (Ctrl-C keeps them); a rerun measures only
configurations the database lacks. Use the file with: mimo-compile --tuning FILE`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'webgpu' },
      ops: { type: 'string' },
      preset: { type: 'string', default: 'tiny' },
      budget: { type: 'string', default: '300' },
      out: { type: 'string', default: path.join(REPO_ROOT, 'tuning') },
      reps: { type: 'string', default: '5' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const preset = values.preset as PresetName;
  if (preset !== 'tiny' && preset !== 'mimo-v2-flash') return usage(`--preset must be tiny or mimo-v2-flash (got '${values.preset}')`);
  const budget = Number(values.budget);
  if (!(budget > 0)) return usage(`--budget must be a positive number of seconds (got '${values.budget}')`);
  if (values.target !== 'webgpu' && values.target !== 'cuda') return usage(`--target must be webgpu or cuda (got '${values.target}')`);
  const cuda = values.target === 'cuda' ? cudaDevice() : undefined;
  if (values.target === 'cuda' && !cuda) {
    console.error('mimo-autotune: --target cuda measures with CUDA events on an NVIDIA GPU; this machine has none (nvidia-smi found no GPU). Run it where one is (see README "Autotuning").');
    return 2;
  }
  const start = Date.now();
  const deadline = start + budget * 1000;
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error('\nmimo-autotune: interrupted; finishing the current measurement and keeping what was measured (Ctrl-C again to quit now)');
  });

  const gpu = cuda ? undefined : await getGpu();
  const device = cuda ?? webgpuFingerprint(gpu!);
  const dbFile = path.join(values.out, `${device.fingerprint}.json`);
  const db = loadDb(dbFile, device);
  const kernels = loadKernels(values.ops).filter((k) => PRESETS[k.name]?.[preset]);
  if (!kernels.length) return usage(`no kernel with a '${preset}' preset matches --ops '${values.ops ?? '*'}'`);
  console.error(`mimo-autotune: ${gpu ? describeGpu(gpu) : cuda!.description}\n  database ${path.relative(process.cwd(), dbFile)}; budget ${budget} s; preset ${preset}`);
  const jobs = kernels.flatMap((k) => PRESETS[k.name][preset].map((dims) => ({ k, dims })));
  const target = cuda ? 'cuda' : 'wgsl';
  const bar = new ProgressBar(jobs.reduce((a, j) => a + candidates(j.k, target).filter((c) => !c.illegal).length, 0));
  const rows: TuneRow[] = [];
  for (const { k, dims } of jobs) {
    if (interrupted || Date.now() > deadline) break;
    const opts = { reps: Number(values.reps), timeoutMs: 20_000 };
    const measurer = cuda ? new CudaMeasurer(k, dims, { ...opts, arch: `sm_${cuda.computeCapability.replace('.', '')}${cuda.computeCapability === '9.0' ? 'a' : ''}` }) : new WebGpuMeasurer(gpu!, k, dims, opts);
    try {
      rows.push(await tuneKernel(k, dims, db, dbFile, measurer, {
        deadline,
        target,
        interrupted: () => interrupted,
        onMeasured: (kernel, config, m) => bar.tick(`${kernel} ${config} ${m.ms !== undefined ? `${m.ms.toFixed(2)} ms` : 'invalid'}`),
      }));
    } finally {
      measurer.dispose();
    }
  }
  bar.end();
  printTable(rows);
  console.log(`\n${((Date.now() - start) / 1000).toFixed(0)} s of ${budget} s budget; ${rows.reduce((a, r) => a + r.measuredNow, 0)} configurations measured now; database: ${path.relative(process.cwd(), dbFile)}`);
  return interrupted ? 130 : 0;
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

function usage(msg: string): number {
  console.error(`mimo-autotune: ${msg}\n\n${HELP}`);
  return 2;
}

process.exitCode = await main();
