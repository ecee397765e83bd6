// mimo-kc as a dependency, the way a user meets it: `npm pack`, install the tarball into a
// fresh project, write a kernel there, compile it with `npx mimo-compile`, run it through
// `mimo-kc/webgpu` against a float64 reference, build its CUDA with nvcc, and type-check a
// strict consumer of the runtime and both generated modules.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../compiler/frontend/source.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-pack-'));
const proj = path.join(work, 'proj');
const swiftshader = path.join(REPO_ROOT, '.cache/swiftshader');
let tarball = '';

const sh = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> =>
  spawnSync(cmd, args, { cwd: proj, encoding: 'utf8', env: { ...process.env, MIMO_SWIFTSHADER_DIR: swiftshader, ...env }, timeout: 180_000 });
const ok = (r: SpawnSyncReturns<string>, what: string): string => {
  assert.is(r.status, 0, `${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};
const write = (rel: string, text: string) => {
  fs.mkdirSync(path.dirname(path.join(proj, rel)), { recursive: true });
  fs.writeFileSync(path.join(proj, rel), text);
};

test.before(() => {
  // Packed from a copy: prepack builds dist/ there with tsc, never in the clone, where other
  // test files running meanwhile would start the CLIs from a half-built dist/.
  const src = path.join(work, 'src');
  fs.mkdirSync(src);
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md']) fs.cpSync(path.join(REPO_ROOT, f), path.join(src, f));
  for (const d of ['bin', 'compiler', 'backends', 'model', 'ops', 'generated', 'tuning', 'scripts']) {
    fs.cpSync(path.join(REPO_ROOT, d), path.join(src, d), { recursive: true, filter: (p) => !/[/\\](build|__pycache__)$/.test(p) });
  }
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(src, 'node_modules'));
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: src, encoding: 'utf8' });
  tarball = path.join(work, out.trim().split('\n').pop()!);
  fs.mkdirSync(proj);
  fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  ok(sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', tarball]), 'npm install of the tarball');
  write('kernels/scale_add.ts', SCALE_ADD);
});
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

// A kernel as a user writes it: the DSL from the package name, a bf16 input (packed two per
// u32 word on WGSL), a runtime scalar, and a grid that does not divide N.
const SCALE_ADD = `import { kernel, f32, bf16, cdiv, localIndex, workgroupId, type Out, type Tensor, type i32 } from 'mimo-kc/dsl';

export const scale_add = kernel(
  { doc: 'y[i] = a * x[i] + b[i]', tunables: { WG: [64, 128] }, workgroup: (c) => [c.WG], grid: (c) => [cdiv(c.N, c.WG)] },
  (x: Tensor<bf16, ['N']>, b: Tensor<f32, ['N']>, y: Out<f32, ['N']>, c: { N: i32; a: f32; WG: i32 }) => {
    const i = workgroupId.x * c.WG + localIndex;
    if (i < c.N) y[i] = c.a * f32(x[i]) + b[i];
  },
);
`;

test('the tarball holds the built package and none of the development tree', () => {
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
  for (const want of ['dist/compiler/index.js', 'dist/compiler/index.d.ts', 'dist/compiler/dsl/index.d.ts', 'dist/backends/webgpu/index.js',
    'dist/backends/webgpu/index.browser.js', 'dist/model/index.js', 'generated/wgsl/kernels.js', 'generated/wgsl/kernels.d.ts',
    'generated/cuda/mimo_kernels.h', 'ops/rmsnorm.ts', 'compiler/dsl/index.ts', 'scripts/setup-swiftshader.sh', 'bin/mimo-kc.js']) {
    assert.ok(files.includes(want), `missing from the tarball: ${want}`);
  }
  const stray = files.filter((f) => /^(test|bench|examples|node_modules|\.cache|\.ci)\//.test(f) || f.endsWith('.test.ts') || (/^(compiler|backends|model)\//.test(f) && f !== 'compiler/dsl/index.ts' && !f.startsWith('backends/cuda/include/')));
  assert.equal(stray, [], 'development files in the tarball');
});

test('npx mimo-compile compiles a kernel file of the project; its errors cite the project path', () => {
  ok(sh('npx', ['mimo-compile', 'kernels/scale_add.ts', '--target', 'all', '--out', 'out/']), 'mimo-compile');
  for (const f of ['wgsl/scale_add.wgsl', 'wgsl/kernels.js', 'wgsl/kernels.d.ts', 'cuda/scale_add.cu', 'cuda/mimo_kernels.h', 'cuda/manifest.json']) {
    assert.ok(fs.existsSync(path.join(proj, 'out', f)), `mimo-compile wrote no out/${f}`);
  }
  write('kernels/bad.ts', `import { kernel, f32, bf16, type Out, type Tensor, type i32 } from 'mimo-kc/dsl';
export const bad = kernel({ workgroup: () => [64], grid: (c) => [c.N] }, (x: Tensor<bf16, ['N']>, y: Out<f32, ['N']>, c: { N: i32 }) => {
  y[0] = x[0] + 1.0;
});
`);
  const r = sh('npx', ['mimo-compile', 'kernels/bad.ts', '--out', 'bad-out/']);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /^kernels\/bad\.ts:3:10: error: \[kernel bad\] bf16 is a storage type/m);
  assert.not.match(r.stderr, /\n\s+at /, 'a stack trace');
});

test('the compiled kernel runs through mimo-kc/webgpu against a float64 reference, without loading the compiler', () => {
  // The hook makes any load of TypeScript or ts-morph fail: the runtime must not need them.
  write('forbid-compiler.mjs', `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent('export async function resolve(s, c, next) { if (/^(typescript|ts-morph)$/.test(s)) throw new Error("runtime loaded " + s); return next(s, c); }'));
`);
  write('run.mjs', `import { WebGpuRuntime, getGpu } from 'mimo-kc/webgpu';
import * as mine from './out/wgsl/kernels.js';
const rt = new WebGpuRuntime(await getGpu(), mine);
const bf16 = (bits) => new Float32Array(new Uint32Array([bits << 16]).buffer)[0];
let worst = 0;
for (const N of [1, 64, 1000]) {
  const x = new Uint16Array(N).map((_, i) => (0x3f80 + ((i * 37) % 251) - 125) | ((i & 1) << 15));
  const b = new Float32Array(N).map((_, i) => Math.sin(i) * 3);
  const a = -1.375;
  const { y } = await rt.run('scale_add', { tensors: { x, b, y: new Float32Array(N) }, scalars: { N, a } });
  for (let i = 0; i < N; i++) {
    const want = a * bf16(x[i]) + b[i];
    worst = Math.max(worst, Math.abs(y[i] - want) / Math.max(1, Math.abs(want)));
  }
}
console.log(JSON.stringify({ worst }));
`);
  const out = ok(sh('node', ['--import', './forbid-compiler.mjs', 'run.mjs']), 'run.mjs');
  const { worst } = JSON.parse(out.trim().split('\n').pop()!) as { worst: number };
  // One f32 multiply and add on exactly representable inputs: within 2 ulp of f32.
  assert.ok(worst <= 2 ** -22, `worst relative error ${worst}`);
});

test('without an adapter, the runtime names the set-up command instead of installing anything', () => {
  const r = sh('node', ['-e', "import('mimo-kc/webgpu').then((m) => m.getGpu()).then(() => console.log('adapter'), (e) => { console.error(e.message); process.exit(3); })"],
    { MIMO_SWIFTSHADER_DIR: path.join(work, 'no-swiftshader'), XDG_CACHE_HOME: path.join(work, 'empty-cache') });
  if (r.stdout.includes('adapter')) return console.log('  (this machine has a hardware WebGPU adapter; nothing to check)');
  assert.is(r.status, 3, r.stderr);
  assert.match(r.stderr, /Run `npx mimo-kc setup-swiftshader` once/);
  assert.not.match(r.stderr, /apt-get (install|download)|Reading package lists/);
});

test('nvcc builds the generated .cu', () => {
  const nvcc = spawnSync('nvcc', ['--version'], { encoding: 'utf8' });
  if (nvcc.status !== 0) return console.log('  (no nvcc on this machine: skipped)');
  ok(sh('nvcc', ['-arch=sm_80', '-std=c++17', '--Werror', 'all-warnings', '-Iout/cuda', '-c', 'out/cuda/scale_add.cu', '-o', path.join(work, 'scale_add.o')]), 'nvcc');
});

test('a strict TypeScript consumer type-checks, and launch mistakes are type errors', () => {
  const tsconfig = (files: string[]) => JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noUncheckedIndexedAccess: true, noEmit: true, types: [] },
    files,
  });
  write('consumer.ts', `import { WebGpuRuntime, getGpu, type DeviceTensor } from 'mimo-kc/webgpu';
import * as mine from './out/wgsl/kernels.js';
import * as builtin from 'mimo-kc/kernels/wgsl';

const gpu = await getGpu();
const rt = new WebGpuRuntime(gpu, mine);
const N = 5;
const { y } = await rt.run('scale_add', { tensors: { x: new Uint16Array(N), b: new Float32Array(N), y: new Float32Array(N) }, scalars: { N, a: 2 } });
const total: number = y.reduce((s, v) => s + v, 0);
const first: number | undefined = y[0];

const lib = new WebGpuRuntime(gpu, builtin);
const T = 2, D = 64;
const x: DeviceTensor = lib.upload('bf16', new Uint16Array(T * D));
const w: DeviceTensor = lib.upload('bf16', new Uint16Array(D));
const out: DeviceTensor = lib.allocate('bf16', T * D);
await lib.launch('rmsnorm', { x, w, y: out }, { T, D });
await lib.finish();
console.log(total, first);
`);
  write('tsconfig.json', tsconfig(['consumer.ts']));
  assert.not.match(fs.readFileSync(path.join(proj, 'consumer.ts'), 'utf8'), /\bas (unknown|any)\b/, 'the consumer needs no casts');
  ok(sh('node', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']), 'tsc on the strict consumer');

  write('mistakes.ts', `import { WebGpuRuntime, getGpu } from 'mimo-kc/webgpu';
import * as mine from './out/wgsl/kernels.js';
const rt = new WebGpuRuntime(await getGpu(), mine);
const f = new Float32Array(4), h = new Uint16Array(4);
await rt.run('scale_ad', { tensors: { x: h, b: f, y: f }, scalars: { N: 4, a: 1 } });
await rt.run('scale_add', { tensors: { x: h, y: f }, scalars: { N: 4, a: 1 } });
await rt.run('scale_add', { tensors: { x: f, b: f, y: f }, scalars: { N: 4, a: 1 } });
await rt.run('scale_add', { tensors: { x: h, b: f, y: f }, scalars: { N: 4 } });
`);
  write('tsconfig.mistakes.json', tsconfig(['mistakes.ts']));
  const r = sh('node', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.mistakes.json']);
  const lines = [...r.stdout.matchAll(/^mistakes\.ts\((\d+),\d+\): error/gm)].map((m) => Number(m[1]));
  // A wrong kernel name, a missing tensor, a Float32Array for bf16, a missing scalar.
  assert.equal([...new Set(lines)].sort((a, b) => a - b), [5, 6, 7, 8], r.stdout);
});

test('compileFiles, the compiler API, compiles the same file in memory', () => {
  const out = ok(sh('node', ['-e', `import('mimo-kc').then(({ compileFiles }) => {
    const r = compileFiles(['kernels/scale_add.ts'], { targets: ['wgsl'] });
    console.log(JSON.stringify({ kernels: r.kernels.map((k) => k.name), wgsl: Object.keys(r.targets.wgsl.sources), cuda: !!r.targets.cuda, source: r.kernels[0].file }));
  })`]), 'compileFiles');
  assert.equal(JSON.parse(out), { kernels: ['scale_add'], wgsl: ['scale_add'], cuda: false, source: 'kernels/scale_add.ts' });
});

test.run();
