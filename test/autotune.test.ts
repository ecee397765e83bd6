import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lowerFile, lowerText } from '../compiler/frontend/index.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import type { Kernel } from '../compiler/ir/nodes.js';
import { candidates, choiceKey, enumerate, type Candidate } from '../compiler/autotune/space.js';
import { search, EXHAUSTIVE_LIMIT } from '../compiler/autotune/search.js';
import { entryFor, loadDb, saveDb } from '../compiler/autotune/db.js';
import type { Measurement } from '../compiler/tuning/dbFile.js';
import { tuneKernel } from '../compiler/autotune/tuner.js';
import { WebGpuMeasurer } from '../compiler/autotune/measureWebgpu.js';
import { webgpuFingerprint } from '../backends/webgpu/fingerprint.js';
import { getGpu } from '../backends/webgpu/device.js';
import { WebGpuRuntime } from '../backends/webgpu/runtime.js';
import { generatedFiles, loadKernels } from '../compiler/compile.js';

const FIXTURE = path.join(REPO_ROOT, 'test/fixtures/kernels/autotune.ts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-tune-'));
const forever = { deadline: Date.now() + 3600_000, interrupted: () => false };

async function tune(k: Kernel, dbFile: string, dims = { N: 1000 }) {
  const gpu = await getGpu();
  const db = loadDb(dbFile, webgpuFingerprint(gpu));
  const m = new WebGpuMeasurer(gpu, k, dims, { reps: 3, timeoutMs: 20_000 });
  try {
    return { row: await tuneKernel(k, dims, db, dbFile, m, forever), db };
  } finally {
    m.dispose();
  }
}

test('a deliberately wrong candidate (skips the tail) is recorded invalid, never chosen', async () => {
  const [k] = lowerFile(FIXTURE);
  const { row, db } = await tune(k, path.join(tmp, 'planted.json'));
  const entry = Object.values(db.entries)[0];
  assert.match(entry.configs['BLOCK=128'].invalid ?? '', /^wrong output: y\[993\] = NaN, reference/);
  assert.is.not(row.bestConfig, 'BLOCK=128');
  assert.ok(entry.configs['BLOCK=64'].ms! > 0 && entry.configs['BLOCK=32'].ms! > 0);
  assert.equal(row.invalid.map((s) => s.split(':')[0]), ['BLOCK=128']);
});

test('the database round-trips: a rerun measures nothing; a new candidate is measured alone', async () => {
  const file = path.join(tmp, 'roundtrip.json');
  const source = fs.readFileSync(FIXTURE, 'utf8');
  const [k] = lowerFile(FIXTURE);
  const first = await tune(k, file);
  assert.is(first.row.measuredNow, 3);
  const second = await tune(k, file);
  assert.is(second.row.measuredNow, 0, 'same kernel, shape bucket and device: nothing new to measure');
  // The same shape bucket (1000 and 1024 both round to 1024) reuses the entry too.
  assert.is((await tune(k, file, { N: 1024 })).row.measuredNow, 0);
  const [wider] = lowerText(FIXTURE, source.replace('BLOCK: [64, 128, 32]', 'BLOCK: [64, 128, 32, 256]'));
  lowerText(FIXTURE, source);
  const third = await tune(wider, file);
  assert.is(third.row.measuredNow, 1, 'only BLOCK=256 is new');
  assert.equal(Object.keys(Object.values(third.db.entries)[0].configs).sort(), ['BLOCK=128', 'BLOCK=256', 'BLOCK=32', 'BLOCK=64']);
});

test('an entry without samples (what --reps abc once wrote) is not a measurement: it is measured again', async () => {
  const [k] = lowerFile(FIXTURE);
  const file = path.join(tmp, 'poisoned.json');
  const device = { fingerprint: 'webgpu-fake-0', description: 'no device: a scripted measurer' };
  const poisoned = { device, entries: {} };
  const entry = entryFor(poisoned, k, { N: 1000 });
  for (const c of ['BLOCK=64', 'BLOCK=128', 'BLOCK=32']) entry.configs[c] = { samples: 0, at: '2026-01-01T00:00:00Z' };
  entry.best = 'BLOCK=32';
  saveDb(file, poisoned);
  const db = loadDb(file, device);
  assert.equal(Object.values(db.entries)[0].configs, {}, 'dropped on reading');
  assert.is(Object.values(db.entries)[0].best, undefined);
  const measured: string[] = [];
  const scripted = {
    measure: async (c: Record<string, number>): Promise<Measurement> => {
      measured.push(choiceKey(c));
      return { ms: c.BLOCK === 32 ? 1 : 2, samples: 1, at: '' };
    },
    dispose: () => {},
  };
  const row = await tuneKernel(k, { N: 1000 }, db, file, scripted, forever);
  assert.is(row.measuredNow, 3);
  assert.is(row.bestConfig, 'BLOCK=32');
  const saved = Object.values(loadDb(file, device).entries)[0];
  assert.equal(Object.keys(saved.configs).sort(), ['BLOCK=128', 'BLOCK=32', 'BLOCK=64']);
  assert.ok(Object.values(saved.configs).every((m) => m.samples === 1 && m.ms! > 0));
});

test('static legality prunes before timing: constraints and target limits', () => {
  const gemm = loadKernels('gemm_f32')[0];
  const space = candidates(gemm, 'wgsl');
  assert.is(space.length, enumerate(gemm, 'wgsl').length);
  const illegal = Object.fromEntries(space.filter((c) => c.illegal).map((c) => [choiceKey(c.choice), c.illegal!]));
  assert.match(illegal['BK=32,BM=128,BN=128,STAGES=1,WG=256'], /bytes of workgroup memory exceed 16384/);
  assert.match(illegal['BK=16,BM=128,BN=128,STAGES=1,WG=64'], /needs more than the workgroup's 64 threads/);
  assert.ok(!illegal['BK=16,BM=32,BN=32,STAGES=1,WG=64']);
  const quant = loadKernels('quant_act_e4m3')[0];
  const broken = Object.fromEntries(candidates(quant, 'wgsl').filter((c) => c.illegal).map((c) => [choiceKey(c.choice), c.illegal!]));
  assert.match(broken['EPT=1,WG=64'], /constraint \(c\.WG \* c\.EPT\) % 128 === 0/);
});

test('guided search on a large space finds the optimum of a smooth cost without trying everything', async () => {
  const values = [1, 2, 3, 4, 5, 6, 7, 8];
  const space: Candidate[] = [];
  for (const a of values) for (const b of values) for (const c of values) space.push({ choice: { A: a, B: b, C: c }, cost: Math.abs(a - 2) + Math.abs(b - 2) + Math.abs(c - 2) });
  assert.ok(space.length > EXHAUSTIVE_LIMIT);
  const timeOf = (x: Record<string, number>) => (x.A - 6) ** 2 + (x.B - 5) ** 2 + (x.C - 7) ** 2 + 1;
  let measured = 0;
  const results = await search(space, {
    known: () => undefined,
    measure: async (c): Promise<Measurement> => {
      measured++;
      return { ms: timeOf(c), at: '' };
    },
    mayContinue: () => true,
  });
  const best = [...results].sort((a, b) => a[1].ms! - b[1].ms!)[0][0];
  assert.is(best, 'A=6,B=5,C=7');
  assert.ok(measured < space.length / 4, `measured ${measured} of ${space.length}`);
  let budget = 5;
  const cut = await search(space, { known: () => undefined, measure: async () => ({ ms: 1, at: '' }), mayContinue: () => budget-- > 0 });
  assert.is(cut.size, 5, 'stops when the budget says so');
});

test('mimo-compile --tuning emits tuned variants, --check passes with it, the runtime picks them by shape', async () => {
  const [k] = lowerFile(FIXTURE);
  // A database of its own with a non-default winner, so the variant exists whatever this machine measures.
  const db = { device: webgpuFingerprint(await getGpu()), entries: {} };
  entryFor(db, k, { N: 1000 }).best = 'BLOCK=32';
  const files = generatedFiles([k], ['wgsl'], 'sm_80', [db]);
  assert.ok(files.has('wgsl/planted_tuned_BLOCK32.wgsl'));
  const manifest = JSON.parse(files.get('wgsl/manifest.json')!);
  assert.equal(manifest.kernels.planted.variants, [{ kernel: 'planted_tuned_BLOCK32', tunables: { BLOCK: 32 }, buckets: [{ N: 1024 }], device: db.device.fingerprint }]);
  assert.equal(manifest.kernels.planted_tuned_BLOCK32.workgroupSize, [32, 1, 1]);
  const sources = Object.fromEntries([...files].filter(([f]) => f.endsWith('.wgsl')).map(([f, s]) => [path.basename(f, '.wgsl'), s]));
  const rt = new WebGpuRuntime(await getGpu(), { manifest, sources });
  assert.is(rt.resolve('planted', { N: 1000 }).name, 'planted_tuned_BLOCK32');
  assert.is(rt.resolve('planted', { N: 5000 }).name, 'planted', 'untuned bucket: the default');
  const x = Float32Array.from({ length: 1000 }, (_, i) => i);
  const out = await rt.run('planted', { tensors: { x, y: new Float32Array(1000) }, scalars: { N: 1000 } });
  assert.is((out.y as Float32Array)[999], 1998);

  const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/mimo-compile.js'), ...args], { encoding: 'utf8' });
  const out2 = path.join(tmp, 'gen');
  assert.is(cli('--target', 'wgsl', '--out', out2, '--tuning', path.join(REPO_ROOT, 'tuning')).status, 0);
  const check = cli('--target', 'wgsl', '--out', out2, '--tuning', path.join(REPO_ROOT, 'tuning'), '--check');
  assert.is(check.status, 0, check.stderr);
  assert.is(cli('--target', 'wgsl', '--out', out2, '--tuning', 'none', '--check').status, 1, 'without the tuning the tuned variants are extra files');
});

test('mimo-autotune: clear errors for a missing GPU target and bad flags', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/mimo-autotune.js'), ...args], { encoding: 'utf8' });
  const cuda = run('--target', 'cuda');
  assert.is(cuda.status, 2);
  assert.match(cuda.stderr, /NVIDIA GPU; this machine has none/);
  assert.match(run('--preset', 'huge').stderr, /--preset must be tiny or mimo-v2-flash/);
  const help = run('--help');
  for (const flag of ['--target', '--ops', '--preset', '--shape', '--shapes', '--budget', '--out']) assert.ok(help.stdout.includes(flag));
  assert.match(help.stdout, /start-up, loading kernels and opening the device, is not counted/);
});

test('the CUDA measurement harness builds with nvcc for sm_90a (it runs where a GPU is)', async () => {
  const { CudaMeasurer } = await import('../compiler/autotune/measureCuda.js');
  const gemm = loadKernels('gemm_bf16')[0];
  const m = new CudaMeasurer(gemm, { M: 64, N: 96, K: 128 }, { reps: 5, timeoutMs: 10_000, arch: 'sm_90a' });
  const built = m.build({ BM: 16, BN: 32, BK: 32 });
  assert.ok(built.exe && fs.existsSync(built.exe), built.invalid);
  // 256x64 operand tiles of A and B per pipeline stage: past sm_80's 163 KiB.
  assert.match(m.build({ BM: 256, BN: 256, BK: 64 }).invalid ?? '', /bytes of workgroup memory exceed 166912/);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
