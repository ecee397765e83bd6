import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { tail, torchVenv } from './harness/torch-venv.js';
import { MACHINES } from '../compiler/report/machine.js';

/**
 * The H200 check (bench/device/h200-check.sh, check.py) dry-run here, where no GPU is: the CPU
 * build of every op through the CUDA emulator, the correctness phase (every kernel of the
 * manifest PASS against the float64 PyTorch references), the peers table and the GEMM table at tiny shapes with
 * a row for each op it compares, and the autotune phase as far as this machine allows (skipped
 * with its reason without bench/device/carry/, else the carried node and CLI start and report
 * that there is no GPU). Then the self-check that the cases can fail (every op a no-op: every
 * kernel FAILs) and the usage errors. Without a CPU torch wheel the test prints SKIP.
 */
const SCRIPT = path.join(REPO_ROOT, 'bench/device/h200-check.sh');
const CHECK = path.join(REPO_ROOT, 'bench/device/check.py');
const KERNELS = Object.keys(JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'generated/cuda/manifest.json'), 'utf8')).kernels).length;
const GEMM_ROWS = ['gemm_bf16', 'moe_gate_up_bf16', 'moe_down_bf16', 'moe_gate_up_fp8', 'moe_down_fp8', 'moe_gate_up_fp8_masked', 'moe_down_fp8_masked'];
const TABLE_ROWS = ['cast_bf16_to_e4m3', 'quant_act_e4m3', ...GEMM_ROWS, 'swa_prefill', 'global_prefill', 'global_decode'];
// Every peer runs on the CPU too, but torch._scaled_grouped_mm is CUDA-only: the FP8 rows take
// the loop of torch._scaled_mm per expert there, and must say so.
const FP8_ROWS = new Set(['moe_gate_up_fp8', 'moe_down_fp8', 'moe_gate_up_fp8_masked', 'moe_down_fp8_masked']);

test('h200-check.sh --dry-run: every phase runs, every kernel passes, the table is produced', () => {
  const env = torchVenv('device-script');
  if ('skip' in env) {
    console.log(`\n  SKIP device-script: ${env.skip}\n`);
    return;
  }
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-h200-dry-'));
  const t0 = Date.now();
  const r = spawnSync('bash', [SCRIPT, '--dry-run'], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, OUT: out, PYTHON: env.python } });
  const log = `${r.stdout}\n${r.stderr}`;
  assert.ok(!r.error, `h200-check.sh did not run: ${r.error?.message}`);
  assert.is(r.status, 0, `h200-check.sh --dry-run failed (exit ${r.status}):\n${tail(log)}`);
  for (const phase of ['build', 'correct', 'peers']) assert.match(r.stdout, new RegExp(`^phase ${phase}: [0-9.]+ s of [0-9]+ s planned`, 'm'), `no timing line for phase ${phase}`);
  assert.match(r.stdout, new RegExp(`^correctness: ${KERNELS} of ${KERNELS} kernels PASS$`, 'm'), `not every kernel passed:\n${tail(log)}`);
  assert.not.match(r.stdout, /^FAIL /m);
  // The autotune phase: skipped for want of the carry, or the carried CLI reached the GPU check.
  const skipped = /^autotune: skipped: bench\/device\/carry\/ has no node.xz/m.test(r.stdout);
  if (!skipped) {
    assert.match(r.stdout, /^autotune: pre-flight ok/m, `the carried CLI failed its pre-flight:\n${tail(log)}`);
    assert.match(r.stdout, /^mimo-autotune: --target cuda .* this machine has none/m, `mimo-autotune did not report the missing GPU:\n${tail(log)}`);
  }

  const md = fs.readFileSync(path.join(out, 'h200-table.md'), 'utf8');
  assert.ok(md.includes('| op | shape | ours ms | peer | peer ms | peer/ours | ours % of floor |'), `no table header:\n${md}`);
  for (const name of TABLE_ROWS) {
    const row = md.split('\n').find((l) => l.startsWith(`| ${name} |`));
    assert.ok(row, `no table row for ${name}:\n${md}`);
    const cells = row!.split('|').map((c) => c.trim());
    assert.ok(Number(cells[3]) > 0, `${name}: ours ms is '${cells[3]}'`);
    assert.not.ok(row!.includes('ERROR'), `${name}: ${row}`);
    assert.ok(Number(cells[5]) > 0, `${name}: the peer did not run on the CPU: ${row}`);
    // The peers compute the same function: DeepGEMM's diff against ours, far under 1e-3.
    assert.ok(Number(cells[9]) < 1e-4, `${name}: diff vs peer '${cells[9]}'`);
    if (FP8_ROWS.has(name)) {
      assert.match(cells[4], /^torch\._scaled_mm loop over \d+ experts/, `${name}: the fallback peer is not named: ${row}`);
      assert.match(cells[10], /torch\._scaled_grouped_mm unavailable \(NotImplementedError/, `${name}: no reason for the fallback: ${row}`);
    }
  }
  // The GEMM table: rates against the published peaks, the same numbers as compiler/report/machine.ts.
  const gemmTable = md.slice(md.indexOf('GEMMs against the published H200 peaks'));
  assert.ok(gemmTable.includes('| op | shape | ours ms | ours TFLOP/s | % of tensor peak | ours TB/s | % of HBM | peer |'), `no GEMM table:\n${md}`);
  for (const name of GEMM_ROWS) {
    const cells = gemmTable.split('\n').find((l) => l.startsWith(`| ${name} |`))?.split('|').map((c) => c.trim());
    assert.ok(cells && Number(cells[3]) > 0 && Number(cells[9]) > 0 && /%$/.test(cells[5]), `${name}: GEMM table row ${cells?.join(' | ')}`);
  }
  const py = fs.readFileSync(path.join(REPO_ROOT, 'bench/device/peers_gemm.py'), 'utf8');
  const constant = (name: string) => Number(new RegExp(`^${name} = ([0-9.e]+)$`, 'm').exec(py)?.[1]);
  const h200 = MACHINES.sm_90a;
  assert.equal([constant('PUBLISHED_BF16'), constant('PUBLISHED_FP8'), constant('PUBLISHED_HBM')], [h200.tensorPeak.bf16, h200.tensorPeak.fp8, h200.hbm]);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'h200-summary.json'), 'utf8'));
  assert.equal(summary.phases.correct.failed, []);
  assert.is(summary.phases.build.ok, true);
  fs.rmSync(out, { recursive: true, force: true });
  console.log(`  device-script: dry run ${((Date.now() - t0) / 1000).toFixed(1)} s (autotune ${skipped ? 'skipped: no carry' : 'carried CLI ran to the GPU check'})`);
});

test('check.py: every case can fail (ops as no-ops), and usage errors are one line', () => {
  const env = torchVenv('device-script');
  if ('skip' in env) return;
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-h200-noop-'));
  const r = spawnSync(env.python, [CHECK, '--dry-run', '--phases', 'correct', '--noop-ops', '--out', out], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
  fs.rmSync(out, { recursive: true, force: true });
  assert.is(r.status, 1, `check.py --noop-ops should exit 1:\n${tail(`${r.stdout}\n${r.stderr}`)}`);
  assert.match(r.stdout, new RegExp(`^correctness: 0 of ${KERNELS} kernels PASS; FAIL: `, 'm'), `a case passed with every op a no-op:\n${tail(r.stdout)}`);
  assert.not.match(r.stdout, /^PASS /m);

  const bad = spawnSync(env.python, [CHECK, '--phases', 'bogus'], { encoding: 'utf8' });
  assert.is(bad.status, 3);
  assert.is(bad.stderr.trim(), "check.py: --phases: unknown phase 'bogus'; expected a subset of build,correct,peers");
  const sh = spawnSync('bash', [SCRIPT, '--bogus'], { encoding: 'utf8' });
  assert.is(sh.status, 3);
  assert.is(sh.stderr.trim(), "h200-check.sh: unknown argument '--bogus' (expected nothing or --dry-run)");
});

test.run();
