import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BF16, E4M3, E5M2, bitsF32, decode, encode, f32Bits, type MiniFloat } from '../compiler/ir/numerics.js';
import { BACKENDS, runKernel } from './harness/backends.js';
import { nvidiaConversions } from './harness/nvidia.js';
import { prng } from './harness/prng.js';

/**
 * Bit-exactness proof of our f32/bf16 <-> fp8 and f32 -> bf16 conversions against NVIDIA's
 * own (cuda_fp8.h / cuda_bf16.h host code built with nvcc, test/fixtures/nvidia_cvt.cu):
 * the ops/fp8/cast.ts kernels as WGSL (SwiftShader) and as generated CUDA (CPU emulator),
 * the interpreter, and compiler/ir/numerics.ts (the model constant folding and host data
 * use). Inputs: every boundary class of both fp8 formats and of bf16, then random f32 bit
 * patterns over all exponents and over the fp8 range, 2^20 in all. The interpreter runs
 * the first SUBSET inputs (every boundary class is among them). bf16 -> fp8 is exhaustive
 * over all 65,536 bf16 patterns, fp8 -> f32 and fp8 -> bf16 over all 256 bytes.
 *
 * The one difference allowed: the f32 bits of a *widened fp8 NaN* (NaN in, NaN out, payload
 * or sign differ; NVIDIA gives 0x7fffffff). Every such case is listed on the console.
 */
const TOTAL = 1 << 20;
const SUBSET = 20_000;
const hex = (v: number, w = 8) => `0x${(v >>> 0).toString(16).padStart(w, '0')}`;

/** Finite non-negative magnitudes of a format, ascending, plus the next value past max (the overflow side). */
function magnitudes(fmt: MiniFloat): number[] {
  const out: number[] = [];
  for (let b = 0; b < 1 << (fmt.ebits + fmt.mbits); b++) {
    const v = decode(fmt, b);
    if (Number.isFinite(v)) out.push(v);
  }
  out.sort((a, b) => a - b);
  const maxExp = Math.floor(Math.log2(fmt.max));
  return [...out, fmt.max + 2 ** (maxExp - fmt.mbits)];
}

function buildInputs(): { x: Float32Array; boundaryCount: number } {
  const bits: number[] = [];
  const both = (v: number) => bits.push(f32Bits(v), f32Bits(-v));
  const aroundBits = (b: number) => {
    for (const d of [-1, 0, 1]) for (const s of [0, 0x80000000]) bits.push(((b + d) | s) >>> 0);
  };
  // fp8: every representable value, every midpoint between neighbours (including the
  // overflow threshold max + ulp/2 and the underflow threshold minSubnormal/2), one f32
  // ulp either side of each, both signs; just above max.
  for (const fmt of [E4M3, E5M2]) {
    const m = magnitudes(fmt);
    for (let i = 0; i < m.length; i++) {
      both(m[i]);
      if (i + 1 < m.length) aroundBits(f32Bits((m[i] + m[i + 1]) / 2));
    }
    aroundBits(f32Bits(fmt.max));
    for (const v of [fmt.max * 1.5, fmt.max * 2, fmt.max * 1e3]) both(v);
    // Subnormal edges: smallest subnormal, largest subnormal, smallest normal, ± one f32 ulp.
    const minNormal = 2 ** (1 - fmt.bias);
    const minSub = 2 ** (1 - fmt.bias - fmt.mbits);
    for (const v of [minSub, minNormal - minSub, minNormal, minSub / 2, minSub / 4]) aroundBits(f32Bits(v));
  }
  // bf16: ties and ±1 below/above at every exponent, overflow to inf, max.
  const r = prng(20240601);
  for (let e = 0; e < 255; e++) {
    const hi = ((e << 23) | (Math.floor(r() * 128) << 16)) >>> 0;
    for (const lo of [0x7fff, 0x8000, 0x8001, 0x0000, 0xffff]) for (const s of [0, 0x80000000]) bits.push((hi | lo | s) >>> 0);
  }
  for (const b of [0x7f7f7fff, 0x7f7f8000, 0x7f7f8001, 0x7f7effff, 0x7f7e8000, 0x7f7fffff, 0x00008000, 0x00018000, 0x00000001, 0x007fffff, 0x00800000]) aroundBits(b);
  // Zeros, infinities, NaNs of both signs, quiet and signalling, several payloads.
  bits.push(0, 0x80000000, 0x7f800000, 0xff800000);
  for (const nan of [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffffffff, 0x7fa00000, 0xffa00000, 0x7fe00000, 0x7f800100, 0xffbfffff]) bits.push(nan >>> 0);
  // Ordinary values whose encodings the eye can check.
  for (const v of [1, 0.1, 2.5, 100, 1e-3, 1e-5, 240, 232, 248, 65504, 65520, 3.4e38, 1e-40, 1e-45]) both(v);
  const boundaryCount = bits.length;

  // Random: near-ties of both fp8 formats (dropped f32 bits = half ± 3), then patterns
  // over the fp8 range of exponents, then fully random f32 bit patterns (all exponents).
  const rnd = prng(7);
  const u = (n: number) => Math.floor(rnd() * n);
  for (let i = 0; i < 60_000; i++) {
    const fmt = i % 2 ? E4M3 : E5M2;
    const eMin = 1 - fmt.bias - fmt.mbits;
    const eMax = Math.floor(Math.log2(fmt.max)) + 1;
    const e = eMin + u(eMax - eMin + 1);
    const quantumExp = Math.max(e, 1 - fmt.bias) - fmt.mbits;
    const drop = 23 - (e - quantumExp);
    const kept = u(2 ** (23 - drop));
    const field = 2 ** (drop - 1) + (u(7) - 3);
    const mant = kept * 2 ** drop + Math.min(Math.max(field, 0), 2 ** drop - 1);
    bits.push(((u(2) << 31) | ((e + 127) << 23) | mant) >>> 0);
  }
  while (bits.length < TOTAL / 2) bits.push(((u(2) << 31) | ((127 - 30 + u(50)) << 23) | u(1 << 23)) >>> 0);
  while (bits.length < TOTAL) bits.push((u(65536) * 65536 + u(65536)) >>> 0);
  return { x: new Float32Array(Uint32Array.from(bits).buffer), boundaryCount };
}

const { x, boundaryCount } = buildInputs();
const xBits = new Uint32Array(x.buffer);
assert.ok(boundaryCount < SUBSET, 'every boundary class is in the interpreter subset');
const t0 = Date.now();
const nv = nvidiaConversions(x);
const nvMs = Date.now() - t0;

/** Exact comparison of integer codes; names the first mismatches with their inputs. */
function sameCodes(label: string, got: ArrayLike<number>, want: ArrayLike<number>, input: (i: number) => string, width: number): void {
  assert.is(got.length, want.length, `${label}: length`);
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      count++;
      if (bad.length < 6) bad.push(`${input(i)} -> ${hex(got[i], width)}, NVIDIA ${hex(want[i], width)}`);
    }
  }
  if (count) assert.unreachable(`${label}: ${count}/${want.length} differ from NVIDIA, e.g.\n  ${bad.join('\n  ')}`);
}

/** f32 results compared as bits; a NaN-for-NaN difference is recorded (not a failure), anything else fails. */
const nanNotes = new Map<string, string>();
function sameF32(label: string, got: Float32Array, want: Uint32Array, input: (i: number) => string): void {
  const gotBits = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const bad: string[] = [];
  const nan: string[] = [];
  for (let i = 0; i < want.length; i++) {
    if (gotBits[i] === want[i]) continue;
    const line = `${input(i)} -> ${hex(gotBits[i])}, NVIDIA ${hex(want[i])}`;
    if (Number.isNaN(got[i]) && Number.isNaN(bitsF32(want[i]))) nan.push(line);
    else bad.push(line);
  }
  if (bad.length) assert.unreachable(`${label}: ${bad.length} differ from NVIDIA:\n  ${bad.slice(0, 6).join('\n  ')}`);
  if (nan.length) nanNotes.set(label, nan.join('; '));
}

const inputF32 = (i: number) => `x=${hex(xBits[i])} (${x[i]})`;
const inputByte = (i: number) => `byte ${hex(i, 2)}`;
const inputBf16 = (i: number) => `bf16 ${hex(i, 4)} (${decode(BF16, i)})`;
const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
const allBf16 = Uint16Array.from({ length: 65536 }, (_, i) => i);
/** Interpreter subset of the bf16 patterns: a pseudo-random quarter plus every inf/NaN pattern. */
const bf16Subset = Uint16Array.from(Array.from(allBf16).filter((h) => (Math.imul(h, 0x9e3779b1) >>> 30) === 0 || (h & 0x7f80) === 0x7f80));

const model = suite('numerics.ts (the compiler model) against NVIDIA');
model('inputs and ground truth', () => {
  assert.ok(x.length >= 1_000_000);
  console.log(`  ${x.length} f32 inputs (${boundaryCount} boundary cases), NVIDIA conversions in ${nvMs} ms`);
});
model('f32 -> e4m3, e5m2, bf16 on every input', () => {
  for (const [label, fmt, want, w] of [['e4m3', E4M3, nv.e4m3, 2], ['e5m2', E5M2, nv.e5m2, 2], ['bf16', BF16, nv.bf16, 4]] as const) {
    sameCodes(`numerics encode ${label}`, Array.from(x, (v) => encode(fmt, v)), want, inputF32, w);
  }
});
model('bf16 -> e4m3, e5m2 on all 65,536 patterns', () => {
  sameCodes('numerics bf16 -> e4m3', Array.from(allBf16, (h) => encode(E4M3, decode(BF16, h))), nv.bf16ToE4m3, inputBf16, 2);
  sameCodes('numerics bf16 -> e5m2', Array.from(allBf16, (h) => encode(E5M2, decode(BF16, h))), nv.bf16ToE5m2, inputBf16, 2);
});
model('fp8 -> f32 and fp8 -> bf16 on all 256 bytes', () => {
  sameF32('numerics decode e4m3', Float32Array.from(bytes, (b) => decode(E4M3, b)), nv.e4m3ToF32, inputByte);
  sameF32('numerics decode e5m2', Float32Array.from(bytes, (b) => decode(E5M2, b)), nv.e5m2ToF32, inputByte);
  sameCodes('numerics e4m3 -> bf16', Array.from(bytes, (b) => encode(BF16, decode(E4M3, b))), nv.e4m3ToBf16, inputByte, 4);
  sameCodes('numerics e5m2 -> bf16', Array.from(bytes, (b) => encode(BF16, decode(E5M2, b))), nv.e5m2ToBf16, inputByte, 4);
});
model.run();

const pick = <T extends Uint8Array | Uint16Array>(a: T, n: number) => a.subarray(0, n) as T;
for (const backend of BACKENDS) {
  const t = suite(`ops/fp8/cast.ts on ${backend} against NVIDIA`);
  const n = backend === 'interp' ? SUBSET : x.length;
  const xs = x.subarray(0, n);
  const run = (name: string, tensors: Record<string, Float32Array | Uint8Array | Uint16Array>, N: number) => runKernel(backend, name, { tensors, scalars: { N } });

  t(`f32 -> e4m3, e5m2, bf16 on ${n} inputs`, async () => {
    const e4 = await run('cast_f32_to_e4m3', { x: xs, y: new Uint8Array(n) }, n);
    sameCodes(`${backend} cast_f32_to_e4m3`, e4.y as Uint8Array, pick(nv.e4m3, n), inputF32, 2);
    const e5 = await run('cast_f32_to_e5m2', { x: xs, y: new Uint8Array(n) }, n);
    sameCodes(`${backend} cast_f32_to_e5m2`, e5.y as Uint8Array, pick(nv.e5m2, n), inputF32, 2);
    const b = await run('cast_f32_to_bf16', { x: xs, y: new Uint16Array(n) }, n);
    sameCodes(`${backend} cast_f32_to_bf16`, b.y as Uint16Array, pick(nv.bf16, n), inputF32, 4);
  });

  t('bf16 -> e4m3, e5m2 on every bf16 pattern', async () => {
    const h = backend === 'interp' ? bf16Subset : allBf16;
    for (const [name, want] of [['cast_bf16_to_e4m3', nv.bf16ToE4m3], ['cast_bf16_to_e5m2', nv.bf16ToE5m2]] as const) {
      const out = await run(name, { x: h, y: new Uint8Array(h.length) }, h.length);
      sameCodes(`${backend} ${name}`, out.y as Uint8Array, Uint8Array.from(h, (v) => want[v]), (i) => inputBf16(h[i]), 2);
    }
  });

  t('e4m3, e5m2 -> f32 and -> bf16 on all 256 bytes', async () => {
    for (const [fmt, toF32, toBf16] of [['e4m3', nv.e4m3ToF32, nv.e4m3ToBf16], ['e5m2', nv.e5m2ToF32, nv.e5m2ToBf16]] as const) {
      const f = await run(`cast_${fmt}_to_f32`, { x: bytes, y: new Float32Array(256) }, 256);
      sameF32(`${backend} cast_${fmt}_to_f32`, f.y as Float32Array, toF32, inputByte);
      const b = await run(`cast_${fmt}_to_bf16`, { x: bytes, y: new Uint16Array(256) }, 256);
      sameCodes(`${backend} cast_${fmt}_to_bf16`, b.y as Uint16Array, toBf16, inputByte, 4);
    }
  });

  t('a non-default workgroup size (WG=64) gives the same codes', async () => {
    const m = Math.min(n, SUBSET);
    const out = await runKernel(backend, 'cast_f32_to_e4m3', { tensors: { x: x.subarray(0, m), y: new Uint8Array(m) }, scalars: { N: m } }, { WG: 64 });
    sameCodes(`${backend} cast_f32_to_e4m3 WG=64`, out.y as Uint8Array, pick(nv.e4m3, m), inputF32, 2);
  });

  t.run();
}

const notes = suite('NaN payloads (the one allowed difference)');
notes('widened fp8 NaNs: listed, and nothing else differs', () => {
  for (const [label, line] of nanNotes) {
    console.log(`  ${label}: ${line}`);
    // Only the NaN bytes may differ: e4m3 0x7f/0xff, e5m2 0x7d-0x7f/0xfd-0xff.
    for (const m of line.matchAll(/byte 0x([0-9a-f]{2})/g)) {
      const b = parseInt(m[1], 16);
      assert.ok(label.includes('e4m3') ? (b & 0x7f) === 0x7f : (b & 0x7c) === 0x7c && (b & 3) !== 0, `${label}: byte ${m[1]}`);
    }
  }
});
notes.run();
