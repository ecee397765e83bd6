import type { LoweredKernel } from '../../ir/lowered.js';
import { CompileError } from '../../common/errors.js';

/** Static `__shared__` per block on every architecture; past it only dynamic shared memory, after an opt-in. */
export const STATIC_SHARED_LIMIT = 49152;

/**
 * Bytes of dynamic shared memory a launch of `k` passes: its whole arena when that is past
 * the static limit, else 0 (the arena is a static `__shared__` array, as the kernels below
 * 48 KiB always were). The manifest lists it as `dynamicSharedBytes`.
 */
export const dynamicSharedBytes = (k: Pick<LoweredKernel, 'facts'>): number => (k.facts.sharedBytes > STATIC_SHARED_LIMIT ? k.facts.sharedBytes : 0);

const ARENA = 'mimo_smem';

/**
 * The kernel's shared declarations: one byte arena (passes/sharedReuse.ts laid out the
 * offsets, arrays that are never live together overlapping) and a typed pointer per array.
 * No `__restrict__`: the pointers of arrays that share bytes alias.
 */
export function sharedArenaLines(k: LoweredKernel, buf: (name: string) => string, cudaType: (s: LoweredKernel['shared'][number]) => string): string[] {
  if (k.shared.length === 0) return [];
  const align = Math.max(16, ...k.shared.map((s) => s.align ?? 16));
  // The prelude declares dynamic shared memory 1024-byte aligned (the emulator allocates it so), as
  // 128B-swizzled wgmma tiles need, and offsets are relative to it: more needs that declaration first.
  const over = k.shared.find((s) => (s.align ?? 16) > 1024);
  if (dynamicSharedBytes(k) && over) {
    throw new CompileError(`shared array '${over.name}' asks for ${over.align}-byte alignment, but the ${k.facts.sharedBytes}-byte arena is dynamic shared memory, which MIMO_EXTERN_SHARED aligns to 1024`, over.loc ?? k.loc, undefined, 'use smaller tiles (48 KiB or less is a static arena)', k.name);
  }
  const arena = dynamicSharedBytes(k) ? `  MIMO_EXTERN_SHARED(unsigned char, ${ARENA});` : `  __shared__ __align__(${align}) unsigned char ${ARENA}[${k.facts.sharedBytes}];`;
  return [
    arena,
    ...k.shared.map((s) => {
      if (s.offset === undefined) throw new CompileError(`shared array '${s.name}' has no arena offset (passes/sharedReuse.ts did not run for the CUDA target)`, s.loc ?? k.loc, undefined, undefined, k.name);
      return `  ${cudaType(s)}* const ${buf(s.name)} = reinterpret_cast<${cudaType(s)}*>(${ARENA} + ${s.offset});`;
    }),
  ];
}

/**
 * The launcher's lines before MIMO_LAUNCH and the byte count it passes. Past 48 KiB a launch
 * fails unless the function was opted in to that much, per device (mimo_smem.cuh).
 */
export function launchSharedMemory(k: LoweredKernel, kernel: string): { readonly lines: string[]; readonly bytes: string } {
  const bytes = dynamicSharedBytes(k);
  if (!bytes) return { lines: [], bytes: '0' };
  return {
    lines: [
      '  static mimo_smem_opt_in mimo_smem_devices;',
      `  const cudaError_t mimo_smem_err = mimo_smem_devices.ensure(${kernel}, ${bytes});`,
      '  if (mimo_smem_err != cudaSuccess) return mimo_smem_err;',
    ],
    bytes: String(bytes),
  };
}
