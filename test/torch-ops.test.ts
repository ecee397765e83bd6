import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { tail, torchVenv } from './harness/torch-venv.js';

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
const CHECKS = ['build', 'rmsnorm', 'swiglu', 'softmax', 'gemm_bf16', 'cast_f32_to_e4m3', 'cast_f32_to_bf16', 'global_prefill', 'refusals', 'layer', 'cuda_registration'];

test('torch.library ops: CPU build through the emulator, opcheck, references, refusals, layer', () => {
  const env = torchVenv('torch-ops');
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
