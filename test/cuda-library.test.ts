import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { mergePartial } from '../compiler/cli/merge.js';
import { NVCC, CUDA_INCLUDE } from './harness/cuda-toolkit.js';

/**
 * The CUDA output as a library for C/C++ engines (compiler/codegen/cuda/library.ts): an
 * `--ops` folder of three kernels builds with its own CMakeLists.txt (unity build, sm_80)
 * into libmimo_kernels.{a,so}, and examples/cuda links it; the same main.cpp built against
 * the CPU emulator runs and matches its float64 reference; below sm_80, and below what
 * --arch asked for, nvcc stops with our #error. A subset keeps the build within the suite's
 * budget (all 60 kernels for one architecture take about a minute here); test/nvcc.test.ts
 * compiles every kernel.
 */
const run = promisify(execFile);
const EMU_INCLUDE = path.join(REPO_ROOT, 'backends/cuda/include');
const EXAMPLE = path.join(REPO_ROOT, 'examples/cuda');
const KERNELS = ['gemm_bf16', 'rmsnorm', 'swiglu'];

const missing = (['cmake', NVCC] as const).filter((tool) => {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
});
if (missing.length) console.log(`cuda-library: skipping the CMake and nvcc checks: ${missing.join(' and ')} not found (set NVCC to nvcc's path)`);
const needsTools = missing.length ? test.skip : test;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-cuda-lib-'));
const lib = path.join(tmp, 'lib');
const hopper = path.join(tmp, 'hopper');
const compile = (...args: string[]) => run(process.execPath, [path.join(REPO_ROOT, 'bin/mimo-compile.js'), '--target', 'cuda', '--tuning', 'none', ...args], { cwd: REPO_ROOT });
// Two CLI runs at once, then everything that reads their folders, each on its own chain.
const libReady = compile('--ops', `{${KERNELS.join(',')}}`, '--out', lib);
const hopperReady = compile('--ops', 'rmsnorm', '--arch', 'sm_90a', '--out', hopper);
// Failures are reported by the tests that await these; until then they are not unhandled.
for (const p of [libReady, hopperReady]) p.catch(() => undefined);
const failed = (e: unknown) => {
  const err = e as { stdout?: string; stderr?: string; message?: string };
  return `${err.message ?? e}\n${err.stdout ?? ''}${err.stderr ?? ''}`;
};
// Preprocessing runs every architecture's device pass up to the #error checks, in a fraction
// of a compile's time.
const preprocess = (arch: string | undefined, file: string) => run(NVCC, ['-std=c++17', ...(arch ? [`-arch=${arch}`] : []), '-E', file, '-o', os.devNull]).then(
  () => ({ ok: true, log: '' }),
  (e: { stderr?: string }) => ({ ok: false, log: e.stderr ?? String(e) }),
);

const build = path.join(tmp, 'build');
const cmakeBuild = missing.length ? undefined : libReady.then(async () => {
  await run('cmake', ['-S', EXAMPLE, '-B', build, `-DMIMO_KERNELS_DIR=${path.join(lib, 'cuda')}`, '-DCMAKE_CUDA_ARCHITECTURES=80', `-DCMAKE_CUDA_COMPILER=${NVCC}`, '-DMIMO_KERNELS_UNITY=ON'], { maxBuffer: 1 << 24 });
  await run('cmake', ['--build', build, '-j', '2'], { maxBuffer: 1 << 24 });
  await run('cmake', ['--install', build, '--prefix', path.join(tmp, 'install')], { maxBuffer: 1 << 24 });
});
cmakeBuild?.catch(() => undefined);
const emuRun = libReady.then(async () => {
  const exe = path.join(tmp, 'example-emu');
  const cu = KERNELS.map((k) => path.join(lib, 'cuda', `${k}.cu`));
  await run('g++', ['-std=c++17', '-O1', '-Wall', '-Werror', '-DMIMO_HOST_EMU', `-I${path.join(lib, 'cuda')}`, `-I${EMU_INCLUDE}`, `-I${CUDA_INCLUDE}`, '-x', 'c++', ...cu, path.join(EXAMPLE, 'main.cpp'), '-o', exe]);
  return run(exe, []);
});
emuRun.catch(() => undefined);
const archChecks = missing.length ? undefined : Promise.all([libReady, hopperReady]).then(async () => {
  const rmsnorm = path.join(lib, 'cuda/rmsnorm.cu');
  const hopperRmsnorm = path.join(hopper, 'cuda/rmsnorm.cu');
  return {
    sm75: await preprocess('sm_75', rmsnorm),
    nvccDefault: await preprocess(undefined, rmsnorm),
    hopperOnSm80: await preprocess('sm_80', hopperRmsnorm),
    hopperOnSm90a: await preprocess('sm_90a', hopperRmsnorm),
  };
});
archChecks?.catch(() => undefined);

const read = (...p: string[]) => fs.readFileSync(path.join(...p), 'utf8');
const cmakeSources = (cmake: string): string[] => {
  const m = /^set\(MIMO_KERNELS_CU\n([\s\S]*?)\n\)$/m.exec(cmake);
  assert.ok(m, 'CMakeLists.txt sets MIMO_KERNELS_CU');
  return m[1].split('\n').map((l) => l.trim()).sort();
};
const launchers = (header: string): string[] => header.split('\n').filter((l) => l.startsWith('cudaError_t ')).sort();
/** The committed full header's line for each launcher: the signatures a subset must reproduce. */
const fullHeader = read(REPO_ROOT, 'generated/cuda/mimo_kernels.h');
const fullLine = (k: string) => fullHeader.split('\n').find((l) => l.startsWith(`cudaError_t mimo_${k}(`));

test('--ops: mimo_kernels.h and CMakeLists.txt for exactly the selected kernels, no emulator header', async () => {
  await libReady;
  const dir = path.join(lib, 'cuda');
  const files = fs.readdirSync(dir).sort();
  // The prelude travels with the device-function headers it includes (mimo_ldmatrix.cuh, ...), never the emulator's.
  assert.equal(files.filter((f) => !f.endsWith('.cuh')), ['CMakeLists.txt', ...KERNELS.map((k) => `${k}.cu`), 'manifest.json', 'mimo_kernels.h'].sort());
  assert.ok(files.includes('mimo_prelude.cuh') && files.includes('mimo_ldmatrix.cuh'), `prelude headers missing: ${files.join(', ')}`);
  assert.equal(launchers(read(dir, 'mimo_kernels.h')), KERNELS.map(fullLine).sort(), 'the launchers of the full header, nothing else');
  assert.equal(cmakeSources(read(dir, 'CMakeLists.txt')), KERNELS.map((k) => `${k}.cu`));
  assert.match(read(dir, 'CMakeLists.txt'), /set\(CMAKE_CUDA_ARCHITECTURES "80;90a"\)/);
});

test('generated/cuda: CMakeLists.txt lists exactly its .cu files; the emulator header is not there', () => {
  const dir = path.join(REPO_ROOT, 'generated/cuda');
  const cu = fs.readdirSync(dir).filter((f) => f.endsWith('.cu')).sort();
  assert.equal(cmakeSources(read(dir, 'CMakeLists.txt')), cu);
  assert.not.ok(fs.existsSync(path.join(dir, 'mimo_cuda_emu.h')), 'mimo_cuda_emu.h belongs to backends/cuda/include');
});

test('--arch sm_90a: CMake builds 90a by default; the sources refuse a lower architecture', async () => {
  await hopperReady;
  const dir = path.join(hopper, 'cuda');
  assert.equal(launchers(read(dir, 'mimo_kernels.h')), [fullLine('rmsnorm')]);
  assert.equal(cmakeSources(read(dir, 'CMakeLists.txt')), ['rmsnorm.cu']);
  assert.match(read(dir, 'CMakeLists.txt'), /set\(CMAKE_CUDA_ARCHITECTURES "90a"\)/);
  assert.is(JSON.parse(read(dir, 'manifest.json')).arch, 'sm_90a');
});

test('an --ops run into a folder merges the header and CMakeLists.txt; refuses another --arch', async () => {
  await libReady;
  // The folder as an --ops '{rmsnorm,swiglu}' run leaves it, then this run's gemm_bf16 on top.
  const old = path.join(tmp, 'merge');
  fs.cpSync(lib, old, { recursive: true });
  const manifest = JSON.parse(read(old, 'cuda/manifest.json'));
  const gemm = manifest.kernels.gemm_bf16;
  delete manifest.kernels.gemm_bf16;
  fs.writeFileSync(path.join(old, 'cuda/manifest.json'), JSON.stringify(manifest));
  fs.rmSync(path.join(old, 'cuda/gemm_bf16.cu'));
  const fresh = (arch: string) => new Map([
    ['cuda/manifest.json', JSON.stringify({ ...manifest, arch, kernels: { gemm_bf16: gemm } })],
    ['cuda/gemm_bf16.cu', read(lib, 'cuda/gemm_bf16.cu')],
    ['cuda/mimo_kernels.h', 'this run alone'],
    ['cuda/CMakeLists.txt', 'this run alone'],
  ]);
  const files = fresh('sm_80');
  mergePartial(files, old);
  assert.equal(Object.keys(JSON.parse(files.get('cuda/manifest.json')!).kernels).sort(), KERNELS);
  assert.equal(launchers(files.get('cuda/mimo_kernels.h')!), KERNELS.map(fullLine).sort());
  assert.equal(cmakeSources(files.get('cuda/CMakeLists.txt')!), KERNELS.map((k) => `${k}.cu`));
  assert.throws(() => mergePartial(fresh('sm_90a'), old), /--arch sm_90a: .*manifest\.json was generated with --arch sm_80/);
  fs.rmSync(path.join(old, 'cuda/swiglu.cu'));
  assert.throws(() => mergePartial(fresh('sm_80'), old), /lists kernel swiglu in swiglu\.cu, which is missing/);
});

needsTools('CMake: libmimo_kernels (unity, sm_80) static + shared, examples/cuda linked against it, install', async () => {
  try {
    await cmakeBuild;
  } catch (e) {
    assert.unreachable(`CMake build of examples/cuda against the --ops library failed:\n${failed(e)}`);
  }
  assert.ok(fs.existsSync(path.join(build, 'mimo_example')), 'the example executable');
  const exported = execFileSync('nm', ['-D', '--defined-only', path.join(build, 'mimo_kernels/libmimo_kernels.so')], { encoding: 'utf8' });
  for (const k of KERNELS) assert.match(exported, new RegExp(` T mimo_${k}$`, 'm'), `libmimo_kernels.so exports mimo_${k}`);
  const archive = execFileSync('nm', ['--defined-only', path.join(build, 'mimo_kernels/libmimo_kernels.a')], { encoding: 'utf8' });
  for (const k of KERNELS) assert.match(archive, new RegExp(` T mimo_${k}$`, 'm'), `libmimo_kernels.a defines mimo_${k}`);
  const inst = path.join(tmp, 'install');
  for (const f of ['include/mimo_kernels/mimo_kernels.h', 'lib/cmake/mimo_kernels/mimo_kernelsConfig.cmake', 'lib/cmake/mimo_kernels/mimo_kernels_targets.cmake']) {
    assert.ok(fs.existsSync(path.join(inst, f)), `cmake --install wrote ${f}`);
  }
  assert.ok(fs.readdirSync(path.join(inst, 'lib')).some((f) => f === 'libmimo_kernels.so') && fs.existsSync(path.join(inst, 'lib/libmimo_kernels.a')), 'installed both libraries');
});

test('examples/cuda/main.cpp on the CPU emulator: three launchers match the float64 reference', async () => {
  let out: string;
  try {
    out = (await emuRun).stdout;
  } catch (e) {
    assert.unreachable(`emulator build or run of examples/cuda/main.cpp failed:\n${failed(e)}`);
    return;
  }
  for (const k of KERNELS) assert.match(out, new RegExp(`^mimo_${k} .*: \\d+ values, max \\|err\\|/tol = [0-9.]+ ok$`, 'm'), `mimo_${k} checked:\n${out}`);
  assert.match(out, /^mimo_rmsnorm T=-1: invalid argument ok$/m);
});

needsTools('nvcc below sm_80, or below what --arch asked for: our #error, not an unknown identifier', async () => {
  const r = (await archChecks)!;
  const floor = /#error "mimo-kc kernels need sm_80 or newer \(compiled for __CUDA_ARCH__ = 750, sm_75\)/;
  assert.not.ok(r.sm75.ok, 'sm_75 must not compile');
  assert.match(r.sm75.log, floor);
  assert.not.match(r.sm75.log, /is undefined/);
  // nvcc's default architecture (sm_75 in CUDA 13): the same message, unless a later nvcc defaults to sm_80+.
  if (!r.nvccDefault.ok) assert.match(r.nvccDefault.log, /mimo-kc kernels need sm_80 or newer/);
  assert.not.ok(r.hopperOnSm80.ok, '--arch sm_90a output must not compile for sm_80');
  assert.match(r.hopperOnSm80.log, /mimo-kc kernel rmsnorm was generated with --arch sm_90a: it needs sm_90 or newer/);
  assert.ok(r.hopperOnSm90a.ok, `--arch sm_90a output passes the checks for sm_90a:\n${r.hopperOnSm90a.log}`);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test.run();
