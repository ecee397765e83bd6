/**
 * What `mimo-compile --arch` changes in the CUDA output. No kernel's code differs between
 * them today: the one architecture-dependent instruction, the FP8 tensor-core MMA, is chosen
 * by `__CUDA_ARCH__` when nvcc compiles (mimo_prelude.cuh), so one source serves every
 * architecture. The choice sets which architectures the library builds for by default and
 * the lowest one the sources accept, so a Hopper-only build cannot be compiled for Ampere
 * by mistake once a Hopper-only path (wgmma) exists.
 */
export const CUDA_ARCHS = {
  sm_80: { cmakeDefault: '80;90a', minCudaArch: 800 },
  sm_90a: { cmakeDefault: '90a', minCudaArch: 900 },
} as const;

export type CudaArch = keyof typeof CUDA_ARCHS;

/**
 * The lines each .cu carries after the prelude when the arch asks for more than the
 * prelude's own sm_80 floor; none for sm_80, so its sources do not change with the flag.
 */
export function archGuard(arch: CudaArch, kernelName: string): string[] {
  const min = CUDA_ARCHS[arch].minCudaArch;
  if (min <= 800) return [];
  const sm = `sm_${min / 10}`;
  return [
    `#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < ${min}`,
    `#error "mimo-kc kernel ${kernelName} was generated with --arch ${arch}: it needs ${sm} or newer (compiled for __CUDA_ARCH__ < ${min}); pass -arch=${arch} (CMake: CMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHS[arch].cmakeDefault}) or regenerate with --arch sm_80"`,
    '#endif',
  ];
}
