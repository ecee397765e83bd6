import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { lowerFile, lowerText } from '../compiler/frontend/index.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { packArray, unpackArray, type NarrowType } from '../compiler/ir/numerics.js';
import type { Expr, Kernel, Stmt } from '../compiler/ir/nodes.js';
import { lowerForTarget } from '../compiler/passes/pipeline.js';
import type { TunableChoice } from '../compiler/passes/specialise.js';
import { interpret } from '../compiler/interpret/interpret.js';
import type { HostArray, LaunchArgs } from '../compiler/launch/args.js';
import { BACKENDS, runFresh, type Backend } from './harness/backends.js';
import { uniform } from './harness/prng.js';

/**
 * The block tile ops (test/fixtures/kernels/block-tiles.ts): c1 = A·B, c2 = A·Btᵀ and the
 * block-scaled c3 on odd shapes (M, N, K not multiples of the tile) for f32, bf16 and e4m3,
 * on every backend plus 'interp-cuda' (the CUDA-lowered IR, mma.sync and ldmatrix included,
 * run by the interpreter), against float64 on the operands as stored. Products of these
 * types are exact in f32 (f32: rounded once inside fma), so each output may differ from
 * float64 by f32 summation only: |got - ref| <= (K + 8) * 2^-24 * Σ|terms|; a layout
 * mistake misses by whole products. Then ldmatrix's fragment distribution with distinct
 * values against the PTX ISA's description, and the compile errors.
 */
const kernels = new Map<string, Kernel>(lowerFile(path.join(REPO_ROOT, 'test/fixtures/kernels/block-tiles.ts')).map((k) => [k.name, k]));
const [M, N, K] = [37, 45, 70];
const BK = 32;
const TYPES: readonly [string, NarrowType | 'f32'][] = [['f32', 'f32'], ['bf16', 'bf16'], ['e4m3', 'fp8e4m3']];
type Where = Backend | 'interp-cuda';

async function run(where: Where, k: Kernel, args: LaunchArgs, choice: TunableChoice): Promise<Record<string, HostArray>> {
  if (where !== 'interp-cuda') return runFresh(where, k, args, choice);
  const tensors: Record<string, HostArray> = {};
  for (const [n, a] of Object.entries(args.tensors)) tensors[n] = a.slice();
  interpret(lowerForTarget(k, 'cuda', choice), { tensors, scalars: { ...args.scalars } });
  return tensors;
}

function operand(type: NarrowType | 'f32', seed: number, n: number) {
  const raw = uniform(seed, n, -3, 3);
  if (type === 'f32') return { values: Float64Array.from(Float32Array.from(raw)), host: Float32Array.from(raw) as HostArray };
  const host = packArray(type, raw);
  return { values: Float64Array.from(unpackArray(type, host)), host };
}

async function checkBlockOps(where: Where, name: string, type: NarrowType | 'f32', choice: TunableChoice): Promise<void> {
  const a = operand(type, 1, M * K), bt = operand(type, 2, N * K);
  const bKN = new Float64Array(K * N);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) bKN[k * N + n] = bt.values[n * K + k];
  const b = type === 'f32' ? Float32Array.from(bKN) : packArray(type, bKN);
  const rs = Float32Array.from(uniform(3, M, 0.25, 4));
  const blocks = Math.ceil(K / BK);
  const bs = Float32Array.from(uniform(4, blocks, -2, 2));
  const out = () => new Float32Array(M * N).fill(NaN);
  const got = await run(where, kernels.get(`block_${name}`)!, { tensors: { a: a.host, b, bt: bt.host, rs, bs, c1: out(), c2: out(), c3: out() }, scalars: { M, N, K } }, choice);
  for (let r = 0; r < M; r++) {
    for (let n = 0; n < N; n++) {
      let dot = 0, mag = 0, scaled = 0, scaledMag = 0;
      for (let kb = 0; kb < K; kb += BK) {
        let block = 0, blockMag = 0;
        for (let k = kb; k < Math.min(K, kb + BK); k++) {
          const p = a.values[r * K + k] * bt.values[n * K + k];
          block += p;
          blockMag += Math.abs(p);
        }
        dot += block;
        mag += blockMag;
        scaled += block * rs[r] * bs[kb / BK];
        scaledMag += blockMag * Math.abs(rs[r] * bs[kb / BK]);
      }
      const tol = (K + 8) * 2 ** -24;
      const at = `${where} block_${name} ${JSON.stringify(choice)} [${r}][${n}]`;
      for (const c of ['c1', 'c2'] as const) {
        const v = (got[c] as Float32Array)[r * N + n];
        assert.ok(Math.abs(v - dot) <= tol * mag + 1e-30, `${at} ${c}: ${v} vs ${dot}`);
      }
      const v3 = (got.c3 as Float32Array)[r * N + n];
      assert.ok(Math.abs(v3 - scaled) <= tol * scaledMag + 1e-30, `${at} c3: ${v3} vs ${scaled}`);
    }
  }
}

// Defaults (16x32 over 4 warps: 16x8 warp tiles, ldmatrix.x2 for B), except on emulated CUDA
// (one g++ build per variant): a block with idle warps (16x16: two 16x8 warp tiles for four
// warps), 64x32 over two warps (32x32 warp tiles, 8 mmas per K step, ldmatrix.x4 B pairs)
// and, for fp8, 32x64 (16x32 warp tiles). f32 operands take the portable path everywhere.
const CUDA_VARIANTS: Record<string, TunableChoice[]> = { f32: [{}], bf16: [{ BM: 16, BN: 16 }, { BM: 64, BN: 32, WG: 64 }], e4m3: [{ BM: 32, BN: 64 }] };
for (const where of [...BACKENDS, 'interp-cuda'] as Where[]) {
  const t = suite(`block tile ops on ${where}`);
  for (const [name, type] of TYPES) {
    // f32 on CUDA is the portable path the interpreter runs; fp8 in WGSL's packed storage is
    // what test/moe.test.ts runs on WebGPU (SwiftShader pipeline builds are the slow part here).
    if ((where === 'interp-cuda' && type === 'f32') || (where === 'webgpu' && type !== 'f32' && type !== 'bf16')) continue;
    const variants = where === 'cuda-emu' ? CUDA_VARIANTS[name] : [{}];
    t(`block_${name}: blockMma, blockMmaTransposedB, accumulateBlockScaled at ${M}x${N}x${K} match float64`, async () => {
      for (const choice of variants) await checkBlockOps(where, name, type, choice);
    });
  }
  t.run();
}

// --- the register epilogue (test/fixtures/kernels/block-epilogue.ts): storeBlockGlobal, blockMap, blockMap2 ---
const epilogue = lowerFile(path.join(REPO_ROOT, 'test/fixtures/kernels/block-epilogue.ts'))[0];
/** N odd, the g view's row stride NS and offset M * NS odd, CO odd; K = 72: 16-byte rows, a partial last K tile. */
const EP = { M: 37, N: 45, K: 72, CO: 3, NS: 53 };
const SENTINEL = { bf16: 0x7fc1, f32: -12345 };
const silu = (x: number) => x / (1 + Math.exp(-x));
const bf16Of = (x: number) => unpackArray('bf16', packArray('bf16', [x]))[0];

async function checkEpilogue(where: Where, choice: TunableChoice): Promise<void> {
  const { M, N, K, CO, NS } = EP;
  const a = operand('bf16', 11, M * K), gw = operand('bf16', 12, N * K), uw = operand('bf16', 13, N * K);
  const tensors = {
    a: a.host, gw: gw.host, uw: uw.host,
    g: new Uint16Array(2 * M * NS).fill(SENTINEL.bf16), f: new Float32Array(M * N).fill(SENTINEL.f32), h: new Uint16Array(M * N).fill(SENTINEL.bf16),
  };
  const got = await run(where, epilogue, { tensors, scalars: EP }, choice);
  const g = got.g as Uint16Array, f = got.f as Float32Array, h = unpackArray('bf16', got.h as Uint16Array);
  const at = (what: string, r: number, n: number) => `${where} ${JSON.stringify(choice)} ${what}[${r}][${n}]`;
  for (let r = 0; r < M; r++) {
    for (let n = 0; n < NS; n++) {
      if (n < CO || n >= CO + N) assert.is(g[(M + r) * NS + n], SENTINEL.bf16, `${at('g[1]', r, n)}: written outside the matrix`);
      assert.is(g[r * NS + n], SENTINEL.bf16, `${at('g[0]', r, n)}: written outside the view`);
    }
    for (let n = 0; n < N; n++) {
      let dg = 0, du = 0, mg = 0, mu = 0;
      for (let k = 0; k < K; k++) {
        dg += a.values[r * K + k] * gw.values[n * K + k];
        du += a.values[r * K + k] * uw.values[n * K + k];
        mg += Math.abs(a.values[r * K + k] * gw.values[n * K + k]);
        mu += Math.abs(a.values[r * K + k] * uw.values[n * K + k]);
      }
      // f32 accumulation error, then (bf16 outputs) half a bf16 ulp: a layout mistake misses by whole products.
      const tol = (K + 8) * 2 ** -24;
      const gv = unpackArray('bf16', g.subarray((M + r) * NS + CO + n, (M + r) * NS + CO + n + 1))[0];
      assert.ok(Math.abs(gv - dg) <= 2 ** -8 * Math.abs(dg) + tol * mg, `${at('g[1]', r, CO + n)}: ${gv} vs bf16(${dg}) = ${bf16Of(dg)}`);
      const u = du * 0.5 + 1;
      assert.ok(Math.abs(f[r * N + n] - u) <= tol * (mu * 0.5 + 1), `${at('f', r, n)}: ${f[r * N + n]} vs ${u}`);
      const hv = silu(dg) * u;
      assert.ok(Math.abs(h[r * N + n] - hv) <= 2 ** -8 * Math.abs(hv) + 4 * tol * (mg + 1) * (mu + 1), `${at('h', r, n)}: ${h[r * N + n]} vs ${hv}`);
    }
  }
}

// Emulated CUDA (one g++ build): the default, 32x32 over 4 warps of 16x16 warp tiles, 3 stages;
// the CUDA-lowered IR on the interpreter also 64x32 over 2 warps (32x32 warp tiles), 2 stages.
// WebGPU: 16x16 tiles over 64 threads (SwiftShader builds the default's pipeline in ~17 s, this in ~3 s).
const EPILOGUE_VARIANTS: Partial<Record<Where, TunableChoice[]>> = { 'interp-cuda': [{}, { BM: 64, BN: 32, WG: 64, STAGES: 2 }], webgpu: [{ BM: 16, BN: 16, WG: 64 }] };
const ep = suite('block tile register epilogue');
for (const where of [...BACKENDS, 'interp-cuda'] as Where[]) {
  ep(`${where}: storeBlockGlobal (bf16 view: odd N, row stride and offset; f32), blockMap, blockMap2 SwiGLU match float64`, async () => {
    for (const choice of EPILOGUE_VARIANTS[where] ?? [{}]) await checkEpilogue(where, choice);
  });
}
ep.run();

// --- ldmatrix: hand-built IR, shared rows of distinct values, each lane addressing a permuted row ---
const i32c = (value: number): Expr => ({ k: 'const', type: 'i32', value });
const li: Expr = { k: 'builtin', type: 'i32', name: 'localIndex', axis: 0 };
const bin = (op: '+' | '*' | '%', a: Expr, b: Expr): Expr => ({ k: 'bin', op, type: 'i32', a, b });
/** Lane l addresses row ROW(l) = 5l mod 32 of the 32 16-byte rows (a permutation). */
const ROW = (l: number) => (5 * l) % 32;

function ldmatrixKernel(count: 1 | 2 | 4, trans: boolean, misaligned = false): Kernel {
  const results = Array.from({ length: count }, (_, j) => `r${j}`);
  const body: Stmt[] = [];
  for (let e = 0; e < 8; e++) {
    const i = bin('+', bin('*', li, i32c(8)), i32c(e));
    body.push({ k: 'store', space: 'shared', buf: 'S', index: i, value: { k: 'cast', type: 'bf16', a: { k: 'cast', type: 'f32', a: i } } });
  }
  body.push({ k: 'barrier' });
  const row = bin('*', bin('%', bin('*', li, i32c(5)), i32c(32)), i32c(8));
  body.push({ k: 'ldmatrix', count, trans, buf: 'S', rowIndex: misaligned ? bin('+', row, i32c(1)) : row, results, loc: { file: 'hand.ts', line: 1, col: 1 } });
  results.forEach((r, j) => body.push({ k: 'store', space: 'global', buf: 'y', index: bin('+', bin('*', li, i32c(count)), i32c(j)), value: { k: 'var', name: r, type: 'u32' } }));
  return {
    name: `ldmatrix_x${count}${trans ? '_trans' : ''}`, doc: '', file: 'hand.ts', tensors: [{ name: 'y', dtype: 'u32', shape: [{ k: 'num', v: 32 * count }], access: 'write' }],
    scalars: [], tunables: [], constraints: [], requires: [], consts: {},
    workgroup: [{ k: 'num', v: 32 }], grid: [{ k: 'num', v: 1 }], body,
    shared: [{ name: 'S', dtype: 'bf16', size: { k: 'num', v: 256 } }],
  };
}

/**
 * PTX ISA, ldmatrix .m8n8 .b16: matrix j's row i is at the address thread 8j + i gives; thread
 * t's register j holds that matrix's elements (t/4, 2(t%4)) and (t/4, 2(t%4)+1), the first in
 * the low half; .trans delivers the transposed matrix, elements (2(t%4), t/4) and (2(t%4)+1, t/4).
 * Element e of the row at element offset R is the value R + e (bf16 bits of small integers).
 */
function expectedLdmatrix(count: number, trans: boolean): Uint32Array {
  const bits = (x: number) => packArray('bf16', [x])[0];
  const at = (j: number, i: number, c: number) => ROW(8 * j + i) * 8 + c;
  const out = new Uint32Array(32 * count);
  for (let t = 0; t < 32; t++) {
    for (let j = 0; j < count; j++) {
      const [r0, c0, r1, c1] = trans ? [2 * (t % 4), t >> 2, 2 * (t % 4) + 1, t >> 2] : [t >> 2, 2 * (t % 4), t >> 2, 2 * (t % 4) + 1];
      out[t * count + j] = (bits(at(j, r0, c0)) | (bits(at(j, r1, c1)) << 16)) >>> 0;
    }
  }
  return out;
}

const ld = suite('ldmatrix fragment distribution');
for (const where of ['cuda-emu', 'interp-cuda'] as const) {
  if (where === 'cuda-emu' && !BACKENDS.includes('cuda-emu')) continue;
  ld(`${where}: x1, x2, x4 and .trans deliver the PTX ISA layout`, async () => {
    for (const [count, trans] of [[4, false], [4, true], [2, false], [1, true]] as const) {
      const y = new Uint32Array(32 * count);
      const got = await run(where, ldmatrixKernel(count, trans), { tensors: { y }, scalars: {} }, {});
      assert.equal(Array.from(got.y as Uint32Array), Array.from(expectedLdmatrix(count, trans)), `ldmatrix.x${count}${trans ? '.trans' : ''}`);
    }
  });
}
ld('interp-cuda: a row that is not 16-byte aligned is reported', async () => {
  try {
    await run('interp-cuda', ldmatrixKernel(4, false, true), { tensors: { y: new Uint32Array(128) }, scalars: {} }, {});
    assert.unreachable('a misaligned ldmatrix row ran');
  } catch (e) {
    assert.match(String(e), /ldmatrix of shared 'S': row at element 1 is not 16-byte aligned/);
  }
});
ld.run();

// --- compile errors: each names the kernel, the argument and expected vs actual ---
const SRC = (body: string, cfg = "tunables: { WG: [128] }, workgroup: (c) => [c.WG]") => `import { kernel, blockAccumulator, blockMma, blockMmaTransposedB, storeBlock, accumulateBlockScaled, storeBlockGlobal, blockMap, blockMap2, shared, bf16, f32, fp8e4m3, type i32, type Out } from '../../../compiler/dsl/index.js';
export const bad = kernel({ doc: 'x', ${cfg}, grid: () => [1] }, (y: Out<f32, [16]>, c: { WG: i32 }) => {
${body}
});`;
const errs = suite('block tile ops: compile errors');
const CASES: [string, string, RegExp, string?][] = [
  ['rank', 'const acc = blockAccumulator(32, 32); const A = shared(bf16, 2, 32, 32); const B = shared(bf16, 32, 32); blockMma(acc, A, B);', /blockMma a 'A' has rank 3, expected a 2-D shared array or view/],
  ['dtype', 'const acc = blockAccumulator(32, 32); const A = shared(bf16, 32, 32); const B = shared(f32, 32, 32); blockMma(acc, A, B);', /blockMma operands differ in dtype: a is bf16, b is f32/],
  ['store dtype', 'const acc = blockAccumulator(32, 32); const C = shared(bf16, 32, 32); storeBlock(acc, C);', /storeBlock dst 'C' is bf16, expected an f32 shared array/],
  ['K depth', 'const acc = blockAccumulator(32, 32); const A = shared(fp8e4m3, 32, 16); const B = shared(fp8e4m3, 32, 16); blockMmaTransposedB(acc, A, B);', /blockMma K = 16 is not a multiple of the fp8e4m3 MMA depth 32/],
  ['rows', 'const acc = blockAccumulator(32, 32); const A = shared(bf16, 16, 32); const B = shared(bf16, 32, 32); blockMma(acc, A, B);', /blockMma a has 16 rows, the accumulator 32/],
  ['cols', 'const acc = blockAccumulator(32, 32); const A = shared(bf16, 32, 32); const B = shared(bf16, 32, 16); blockMma(acc, A, B);', /blockMma b is \[32\]\[16\], expected \[K\]\[cols\] = \[32\]\[32\]/],
  ['store shape', 'const acc = blockAccumulator(32, 32); const C = shared(f32, 32, 16); storeBlock(acc, C);', /storeBlock dst is \[32\]\[16\], the accumulator \[32\]\[32\]/],
  ['not 16', 'const acc = blockAccumulator(24, 32); const C = shared(f32, 24, 32); storeBlock(acc, C);', /blockAccumulator\(24, 32\): rows and cols must be positive multiples of 16/],
  ['warps', 'const acc = blockAccumulator(32, 32); const C = shared(f32, 32, 32); storeBlock(acc, C);', /block tile ops need whole warps: workgroup of 48 threads/, "tunables: { WG: [48] }, workgroup: (c) => [c.WG]"],
  ['threads', 'const acc = blockAccumulator(128, 128); const C = shared(f32, 128, 128); storeBlock(acc, C);', /blockAccumulator\(128, 128\) needs more than the workgroup's 64 threads/, "tunables: { WG: [64] }, workgroup: (c) => [c.WG]"],
  ['row scales', 'const acc = blockAccumulator(32, 32); const p = blockAccumulator(32, 32); const S = shared(f32, 16); accumulateBlockScaled(acc, p, S, 1.0);', /rowScale has 16 entries, expected one per accumulator row \(32\)/],
  ['global rank', 'const acc = blockAccumulator(32, 32); storeBlockGlobal(acc, y, { r0: 0, c0: 0, rows: 16, cols: 1 });', /storeBlockGlobal out 'y' must be a 2-D tensor or view/],
  ['map shapes', 'const acc = blockAccumulator(32, 32); const o = blockAccumulator(16, 32); blockMap2(acc, o, (x, u) => x * u);', /blockMap2: 'o' is 16x32, 'acc' 32x32/],
  ['map params', 'const acc = blockAccumulator(32, 32); blockMap(acc, (x, u) => x * u);', /blockMap's callback takes 1 parameter, got 2/],
];
for (const [what, body, want, cfg] of CASES) {
  errs(what, () => {
    const file = path.join(REPO_ROOT, 'test/fixtures/malformed/block-tiles.ts');
    try {
      for (const k of lowerText(file, SRC(body, cfg))) lowerForTarget(k, 'cuda');
      assert.unreachable(`${what}: compiled`);
    } catch (e) {
      const msg = String((e as Error).message);
      assert.match(msg, want);
      assert.match(msg, /\[kernel bad\]/);
    }
  });
}
errs.run();
