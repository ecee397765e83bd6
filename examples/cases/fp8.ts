/**
 * FP8 kernels (ops/fp8): the nine casts and the block quantisation pair.
 *
 * Casts are bit-exact: codes (fp8, bf16) must be identical, f32 results identical but for
 * NaN payloads (test/fp8-exact.test.ts). The reference is compiler/ir/numerics.ts's
 * encode/decode, which that test proves bit-identical to NVIDIA's cuda_fp8.h/cuda_bf16.h
 * on 2^20 inputs; it is host code, while the kernels convert with their own emitted
 * WGSL/CUDA functions.
 * quant_act_e4m3 / dequant_w_e4m3: the rules of test/fp8-quant.test.ts
 * (test/harness/fp8-reference.ts): scales exact (2.5 ulp on WGSL), codes exact but for
 * the f32-rounding neighbour at a midpoint; dequant bit-exact bf16(f32(w * s)).
 */
import { BF16, E4M3, E5M2, decode, encode, packArray, type MiniFloat } from '../../compiler/ir/numerics.js';
import type { HostArray } from '../../compiler/launch/args.js';
import { FP8_BLOCK, cdiv } from '../../ops/moe/shapes.js';
import { activations, checkDequantW, checkQuantAct, dequantInputs } from '../../test/harness/fp8-reference.js';
import { prng } from '../../test/harness/prng.js';
import { exact, judged, launch, type Case } from './check.js';

type Type = 'f32' | 'bf16' | 'e4m3' | 'e5m2';
const FORMAT: Record<Exclude<Type, 'f32'>, MiniFloat> = { bf16: BF16, e4m3: E4M3, e5m2: E5M2 };
const CASTS: [Type, Type][] = [['f32', 'e4m3'], ['f32', 'e5m2'], ['bf16', 'e4m3'], ['bf16', 'e5m2'], ['f32', 'bf16'], ['e4m3', 'f32'], ['e5m2', 'f32'], ['e4m3', 'bf16'], ['e5m2', 'bf16']];

/**
 * Cast inputs: N values of random sign and mantissa with exponents 2^-22..2^17 (below the
 * smallest fp8 subnormals, through both formats, past e5m2's max: saturation), and zeros;
 * from an fp8 format every one of the 256 codes.
 */
function castInput(src: Type, N: number): { values: ArrayLike<number>; array: HostArray } {
  if (src === 'e4m3' || src === 'e5m2') {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    return { values: Array.from(bytes, (b) => decode(FORMAT[src], b)), array: bytes };
  }
  const r = prng(4242);
  const f = Float32Array.from({ length: N }, (_, i) => (i % 97 === 0 ? 0 : (2 * r() - 1) * 2 ** (Math.floor(r() * 40) - 22)));
  if (src === 'f32') return { values: f, array: f };
  const bits = packArray('bf16', f);
  return { values: Array.from(bits, (b) => decode(BF16, b)), array: bits };
}

function castCase(src: Type, dst: Type): Case {
  const N = 4096;
  const input = castInput(src, N);
  const n = input.values.length;
  const want = dst === 'f32' ? Float32Array.from(input.values) : Array.from(input.values, (v) => encode(FORMAT[dst], v));
  const out = dst === 'f32' ? new Float32Array(n) : dst === 'bf16' ? new Uint16Array(n) : new Uint8Array(n);
  return launch(`cast_${src}_to_${dst}`, `N=${n}`, () => ({ tensors: { x: input.array, y: out }, scalars: { N: n } }), (o) => ({ y: exact(o.y, want) }));
}

export function fp8Cases(): Case[] {
  const [T, K] = [4, 2048];
  const G = cdiv(K, FP8_BLOCK);
  const x = activations(7, T, K);
  const [N, KW] = [256, 384];
  const dq = dequantInputs(8, N, KW);
  return [
    ...CASTS.map(([s, d]) => castCase(s, d)),
    launch('quant_act_e4m3', `T=${T} K=${K} (1x128 groups)`, () => ({ tensors: { x: packArray('bf16', x), q: new Uint8Array(T * K), scales: new Float32Array(T * G).fill(NaN) }, scalars: { T, K } }),
      (o, backend) => {
        const r = checkQuantAct(backend === 'webgpu', x, T, K, { q: o.q, scales: o.scales });
        return { 'q, scales': judged(r.error, `codes and scales as specified (${r.neighbours} neighbour codes, ${r.scalesOff} scales off by WGSL division)`) };
      }),
    launch('dequant_w_e4m3', `N=${N} K=${KW} (128x128 blocks)`, () => ({ tensors: { w: dq.w, scales: dq.scales, out: new Uint16Array(N * KW) }, scalars: { N, K: KW } }),
      (o) => {
        const r = checkDequantW(dq.w, dq.scales, N, KW, o.out);
        return { out: judged(r.error, `exact bf16(f32(w*s)) (${N * KW} values, ${r.ties} double-rounding ties)`) };
      }),
  ];
}
