import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { parseSass } from '../compiler/report/sass.js';
import { MACHINES, occupancy } from '../compiler/report/machine.js';
import { findNvdisasm } from '../compiler/report/tools.js';
import { formatReport } from '../compiler/report/format.js';
import { NVCC } from './harness/cuda-toolkit.js';

/**
 * mimo-report: the SASS parser on captured nvdisasm output (test/fixtures/sass, expected
 * counts read off the fixtures by hand), the occupancy rules on hand-worked cases, and
 * the CLI on three kernels (one nvcc build each run). With nvdisasm set up
 * (scripts/setup-cuda-tools.sh) the sm_80 build of the bf16 GEMM must contain HMMA, so
 * a change that drops the tensor-core path fails here.
 */
const run = promisify(execFile);
const fixture = (f: string) => fs.readFileSync(path.join(REPO_ROOT, 'test/fixtures/sass', f), 'utf8');
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [path.join(REPO_ROOT, 'bin/mimo-report.js'), ...args], { cwd: REPO_ROOT, env: { ...process.env, NVCC, ...env }, maxBuffer: 1 << 26 })
    .then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }));
const nvdisasm = findNvdisasm();

test('SASS mix of the sm_90a bf16 GEMM: two bf16 HMMAs, 16-bit loads, three barriers', () => {
  const mix = parseSass(fixture('gemm_bf16_sm_90a.sass'));
  assert.equal([...mix.keys()], ['mimo_gemm_bf16_kernel']);
  const m = mix.get('mimo_gemm_bf16_kernel')!;
  assert.equal(m.tensor, [{ opcode: 'HMMA.16816.F32.BF16', count: 2, flops: 2 * 16 * 8 * 16 }]);
  assert.equal({ total: m.total, ffma: m.ffma, ldg: m.ldg, stg: m.stg, bar: m.bar, ldgsts: m.ldgsts, ldsm: m.ldsm, tma: m.tma }, { total: 483, ffma: 0, ldg: { 16: 14 }, stg: 5, bar: 3, ldgsts: 0, ldsm: 0, tma: 0 });
});

test('SASS mix of the emulated FP8 MMA on sm_90a: f16 HMMAs fed by e4m3 -> f16 conversions', () => {
  const m = parseSass(fixture('moe_gate_up_fp8_sm_90a.excerpt.sass')).get('mimo_moe_gate_up_fp8_kernel')!;
  assert.equal(m.tensor, [{ opcode: 'HMMA.16816.F32', count: 4, flops: 4096 }]);
  assert.equal({ cvt: m.cvt, total: m.total }, { cvt: 16, total: 40 });
});

test('SASS mix of the probe: cp.async, ldmatrix, 64- and 128-bit loads; HFMA2.MMA is no tensor op', () => {
  const m = parseSass(fixture('probe_sm_80.sass')).get('_Z5probePK6float4PKdPf')!;
  assert.equal({ ldgsts: m.ldgsts, ldsm: m.ldsm, ldg: m.ldg, bar: m.bar, ffma: m.ffma, cvt: m.cvt, tensor: m.tensor, total: m.total },
    { ldgsts: 1, ldsm: 1, ldg: { 64: 1, 128: 1 }, bar: 1, ffma: 1, cvt: 2, tensor: [], total: 31 });
});

test('occupancy on the H200: register-, shared-memory- and thread-limited blocks', () => {
  const h200 = MACHINES.sm_90a;
  // 48 regs x 32 lanes = 1536 per warp -> 42 warps -> 10 blocks of 4 warps = 40 of 64 warps.
  assert.equal(occupancy(h200, 128, 48, 6144), { blocksPerSm: 10, fraction: 40 / 64, limit: 'registers' });
  // 100 KiB + the 1 KiB reserved per block: two fit in 228 KiB.
  assert.equal(occupancy(h200, 256, 32, 100 * 1024), { blocksPerSm: 2, fraction: 16 / 64, limit: 'smem' });
  assert.equal(occupancy(h200, 1024, 32, 0), { blocksPerSm: 2, fraction: 1, limit: 'threads' });
});

test('mimo-report --json: rows for gemm_bf16, moe_gate_up_fp8, moe_down_fp8_masked and rmsnorm at the mimo-v2-flash shapes', async () => {
  const r = await cli(['--arch', 'sm_90a', '--preset', 'mimo-v2-flash', '--ops', '{gemm_bf16,moe_gate_up_fp8,moe_down_fp8_masked,rmsnorm}', '--json']);
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.match(report.header, /ESTIMATE/);
  assert.equal(report.kernels.map((k: { name: string }) => k.name).sort(), ['gemm_bf16', 'moe_down_fp8_masked', 'moe_gate_up_fp8', 'rmsnorm']);
  for (const k of report.kernels) {
    assert.ok(k.resources.registers > 0 && k.resources.registers <= 255, `${k.name}: ${k.resources.registers} registers`);
    assert.ok(k.occupancy.fraction > 0 && k.occupancy.fraction <= 1, `${k.name}: occupancy ${k.occupancy.fraction}`);
    // The masked (capacity) layout also serves decode.
    assert.is(k.cases.length, k.name.endsWith('_masked') ? 2 : 1, `${k.name}: one prefill case${k.name.endsWith('_masked') ? ' and one decode case' : ''}`);
  }
  const gemm = report.kernels.find((k: { name: string }) => k.name === 'gemm_bf16').cases[0].estimate;
  // o_proj: [4096, 8192] bf16 x [8192, 4096] bf16 -> f32 [4096, 4096].
  assert.is(gemm.bytes, 4096 * 8192 * 2 + 8192 * 4096 * 2 + 4096 * 4096 * 4);
  assert.is(gemm.flops, 2 * 4096 * 4096 * 8192);
  assert.ok(gemm.fraction > 0 && gemm.fraction <= 1, `fraction ${gemm.fraction}`);
  assert.is(report.kernels.find((k: { name: string }) => k.name === 'rmsnorm').cases[0].estimate.fraction, null);
  if ('path' in (await nvdisasm)) {
    for (const name of ['gemm_bf16', 'moe_gate_up_fp8']) {
      const k = report.kernels.find((x: { name: string }) => x.name === name);
      assert.ok(k.sass.tensor.length > 0, `${name} on sm_90a has no tensor-core instruction`);
    }
    // FP8 grouped GEMMs, masked and contiguous, take the wgmma branch (passes/wgmmaTile.ts):
    // QGMMA only, none of the mma.sync path's HMMAs (fed by e4m3 -> f16 conversions on sm_90).
    for (const name of ['moe_down_fp8_masked', 'moe_gate_up_fp8']) {
      const ops = report.kernels.find((x: { name: string }) => x.name === name).sass.tensor.map((t: { opcode: string }) => t.opcode);
      assert.ok(ops.length > 0 && ops.every((o: string) => o.startsWith('QGMMA.')), `${name} on sm_90a: tensor ops ${ops.join(', ')}, expected QGMMA only`);
    }
  } else assert.match(report.sassMissing, /setup-cuda-tools\.sh/);
});

test('attention on sm_90a: prefill and decode hot loops on tensor cores, at the estimates issue 15 asks for', async () => {
  const r = await cli(['--arch', 'sm_90a', '--preset', 'mimo-v2-flash', '--ops', '{global_prefill,global_decode_partial}', '--json']);
  assert.is(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  const kernel = (name: string) => report.kernels.find((k: { name: string }) => k.name === name);
  if (!('path' in (await nvdisasm))) return assert.match(report.sassMissing, /setup-cuda-tools\.sh/);
  for (const name of ['global_prefill', 'global_decode_partial']) {
    const { sass } = kernel(name);
    // The loop with the most tensor ops is a tensor loop: no FP32 score loop carries the work.
    assert.ok(sass.tensor.some((t: { opcode: string }) => t.opcode.startsWith('HMMA.16816.F32.BF16')), `${name}: tensor ops ${JSON.stringify(sass.tensor)}`);
    assert.is(sass.hotLoop?.kind, 'tensor', `${name}: hot loop ${JSON.stringify(sass.hotLoop)}`);
  }
  // 280 SASS instructions per 40 HMMA at this commit; expf or word loads of K would take it past 8.
  const hot = kernel('global_prefill').sass.hotLoop;
  assert.ok(hot.instructions / hot.ops <= 8, `global_prefill hot loop: ${hot.instructions} instructions per ${hot.ops} MMAs`);
  const fraction = (name: string) => kernel(name).cases[0].estimate.fraction;
  assert.ok(fraction('global_prefill') >= 0.5, `global prefill T=4096: ${fraction('global_prefill')} of the BF16 roofline (target 0.5)`);
  assert.ok(fraction('global_decode_partial') >= 0.7, `global decode B=16, 32K: ${fraction('global_decode_partial')} of HBM (target 0.7)`);
});

test('mimo-report tables, sm_80: the bf16 GEMM row (with nvdisasm: HMMA and LDSM in its SASS)', async () => {
  const r = await cli(['--arch', 'sm_80', '--ops', 'gemm_bf16']);
  assert.is(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  const row = lines.find((l) => /^\| gemm_bf16 \| \d+ \|/.test(l));
  assert.ok(row, `no resources row for gemm_bf16:\n${r.stdout}`);
  assert.match(r.stdout, /\| gemm_bf16 \| o_proj prefill T=4096 \|/);
  if ('path' in (await nvdisasm)) {
    assert.match(row!, /\| HMMA×\d+ \|/, 'the sm_80 bf16 GEMM lost its tensor-core instructions');
    const cells = (l: string) => l.split('|').map((c) => c.trim());
    const ldsm = cells(lines.find((l) => l.startsWith('| kernel | threads |'))!).indexOf('LDSM');
    assert.ok(Number(cells(row!)[ldsm]) > 0, `the sm_80 bf16 GEMM loads no fragment with ldmatrix: ${row}`);
  } else assert.match(r.stdout, /SASS: not read \(.*setup-cuda-tools\.sh/);
});

test('CI has nvdisasm (scripts/setup.sh fetches it): the SASS checks above are not skipped there', async () => {
  if (!process.env.CI) return;
  const r = await nvdisasm;
  assert.ok('path' in r, `CI=true but ${'why' in r ? r.why : ''}`);
});

test('without nvdisasm: one line naming the set-up, where the SASS columns would be', async () => {
  const saved = process.env.NVDISASM;
  process.env.NVDISASM = '/nonexistent/nvdisasm';
  try {
    const r = await findNvdisasm();
    assert.equal(r, { why: 'NVDISASM=/nonexistent/nvdisasm does not run; run npx mimo-kc setup-cuda-tools (in a clone: bash scripts/setup-cuda-tools.sh) for the SASS instruction mix' });
    const text = formatReport({ header: 'h', machine: MACHINES.sm_90a, arch: 'sm_90a', preset: 'tiny', sassMissing: 'why' in r ? r.why : '', kernels: [] });
    assert.equal(text.split('\n').filter((l) => l.startsWith('SASS:')), [`SASS: not read (${'why' in r ? r.why : ''})`]);
  } finally {
    if (saved === undefined) delete process.env.NVDISASM;
    else process.env.NVDISASM = saved;
  }
});

test('mimo-report usage errors: one line, exit 2', async () => {
  for (const [args, want] of [[['--arch', 'sm_75'], /--arch must be sm_80 or sm_90a \(got 'sm_75'\)/], [['--target', 'wgsl'], /--target must be cuda \(got 'wgsl'\)/], [['--preset', 'big'], /--preset must be mimo-v2-flash or tiny/]] as const) {
    const r = await cli([...args]);
    assert.is(r.code, 2, `${args.join(' ')}: exit ${r.code}`);
    assert.match(r.stderr, want);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test.run();
