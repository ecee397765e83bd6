/**
 * The CLIs as a user runs them (spawned, in a scratch directory): every usage error is
 * one line on stderr naming the flag with exit code 2 and no stack trace; a compile
 * error in the user's own file cites it relative to the current directory (exit 1);
 * a measurement that fails for every configuration is reported (exit 2) and leaves the tuning
 * database byte for byte as it was. The spawns run concurrently: each pays tsx's start-up.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { reportError, UsageError } from '../compiler/cli/args.js';

// The contract without the debugging switch: no stack traces anywhere.
delete process.env.MIMO_DEBUG;
const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-cli-errors-')));
const DSL = path.join(REPO_ROOT, 'compiler/dsl/index.js');

interface Run { readonly status: number; readonly stdout: string; readonly stderr: string }
const cli = (bin: string, args: readonly string[]) => new Promise<Run>((resolve) => {
  execFile(process.execPath, [path.join(REPO_ROOT, `bin/${bin}.js`), ...args], { cwd: tmp, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) =>
    resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
});

/** One workgroup per element along z, which is never folded: N > 65535 cannot launch on any configuration. */
const GOOD = `import { kernel, localId, workgroupId, type f32, type i32, type Out, type Tensor } from '${DSL}';
export const twice_z = kernel(
  { doc: 'y = 2x, one workgroup per element along z', tunables: { WG: [32, 64] }, workgroup: (c) => [c.WG], grid: (c) => [1, 1, c.N] },
  (x: Tensor<f32, ['N']>, y: Out<f32, ['N']>, c: { N: i32; WG: i32 }) => {
    if (localId.x === 0) y[workgroupId.z] = x[workgroupId.z] * 2.0;
  },
);
`;
const BAD = `import { kernel, type f32, type i32, type Out, type Tensor } from '${DSL}';
export const broken = kernel({ doc: 'uses a string', workgroup: () => [64], grid: (c) => [c.N] },
  (x: Tensor<f32, ['N']>, y: Out<f32, ['N']>, c: { N: i32 }) => {
    const s = 'not in the subset';
    y[0] = x[0];
  });
`;

fs.mkdirSync(path.join(tmp, 'kernels'));
fs.writeFileSync(path.join(tmp, 'kernels/twice.ts'), GOOD);
fs.mkdirSync(path.join(tmp, 'broken'));
fs.writeFileSync(path.join(tmp, 'broken/bad.ts'), BAD);
fs.writeFileSync(path.join(tmp, 'README.md'), '# not a database\n');
fs.writeFileSync(path.join(tmp, 'other.json'), '{"name": "not a database"}\n');
// A copy of the committed database: the failing measurement must leave it as it is.
const dbDir = path.join(tmp, 'tuned');
fs.cpSync(path.join(REPO_ROOT, 'tuning'), dbDir, { recursive: true });
const dbBytes = () => Object.fromEntries(fs.readdirSync(dbDir).map((f) => [f, fs.readFileSync(path.join(dbDir, f))]));

/** [tool, args, exit code, what the one stderr line says] */
const USAGE: [string, string[], RegExp][] = [
  ['mimo-compile', ['--frobnicate'], /^mimo-compile: unknown option '--frobnicate'/],
  ['mimo-compile', ['kernels/twice.ts', '--out'], /^mimo-compile: --out needs a value/],
  ['mimo-compile', ['kernels/twice.ts', '--target', 'metal'], /^mimo-compile: --target must be wgsl, cuda or all \(got 'metal'\)/],
  ['mimo-compile', ['kernels/twice.ts', '--tuning', '/nonexistent'], /^mimo-compile: --tuning \/nonexistent: no such file or folder/],
  ['mimo-compile', ['kernels/twice.ts', '--tuning', 'README.md'], /^mimo-compile: --tuning README\.md: not valid JSON; expected a mimo-autotune database/],
  ['mimo-compile', ['kernels/twice.ts', '--tuning', 'other.json'], /^mimo-compile: --tuning other\.json: not a mimo-autotune database/],
  ['mimo-compile', ['kernels/twice.ts', '--ops', 'gemm*'], /^mimo-compile: --ops 'gemm\*' matches no kernel \(have: twice_z\)/],
  ['mimo-compile', ['nowhere/*.ts'], /^mimo-compile: 'nowhere\/\*\.ts': matches no \.ts file/],
  ['mimo-autotune', ['--reps', 'abc'], /^mimo-autotune: --reps must be an integer >= 1 \(got 'abc'\)/],
  ['mimo-autotune', ['kernels/twice.ts', '--shape', 'N=many'], /^mimo-autotune: --shape: N must be a number \(got 'many'\)/],
  ['mimo-autotune', ['kernels/twice.ts'], /^mimo-autotune: your kernel files need shapes to tune at/],
  ['mimo-init', ['--preset', 'tiny', '--out'], /^mimo-init: --out needs a value/],
  ['mimo-plan', ['--preset', 'tiny', '--batch', 'two'], /^mimo-plan: --batch must be an integer >= 1 \(got 'two'\)/],
  ['mimo-generate', ['--preset', 'tiny', '--tokens', '1', '--max-new', '1', 'extra'], /^mimo-generate: unexpected argument 'extra'/],
];

const before = dbBytes();
const runs = Promise.all([
  Promise.all(USAGE.map(([bin, args]) => cli(bin, args))),
  cli('mimo-compile', ['kernels/*.ts', '--target', 'wgsl']),
  cli('mimo-compile', ['broken/bad.ts', '--target', 'wgsl', '--out', 'never']),
  cli('mimo-autotune', ['kernels/twice.ts', '--shape', 'N=70000', '--out', 'tuned', '--reps', '1']),
]);

test('usage errors: one line on stderr naming the flag, exit 2, no stack', async () => {
  const [usage] = await runs;
  USAGE.forEach(([bin, args, want], i) => {
    const r = usage[i];
    const what = `${bin} ${args.join(' ')}: ${r.stderr}`;
    assert.is(r.status, 2, what);
    const lines = r.stderr.trimEnd().split('\n');
    assert.is(lines.length, 1, what);
    assert.match(lines[0], want, what);
    assert.ok(lines[0].endsWith(`(${bin} --help lists the options)`), what);
  });
});

test("mimo-compile FILE: the user's kernels into ./generated of the current directory", async () => {
  const [, ok] = await runs;
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /mimo-compile: 1 kernels x wgsl -> generated/);
  const source = fs.readFileSync(path.join(tmp, 'generated/wgsl/twice_z.wgsl'), 'utf8');
  assert.match(source, /from kernels\/twice\.ts \(kernel twice_z; WG=32\)/);
  const manifest = JSON.parse(fs.readFileSync(path.join(tmp, 'generated/wgsl/manifest.json'), 'utf8'));
  assert.equal(Object.keys(manifest.kernels), ['twice_z'], 'only the named file: not the package ops, no ./tuning here');
});

test("a compile error in the user's file cites it relative to the current directory (exit 1)", async () => {
  const [, , bad] = await runs;
  assert.is(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /^broken\/bad\.ts:\d+:\d+: error: /);
  assert.not.match(bad.stderr, /\n\s+at /);
  assert.ok(!fs.existsSync(path.join(tmp, 'never')), 'nothing written');
});

test('a measurement that fails for every configuration: reported with the reason, exit 2, database unchanged', async () => {
  const [, , , tune] = await runs;
  assert.is(tune.status, 2, tune.stderr);
  const failed = tune.stderr.split('\n').filter((l) => l.includes('every configuration failed'));
  assert.is(failed.length, 1, tune.stderr);
  assert.match(failed[0], /^mimo-autotune: twice_z \(N=70000\): every configuration failed \(runtime: .*grid z .*70000.*exceeds this device's limit of 65535.*\); nothing was written to the database$/);
  assert.not.match(tune.stderr, /\n\s+at /);
  assert.equal(dbBytes(), before, 'the database is byte-identical');
});

test('reportError: known errors by message, anything else as one internal-error line', () => {
  const lines: string[] = [];
  const error = console.error;
  console.error = (s: string) => lines.push(s);
  try {
    assert.is(reportError('mimo-x', new UsageError('--n must be 1')), 2);
    assert.is(reportError('mimo-x', new TypeError('cannot read x\nof undefined')), 1);
    assert.is(reportError('mimo-x', Object.assign(new Error('EACCES: permission denied, open /a'), { syscall: 'open', code: 'EACCES' })), 1);
  } finally {
    console.error = error;
  }
  assert.equal(lines, [
    'mimo-x: --n must be 1 (mimo-x --help lists the options)',
    'mimo-x: internal error: cannot read x of undefined (set MIMO_DEBUG=1 for the stack)',
    'mimo-x: EACCES: permission denied, open /a',
  ]);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
