/**
 * Rotary position embedding tables for MiMo-V2-Flash (fact sheet §1): partial NeoX
 * (rotate-half) RoPE on the leading ROPE_DIM = 64 of the 192 q/k head dims
 * (partial_rotary_factor 0.334), base 10,000 on sliding-window layers and 5,000,000 on
 * global layers. The kernels have no sin/cos: they read this table (vLLM's cos_sin_cache).
 */

/** RoPE constants of the real model. */
export const ROPE = { DIM: 64, SWA_BASE: 10_000, GLOBAL_BASE: 5_000_000, MAX_POS: 262_144 } as const;

/**
 * The cos/sin table the RoPE kernel reads, as a row-major f32 array [maxPos, rotDim]:
 *
 *   table[p * rotDim + i]            = cos(p * θ_i)   for i < rotDim / 2
 *   table[p * rotDim + rotDim/2 + i] = sin(p * θ_i)   for i < rotDim / 2
 *   θ_i = base^(-2i / rotDim)
 *
 * Row p is position p (positions 0 .. maxPos-1). The angle and its cos/sin are computed in
 * float64 and rounded to f32 once, so every entry is within half an f32 ulp (≤ 2^-25) of
 * the exact value at every position: at p = 262143 the angle itself is ~2.6e5 rad, where
 * f32 angle math (fl32(p) * fl32(θ_i), as HF and vLLM compute it) is already off by up to
 * ulp(2.6e5)/2 = 2^-7 rad. The whole table is 64 KiB per 256 positions (64 MiB at 256K).
 */
export function ropeCosSinTable(maxPos: number, base: number, rotDim = 64): Float32Array {
  if (!Number.isInteger(maxPos) || maxPos < 0) throw new RangeError(`maxPos must be a non-negative integer, got ${maxPos}`);
  if (!Number.isInteger(rotDim) || rotDim < 2 || rotDim % 2) throw new RangeError(`rotDim must be a positive even integer, got ${rotDim}`);
  if (!(base > 0)) throw new RangeError(`base must be positive, got ${base}`);
  const half = rotDim / 2;
  const theta = Float64Array.from({ length: half }, (_, i) => base ** ((-2 * i) / rotDim));
  const table = new Float32Array(maxPos * rotDim);
  for (let p = 0; p < maxPos; p++) {
    const row = p * rotDim;
    for (let i = 0; i < half; i++) {
      const angle = p * theta[i];
      table[row + i] = Math.cos(angle);
      table[row + half + i] = Math.sin(angle);
    }
  }
  return table;
}
