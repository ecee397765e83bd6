/**
 * WGSL functions for the bit-level intrinsics that storage legalisation introduces
 * (compiler/ir/nodes.ts MathFn). Their meaning is compiler/ir/semantics.ts: round to
 * nearest even; fp8 saturates to the largest finite value (NVIDIA's __NV_SATFINITE);
 * NaN becomes NVIDIA's canonical pattern, so WGSL and CUDA agree bit for bit. All of it
 * is integer work on the f32 bits, so it is exact even where arithmetic flushes
 * subnormals; WGSL's round() is ties-to-even.
 */
interface Narrow {
  /** Mantissa bits, exponent bias, bits of the format. */
  readonly mb: number;
  readonly bias: number;
  readonly width: 8 | 16;
  /** f32 bit pattern of the largest finite value, and the format's bits for it. */
  readonly maxF32: string;
  readonly maxBits: string;
  readonly nan: string;
  /** Out of range: saturate (fp8) or become infinity (f16, bf16). */
  readonly saturate: boolean;
  readonly hasInf: boolean;
}

const NARROW: Record<string, Narrow> = {
  fp8e4m3: { mb: 3, bias: 7, width: 8, maxF32: '0x43e00000u', maxBits: '0x7eu', nan: '0x7fu', saturate: true, hasInf: false },
  fp8e5m2: { mb: 2, bias: 15, width: 8, maxF32: '0x47600000u', maxBits: '0x7bu', nan: '0x7fu', saturate: true, hasInf: true },
  f16: { mb: 10, bias: 15, width: 16, maxF32: '0x477ff000u', maxBits: '0x7bffu', nan: '0x7fffu', saturate: false, hasInf: true },
};

const hex = (n: number) => `0x${n.toString(16)}u`;

/** f32 -> bits: NaN, out of range, normal (round the dropped mantissa bits), subnormal (scale and round). */
function bitsFn(name: string, f: Narrow): string {
  const drop = 23 - f.mb;
  const minNormal = hex((127 - f.bias + 1) << 23);
  const rebias = 127 - f.bias;
  const signShift = 32 - f.width;
  const expMax = (1 << (f.width - 1 - f.mb)) - 1;
  const overflow = f.saturate ? `sign | ${f.maxBits}` : `sign | ${hex(expMax << f.mb)}`;
  // Anything that rounds above the largest finite value.
  const limit = f.saturate ? `a >= ${f.maxF32}` : `r >= ${hex((rebias + expMax) << 23)}`;
  return `fn mimo_bits_${name}(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  let sign = (u >> ${signShift}u) & ${hex(1 << (f.width - 1))};
  let a = u & 0x7fffffffu;
  if (a > 0x7f800000u) { return ${f.nan}; }
  ${f.saturate ? `if (${limit}) { return ${overflow}; }` : ''}
  if (a >= ${minNormal}) {
    let r = a + ${hex((1 << (drop - 1)) - 1)} + ((a >> ${drop}u) & 1u);
    ${f.saturate ? '' : `if (${limit}) { return ${overflow}; }`}
    return sign | (((r >> 23u) - ${rebias}u) << ${f.mb}u) | ((r >> ${drop}u) & ${hex((1 << f.mb) - 1)});
  }
  return sign | u32(round(bitcast<f32>(a) * ${2 ** (f.bias - 1 + f.mb)}.0));
}`;
}

/** bits -> f32: exact, by assembling the f32 bit pattern (subnormals by an exact scale). */
function unpackFn(name: string, f: Narrow): string {
  const eb = f.width - 1 - f.mb;
  const expMax = (1 << eb) - 1;
  // NaN widens to NVIDIA's canonical 0x7fffffff (sign dropped); `| m` keeps it a run-time
  // value, because a constant NaN is a WGSL shader-creation error.
  const special = f.hasInf
    ? `if (e == ${expMax}u) { if (m == 0u) { return bitcast<f32>(sign | 0x7f800000u); } return bitcast<f32>(0x7fffffffu | m); }`
    : `if (e == ${expMax}u && m == ${hex((1 << f.mb) - 1)}) { return bitcast<f32>(0x7fffffffu | m); }`;
  return `fn mimo_unpack_${name}(w: u32, s: u32) -> f32 {
  let b = (w >> s) & ${hex((1 << f.width) - 1)};
  let sign = (b >> ${f.width - 1}u) << 31u;
  let e = (b >> ${f.mb}u) & ${hex(expMax)};
  let m = b & ${hex((1 << f.mb) - 1)};
  ${special}
  if (e == 0u) { return bitcast<f32>(sign | bitcast<u32>(f32(m) * ${2 ** -(f.bias - 1 + f.mb)})); }
  return bitcast<f32>(sign | ((e + ${127 - f.bias}u) << 23u) | (m << ${23 - f.mb}u));
}`;
}

function nanSafe(op: 'max' | 'min'): string {
  return `fn mimo_${op}_f32(a: f32, b: f32) -> f32 {
  let na = (bitcast<u32>(a) & 0x7fffffffu) > 0x7f800000u;
  let nb = (bitcast<u32>(b) & 0x7fffffffu) > 0x7f800000u;
  return select(select(${op}(a, b), b, nb), a, na);
}`;
}

function nanKeeping(fn: 'exp' | 'exp2'): string {
  return `fn mimo_${fn}_f32(x: f32) -> f32 {
  return select(${fn}(x), x, (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u);
}`;
}

export const WGSL_HELPERS: Record<string, string> = {
  // A user function is never constant-evaluated, so NaN and inf survive as run-time values.
  f32_bits: `fn mimo_f32_bits(b: u32) -> f32 {
  return bitcast<f32>(b);
}`,
  bits_bf16: `fn mimo_bits_bf16(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) { return 0x7fffu; }
  return (u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u;
}`,
  round_bf16: `fn mimo_round_bf16(x: f32) -> f32 {
  return bitcast<f32>(mimo_bits_bf16(x) << 16u);
}`,
  unpack_bf16: `fn mimo_unpack_bf16(w: u32, s: u32) -> f32 {
  return bitcast<f32>(((w >> s) & 0xffffu) << 16u);
}`,
  // max/min with a NaN operand are NaN (IEEE 754 maximum/minimum; SwiftShader's max drops
  // NaN). The NaN test is on the bits: a compiler may assume floats are never NaN.
  max_f32: nanSafe('max'),
  min_f32: nanSafe('min'),
  // SwiftShader's exp and exp2 of NaN are +inf, which turns softmax of a NaN row into zeros.
  exp_f32: nanKeeping('exp'),
  exp2_f32: nanKeeping('exp2'),
  subgroup_max_f32: `fn mimo_subgroup_max_f32(v: f32) -> f32 {
  let nan = subgroupAny((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u);
  return select(subgroupMax(v), mimo_f32_bits(0x7fc00000u), nan);
}`,
};
for (const [name, f] of Object.entries(NARROW)) {
  WGSL_HELPERS[`bits_${name}`] = bitsFn(name, f);
  WGSL_HELPERS[`unpack_${name}`] = unpackFn(name, f);
  WGSL_HELPERS[`round_${name}`] = `fn mimo_round_${name}(x: f32) -> f32 {\n  return mimo_unpack_${name}(mimo_bits_${name}(x), 0u);\n}`;
}

/** Helpers a body uses, with what they call, dependencies first. */
export function helperNames(body: string): string[] {
  const used = new Set(Object.keys(WGSL_HELPERS).filter((h) => body.includes(`mimo_${h}(`)));
  for (const h of [...used]) {
    if (h === 'subgroup_max_f32') used.add('f32_bits');
    if (h.startsWith('round_')) {
      used.add(`bits_${h.slice(6)}`);
      if (h !== 'round_bf16') used.add(`unpack_${h.slice(6)}`);
    }
  }
  const rank = (h: string) => (h.startsWith('bits_') ? 0 : h.startsWith('unpack_') ? 1 : 2);
  return [...used].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
