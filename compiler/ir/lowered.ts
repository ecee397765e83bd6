import type { DType } from './types.js';
import type { SourceLoc } from '../common/source-loc.js';
import type { KernelBase } from './nodes.js';
import type { TargetName } from '../common/target.js';

/**
 * What a target renders or the interpreter runs: a kernel specialised to one tunable choice
 * and lowered for one target (passes/pipeline.ts). Every compile-time size is a number here,
 * and `facts` holds what the limit checks, the manifest and the emitters need to know about
 * it, computed once (passes/finalise.ts).
 */
export interface LoweredKernel extends KernelBase {
  readonly target: TargetName;
  readonly workgroup: readonly [number, number, number];
  readonly shared: readonly LoweredShared[];
  readonly facts: KernelFacts;
}

export interface LoweredShared {
  readonly name: string;
  readonly dtype: DType;
  /** Elements. */
  readonly size: number;
  readonly loc?: SourceLoc;
  /** Bytes its start needs to be aligned to (default 16). */
  readonly align?: number;
  /** Byte offset in the kernel's shared arena, on targets that lay one out (passes/sharedReuse.ts). */
  readonly offset?: number;
}

export interface KernelFacts {
  /** Invocations per workgroup. */
  readonly threads: number;
  /**
   * Workgroup memory as the target lays it out: WGSL stores every shared element in 4 bytes,
   * CUDA in its own size, in an arena where arrays that are never live together overlap.
   */
  readonly sharedBytes: number;
  /** Elements of each per-thread array, by IR name. */
  readonly localSizes: ReadonlyMap<string, number>;
  /** Subgroup collectives (WGSL: `enable subgroups` and its builtins). */
  readonly subgroups: boolean;
  /** Buffers that atomics or packed read-modify-write stores touch (WGSL types them atomic<>). */
  readonly atomics: ReadonlySet<string>;
  /** Tensor-core steps (CUDA mma.sync). */
  readonly tensorCores: boolean;
}

export const isLowered = (k: KernelBase): k is LoweredKernel => 'facts' in k;
