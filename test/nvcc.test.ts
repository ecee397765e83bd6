import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { parsePtxas } from '../backends/cuda/ptxas.js';

/**
 * Every generated .cu compiles with the real nvcc for sm_80 and sm_90a with warnings as
 * errors, and ptxas reports no register spills for the default tunables.
 */
const run = promisify(execFile);
const NVCC = process.env.NVCC ?? 'nvcc';
const dir = path.join(REPO_ROOT, 'generated/cuda');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cu'));
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-nvcc-'));

test('generated/cuda has a .cu per kernel', () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  assert.equal(files.sort(), Object.values(manifest.kernels as Record<string, { file: string }>).map((k) => k.file).sort());
});

test('ptxas parser reads registers and spills', () => {
  const r = parsePtxas("ptxas info    : Compiling entry function 'k' for 'sm_80'\nptxas info    : Function properties for k\n    8 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads\nptxas info    : Used 255 registers");
  assert.equal(r, [{ kernel: 'k', registers: 255, spillStores: 4, spillLoads: 4 }]);
});

// Two nvcc at a time: the CI machine has two cores.
const jobs = files.flatMap((f) => ['sm_80', 'sm_90a'].map((arch) => ({ f, arch })));
const results = new Map<string, Promise<{ stdout: string; stderr: string }>>();
let chain: Promise<unknown>[] = [Promise.resolve(), Promise.resolve()];
jobs.forEach((j, i) => {
  const slot = i % 2;
  const p = chain[slot].then(() =>
    run(NVCC, ['-std=c++17', `-arch=${j.arch}`, '--Werror', 'all-warnings', '-Xptxas', '-v', '-c', path.join(dir, j.f), '-o', path.join(out, `${j.f}.${j.arch}.o`)], { maxBuffer: 1 << 24 }),
  );
  chain[slot] = p.catch(() => undefined);
  results.set(`${j.f} ${j.arch}`, p);
});

for (const j of jobs) {
  test(`nvcc -arch=${j.arch} --Werror ${j.f}: compiles, no spills`, async () => {
    let log: string;
    try {
      const r = await results.get(`${j.f} ${j.arch}`)!;
      log = r.stdout + r.stderr;
    } catch (e) {
      const err = e as { stderr?: string };
      assert.unreachable(`nvcc failed for ${j.f} (${j.arch}):\n${err.stderr ?? e}`);
      return;
    }
    const reports = parsePtxas(log);
    assert.ok(reports.length >= 1, `no ptxas report for ${j.f}:\n${log}`);
    for (const r of reports) {
      assert.is(r.spillStores + r.spillLoads, 0, `${r.kernel} (${j.arch}) spills: ${r.spillStores} B stores, ${r.spillLoads} B loads`);
      assert.ok(r.registers <= 255, `${r.kernel} uses ${r.registers} registers`);
    }
  });
}

test.after(() => fs.rmSync(out, { recursive: true, force: true }));
test.run();
