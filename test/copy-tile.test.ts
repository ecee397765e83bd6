import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import fs from 'node:fs';
import { lowerFile, lowerText } from '../compiler/frontend/index.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { packArray, unpackArray, type NarrowType } from '../compiler/ir/numerics.js';
import type { Kernel } from '../compiler/ir/nodes.js';
import { forEachStmt, mapStmts } from '../compiler/ir/walk.js';
import { lowerForTarget } from '../compiler/passes/pipeline.js';
import { interpret } from '../compiler/interpret/interpret.js';
import { compileKernel } from '../compiler/compile.js';
import { CudaHostRunner } from '../backends/cuda/hostRunner.js';
import type { ManifestKernel } from '../compiler/codegen/manifest.js';
import type { HostArray, LaunchArgs } from '../compiler/launch/args.js';
import type { TunableChoice } from '../compiler/passes/specialise.js';
import { BACKENDS, opKernel, runFresh, type Backend } from './harness/backends.js';
import { uniform } from './harness/prng.js';

/**
 * copyTile (test/fixtures/kernels/copy_tile.ts) on every backend, plus the interpreter on the
 * CUDA-lowered IR (cp.async with deferred completion), against plain-TS references: the copy
 * must reproduce the source bits exactly and zero-fill past (MV, NV); the GEMM must match
 * float64 within f32 accumulation rounding. Shapes pick each path: row strides and column
 * origins that are multiples of 16 bytes take cp.async (CUDA) / word copies (WGSL) with a
 * partial last chunk, the others the element fallback.
 */
const FIXTURE = path.join(REPO_ROOT, 'test/fixtures/kernels/copy_tile.ts');
const kernels = new Map<string, Kernel>(lowerFile(FIXTURE).map((k) => [k.name, k]));
const kernel = (name: string) => kernels.get(name)!;
type Staged = 'f32' | 'bf16' | 'fp8e4m3';
const COPY_TYPES: readonly [string, Staged][] = [['f32', 'f32'], ['bf16', 'bf16'], ['e4m3', 'fp8e4m3']];

/** Host array of `n` values of `type` (bit patterns for narrow types) and the values it holds. */
function operand(type: Staged, seed: number, n: number) {
  const raw = uniform(seed, n, -3, 3);
  const host = type === 'f32' ? Float32Array.from(raw) : packArray(type as NarrowType, raw);
  return { host, values: type === 'f32' ? Float64Array.from(host) : Float64Array.from(unpackArray(type as NarrowType, host)) };
}

interface CopyShape { readonly what: string; readonly E: number; readonly M: number; readonly N: number; readonly MV: number; readonly NV: number; readonly CO: number }
const COPY_SHAPES: readonly CopyShape[] = [
  { what: 'aligned rows, partial last chunk, rows < tile', E: 2, M: 20, N: 48, MV: 19, NV: 37, CO: 0 },
  { what: 'misaligned column origin (element fallback)', E: 2, M: 20, N: 48, MV: 20, NV: 45, CO: 3 },
  { what: 'odd row stride (element fallback)', E: 1, M: 7, N: 45, MV: 7, NV: 45, CO: 0 },
];

/** x is [E][M][N], or with `rows3d` [M][E][N] (copy_rows: the rows at middle index e). */
function copyArgs(type: Staged, s: CopyShape, rows3d = false) {
  const MP = Math.ceil(s.M / 16) * 16, NP = Math.ceil((s.NV - s.CO) / 32) * 32;
  const x = operand(type, s.N + s.CO, s.E * s.M * s.N);
  const at = (e: number, r: number, c: number) => (rows3d ? (r * s.E + e) * s.N + c : (e * s.M + r) * s.N + c);
  const want = new Float64Array(s.E * MP * NP);
  for (let e = 0; e < s.E; e++) {
    for (let r = 0; r < MP; r++) {
      for (let c = 0; c < NP; c++) want[(e * MP + r) * NP + c] = r < s.MV && s.CO + c < s.NV ? x.host[at(e, r, s.CO + c)] : 0;
    }
  }
  const y = type === 'f32' ? new Float32Array(want.length).fill(NaN) : type === 'bf16' ? new Uint16Array(want.length).fill(0x7fc0) : new Uint8Array(want.length).fill(0x7f);
  const args: LaunchArgs = { tensors: { x: x.host, y }, scalars: { E: s.E, M: s.M, N: s.N, MP, NP, MV: s.MV, NV: s.NV, CO: s.CO } };
  return { args, want };
}

function checkCopy(got: HostArray, want: Float64Array, label: string): void {
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) assert.unreachable(`${label}: y[${i}] = ${got[i]}, expected ${want[i]}`);
  }
}

const GEMM_TYPES: readonly [string, 'bf16' | 'fp8e4m3'][] = [['bf16', 'bf16'], ['e4m3', 'fp8e4m3']];
/** K iterations 0, 1, 2 and 5 of 32; 24 and 64 keep 16-byte rows for bf16, 150 never does. */
const GEMM_K = [0, 24, 64, 150];
const GM = 20, GN = 24;

function gemmArgs(type: 'bf16' | 'fp8e4m3', K: number) {
  const a = operand(type, K + 1, GM * K);
  const b = operand(type, K + 2, GN * K);
  const args: LaunchArgs = { tensors: { a: a.host, b: b.host, out: new Float32Array(GM * GN).fill(NaN) }, scalars: { M: GM, N: GN, K } };
  return { args, a: a.values, b: b.values };
}

function checkGemm(got: HostArray, a: Float64Array, b: Float64Array, K: number, label: string): void {
  for (let m = 0; m < GM; m++) {
    for (let n = 0; n < GN; n++) {
      let dot = 0, mag = 0;
      for (let k = 0; k < K; k++) {
        dot += a[m * K + k] * b[n * K + k];
        mag += Math.abs(a[m * K + k] * b[n * K + k]);
      }
      const g = got[m * GN + n];
      if (!(Math.abs(g - dot) <= (K + 8) * 2 ** -24 * mag)) assert.unreachable(`${label}: out[${m}][${n}] = ${g}, expected ${dot}`);
    }
  }
}

/** The CUDA-lowered IR on the interpreter: cp.async, commit and wait with deferred completion. */
function interpretCuda(k: Kernel, args: LaunchArgs, choice: TunableChoice = {}, drop?: 'asyncWait'): Record<string, HostArray> {
  let lowered = lowerForTarget(k, 'cuda', choice);
  if (drop) lowered = { ...lowered, body: mapStmts(lowered.body, (e) => e, (s) => (s.k === drop ? [] : s)) };
  const tensors: Record<string, HostArray> = {};
  for (const [n, a] of Object.entries(args.tensors)) tensors[n] = a.slice();
  interpret(lowered, { tensors, scalars: { ...args.scalars } });
  return tensors;
}

/** Non-default STAGES (the default is 3) are named as mimo-compile names tuned variants. */
const variantOf = (choice: TunableChoice = {}) => (choice.STAGES && choice.STAGES !== 3 ? `STAGES=${choice.STAGES}` : undefined);
const NO_WAIT = 'nowait';

/**
 * The CUDA emulator runs every variant of this file from one executable (one g++ run: the
 * emulator headers dominate the build), including copy_tile_bf16 with its wait_group removed.
 */
let emu: CudaHostRunner | undefined;
function emuRunner(): CudaHostRunner {
  if (emu) return emu;
  const builds: [Kernel, TunableChoice, string | undefined][] = [...kernels.values()].map((k) => [k, {}, undefined]);
  for (const name of ['copy_pipe_bf16', 'copy_pipe_e4m3']) builds.push([kernel(name), { STAGES: 4 }, variantOf({ STAGES: 4 })]);
  builds.push([kernel('copy_tile_bf16'), {}, NO_WAIT]);
  const manifest: Record<string, ManifestKernel> = {};
  const sources: Record<string, string> = {};
  for (const [k, choice, variant] of builds) {
    const c = compileKernel(k, 'cuda', choice, variant);
    manifest[c.manifest.name] = c.manifest;
    sources[c.manifest.name] = variant === NO_WAIT ? c.source.replaceAll('mimo_cp_async_wait<0>();', '') : c.source;
  }
  emu = new CudaHostRunner({ kernels: manifest }, sources);
  emu.prebuild(Object.keys(manifest));
  return emu;
}
const emuName = (k: Kernel, variant: string | undefined) => (variant ? `${k.name}_tuned_${variant.replace(/=/g, '')}` : k.name);

type Run = (k: Kernel, args: LaunchArgs, choice?: TunableChoice) => Promise<Record<string, HostArray>> | Record<string, HostArray>;
const runners: [string, Run][] = [
  ...BACKENDS.map((b: Backend): [string, Run] => [b, b === 'cuda-emu' ? (k, args, choice) => emuRunner().run(emuName(k, variantOf(choice)), args) : (k, args, choice) => runFresh(b, k, args, choice)]),
  ['interp (CUDA-lowered IR)', (k, args, choice) => interpretCuda(k, args, choice)],
];

for (const [backend, run] of runners) {
  const t = suite(`copyTile on ${backend}`);
  for (const [name, type] of COPY_TYPES) {
    t(`copy_tile_${name}: tiles equal the source bits, zero past the valid rows and cols`, async () => {
      for (const s of COPY_SHAPES) {
        const { args, want } = copyArgs(type, s);
        checkCopy((await run(kernel(`copy_tile_${name}`), args)).y, want, `copy_tile_${name} (${s.what})`);
      }
    });
  }
  t('copy_rows_bf16: rows of a 3-D tensor at a fixed middle index, zero past the valid rows and cols', async () => {
    for (const s of [...COPY_SHAPES, { what: '3 middle indices, one valid row', E: 3, M: 5, N: 40, MV: 1, NV: 40, CO: 8 }]) {
      const { args, want } = copyArgs('bf16', s, true);
      checkCopy((await run(kernel('copy_rows_bf16'), args)).y, want, `copy_rows_bf16 (${s.what})`);
    }
  });
  for (const [name, type] of GEMM_TYPES) {
    t(`copy_gemm_${name}: copyTile-staged mma over 0, 1, 2 and 5 K blocks matches float64`, async () => {
      for (const K of GEMM_K) {
        const { args, a, b } = gemmArgs(type, K);
        checkGemm((await run(kernel(`copy_gemm_${name}`), args)).out, a, b, K, `copy_gemm_${name} K=${K}`);
      }
    });
  }
  for (const [name, type] of GEMM_TYPES) {
    // Only CUDA lowering multi-buffers; elsewhere every stage count is the same plain loop.
    for (const STAGES of backend === 'webgpu' || backend === 'interp' ? [3] : [3, 4]) {
      t(`copy_pipe_${name}: pipelined K loop, ${STAGES} stages, 0, 1, 2 and 5 K blocks matches float64`, async () => {
        for (const K of GEMM_K) {
          const { args, a, b } = gemmArgs(type, K);
          checkGemm((await run(kernel(`copy_pipe_${name}`), args, { STAGES })).out, a, b, K, `copy_pipe_${name} STAGES=${STAGES} K=${K}`);
        }
      });
    }
  }
  t.run();
}

const late = suite('reading a cp.async tile before its wait');

late('the interpreter reports the CUDA-lowered copy without its wait_group', () => {
  const { args } = copyArgs('bf16', COPY_SHAPES[0]);
  assert.throws(() => interpretCuda(kernel('copy_tile_bf16'), args, {}, 'asyncWait'), /before any thread of the workgroup wrote it/);
});

late('the CUDA emulator defers completion to the wait: without it the tile reads stale', () => {
  const k = kernel('copy_tile_bf16');
  assert.ok(compileKernel(k, 'cuda').source.includes('mimo_cp_async_wait<0>();'), 'the aligned path waits for its copies');
  const { args, want } = copyArgs('bf16', COPY_SHAPES[0]);
  const got = emuRunner().run(emuName(k, NO_WAIT), args).y;
  let same = 0;
  for (let i = 0; i < want.length; i++) if (got[i] === want[i] && want[i] !== 0) same++;
  assert.is(same, 0, 'no nonzero element of the tile may arrive before the wait');
});

late.run();

/** Pipelined GEMM bodies that break a rule, appended to the fixture (one frontend run). */
const MISUSE: readonly [string, string, string, RegExp][] = [
  ['pipe_barrier', 'copyTile(Bs, b, { r0: n0, c0: k0, rows: c.N, cols: c.K });', 'copyTile(Bs, b, { r0: n0, c0: k0, rows: c.N, cols: c.K });\n    barrier();', /barrier\(\) inside a pipelined loop/],
  ['pipe_stages0', 'pipelined(0, c.K, 32, c.STAGES)', 'pipelined(0, c.K, 32, 0)', /pipelined stages must be an integer >= 1, got 0/],
  ['pipe_written', 'for (let kk = 0; kk < 32; kk += depth) {', 'As[0][0] = a[0][0];\n    for (let kk = 0; kk < 32; kk += depth) {', /copyTile destination 'As' is written elsewhere in its pipelined loop/],
  ['pipe_divergent', 'copyTile(As, a, { r0: m0, c0: k0,', 'copyTile(As, a, { r0: m0 + localIndex, c0: k0,', /copyTile\(\) arguments must be the same in every thread of the workgroup/],
  ['pipe_nested', 'for (let kk = 0; kk < 32; kk += depth) {', 'for (const k1 of pipelined(0, c.K, 32, 2)) {\n      copyTile(As, a, { r0: m0, c0: k1, rows: c.M, cols: c.K });\n    }\n    for (let kk = 0; kk < 32; kk += depth) {', /nested pipelined loops are not supported/],
];

const misuse = suite('pipelined misuse is a compile error naming the kernel');
misuse('barriers, stages < 1, writes to a staged tile, divergent tiles, nesting', () => {
  const source = fs.readFileSync(FIXTURE, 'utf8');
  const start = source.indexOf('function pipeCase(');
  const end = source.indexOf('export const copy_pipe_bf16');
  let text = source;
  for (const [name, from, to] of MISUSE) {
    const body = source.slice(start, end).replace('function pipeCase(', `function ${name}Case(`);
    assert.ok(body.includes(from), `${name}: the fixture still contains ${from}`);
    text += `\n${body.replace(from, to)}`;
    text += `export const ${name} = kernel({ ...pipeConfig }, (a: Tensor<bf16, ['M', 'K']>, b: Tensor<bf16, ['N', 'K']>, out: Out<f32, ['M', 'N']>, c: PipeCtx) => {\n  const As = shared(bf16, 16, 32);\n  const Bs = shared(bf16, 16, 32);\n  ${name}Case(a, b, out, As, Bs, 16, c);\n});\n`;
  }
  const bad = new Map(lowerText(FIXTURE, text).map((k) => [k.name, k]));
  for (const [name, , , message] of MISUSE) {
    assert.throws(() => lowerForTarget(bad.get(name)!, 'cuda'), (e: Error) => message.test(e.message) && e.message.includes(`kernel ${name}`), name);
  }
});
misuse.run();

const grouped = suite('consecutive copyTiles share one wait on CUDA');
grouped('FA2 prefill: K and V of a key tile are in flight together (one wait for both, one for Q)', () => {
  const count = (target: 'cuda' | 'interp') => {
    const n = { copies: 0, commits: 0, waits: 0 };
    forEachStmt(lowerForTarget(opKernel('global_prefill'), target).body, (s) => {
      if (s.k === 'asyncCopy') n.copies++;
      if (s.k === 'asyncCommit') n.commits++;
      if (s.k === 'asyncWait') n.waits++;
    });
    return n;
  };
  const cuda = count('cuda');
  assert.ok(cuda.copies >= 3, `Q, K and V each have a cp.async path: ${cuda.copies}`);
  assert.equal([cuda.commits, cuda.waits], [2, 2], 'Q alone, then K and V together');
  assert.equal(count('interp'), { copies: 0, commits: 0, waits: 0 }, 'no async copies off CUDA');
});
grouped.run();
