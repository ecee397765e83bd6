import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { findNvdisasm } from '../compiler/report/tools.js';
import { CUDA_INCLUDE, NVCC } from './harness/cuda-toolkit.js';

/**
 * wgmma (backends/cuda/include/mimo_wgmma.cuh) on the CPU emulator and through nvcc for sm_90a.
 * backends/cuda/emu/wgmma_selftest.cu checks e4m3 and bf16 wgmmas (N = 8 .. 256, every swizzle,
 * scaleD 0 and 1, several k steps; bf16 B K-major and MN-major) against a float64 reference
 * decoded with cuda_fp8.h / cuda_bf16.h, within f32 summation error, and three lying descriptors
 * (or transpose flags) that must miss;
 * wgmma_fp8_gemm_demo.cu is a 128 x 128 block-tile FP8 GEMM with per-128-K scale promotion on
 * an odd shape. The SASS of the sm_90a build must hold the Hopper tensor-core instructions.
 */
const run = promisify(execFile);
const INCLUDE = path.join(REPO_ROOT, 'backends/cuda/include');
const EMU = path.join(REPO_ROOT, 'backends/cuda/emu');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-wgmma-'));

async function emuBuild(name: string): Promise<string> {
  const exe = path.join(dir, name);
  await run('g++', ['-x', 'c++', '-std=c++17', '-O1', '-Wall', '-Werror', '-DMIMO_HOST_EMU', `-I${INCLUDE}`, `-I${CUDA_INCLUDE}`, '-o', exe, path.join(EMU, `${name}.cu`)]);
  return exe;
}
const exited = (p: Promise<{ stdout: string; stderr: string }>) =>
  p.then((r) => ({ code: 0, ...r }), (e: { code: number | null; signal?: string; stdout: string; stderr: string }) => ({ code: e.code ?? e.signal, stdout: e.stdout, stderr: e.stderr }));

// The builds start together (the file's wall time is the slowest one); each test awaits its own.
// The no-op catch keeps a failed build from being an unhandled rejection before its test reports it.
const started = <T>(p: Promise<T>): Promise<T> => (p.catch(() => undefined), p);
const selftest = started(emuBuild('wgmma_selftest'));
const demo = started(emuBuild('wgmma_fp8_gemm_demo'));
const nvccAvailable = run(NVCC, ['--version']).then(() => true, () => false);
const cubins = started(nvccAvailable.then((ok) => (ok ? run(NVCC, ['-cubin', '-std=c++17', '-arch=sm_90a', '--Werror', 'all-warnings', `-I${INCLUDE}`, '-odir', dir, path.join(EMU, 'wgmma_selftest.cu'), path.join(EMU, 'wgmma_fp8_gemm_demo.cu')], { maxBuffer: 1 << 26 }) : null)));
const nvdisasm = findNvdisasm();
const sm80Source = path.join(dir, 'sm80.cu');
fs.writeFileSync(sm80Source, '#include "mimo_prelude.cuh"\n__global__ void k(float* o) { float d[4] = {}; mimo_wgmma_fence(); mimo_wgmma_m64nNk32_e4m3<8>(d, 0, 0, 0); o[0] = d[0]; }\n');
const sm80 = nvccAvailable.then((ok) => (ok ? exited(run(NVCC, ['-cubin', '-std=c++17', '-arch=sm_80', `-I${INCLUDE}`, '-o', path.join(dir, 'sm80.cubin'), sm80Source])) : null));

test('mimo_wgmma_ops.cuh is what scripts/gen-wgmma-ops.mjs writes', async () => {
  const r = await exited(run(process.execPath, [path.join(REPO_ROOT, 'scripts/gen-wgmma-ops.mjs'), '--check']));
  assert.is(r.code, 0, r.stderr);
});

test('emulated wgmma e4m3/bf16 (B K-major and MN-major) match float64; lying descriptors miss', async () => {
  const r = await exited(run(await selftest, []));
  const lines = r.stdout.trim().split('\n');
  assert.is(lines.filter((l) => l.startsWith('PASS')).length, 18, r.stdout);
  assert.match(r.stdout, /wgmma selftest: 18 passed, 0 failed/);
  for (const sw of ['m64n128k16 B MN-major swizzle 1', 'm64n256k16 B MN-major swizzle 2', 'm64n32k16 B MN-major swizzle 3', 'm64n16k16 B MN-major swizzle 0']) assert.ok(lines.some((l) => l.startsWith(`PASS bf16 ${sw}`)), sw);
  assert.match(r.stdout, /PASS bf16 m64n64k16 B MN-major .*read as K-major: must miss/);
  assert.match(r.stdout, /PASS e4m3 m64n256k32/);
  assert.match(r.stdout, /PASS bf16 m64n256k16 swizzle 1, 4 k steps/);
  assert.match(r.stdout, /PASS e4m3 .*descriptor claims no swizzle: must miss/);
  assert.is(r.code, 0);
});

test('emulated wgmma stops on a block that is not whole warpgroups, or a warpgroup missing a thread', async () => {
  const exe = await selftest;
  const partial = await exited(run(exe, ['--block96']));
  assert.match(partial.stderr, /kernel 'broken_warpgroup'.*mimo_wgmma_m64nNk32_e4m3: the block has 96 threads; wgmma needs whole warpgroups \(a multiple of 128\)/);
  const early = await exited(run(exe, ['--early-return']));
  assert.match(early.stderr, /thread 5 of warpgroup 0 has returned; wgmma needs all 128 threads/);
});

test('128 x 128 block-tile FP8 GEMM (2 warpgroups, 128B swizzle, per-128-K promotion) matches float64 on 100 x 200 x 384', async () => {
  const r = await exited(run(await demo, []));
  assert.match(r.stdout, /wgmma fp8 GEMM demo 100x200x384: 0 of 20000 outside the f32 bound/, r.stdout + r.stderr);
  assert.is(r.code, 0);
});

test('sm_90a build: no warnings; SASS holds HGMMA (bf16) and QGMMA (e4m3), one per wgmma shape', async () => {
  if (!(await nvccAvailable)) {
    console.log(`  skipped: ${NVCC} does not run (set NVCC to a CUDA 12+ nvcc)`);
    return;
  }
  await cubins;
  const dis = await nvdisasm;
  if (!('path' in dis)) {
    console.log(`  SASS check skipped: ${dis.why}`);
    return;
  }
  const sass = async (name: string) => (await run(dis.path, [path.join(dir, `${name}.cubin`)], { maxBuffer: 1 << 26 })).stdout;
  const self = await sass('wgmma_selftest');
  for (const n of [8, 64, 128, 256]) {
    assert.match(self, new RegExp(`HGMMA\\.64x${n}x16\\.F32\\.BF16`), `bf16 m64n${n}k16 is not an HGMMA`);
    assert.match(self, new RegExp(`QGMMA\\.64x${n}x32\\.F32\\.E4M3\\.E4M3`), `e4m3 m64n${n}k32 is not a QGMMA`);
  }
  const gemm = await sass('wgmma_fp8_gemm_demo');
  assert.is((gemm.match(/QGMMA\.64x128x32\.F32\.E4M3\.E4M3/g) ?? []).length, 4, 'the demo issues 4 k steps of m64n128k32 per K block');
  assert.not.match(gemm, /\bHMMA\b|F2FP/, 'the demo fell back to emulated FP8 (HMMA + F2FP)');
});

test('a kernel calling wgmma, built for sm_80, stops with an error naming sm_90a', async () => {
  const r = await sm80;
  if (!r) return;
  assert.ok(r.code !== 0, 'sm_80 build of a wgmma kernel succeeded');
  assert.match(r.stderr, /wgmma needs sm_90a; compile with -arch=sm_90a/);
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

test.run();
