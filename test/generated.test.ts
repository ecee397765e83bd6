import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { generatedFiles, loadKernels } from '../compiler/compile.js';

/** generated/ is a product: it must match what the compiler produces from ops/ now. */
test('generated/ is up to date with ops/ (mimo-compile --check)', () => {
  const tuning = fs.readdirSync(path.join(REPO_ROOT, 'tuning')).map((f) => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'tuning', f), 'utf8')));
  const files = generatedFiles(loadKernels(), ['wgsl', 'cuda'], 'sm_80', tuning);
  const stale = [...files].filter(([rel, text]) => {
    const p = path.join(REPO_ROOT, 'generated', rel);
    return !fs.existsSync(p) || fs.readFileSync(p, 'utf8') !== text;
  }).map(([rel]) => rel);
  assert.equal(stale, [], `stale generated files (run: npx mimo-compile): ${stale.join(', ')}`);
});

const cli = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [path.join(cwd, 'bin/mimo-compile.js'), ...args], { cwd, encoding: 'utf8' });

test('--check fails after a kernel is edited without regenerating, passes after regenerating', () => {
  // A scratch copy of the repo, so the edit cannot touch the real ops/.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-check-'));
  try {
    for (const d of ['compiler', 'ops', 'generated', 'backends', 'bin', 'tuning']) fs.cpSync(path.join(REPO_ROOT, d), path.join(tmp, d), { recursive: true });
    for (const f of ['package.json', 'tsconfig.json']) fs.copyFileSync(path.join(REPO_ROOT, f), path.join(tmp, f));
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(tmp, 'node_modules'));
    assert.is(cli(tmp, '--check').status, 0, 'fresh copy is up to date');
    const op = path.join(tmp, 'ops/swiglu.ts');
    fs.writeFileSync(op, fs.readFileSync(op, 'utf8').replace('1.0 + exp(-x)', '1.0 + exp(-x * 1.0001)'));
    const stale = cli(tmp, '--check');
    assert.is(stale.status, 1, 'edited kernel must make --check fail');
    assert.match(stale.stderr, /stale: +wgsl\/swiglu\.wgsl/);
    assert.match(stale.stderr, /stale: +cuda\/swiglu\.cu/);
    assert.is(cli(tmp).status, 0);
    assert.is(cli(tmp, '--check').status, 0, 'regenerated copy is up to date');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('--check reports a file that no kernel produces', () => {
  // A copy of generated/, never the real one: other test files may be reading it meanwhile.
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-check-'));
  try {
    fs.cpSync(path.join(REPO_ROOT, 'generated'), out, { recursive: true });
    fs.writeFileSync(path.join(out, 'wgsl/__leftover.wgsl'), '');
    const r = cli(REPO_ROOT, '--check', '--out', out);
    assert.is(r.status, 1);
    assert.match(r.stderr, /extra: +wgsl\/__leftover\.wgsl/);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test('--help, bad flags and --dump-ir', () => {
  const help = cli(REPO_ROOT, '--help');
  assert.is(help.status, 0);
  for (const flag of ['--target', '--out', '--ops', '--arch', '--dump-ir', '--check']) assert.ok(help.stdout.includes(flag), `--help mentions ${flag}`);
  const bad = cli(REPO_ROOT, '--target', 'metal');
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--target must be wgsl, cuda or all/);
  const none = cli(REPO_ROOT, '--ops', 'no_such_kernel*');
  assert.is(none.status, 2);
  const ir = cli(REPO_ROOT, '--dump-ir', '--ops', 'rmsnorm', '--target', 'wgsl');
  assert.is(ir.status, 0);
  assert.match(ir.stdout, /kernel rmsnorm<EPS=0.00001>/);
  assert.match(ir.stdout, /lowered for wgsl/);
  assert.match(ir.stdout, /\(packed u32\)/);
});

test('the CUDA header declares one launcher per kernel', () => {
  const h = fs.readFileSync(path.join(REPO_ROOT, 'generated/cuda/mimo_kernels.h'), 'utf8');
  for (const k of loadKernels()) assert.match(h, new RegExp(`cudaError_t mimo_${k.name}\\(`));
});

test.run();
