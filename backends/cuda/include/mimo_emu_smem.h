// mimo_emu_smem.h — the dynamic shared memory opt-in, enforced as a GPU does. Included by mimo_cuda_emu.h.
//   cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) records the opt-in
//   (cudaErrorInvalidValue past 227 KiB, sm_90's maximum, the largest of any architecture mimo-kc targets;
//   the emulator has no device to know a smaller one). A launch with more than 48 KiB of dynamic shared
//   memory and no opt-in that large is refused: message on stderr, cudaGetLastError() ==
//   cudaErrorInvalidValue, the kernel not run (no abort), so a launcher that forgets the opt-in fails here
//   as it would on a GPU. Other attributes are accepted and ignored. cudaGetDevice: always device 0.
#ifndef MIMO_EMU_SMEM_H
#define MIMO_EMU_SMEM_H

#include <map>

namespace mimo_emu {

constexpr size_t kDefaultDynamicSmem = 49152;
constexpr int kMaxOptInSmem = 232448;

inline std::map<const void*, int>& smem_opt_ins() {
  static std::map<const void*, int> opted;  // kernel -> bytes it was opted in to
  return opted;
}

inline bool dynamic_smem_allowed(const char* name, const void* kernel, size_t smem) {
  if (smem <= kDefaultDynamicSmem) return true;
  const auto it = smem_opt_ins().find(kernel);
  const int allowed = it == smem_opt_ins().end() ? 0 : it->second;
  if (smem <= static_cast<size_t>(allowed)) return true;
  std::fprintf(stderr,
               "mimo_emu: kernel '%s' launched with %zu bytes of dynamic shared memory but opted in to %d: past %zu "
               "bytes a launch needs cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes)\n",
               name, smem, allowed, kDefaultDynamicSmem);
  g.last_error = cudaErrorInvalidValue;
  return false;
}

}  // namespace mimo_emu

template <class T>
inline cudaError_t cudaFuncSetAttribute(T* kernel, enum cudaFuncAttribute attr, int value) {
  if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaSuccess;
  if (value < 0 || value > ::mimo_emu::kMaxOptInSmem) return cudaErrorInvalidValue;
  ::mimo_emu::smem_opt_ins()[reinterpret_cast<const void*>(kernel)] = value;
  return cudaSuccess;
}

extern "C" inline cudaError_t cudaGetDevice(int* device) {
  if (!device) return cudaErrorInvalidValue;
  *device = 0;
  return cudaSuccess;
}

#endif  // MIMO_EMU_SMEM_H
