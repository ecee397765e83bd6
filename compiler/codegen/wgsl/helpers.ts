/**
 * WGSL functions for the bit-level intrinsics that storage legalisation introduces
 * (compiler/ir/nodes.ts MathFn). Their meaning is compiler/ir/semantics.ts; NaN becomes
 * NVIDIA's canonical 0x7fff so WGSL and CUDA results agree bit for bit.
 */
export const WGSL_HELPERS: Record<string, string> = {
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
};

/** Helpers a body uses, dependencies first. */
export function helperNames(body: string): string[] {
  const used = Object.keys(WGSL_HELPERS).filter((h) => body.includes(`mimo_${h}(`));
  if (used.includes('round_bf16') && !used.includes('bits_bf16')) used.unshift('bits_bf16');
  return used.sort((a, b) => (a === 'bits_bf16' ? -1 : b === 'bits_bf16' ? 1 : 0));
}
