import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { readCudaModule } from '../backends/cuda/emu-runtime.js';
import { compileCubin, cubinArch } from '../backends/cuda/cubin.js';
import { ADDON_PATH } from '../backends/cuda/native.js';
import { launchParamTypes, openCuda, probeCuda } from '../backends/cuda/runtime.js';
import { packArray, unpackArray } from '../compiler/ir/numerics.js';
import { rmsnormRef } from './harness/reference.js';
import { NVCC } from './harness/cuda-toolkit.js';

/**
 * The native CUDA runtime: the addon builds without CUDA and says clearly why there is no
 * device; the Driver API declarations match cuda.h; the launch parameters match every
 * generated __global__ signature; nvcc builds cubins into the content-hash cache; and, on a
 * fake libcuda.so.1 (test/fixtures/fake-libcuda.c), CudaRuntime's allocation, copies, views,
 * launches (grid, block, each parameter's bytes), timing and error paths. A real kernel on a
 * real GPU runs only where there is one; elsewhere that test prints why it is skipped.
 */
const module = readCudaModule();
const CUDA_H = path.join(process.env.CUDA_INCLUDE ?? '/usr/local/cuda/include', 'cuda.h');
const has = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
const skip = (why: string) => console.log(`  skipped: ${why}`);
// Whether the dynamic loader can find a driver, asked of ldconfig rather than of the addon.
const driverOnPath = () => /\blibcuda\.so\.1\b/.test(spawnSync('ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '')
  || (process.env.LD_LIBRARY_PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, 'libcuda.so.1')));
const NO_DRIVER = 'no CUDA device: the NVIDIA driver library libcuda.so.1 was not found (libcuda.so.1: cannot open shared object file: No such file or directory)';

test('the addon builds with node-gyp from Node headers (no CUDA toolkit or driver), and a rebuild is a no-op', () => {
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'backends/cuda/native/build.mjs')], { stdio: 'pipe' });
  assert.ok(fs.existsSync(ADDON_PATH), ADDON_PATH);
  const built = fs.statSync(ADDON_PATH).mtimeMs;
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'backends/cuda/native/build.mjs')], { stdio: 'pipe' });
  assert.is(fs.statSync(ADDON_PATH).mtimeMs, built);
});

test('without a driver: probe() and openCuda() say "no CUDA device" and why', async () => {
  if (driverOnPath()) return skip('this machine has libcuda.so.1 (the GPU test below covers it)');
  assert.equal(probeCuda(), { ok: false, reason: NO_DRIVER });
  try {
    await openCuda();
    assert.unreachable('openCuda() succeeded without a driver');
  } catch (e) {
    assert.is((e as Error).message, NO_DRIVER);
  }
});

test('cubinArch: sm_90 builds as sm_90a, below sm_80 is refused', () => {
  assert.is(cubinArch([8, 0]), 'sm_80');
  assert.is(cubinArch([8, 9]), 'sm_89');
  assert.is(cubinArch([9, 0]), 'sm_90a');
  assert.is(cubinArch([12, 0]), 'sm_120');
  assert.throws(() => cubinArch([7, 5]), /compute capability 7\.5 is too old: the generated kernels need sm_80 or newer/);
});

test('launch parameter types match every generated __global__ signature', () => {
  const LETTER: Record<string, string> = { int: 'i', unsigned: 'u', float: 'f' };
  for (const m of Object.values(module.manifest.kernels)) {
    const src = module.sources[m.name];
    const sig = new RegExp(`__global__ void __launch_bounds__\\(\\d+(?:, \\d+)?\\) ${m.kernelSymbol}\\(([^)]*)\\)`).exec(src);
    assert.ok(sig, `${m.file}: no __global__ ${m.kernelSymbol}`);
    const fromSource = sig![1].split(',').map((p) => (p.includes('*') ? 'p' : LETTER[p.trim().split(/\s+/).slice(-2)[0]] ?? `?${p}`)).join('');
    assert.is(launchParamTypes(m), fromSource, m.name);
  }
});

test('cuda_driver.h declares every entry point and constant as cuda.h does', () => {
  if (!fs.existsSync(CUDA_H)) return skip(`no ${CUDA_H} to compare with`);
  const native = path.join(REPO_ROOT, 'backends/cuda/native');
  execFileSync('g++', ['-std=c++17', '-fsyntax-only', '-Wall', '-Werror', `-I${path.dirname(CUDA_H)}`, path.join(native, 'abi_check.cc')], { stdio: 'pipe' });
});

test('nvcc builds a generated kernel into the cubin cache for sm_80 and sm_90a; the second call hits it', async () => {
  if (!has(NVCC)) return skip(`${NVCC} is not installed`);
  const m = module.manifest.kernels.rmsnorm;
  const src = module.sources.rmsnorm;
  // Evict what an earlier run left, so that the first call compiles.
  for (const arch of ['sm_80', 'sm_90a']) fs.rmSync((await compileCubin(m.name, src, arch)).file);
  const first = await Promise.all(['sm_80', 'sm_90a'].map((arch) => compileCubin(m.name, src, arch)));
  const again = await Promise.all(['sm_80', 'sm_90a'].map((arch) => compileCubin(m.name, src, arch)));
  assert.equal(first.map((c) => c.cached), [false, false]);
  assert.equal(again, first.map((c) => ({ ...c, cached: true })));
  assert.is.not(first[0].file, first[1].file);
  first.forEach((c, i) => {
    const elf = fs.readFileSync(c.file);
    assert.is(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
    assert.is(elf.readUInt16LE(0x12), 190, 'e_machine EM_CUDA');
    // A cubin's e_flags carry the SM version in bits 8..15.
    assert.is((elf.readUInt32LE(0x30) >> 8) & 0xff, [80, 90][i]);
    assert.ok(elf.includes(`.text.${m.kernelSymbol}\0`), 'the kernel is in the cubin');
  });
});

/** The fake driver, built for this run; undefined (with the reason printed) where it cannot be. */
function fakeDriver(): string | undefined {
  if (!fs.existsSync(CUDA_H)) return void skip(`no ${CUDA_H} to build the fake driver against`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-fake-cuda-'));
  execFileSync('gcc', ['-std=gnu11', '-Wall', '-Werror', '-shared', '-fPIC', `-I${path.dirname(CUDA_H)}`, '-o', path.join(dir, 'libcuda.so.1'), path.join(REPO_ROOT, 'test/fixtures/fake-libcuda.c')], { stdio: 'pipe' });
  return dir;
}
let fake: string | undefined | null = null;
const fakeEnv = (extra: Record<string, string>) => ({ ...process.env, LD_LIBRARY_PATH: (fake ??= fakeDriver())!, ...extra });

test('a driver without a usable device: cuInit\'s error, or zero devices', () => {
  if ((fake ??= fakeDriver()) === undefined) return;
  const probe = (mode: string) => JSON.parse(execFileSync(process.execPath, ['-e', `console.log(JSON.stringify(require(${JSON.stringify(ADDON_PATH)}).probe()))`], { env: fakeEnv({ MIMO_FAKE_CUDA: mode }), encoding: 'utf8' }));
  assert.equal(probe('no-device'), { ok: false, reason: 'no CUDA device: cuInit failed: CUDA_ERROR_NO_DEVICE 100 (no CUDA-capable device is detected)' });
  assert.equal(probe('zero'), { ok: false, reason: 'no CUDA device: the driver (CUDA 12.8) reports 0 devices' });
  assert.equal(probe('gpu'), { ok: true, driverVersion: 12080, devices: [{ name: 'Fake H100', cc: [9, 0], sms: 132, memBytes: 80 * 2 ** 30 }] });
});

test('CudaRuntime on the fake driver: memory, copies, views, launch parameters, timing, errors', () => {
  if ((fake ??= fakeDriver()) === undefined) return;
  if (!has(NVCC)) return skip(`${NVCC} is not installed`);
  const log = path.join(fake, 'launches.log');
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'test/fixtures/cuda-fake-session.ts')], {
    env: fakeEnv({ MIMO_FAKE_CUDA: 'gpu', MIMO_FAKE_CUDA_LOG: log, MIMO_FAKE_CUDA_PARAMS: 'mimo_rmsnorm_kernel=5,mimo_sample_token_kernel=9' }), encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.device, { name: 'Fake H100', cc: [9, 0], sms: 132, memBytes: 80 * 2 ** 30, ordinal: 0, arch: 'sm_90a' });
  assert.is(out.maxBindingBytes, 80 * 2 ** 30);
  assert.equal(out.zeroed, [0, 0, 0, 0, 0, 0, 0, 0], 'new buffers are zeroed (the fake fills them with 0xA5)');
  assert.equal(out.copied, [3, 4, 5, 6, 9, 10, 0, 0], 'copy() of a[2..6] to b[0..4], write() of [9, 10] at b[4]');
  assert.equal(out.view, [5, 6, 7, 8], 'download of a view at byte offset 16');
  assert.is(out.timedMs, 0.5, 'two timed launches of 0.25 ms each on the fake clock');
  const p = out.pointers as Record<string, string>;
  const hex = (v: number) => (v >>> 0).toString(16);
  const f32 = (v: number) => {
    const dv = new DataView(new ArrayBuffer(4));
    dv.setFloat32(0, v, true);
    return hex(dv.getUint32(0, true));
  };
  const y = (BigInt(`0x${p.y}`) + 256n).toString(16);
  const rmsnorm = `mimo_rmsnorm_kernel grid 3 1 1 block 128 1 1 shared 0 params ${p.x} ${p.w} ${y} ${hex(3)} ${hex(64)}`;
  assert.equal(fs.readFileSync(log, 'utf8').trimEnd().split('\n'), [
    rmsnorm,
    `mimo_sample_token_kernel grid 2 1 1 block 256 1 1 shared 0 params ${p.logits} ${p.ids} ${hex(2)} ${hex(16)} ${f32(0.7)} ${hex(5)} ${f32(0.9)} deadbeef ${hex(3)}`,
    rmsnorm,
    // 64 KiB of shared memory (test/fixtures/shared-memory.ts): CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES (8) once.
    'mimo_smem_overlap_kernel attribute 8 = 65536',
    'mimo_smem_overlap_kernel grid 1 1 1 block 256 1 1 shared 65536 params',
    'mimo_smem_overlap_kernel grid 1 1 1 block 256 1 1 shared 65536 params',
  ]);
  assert.is(out.unaligned, "[kernel rmsnorm] argument 'y': bf16[192] at offset 128 does not fit a 640-byte buffer at a 256-byte-aligned offset");
  assert.is(out.emptyGrid, 'no error', 'an empty grid launches nothing');
  assert.is(out.syncError, '[kernel rmsnorm] cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS 700 (an illegal memory access was encountered)');
  assert.is(out.afterClose, 'kernel rmsnorm: the CudaRuntime is closed');
});

test('GPU: rmsnorm on the device matches a float64 reference', async () => {
  const probe = probeCuda();
  if (!probe.ok) return skip(probe.reason);
  const rt = await openCuda();
  try {
    const [T, D] = [5, 320];
    const x = packArray('bf16', Array.from({ length: T * D }, (_, i) => Math.sin(i * 0.37) * 3)) as Uint16Array;
    const w = packArray('bf16', Array.from({ length: D }, (_, i) => 0.5 + (i % 7) / 8)) as Uint16Array;
    const { y } = await rt.run('rmsnorm', { tensors: { x, w, y: new Uint16Array(T * D) }, scalars: { T, D } });
    const want = rmsnormRef(unpackArray('bf16', x), unpackArray('bf16', w), T, D);
    const got = unpackArray('bf16', y);
    // One bf16 rounding of the output (2^-9 relative), with room for the device's rsqrtf and sum order.
    want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 2 ** -7 * Math.abs(v) + 1e-6, `y[${i}] = ${got[i]}, want ${v}`));
  } finally {
    rt.close();
  }
});

test.run();
