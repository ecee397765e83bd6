/**
 * Block FP8 quantisation (ops/fp8/quant.ts) references and checks, shared by
 * test/fp8-quant.test.ts and examples/run-all-ops.mts; the rules are explained there.
 *
 * quant_act_e4m3: scales f32(max(amax, 1e-4) / 448) exactly (within 2.5 ulp on WGSL, whose
 * division is inexact); codes the RNE e4m3 code of the exact quotient x/s, or its neighbour
 * where x/s lies within the f32 rounding of the quotient (0.5 ulp; 3 on WGSL) of the
 * midpoint; off WGSL also exactly e4m3(f32(x/s)).
 * dequant_w_e4m3: bf16(f32(w) * s) bit for bit, i.e. the RNE bf16 of the f32 product; it
 * differs from the bf16 of the exact product only at a bf16 tie (double rounding).
 */
import { BF16, E4M3, decode, encode } from '../../compiler/ir/numerics.js';
import { FP8_BLOCK as GROUP, cdiv } from '../../ops/moe/shapes.js';
import { bf16 } from './bf16.js';
import { prng } from './prng.js';

const fround = Math.fround;
/** Distance of v to a in units of the f32 ulp at a. */
const ulpsFrom = (v: number, a: number) => Math.abs(v - a) / 2 ** (Math.floor(Math.log2(Math.abs(a))) - 23);

/** bf16 activations with a different magnitude per 1x128 group, some all-zero, some below the 1e-4 clamp, some with one outlier. */
export function activations(seed: number, T: number, K: number): Float32Array {
  const r = prng(seed);
  const x = new Float64Array(T * K);
  for (let t = 0; t < T; t++) {
    for (let g = 0; g < cdiv(K, GROUP); g++) {
      const kind = Math.floor(r() * 8);
      const amp = kind === 0 ? 0 : kind === 1 ? 10 ** (-7 + 2 * r()) : kind === 2 ? 448 : 10 ** (-3 + 6 * r());
      for (let k = g * GROUP; k < Math.min(K, (g + 1) * GROUP); k++) {
        x[t * K + k] = kind === 3 ? Math.round((r() - 0.5) * 64) : amp * (2 * r() - 1) * (kind === 4 && r() < 0.02 ? 100 : 1);
      }
    }
  }
  return bf16(x);
}

interface QuantRef { scales: Float32Array; exact: Uint8Array; viaF32: Uint8Array; quotient: Float64Array }
function quantRef(x: Float32Array, T: number, K: number): QuantRef {
  const G = cdiv(K, GROUP);
  const ref: QuantRef = { scales: new Float32Array(T * G), exact: new Uint8Array(T * K), viaF32: new Uint8Array(T * K), quotient: new Float64Array(T * K) };
  for (let t = 0; t < T; t++) {
    for (let g = 0; g < G; g++) {
      const ks = Array.from({ length: Math.min(K, (g + 1) * GROUP) - g * GROUP }, (_, i) => t * K + g * GROUP + i);
      const amax = Math.max(0, ...ks.map((i) => Math.abs(x[i])));
      const s = fround(Math.max(amax, fround(1e-4)) / 448);
      ref.scales[t * G + g] = s;
      for (const i of ks) {
        ref.quotient[i] = x[i] / s;
        ref.exact[i] = encode(E4M3, x[i] / s);
        ref.viaF32[i] = encode(E4M3, fround(x[i] / s));
      }
    }
  }
  return ref;
}

export interface QuantCheck {
  /** The first disagreement, if any. */
  readonly error?: string;
  /** Codes that took the legitimate neighbour of the exact RNE code. */
  readonly neighbours: number;
  /** Scales off f32(amax/448) by WGSL's inexact division (within 2.5 ulp). */
  readonly scalesOff: number;
}

/**
 * Checks one quant_act_e4m3 result. WGSL's division is only accurate to 2.5 ulp
 * (SwiftShader computes a * (1/b)), so there the scale may differ from f32(amax/448) by
 * that much and the codes are judged against the exact quotient by the kernel's own scale.
 */
export function checkQuantAct(wgsl: boolean, x: Float32Array, T: number, K: number, out: { q: ArrayLike<number>; scales: ArrayLike<number> }): QuantCheck {
  const ref = quantRef(x, T, K);
  const { q, scales } = out;
  const G = cdiv(K, GROUP);
  let scalesOff = 0;
  let neighbours = 0;
  const fail = (error: string): QuantCheck => ({ error, neighbours, scalesOff });
  for (let i = 0; i < ref.scales.length; i++) {
    const ok = wgsl ? ulpsFrom(scales[i], ref.scales[i]) <= 2.5 : Object.is(scales[i], ref.scales[i]);
    if (!ok) return fail(`scales[${i}] = ${scales[i]}, want ${ref.scales[i]}${wgsl ? ' within 2.5 ulp' : ''}`);
    if (scales[i] !== ref.scales[i]) scalesOff++;
  }
  for (let i = 0; i < q.length; i++) {
    if (!wgsl && q[i] !== ref.viaF32[i]) return fail(`q[${i}] = 0x${q[i].toString(16)}, want e4m3(f32(x/s)) = 0x${ref.viaF32[i].toString(16)} (x=${x[i]})`);
    const quotient = wgsl ? x[i] / scales[Math.floor(i / K) * G + Math.floor((i % K) / GROUP)] : ref.quotient[i];
    const exact = encode(E4M3, quotient);
    if (q[i] === exact) continue;
    const [a, b] = [decode(E4M3, q[i]), decode(E4M3, exact)];
    const mid = (a + b) / 2;
    const adjacent = Math.abs(q[i] - exact) === 1 && Math.sign(a) === Math.sign(b);
    if (!adjacent || ulpsFrom(quotient, mid) > (wgsl ? 3 : 0.5)) {
      return fail(`q[${i}] = ${a}, exact RNE code ${b} (x/s = ${quotient}, ${ulpsFrom(quotient, mid).toFixed(2)} f32 ulps from the midpoint ${mid})`);
    }
    neighbours++;
  }
  return { neighbours, scalesOff };
}

/** e4m3 weights [N, K] without NaN codes and f32 scales per 128x128 block over a wide range of exponents. */
export function dequantInputs(seed: number, N: number, K: number): { w: Uint8Array; scales: Float32Array } {
  const r = prng(seed);
  const w = Uint8Array.from({ length: N * K }, () => {
    const b = Math.floor(r() * 256);
    return (b & 0x7f) === 0x7f ? b ^ 1 : b; // no NaN codes in weights
  });
  const scales = Float32Array.from({ length: cdiv(N, GROUP) * cdiv(K, GROUP) }, () => fround(2 ** -Math.floor(r() * 24) * (1 + r())));
  return { w, scales };
}

/** Checks one dequant_w_e4m3 result; counts the outputs that were double-rounding ties. */
export function checkDequantW(w: Uint8Array, scales: Float32Array, N: number, K: number, out: ArrayLike<number>): { error?: string; ties: number } {
  const KB = cdiv(K, GROUP);
  let ties = 0;
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const i = n * K + k;
      const exact = decode(E4M3, w[i]) * scales[Math.floor(n / GROUP) * KB + Math.floor(k / GROUP)];
      const viaF32 = encode(BF16, fround(exact));
      if (out[i] !== viaF32) return { error: `out[${n},${k}] = 0x${out[i].toString(16)}, want bf16(f32(w*s)) = 0x${viaF32.toString(16)} (w*s = ${exact})`, ties };
      if (out[i] !== encode(BF16, exact)) {
        // Double rounding: only where the f32 product is exactly halfway between two bf16 values.
        const p = fround(exact);
        const tie = encode(BF16, p) !== encode(BF16, p * (1 + 2 ** -20)) || encode(BF16, p) !== encode(BF16, p * (1 - 2 ** -20));
        if (!tie) return { error: `[${n},${k}] differs from the exact product's bf16 without a tie`, ties };
        ties++;
      }
    }
  }
  return { ties };
}
