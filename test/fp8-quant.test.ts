import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { packArray } from '../compiler/ir/numerics.js';
import { cdiv } from '../ops/moe/shapes.js';
import { BACKENDS, runKernel, type Backend } from './harness/backends.js';
import { prng } from './harness/prng.js';
import { activations, checkDequantW, checkQuantAct, dequantInputs } from './harness/fp8-reference.js';

/**
 * Block FP8 quantisation (ops/fp8/quant.ts) against float64 references.
 *
 * quant_act_e4m3: scales must equal f32(max(amax, 1e-4) / 448) exactly (amax of bf16
 * values is exact, one f32 division). Codes are compared with the RNE code of the *exact*
 * quotient x/s. The kernel rounds x/s to f32 first (one IEEE division on CUDA and in the
 * interpreter; WGSL only promises 2.5 ulp for division), so where the exact quotient lies
 * within that f32 rounding error of a midpoint between two e4m3 values the kernel may
 * legitimately pick the neighbour. Allowed: the two codes are neighbours and |x/s - mid|
 * <= 0.5 f32 ulp (CUDA, interpreter) or 3 ulp (WGSL); every other code must be identical.
 * CUDA and the interpreter must also equal e4m3(f32(x/s)) exactly, with no exception.
 *
 * dequant_w_e4m3: out = bf16(f32(w) * s) must equal the RNE bf16 of the f32 product
 * bit for bit on every backend (IEEE multiply is exact-rounded everywhere). Against the
 * bf16 of the exact product it may differ by one bf16 ulp only where the f32 product is
 * exactly a bf16 tie (double rounding, the same as torch's `(w.float() * s).to(bf16)`).
 */
const GROUP = 128;
const fround = Math.fround;

/** Checks one quant_act_e4m3 result (test/harness/fp8-reference.ts); returns how many codes took the legitimate neighbour. */
function checkQuant(backend: Backend, label: string, x: Float32Array, T: number, K: number, out: Record<string, ArrayLike<number>>): number {
  const r = checkQuantAct(backend === 'webgpu', x, T, K, { q: out.q, scales: out.scales });
  if (r.error) assert.unreachable(`${label}: ${r.error}`);
  counts.wgslScales += r.scalesOff;
  return r.neighbours;
}

/** Checks one dequant_w_e4m3 result; returns how many outputs were double-rounding ties. */
function checkDequant(label: string, w: Uint8Array, scales: Float32Array, N: number, K: number, out: Uint16Array): number {
  const r = checkDequantW(w, scales, N, K, out);
  if (r.error) assert.unreachable(`${label}: ${r.error}`);
  return r.ties;
}

const QUANT_SHAPES: [number, number][] = [[1, 1], [1, 128], [3, 128], [2, 256], [4, 127], [5, 300], [7, 129], [2, 1000], [1, 4096], [9, 2048]];
const DEQUANT_SHAPES: [number, number][] = [[1, 1], [128, 128], [7, 129], [130, 257], [256, 300], [300, 64], [129, 1000]];
const counts = { neighbours: 0, codes: 0, ties: 0, outputs: 0, wgslScales: 0, wgslNeighbours: 0, constructedTies: 0 };

for (const backend of BACKENDS) {
  const t = suite(`fp8 quantisation on ${backend}`);
  const small = (n: number) => backend !== 'interp' || n <= 40_000;

  for (const [T, K] of QUANT_SHAPES.filter(([T, K]) => small(T * K))) {
    t(`quant_act_e4m3 T=${T} K=${K}`, async () => {
      const x = activations(T * 1000 + K, T, K);
      const G = cdiv(K, GROUP);
      const out = await runKernel(backend, 'quant_act_e4m3', { tensors: { x: packArray('bf16', x), q: new Uint8Array(T * K), scales: new Float32Array(T * G).fill(NaN) }, scalars: { T, K } });
      const n = checkQuant(backend, `quant ${backend} ${T}x${K}`, x, T, K, out);
      if (backend === 'webgpu') counts.wgslNeighbours += n;
      else if (backend === 'cuda-emu') [counts.neighbours, counts.codes] = [counts.neighbours + n, counts.codes + T * K];
    });
  }
  for (const choice of [{ WG: 64, EPT: 2 }, { WG: 256, EPT: 1 }, { WG: 128, EPT: 8 }, { WG: 64, EPT: 8 }]) {
    t(`quant_act_e4m3 ${JSON.stringify(choice)} T=3 K=777`, async () => {
      const [T, K] = [3, 777];
      const x = activations(31, T, K);
      const G = cdiv(K, GROUP);
      const out = await runKernel(backend, 'quant_act_e4m3', { tensors: { x: packArray('bf16', x), q: new Uint8Array(T * K), scales: new Float32Array(T * G).fill(NaN) }, scalars: { T, K } }, choice);
      checkQuant(backend, `quant ${backend} ${JSON.stringify(choice)}`, x, T, K, out);
    });
  }

  for (const [N, K] of DEQUANT_SHAPES.filter(([N, K]) => small(N * K))) {
    t(`dequant_w_e4m3 N=${N} K=${K}`, async () => {
      const { w, scales } = dequantInputs(N * 7 + K, N, K);
      const out = await runKernel(backend, 'dequant_w_e4m3', { tensors: { w, scales, out: new Uint16Array(N * K) }, scalars: { N, K } });
      const ties = checkDequant(`dequant ${backend} ${N}x${K}`, w, scales, N, K, out.out as Uint16Array);
      if (backend === 'cuda-emu') [counts.ties, counts.outputs] = [counts.ties + ties, counts.outputs + N * K];
    });
  }
  t('dequant_w_e4m3 double-rounding ties: w = 1.125, s = f32(8m/9) for bf16 midpoints m', async () => {
    const [N, K] = [2, 128 * 64];
    const r = prng(77);
    const w = new Uint8Array(N * K).fill(0x39); // e4m3 0x39 = 1.125
    const scales = Float32Array.from({ length: 64 }, () => {
      const m = (256 + 2 * Math.floor(r() * 128) + 1) * 2 ** (-9 - Math.floor(r() * 20)); // 9-bit odd significand: a bf16 midpoint
      return fround((8 * m) / 9);
    });
    const out = await runKernel(backend, 'dequant_w_e4m3', { tensors: { w, scales, out: new Uint16Array(N * K) }, scalars: { N, K } });
    const ties = checkDequant(`dequant ${backend} ties`, w, scales, N, K, out.out as Uint16Array);
    assert.ok(ties > 0, 'the construction produces double-rounding ties');
    if (backend === 'cuda-emu') counts.constructedTies = ties / (N * 128);
  });
  t('dequant_w_e4m3 {WG:64, EPT:1} and {WG:128, EPT:2} N=130 K=301', async () => {
    const [N, K] = [130, 301];
    const { w, scales } = dequantInputs(5, N, K);
    for (const choice of [{ WG: 64, EPT: 1 }, { WG: 128, EPT: 2 }]) {
      const out = await runKernel(backend, 'dequant_w_e4m3', { tensors: { w, scales, out: new Uint16Array(N * K) }, scalars: { N, K } }, choice);
      checkDequant(`dequant ${backend} ${JSON.stringify(choice)}`, w, scales, N, K, out.out as Uint16Array);
    }
  });
  t.run();
}

const summary = suite('fp8 quantisation summary');
summary('exceptions counted', () => {
  console.log(`  cuda-emu: quant ${counts.neighbours}/${counts.codes} codes are the f32-rounding neighbour of the exact RNE code (x/s an exact midpoint but for the scale's own rounding); dequant ${counts.ties}/${counts.outputs} outputs were bf16 double-rounding ties (and ${counts.constructedTies}/64 blocks of the constructed case)`);
  console.log(`  webgpu: ${counts.wgslScales} scales off f32(amax/448) by WGSL's inexact division; ${counts.wgslNeighbours} codes took the neighbour`);
});
summary.run();
