/** What a target can run; compile-time limit checks read these (design: check limits when compiling). */
export interface TargetCaps {
  readonly name: 'wgsl' | 'cuda' | 'interp';
  readonly maxInvocations: number;
  readonly maxWorkgroupSize: readonly [number, number, number];
  readonly maxWorkgroupStorage: number;
  readonly maxStorageBuffers: number;
  /** The tile MMA uses tensor cores (mma.sync) for 16-bit operands. */
  readonly tensorCores: boolean;
  /** 8/16-bit values must be packed into u32 words. */
  readonly packNarrowTypes: boolean;
  /** Workgroups per grid dimension; 1-D grids beyond it are folded into two dimensions. */
  readonly maxWorkgroupsPerDimension?: number;
  /**
   * Shared arrays are laid out in one byte arena, where arrays whose live ranges do not
   * overlap share storage (passes/sharedReuse.ts); otherwise each is its own declaration.
   */
  readonly sharedArena: boolean;
}

/** WebGPU's guaranteed defaults, so generated WGSL runs on any conforming adapter. */
export const WGSL_CAPS: TargetCaps = {
  name: 'wgsl', maxInvocations: 256, maxWorkgroupSize: [256, 256, 64], maxWorkgroupStorage: 16384, maxStorageBuffers: 8, tensorCores: false, packNarrowTypes: true,
  maxWorkgroupsPerDimension: 65535, sharedArena: false,
};
/**
 * sm_80, the lowest architecture generated CUDA supports, sets the floor: 1024 threads and
 * 163 KiB of shared memory per block, its opt-in maximum of dynamic shared memory (sm_90 has
 * 227 KiB, which --arch sm_90a does not unlock yet; sm_86/sm_89 devices run sm_80 code with
 * 99 KiB, where a launcher past that returns cudaFuncSetAttribute's cudaErrorInvalidValue).
 * Past 48 KiB a kernel's arena is dynamic and its launcher opts in (codegen/cuda/sharedArena.ts).
 */
export const CUDA_CAPS: TargetCaps = {
  name: 'cuda', maxInvocations: 1024, maxWorkgroupSize: [1024, 1024, 64], maxWorkgroupStorage: 166912, maxStorageBuffers: Infinity, tensorCores: true, packNarrowTypes: false,
  sharedArena: true,
};
/** The interpreter follows WebGPU's limits so that what it accepts also runs there. */
export const INTERP_CAPS: TargetCaps = { ...WGSL_CAPS, name: 'interp', packNarrowTypes: false, maxWorkgroupsPerDimension: undefined };

export const CAPS = { wgsl: WGSL_CAPS, cuda: CUDA_CAPS, interp: INTERP_CAPS } as const;
export type TargetName = keyof typeof CAPS;
