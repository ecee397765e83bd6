/**
 * Host-side shape formulas for the MoE kernels (permute.ts, grouped_gemm.ts, combine.ts):
 * plain TypeScript for launchers, tests and benchmarks, no kernels. The constants mirror the
 * kernels' compile-time consts and one-value tunables (test/moe.test.ts checks that they agree).
 */

/**
 * Rows per expert block of the contiguous layout on each target (the kernels' one-value
 * tunable ALIGN; the grouped GEMM's BM divides it). A runtime's host code reads it from
 * its manifest (moeAlign in model/gpu/blocks.ts); this mirror is for tests and benchmarks.
 */
export const MOE_ALIGN = { webgpu: 32, cuda: 128 } as const;
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

/** The layout's shapes for T tokens of TOPK experts each among E, expert blocks of `align` rows. */
export function moeDims(T: number, TOPK: number, E: number, align: number): MoeDims {
  const slots = T * TOPK;
  return { slots, NC: cdiv(slots, MOE_CHUNK), MP: slots + Math.min(E, slots) * (align - 1) };
}

/** FP8 scale groups along a dimension of n elements: the kernels' scale-tensor dimension 'cdiv(n, 128)'. */
export const scaleGroups = (n: number): number => cdiv(n, FP8_BLOCK);
