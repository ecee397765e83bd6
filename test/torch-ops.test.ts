import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../compiler/frontend/source.js';

/**
 * The generated kernels as PyTorch custom ops (python/mimo_kc_torch) on a CPU-only machine:
 * a CPU PyTorch in a venv of our own (.cache/torch-venv, made once from the machine's wheels),
 * the extension built for a subset of ops through the CUDA emulator, torch.library.opcheck on
 * each, outputs against float64 torch math, the refusals, the MimoMLP layer, and the CUDA
 * registration compiled (syntax only). python/tests/check_ops.py does the work and prints
 * one `ok NAME` line per check; every expected line must be there.
 * Without a CPU torch wheel the test says SKIP with pip's reason (it cannot pass silently:
 * the line is in the output).
 */
const VENV = path.join(REPO_ROOT, '.cache/torch-venv');
const PY = path.join(VENV, 'bin/python');
const REQUIREMENTS = ['torch==2.13.0+cpu', 'numpy'];
const READY = path.join(VENV, '.mimo-ready');
const CHECKS = ['build', 'rmsnorm', 'swiglu', 'softmax', 'gemm_bf16', 'cast_f32_to_e4m3', 'cast_f32_to_bf16', 'global_prefill', 'refusals', 'layer', 'cuda_registration'];

const tail = (s: string, n = 30) => s.trim().split('\n').slice(-n).join('\n');

/** The venv's python, made on first use; or why there is none (a skip, not a failure). */
function venv(): { python: string } | { skip: string } {
  if (fs.existsSync(READY) && fs.readFileSync(READY, 'utf8') === REQUIREMENTS.join('\n')) return { python: PY };
  const t0 = Date.now();
  fs.rmSync(VENV, { recursive: true, force: true });
  const mk = spawnSync('python3', ['-m', 'venv', VENV], { encoding: 'utf8' });
  if (mk.error || mk.status !== 0) return { skip: `python3 -m venv failed: ${mk.error?.message ?? tail(mk.stderr, 5)}` };
  // Offline machines: no retries against an unreachable index; local wheels and file:// indexes answer at once.
  const pip = spawnSync(path.join(VENV, 'bin/pip'), ['install', '--no-color', '--retries', '0', '--timeout', '10', '--disable-pip-version-check', ...REQUIREMENTS], { encoding: 'utf8', timeout: 600_000 });
  if (pip.error || pip.status !== 0) {
    fs.rmSync(VENV, { recursive: true, force: true });
    const errors = `${pip.stderr}\n${pip.stdout}`.split('\n').filter((l) => l.startsWith('ERROR'));
    return { skip: `pip install ${REQUIREMENTS.join(' ')} failed: ${pip.error?.message ?? (errors.length ? errors.join(' ') : tail(pip.stderr, 3))}` };
  }
  fs.writeFileSync(READY, REQUIREMENTS.join('\n'));
  console.log(`  torch-ops: venv with ${REQUIREMENTS.join(', ')} made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { python: PY };
}

test('torch.library ops: CPU build through the emulator, opcheck, references, refusals, layer', () => {
  const env = venv();
  if ('skip' in env) {
    console.log(`\n  SKIP torch-ops: ${env.skip}\n`);
    return;
  }
  const t0 = Date.now();
  const r = spawnSync(env.python, [path.join(REPO_ROOT, 'python/tests/check_ops.py')], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
  const out = `${r.stdout}\n${r.stderr}`;
  assert.ok(!r.error, `check_ops.py did not run: ${r.error?.message}`);
  assert.is(r.status, 0, `check_ops.py failed (exit ${r.status}):\n${tail(out, 40)}`);
  for (const name of CHECKS) assert.ok(new RegExp(`^ok ${name} `, 'm').test(r.stdout), `no 'ok ${name}' line:\n${tail(out, 40)}`);
  console.log(`  torch-ops: ${((Date.now() - t0) / 1000).toFixed(1)} s; ${r.stdout.split('\n').find((l) => l.startsWith('timings ')) ?? ''}`);
});

test.run();
