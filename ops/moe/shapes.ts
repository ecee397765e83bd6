/**
 * Host-side shape formulas for the MoE kernels (permute.ts, grouped_gemm.ts, combine.ts):
 * plain TypeScript for launchers, tests and benchmarks, no kernels. The constants mirror the
 * kernels' compile-time consts (test/moe.test.ts checks that they agree).
 */

/** Rows per expert block of the contiguous layout (const ALIGN); the grouped GEMM's BM divides it. */
export const MOE_ALIGN = 128;
/** Slots per workgroup of moe_count / moe_place_* (const CH). */
export const MOE_CHUNK = 256;
/** FP8 scale granularity: 1x128 activation groups, 128x128 weight blocks. */
export const FP8_BLOCK = 128;

export const cdiv = (a: number, b: number): number => Math.floor((a + b - 1) / b);

export interface MoeDims {
  /** Routed slots T*TOPK. */
  readonly slots: number;
  /** Chunks of MOE_CHUNK slots (shape symbol NC). */
  readonly NC: number;
  /**
   * Rows of the contiguous layout (shape symbol MP, the grouped GEMM's M): enough for any
   * routing, since only experts with at least one slot get a (padded) block.
   */
  readonly MP: number;
}

export function moeDims(T: number, TOPK: number, E: number): MoeDims {
  const slots = T * TOPK;
  return { slots, NC: cdiv(slots, MOE_CHUNK), MP: slots + Math.min(E, slots) * (MOE_ALIGN - 1) };
}

/** FP8 scale groups along a dimension of n elements: the kernels' scale-tensor dimension 'cdiv(n, 128)'. */
export const scaleGroups = (n: number): number => cdiv(n, FP8_BLOCK);
