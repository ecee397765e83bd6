import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { parsePtxas } from '../backends/cuda/ptxas.js';
import { NVCC } from './harness/cuda-toolkit.js';

/**
 * Every generated .cu compiles with the real nvcc for sm_80 and sm_90a with warnings as
 * errors, and ptxas reports no register spills for the default tunables.
 */
const run = promisify(execFile);
const dir = path.join(REPO_ROOT, 'generated/cuda');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cu'));
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-nvcc-'));

test('generated/cuda has a .cu per kernel', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  assert.equal(files.sort(), Object.values(manifest.kernels as Record<string, { file: string }>).map((k) => k.file).sort());
});

test('ptxas parser reads registers and spills', () => {
  const r = parsePtxas("ptxas info    : Compiling entry function 'k' for 'sm_80'\nptxas info    : Function properties for k\n    8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads\nptxas info    : Used 255 registers");
  assert.equal(r, [{ kernel: 'k', arch: 'sm_80', registers: 255, spillStores: 4, spillLoads: 4 }]);
});

// nvcc's fixed cost per invocation (front end, two host passes, fatbinary) is most of a
// small kernel's build, so files are built in batches of one translation unit each (the
// generated sources are self-contained and their symbols unique), both architectures per
// invocation, two batches at a time: the CI machine has two cores.
const ARCHS = ['sm_80', 'sm_90a'];
const BATCH = 8;
const gencode = ARCHS.flatMap((a) => ['-gencode', `arch=compute_${a.slice(3)},code=${a}`]);
const symbolOf = new Map(Object.values(JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).kernels as Record<string, { file: string; kernelSymbol: string }>).map((k) => [k.file, k.kernelSymbol]));
const unit = (name: string, members: readonly string[]): string => {
  const p = path.join(out, `${name}.cu`);
  fs.writeFileSync(p, members.map((f) => `#include "${path.join(dir, f)}"\n`).join(''));
  return p;
};
const results = new Map<string, Promise<{ stdout: string; stderr: string }>>();
const chain: Promise<unknown>[] = [Promise.resolve(), Promise.resolve()];
for (let i = 0; i * BATCH < files.length; i++) {
  const members = files.slice(i * BATCH, (i + 1) * BATCH);
  const src = unit(`batch${i}`, members);
  const p = chain[i % 2].then(() => run(NVCC, ['-std=c++17', ...gencode, '--Werror', 'all-warnings', '-Xptxas', '-v', '-c', src, '-o', `${src}.o`], { maxBuffer: 1 << 24 }));
  chain[i % 2] = p.catch(() => undefined);
  for (const f of members) results.set(f, p);
}

for (const f of files) {
  test(`nvcc ${ARCHS.join(' + ')} --Werror ${f}: compiles, no spills`, async () => {
    let log: string;
    try {
      const r = await results.get(f)!;
      log = r.stdout + r.stderr;
    } catch (e) {
      const err = e as { stderr?: string };
      assert.unreachable(`nvcc failed for the batch holding ${f}:\n${err.stderr ?? e}`);
      return;
    }
    const reports = parsePtxas(log).filter((r) => r.kernel === symbolOf.get(f));
    assert.equal([...new Set(reports.map((r) => r.arch))].sort(), [...ARCHS].sort(), `a ptxas report per architecture for ${f} (${symbolOf.get(f)})`);
    for (const r of reports) {
      assert.is(r.spillStores + r.spillLoads, 0, `${r.kernel} (${r.arch}) spills: ${r.spillStores} B stores, ${r.spillLoads} B loads`);
      assert.ok(r.registers <= 255, `${r.kernel} (${r.arch}) uses ${r.registers} registers`);
    }
  });
}

// Which hardware instructions each architecture gets for FP8, read from the PTX (what we
// asked the compiler for): the grouped GEMMs' e4m3 tensor-core MMA on sm_90a and its f16
// stand-in on sm_80; the casts' packed saturating cvt (via cuda_fp8.h) on sm_90a. One PTX
// per architecture of one unit, split into its kernels' `.entry` bodies.
const fp8Gemms = files.filter((f) => /^moe_(gate_up|down)_fp8/.test(f));
const ptxUnit = unit('ptx', [...fp8Gemms, 'cast_f32_to_e4m3.cu', 'cast_bf16_to_e5m2.cu']);
const ptxOf = new Map(['sm_80', 'sm_90a'].map((arch) => [arch, run(NVCC, ['-std=c++17', `-arch=${arch}`, '-ptx', ptxUnit, '-o', '-'], { maxBuffer: 1 << 27 }).then((r) => r.stdout)]));
const ptx = async (file: string, arch: string): Promise<string> => {
  const text = await ptxOf.get(arch)!;
  const entry = text.split(/(?=^\.(?:visible )?\.entry )/m).find((part) => part.includes(`.entry ${symbolOf.get(file)}(`));
  if (!entry) throw new Error(`no .entry ${symbolOf.get(file)} in the ${arch} PTX`);
  return entry;
};
const FP8_MMA = /mma\.sync\.aligned\.m16n8k32\.row\.col\.f32\.e4m3\.e4m3\.f32/;
const F16_MMA = /mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.f16\.f16\.f32/;
const WGMMA_E4M3 = /wgmma\.mma_async\.sync\.aligned\.m64n\d+k32\.f32\.e4m3\.e4m3/;

test('FP8 grouped GEMMs: e4m3 wgmma (eligible tiles) or m16n8k32 MMA on sm_90a, two f16 m16n8k16 on sm_80', async () => {
  assert.is(fp8Gemms.length, 4, 'four FP8 grouped GEMMs');
  for (const f of fp8Gemms) {
    const hopper = await ptx(f, 'sm_90a');
    // Tiles passes/wgmmaTile.ts takes (an `#if MIMO_SM90A_PATH` branch) use wgmma there, the rest mma.sync.
    const wgmma = fs.readFileSync(path.join(dir, f), 'utf8').includes('#if MIMO_SM90A_PATH');
    assert.match(hopper, wgmma ? WGMMA_E4M3 : FP8_MMA, `${f} sm_90a`);
    if (wgmma) assert.not.match(hopper, FP8_MMA, `${f} sm_90a: the wgmma branch has no mma.sync`);
    assert.not.match(hopper, F16_MMA, `${f} sm_90a has no f16 fallback`);
    const ampere = await ptx(f, 'sm_80');
    assert.match(ampere, F16_MMA, `${f} sm_80`);
    assert.not.match(ampere, FP8_MMA, `${f} sm_80 has no fp8 MMA`);
  }
});

test('FP8 casts use the packed saturating cvt on sm_90a', async () => {
  assert.match(await ptx('cast_f32_to_e4m3.cu', 'sm_90a'), /cvt\.rn\.satfinite\.e4m3x2\.f32/);
  assert.match(await ptx('cast_bf16_to_e5m2.cu', 'sm_90a'), /cvt\.rn\.satfinite\.e5m2x2\.f(32|16x2)/);
});

test.run();
