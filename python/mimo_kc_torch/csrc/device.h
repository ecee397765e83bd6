// Where the generated ops run, chosen at build time: the GPU (MIMO_KC_CUDA: the launchers built
// by nvcc, on PyTorch's current stream) or the CPU (the same launchers built by g++ against the
// CUDA emulator, MIMO_HOST_EMU). ops.cpp is the same text for both.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "mimo_kernels.h"

#if defined(MIMO_KC_CUDA)
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#define MIMO_KC_DISPATCH_KEY CUDA
#else
#include <mutex>
#define MIMO_KC_DISPATCH_KEY CPU
#endif

namespace mimo_kc {

// Every tensor of a launch must live where the first one does (checked per argument).
inline c10::Device launch_device(const char* kernel, const char* arg, const at::Tensor& first) {
  TORCH_CHECK(first.defined(), "[kernel ", kernel, "] argument '", arg, "': missing tensor");
#if defined(MIMO_KC_CUDA)
  TORCH_CHECK(first.is_cuda(), "[kernel ", kernel, "] argument '", arg,
              "': this build runs on CUDA, expected a CUDA tensor, got ", first.device());
  return first.device();
#else
  TORCH_CHECK(first.is_cpu(), "[kernel ", kernel, "] argument '", arg,
              "': this build runs on the CPU (CUDA emulator), expected a CPU tensor, got ", first.device());
  return c10::Device(c10::kCPU);
#endif
}

#if defined(MIMO_KC_CUDA)
// The launch goes on PyTorch's current stream of the tensors' device, as ATen's own kernels do.
class Launch {
 public:
  explicit Launch(const c10::Device& device) : guard_(device), stream_(c10::cuda::getCurrentCUDAStream(device.index())) {}
  cudaStream_t stream() const { return stream_.stream(); }

 private:
  c10::cuda::CUDAGuard guard_;
  c10::cuda::CUDAStream stream_;
};
#else
// The emulator keeps one process-global grid state (mimo_cuda_emu.h), so launches from several
// host threads (PyTorch's inter-op pool, user threads) take turns. Its launches are synchronous.
class Launch {
 public:
  explicit Launch(const c10::Device&) : lock_(mutex()) {}
  cudaStream_t stream() const { return nullptr; }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  std::lock_guard<std::mutex> lock_;
};
#endif

}  // namespace mimo_kc
