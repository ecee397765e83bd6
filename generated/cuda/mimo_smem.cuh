// mimo_smem.cuh — dynamic shared memory past the 48 KiB a launch may use by default.
// Provides: mimo_smem_opt_in, which a generated launcher of a kernel with more than 48 KiB of
// shared memory keeps as a function-local static (compiler/codegen/cuda/sharedArena.ts).
#pragma once
#include <atomic>

// Opts a kernel in to `bytes` of dynamic shared memory (cudaFuncAttributeMaxDynamicSharedMemorySize)
// once per device: the attribute belongs to the function in the current device's context, and a launch
// past 48 KiB fails with cudaErrorInvalidValue without it. A device past the 64 a mask holds is opted in
// at every launch. The error of cudaFuncSetAttribute (more than the device allows: sm_86/sm_89 99 KiB,
// sm_80 163 KiB, sm_90 227 KiB) is the launcher's return value.
struct mimo_smem_opt_in {
  std::atomic<unsigned long long> devices{0};

  template <class K>
  cudaError_t ensure(K* kernel, int bytes) {
    int device = 0;
    cudaError_t err = cudaGetDevice(&device);
    if (err != cudaSuccess) return err;
    const unsigned long long bit = device >= 0 && device < 64 ? 1ull << device : 0ull;
    if (bit && (devices.load(std::memory_order_acquire) & bit)) return cudaSuccess;
    err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (err == cudaSuccess) devices.fetch_or(bit, std::memory_order_acq_rel);
    return err;
  }
};
