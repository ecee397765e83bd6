import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { lowerFile } from '../compiler/frontend/index.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { packArray, unpackArray, type NarrowType } from '../compiler/ir/numerics.js';
import type { Kernel } from '../compiler/ir/nodes.js';
import { wgmmaSwizzle } from '../compiler/ir/nodes.js';
import { compileKernel, type CompiledKernel } from '../compiler/compile.js';
import type { TunableChoice } from '../compiler/passes/specialise.js';
import { interpret } from '../compiler/interpret/interpret.js';
import type { InterpArch } from '../compiler/interpret/archBranch.js';
import type { HostArray, LaunchArgs } from '../compiler/launch/args.js';
import { CudaHostRunner } from '../backends/cuda/hostRunner.js';
import { uniform } from './harness/prng.js';
import {
  downBf16Launch, downFp8Launch, downRef, gatherRef, gateUpBf16Launch, gateUpFp8Launch, gluRef, quantRows, quantWeights, routeRef, type GemmRows,
} from './harness/moe-reference.js';
import { bf16 } from './harness/bf16.js';
import { MOE_ALIGN } from '../ops/moe/shapes.js';

/**
 * The sm_90a wgmma branch of block MMAs (passes/wgmmaTile.ts). The fixture
 * (test/fixtures/kernels/wgmma_tiles.ts: c1 = A·B1ᵀ, c2 = A·B2ᵀ, pipelined copyTile staging) at
 * odd M, N, K, for bf16 and e4m3, 64- and 128-row blocks, 128B/64B/32B swizzles, runs as
 * emulated CUDA built with -DMIMO_EMU_SM90A (the emulator decodes the real descriptors) and
 * without it (the mma.sync branch), and in the interpreter with each branch (its wgmma reads
 * through its own implementation of the PTX layout), all against float64 on the operands as
 * stored: products are exact in f32, so |got - ref| <= (K + 8) * 2^-24 * Σ|terms|, and a layout
 * or swizzle mistake misses by whole products. ops/gemm.ts gemm_bf16 (B stored [K][N]: wgmma reads
 * it MN-major) the same way at odd shapes, with 128-byte column blocks (BN 128) and a 64B swizzle.
 * Then MoE GEMMs through the sm_90a branch
 * against test/harness/moe-reference.ts: FP8 masked at 64-row tiles, and all four contiguous and
 * all four masked ones (128-row tiles: two warpgroups) at their CUDA defaults (the tiles that ship).
 */
const fixture = new Map<string, Kernel>(lowerFile(path.join(REPO_ROOT, 'test/fixtures/kernels/wgmma_tiles.ts')).map((k) => [k.name, k]));
const [M, N, K] = [100, 90, 200];
type Case = { name: 'bf16' | 'e4m3'; type: NarrowType; choice: TunableChoice; swizzle: number };
// Row bytes = BK * element size: the swizzle; STAGES 1 is the plain loop, 2 and 3 multi-buffer.
const CASES: Case[] = [
  { name: 'bf16', type: 'bf16', choice: { BM: 64, BN: 128, BK: 64, STAGES: 2 }, swizzle: 128 },
  { name: 'bf16', type: 'bf16', choice: { BM: 128, BN: 64, BK: 16, STAGES: 1 }, swizzle: 32 },
  { name: 'e4m3', type: 'fp8e4m3', choice: { BM: 64, BN: 64, BK: 128, STAGES: 3 }, swizzle: 128 },
  { name: 'e4m3', type: 'fp8e4m3', choice: { BM: 128, BN: 64, BK: 64, STAGES: 2 }, swizzle: 64 },
];
const key = (c: Case) => `${c.name}_${Object.values(c.choice).join('_')}`;
const compiled = CASES.map((c) => compileKernel(fixture.get(`wgmma_gemm_${c.name}`)!, 'cuda', c.choice, key(c)));

function operand(type: NarrowType, seed: number, n: number) {
  const host = packArray(type, uniform(seed, n, -3, 3));
  return { host, values: Float64Array.from(unpackArray(type, host)) };
}
function inputs(c: Case) {
  const a = operand(c.type, 1, M * K), b1 = operand(c.type, 2, N * K), b2 = operand(c.type, 3, N * K);
  const out = () => new Float32Array(M * N).fill(NaN);
  const args: LaunchArgs = { tensors: { a: a.host, b1: b1.host, b2: b2.host, c1: out(), c2: out() }, scalars: { M, N, K } };
  return { a, b: [b1, b2], args };
}

function check(where: string, c: Case, x: ReturnType<typeof inputs>, got: Record<string, HostArray>): void {
  const tol = (K + 8) * 2 ** -24;
  (['c1', 'c2'] as const).forEach((out, j) => {
    const b = x.b[j].values;
    const v = got[out] as Float32Array;
    for (let r = 0; r < M; r++) {
      for (let n = 0; n < N; n++) {
        let dot = 0, mag = 0;
        for (let k = 0; k < K; k++) {
          const p = x.a.values[r * K + k] * b[n * K + k];
          dot += p;
          mag += Math.abs(p);
        }
        const e = v[r * N + n];
        if (!(Math.abs(e - dot) <= tol * mag + 1e-30)) assert.unreachable(`${where} ${key(c)} ${out}[${r}][${n}]: ${e} vs ${dot}`);
      }
    }
  });
}

function runner(list: readonly CompiledKernel[], defines: string[]): CudaHostRunner {
  const r = new CudaHostRunner({ kernels: Object.fromEntries(list.map((c) => [c.kernel.name, c.manifest])) }, Object.fromEntries(list.map((c) => [c.kernel.name, c.source])), { defines });
  r.prebuild(list.map((c) => c.kernel.name));
  return r;
}

test('eligible block MMAs get one .cu with an sm_90a wgmma branch and an mma.sync one', () => {
  CASES.forEach((c, i) => {
    const src = compiled[i].source;
    const n = c.choice.BN;
    assert.ok(/#if MIMO_SM90A_PATH[\s\S]*mimo_wgmma_m64nNk(16_bf16|32_e4m3)<\d+>[\s\S]*#else[\s\S]*mimo_mma_m16n8k[\s\S]*#endif/.test(src), `${key(c)}: archSwitch with wgmma then mma.sync`);
    assert.ok(src.includes(`<${n}>(`), `${key(c)}: wgmma N = cols = ${n}`);
    assert.ok(src.includes(`, ${8 * c.swizzle}, ${{ 128: 1, 64: 2, 32: 3 }[c.swizzle]})`), `${key(c)}: descriptors for the ${c.swizzle}B swizzle`);
    assert.ok(src.includes('mimo_fence_proxy_async_shared();') && src.includes('mimo_wgmma_wait<0>();'), `${key(c)}: proxy fence and wait`);
    for (const s of compiled[i].lowered.shared.filter((x) => x.name !== 'Cs')) assert.ok((s.offset ?? 0) % 1024 === 0 && (s.align ?? 0) >= 1024, `${key(c)}: '${s.name}' 1024-byte aligned`);
  });
});

// gemm_bf16: B [K][N] read MN-major. Row bytes of B = 2 BN: 256 (two 128B column blocks, LBO = BK * 128) and 64 (one 64B atom).
const GEMM_CASES = [
  { choice: { BM: 128, BN: 128, BK: 32, WG: 256, STAGES: 3 }, desc: ', 4096, 1024, 1)', shape: [70, 150, 75] },
  { choice: { BM: 64, BN: 32, BK: 16, WG: 128, STAGES: 2 }, desc: ', 1024, 512, 2)', shape: [100, 40, 88] },
];
const gemmKernel = lowerFile(path.join(REPO_ROOT, 'ops/gemm.ts')).find((k) => k.name === 'gemm_bf16')!;
const gemms = GEMM_CASES.map((c) => compileKernel(gemmKernel, 'cuda', c.choice, `mn_${Object.values(c.choice).join('_')}`));

function gemmInputs([m, n, k]: number[]) {
  const a = operand('bf16', 11, m * k), b = operand('bf16', 12, k * n);
  return { a, b, args: { tensors: { a: a.host, b: b.host, out: new Float32Array(m * n).fill(NaN) }, scalars: { M: m, N: n, K: k } } as LaunchArgs };
}
function checkGemm(where: string, [m, n, k]: number[], x: ReturnType<typeof gemmInputs>, got: Float32Array): void {
  const tol = (k + 8) * 2 ** -24;
  for (let r = 0; r < m; r++) {
    for (let c = 0; c < n; c++) {
      let dot = 0, mag = 0;
      for (let i = 0; i < k; i++) {
        const p = x.a.values[r * k + i] * x.b.values[i * n + c];
        dot += p;
        mag += Math.abs(p);
      }
      if (!(Math.abs(got[r * n + c] - dot) <= tol * mag + 1e-30)) assert.unreachable(`${where} ${m}x${n}x${k} out[${r}][${c}]: ${got[r * n + c]} vs ${dot}`);
    }
  }
}

test('gemm_bf16 (B stored [K][N]) gets a wgmma branch reading B MN-major; it matches float64 on the emulator and the interpreter', () => {
  GEMM_CASES.forEach((c, i) => {
    const src = gemms[i].source;
    assert.ok(src.includes(`mimo_wgmma_m64nNk16_bf16<${c.choice.BN}, 1>(`), `BN ${c.choice.BN}: transposed-B wgmma`);
    assert.ok(src.includes(c.desc), `BN ${c.choice.BN}: B descriptor (LBO, SBO, swizzle)${c.desc}`);
  });
  const r = runner(gemms, ['MIMO_EMU_SM90A']);
  GEMM_CASES.forEach((c, i) => {
    const x = gemmInputs(c.shape);
    checkGemm(`cuda-emu sm90a BN ${c.choice.BN}`, c.shape, x, r.run(gemms[i].kernel.name, x.args).out as Float32Array);
  });
  const x = gemmInputs(GEMM_CASES[1].shape);
  const tensors = Object.fromEntries(Object.entries(x.args.tensors).map(([n, a]) => [n, a.slice()]));
  interpret(gemms[1].lowered, { tensors, scalars: x.args.scalars }, { arch: 'sm90a' });
  checkGemm('interp sm90a BN 32', GEMM_CASES[1].shape, x, tensors.out as Float32Array);
});

test('the swizzle matches the PTX ISA 128B pattern: chunk c of row r at chunk c ^ (r % 8)', () => {
  for (let r = 0; r < 16; r++) for (let c = 0; c < 8; c++) assert.is(wgmmaSwizzle(r * 128 + c * 16 + 5, 128), r * 128 + ((c ^ (r % 8)) * 16) + 5);
  // 64B rows: bits [4, 6) XOR bits [7, 9), i.e. row pairs share a pattern.
  for (let r = 0; r < 16; r++) for (let c = 0; c < 4; c++) assert.is(wgmmaSwizzle(r * 64 + c * 16, 64), r * 64 + ((c ^ ((r >> 1) % 4)) * 16));
});

test('fixture on emulated CUDA: sm_90a (wgmma) and other (mma.sync) branches match float64', () => {
  for (const defines of [['MIMO_EMU_SM90A'], []]) {
    const r = runner(compiled, defines);
    CASES.forEach((c, i) => {
      const x = inputs(c);
      check(`cuda-emu${defines.length ? ' sm90a' : ''}`, c, x, r.run(compiled[i].kernel.name, x.args));
    });
  }
});

test('fixture on the interpreter: both branches of the CUDA lowering match float64', () => {
  // wgmma for each type (the same reference checks the emulator's), mma.sync once: the interpreter is the slow part.
  const runs: [number, InterpArch][] = [[0, 'sm90a'], [3, 'sm90a'], [3, 'other']];
  for (const [i, arch] of runs) {
    const x = inputs(CASES[i]);
    const tensors = Object.fromEntries(Object.entries(x.args.tensors).map(([n, a]) => [n, a.slice()]));
    interpret(compiled[i].lowered, { tensors, scalars: x.args.scalars }, { arch });
    check(`interp ${arch}`, CASES[i], x, tensors);
  }
});

test('FP8 masked MoE GEMMs through the sm_90a branch match the float64 reference', () => {
  const d = { E: 2, H: 256, F: 192 };
  const C = 64;
  const counts = Int32Array.from([50, 13]);
  const choice = { BM: 64, BN: 64, BK: 128, WG: 128 };
  const ops = lowerFile(path.join(REPO_ROOT, 'ops/moe/grouped_gemm.ts')).filter((k) => /^moe_(gate_up|down)_fp8_masked$/.test(k.name)).map((k) => compileKernel(k, 'cuda', choice));
  assert.is(ops.length, 2);
  for (const o of ops) assert.ok(o.source.includes('#if MIMO_SM90A_PATH'), `${o.kernel.name} ${JSON.stringify(choice)} has the wgmma branch`);
  const r = runner(ops, ['MIMO_EMU_SM90A']);
  const rows = d.E * C;
  const expertOf = (row: number) => (row % C < counts[Math.floor(row / C)] ? Math.floor(row / C) : -1);
  const x = uniform(5, rows * d.H, -2, 2).map((v, i) => (expertOf(Math.floor(i / d.H)) < 0 ? 0 : v));
  const wts = { wg: Float32Array.from(uniform(6, d.E * d.F * d.H, -0.2, 0.2)), wu: Float32Array.from(uniform(7, d.E * d.F * d.H, -0.2, 0.2)), wd: Float32Array.from(uniform(8, d.E * d.H * d.F, -0.2, 0.2)) };
  const qw = quantWeights(wts, d.E, d.H, d.F);
  const L: GemmRows = { layout: 'masked', rows, tag: counts, C };
  const xq = quantRows(x, rows, d.H);
  const [gName, gArgs] = gateUpFp8Launch(L, xq.q, xq.s, qw, d);
  const h = bf16Floats(r.run(gName, gArgs).h as Uint16Array);
  compare('moe_gate_up_fp8_masked', h, gluRef(xq.deq, qw.wg.deq, qw.wu.deq, expertOf, rows, d.F, d.H), expertOf, d.F);
  const hq = quantRows(h, rows, d.F);
  const [dName, dArgs] = downFp8Launch(L, hq, qw, d);
  compare('moe_down_fp8_masked', bf16Floats(r.run(dName, dArgs).y as Uint16Array), downRef(hq.deq, qw.wd.deq, expertOf, rows, d.H, d.F), expertOf, d.H);
});

test('contiguous MoE GEMMs at their CUDA defaults through the sm_90a branch match the float64 reference', () => {
  const d = { E: 3, H: 256, F: 192 };
  // Experts of 0, 134 and 6 rows (token order mixed): expert 0 has no block, expert 1 fills a
  // 128-row tile and 6 rows of the next (whose second warpgroup holds only padding), and the
  // tiles past the last block are padding.
  const T = 140;
  const ids = Int32Array.from({ length: T }, (_, t) => (t % 23 === 5 ? 2 : 1));
  const route = routeRef(ids, T, 1, d.E, 1, MOE_ALIGN.cuda);
  assert.equal(Array.from(route.counts), [0, 134, 6]);
  const rows = route.rowExpert.length;
  const expertOf = (row: number) => route.rowExpert[row];
  const ops = lowerFile(path.join(REPO_ROOT, 'ops/moe/grouped_gemm.ts')).filter((k) => /^moe_(gate_up|down)_(bf16|fp8)$/.test(k.name)).map((k) => compileKernel(k, 'cuda'));
  assert.is(ops.length, 4);
  for (const o of ops) assert.ok(o.source.includes('#if MIMO_SM90A_PATH'), `${o.kernel.name}: the defaults take the wgmma branch`);
  const r = runner(ops, ['MIMO_EMU_SM90A']);
  const x = gatherRef(bf16(uniform(9, T * d.H, -2, 2)), route.rowIndex, 1, d.H);
  const wts = { wg: bf16(uniform(10, d.E * d.F * d.H, -0.2, 0.2)), wu: bf16(uniform(11, d.E * d.F * d.H, -0.2, 0.2)), wd: bf16(uniform(12, d.E * d.H * d.F, -0.2, 0.2)) };
  checkMoeChain(r, { layout: 'contig', rows, tag: route.rowExpert, C: 0 }, '', x, wts, d, expertOf);
});

test('masked MoE GEMMs on 128-row tiles (two warpgroups: bf16 defaults, the FP8 BM 128 candidate) through the sm_90a branch match the float64 reference', () => {
  const d = { E: 2, H: 256, F: 192 };
  // Expert 0: a full 128-row tile, then 22 rows (warpgroup 1's rows all past the count);
  // expert 1: 70 rows (warpgroup 1 has 6). C is no multiple of BM.
  const C = 160;
  const counts = Int32Array.from([150, 70]);
  // FP8 masked defaults are BM 64 (decode-first); their 128-row candidate is what the tuner may pick for prefill.
  const ops = lowerFile(path.join(REPO_ROOT, 'ops/moe/grouped_gemm.ts')).filter((k) => /^moe_(gate_up|down)_(bf16|fp8)_masked$/.test(k.name))
    .map((k) => compileKernel(k, 'cuda', k.name.includes('fp8') ? { BM: 128, WG: 256 } : {}));
  assert.is(ops.length, 4);
  for (const o of ops) {
    assert.ok(o.source.includes('#if MIMO_SM90A_PATH'), `${o.kernel.name}: the defaults take the wgmma branch`);
    assert.is(o.manifest.tunables.BM, 128, `${o.kernel.name}: this case is about two warpgroups along M`);
  }
  const r = runner(ops, ['MIMO_EMU_SM90A']);
  const rows = d.E * C;
  const expertOf = (row: number) => (row % C < counts[Math.floor(row / C)] ? Math.floor(row / C) : -1);
  const x = bf16(uniform(13, rows * d.H, -2, 2).map((v, i) => (expertOf(Math.floor(i / d.H)) < 0 ? 0 : v)));
  const wts = { wg: bf16(uniform(14, d.E * d.F * d.H, -0.2, 0.2)), wu: bf16(uniform(15, d.E * d.F * d.H, -0.2, 0.2)), wd: bf16(uniform(16, d.E * d.H * d.F, -0.2, 0.2)) };
  checkMoeChain(r, { layout: 'masked', rows, tag: counts, C }, '_masked', x, wts, d, expertOf);
});

/**
 * gate/up then down, BF16 and FP8, of one layout (`suffix` names its kernels) against the
 * float64 reference: BF16 on the bf16 inputs as the kernels see them, FP8 on the dequantised
 * operands, each down GEMM fed by its own gate/up output.
 */
function checkMoeChain(r: CudaHostRunner, L: GemmRows, suffix: string, x: ArrayLike<number>, wts: { wg: Float32Array; wu: Float32Array; wd: Float32Array }, d: { E: number; H: number; F: number }, expertOf: (row: number) => number): void {
  const { rows } = L;
  const h = bf16Floats(r.run(...gateUpBf16Launch(L, x, wts, d)).h as Uint16Array);
  compare(`moe_gate_up_bf16${suffix}`, h, gluRef(x, wts.wg, wts.wu, expertOf, rows, d.F, d.H), expertOf, d.F);
  compare(`moe_down_bf16${suffix}`, bf16Floats(r.run(...downBf16Launch(L, h, wts, d)).y as Uint16Array), downRef(h, wts.wd, expertOf, rows, d.H, d.F), expertOf, d.H);
  const qw = quantWeights(wts, d.E, d.H, d.F);
  const xq = quantRows(x, rows, d.H);
  const h8 = bf16Floats(r.run(...gateUpFp8Launch(L, xq.q, xq.s, qw, d)).h as Uint16Array);
  compare(`moe_gate_up_fp8${suffix}`, h8, gluRef(xq.deq, qw.wg.deq, qw.wu.deq, expertOf, rows, d.F, d.H), expertOf, d.F);
  const hq = quantRows(h8, rows, d.F);
  compare(`moe_down_fp8${suffix}`, bf16Floats(r.run(...downFp8Launch(L, hq, qw, d)).y as Uint16Array), downRef(hq.deq, qw.wd.deq, expertOf, rows, d.H, d.F), expertOf, d.H);
}

const bf16Floats = (bits: Uint16Array): Float64Array => Float64Array.from(unpackArray('bf16', bits));

/** bf16 outputs: within 2^-7 relative of the float64 result plus 2^-10 of the largest (f32 sums of exact products). */
function compare(name: string, got: Float64Array, ref: Float64Array, expertOf: (r: number) => number, width: number): void {
  const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(scale > 0, `${name}: reference is all zeros`);
  for (let i = 0; i < ref.length; i++) {
    if (expertOf(Math.floor(i / width)) < 0) continue;
    if (!(Math.abs(got[i] - ref[i]) <= 2 ** -7 * Math.abs(ref[i]) + 2 ** -10 * scale)) assert.unreachable(`${name} sm90a [${Math.floor(i / width)}][${i % width}]: ${got[i]} vs ${ref[i]}`);
  }
}

test.run();
