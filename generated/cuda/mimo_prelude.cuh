// mimo_prelude.cuh — included first by every mimo-kc generated .cu file.
//   nvcc (real GPU):      nvcc -std=c++17 -arch=sm_80 (or sm_90a, ...) -I backends/cuda/include foo.cu
//   g++ (CPU emulation):  g++ -x c++ -std=c++17 -O1 -DMIMO_HOST_EMU -I backends/cuda/include
//                             -I/usr/local/cuda/include foo.cu          (see mimo_cuda_emu.h)
// Provides: MIMO_LAUNCH, MIMO_EXTERN_SHARED, mimo_mma_m16n8k16_{bf16,f16}, mimo_pack_{bf16,f16}x2,
// mimo_ld_{bf16,f16}x2.
#pragma once

#if defined(MIMO_HOST_EMU)
#include "mimo_cuda_emu.h"  // defines MIMO_LAUNCH (synchronous, runs the grid on the CPU)
// Dynamic shared memory: one buffer of `smem` bytes per launch, refilled with 0xFF for every block.
#define MIMO_EXTERN_SHARED(type, name) type* const name = static_cast<type*>(::mimo_emu::dynamic_smem())
#else
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
// kernel must be a single macro argument: wrap template-ids in parentheses, e.g. MIMO_LAUNCH((k<64, 4>), ...)
#define MIMO_LAUNCH(kernel, grid, block, smem, stream, ...) \
  kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#define MIMO_EXTERN_SHARED(type, name)                     \
  extern __shared__ __align__(16) unsigned char name##_mimo_raw_[]; \
  type* const name = reinterpret_cast<type*>(name##_mimo_raw_)
#endif

// Warp-collective tensor-core MMA, D = A(16x16, row-major) * B(16x8, "col") + C, f32 accumulate:
//   mma.sync.aligned.m16n8k16.row.col.f32.{bf16,f16}.{bf16,f16}.f32 (sm_80+). All 32 lanes must call it.
// Fragment layouts (PTX ISA, section 9.7.14.5.8 "Matrix Fragments for mma.m16n8k16 with floating point
// type"; g = lane >> 2 "groupID", t = lane & 3 "threadID_in_group"; in each 32-bit register the element
// with the lower column/row index is in the low 16 bits):
//   a[0] = {A[g][2t],   A[g][2t+1]}      a[1] = {A[g+8][2t],   A[g+8][2t+1]}
//   a[2] = {A[g][2t+8], A[g][2t+9]}      a[3] = {A[g+8][2t+8], A[g+8][2t+9]}
//   b[0] = {B[2t][g],   B[2t+1][g]}      b[1] = {B[2t+8][g],   B[2t+9][g]}
//   acc[0] = D[g][2t]  acc[1] = D[g][2t+1]  acc[2] = D[g+8][2t]  acc[3] = D[g+8][2t+1]
// I.e. a[] = mimo_ld_bf16x2 of row-major A at (row, col) pairs above; b[] = mimo_ld_bf16x2 of B stored
// column-major (= B^T row-major, Bt[n][k]) at &Bt[g][2t] and &Bt[g][2t+8].
#if defined(MIMO_HOST_EMU)
__device__ __forceinline__ void mimo_mma_m16n8k16_bf16(float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  ::mimo_emu::mma_m16n8k16(::mimo_emu::kOpMmaBf16, acc, a, b);
}
__device__ __forceinline__ void mimo_mma_m16n8k16_f16(float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  ::mimo_emu::mma_m16n8k16(::mimo_emu::kOpMmaF16, acc, a, b);
}
#elif !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800  // not defined for pre-sm_80 device passes
__device__ __forceinline__ void mimo_mma_m16n8k16_bf16(float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
#if defined(__CUDA_ARCH__)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}
__device__ __forceinline__ void mimo_mma_m16n8k16_f16(float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
#if defined(__CUDA_ARCH__)
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}
#endif

// Pack two floats (round-to-nearest-even) as {lo: bits 0..15, hi: bits 16..31}.
__host__ __device__ __forceinline__ unsigned mimo_pack_bf16x2(float lo, float hi) {
  return static_cast<unsigned>(__bfloat16_as_ushort(__float2bfloat16_rn(lo))) |
         (static_cast<unsigned>(__bfloat16_as_ushort(__float2bfloat16_rn(hi))) << 16);
}
__host__ __device__ __forceinline__ unsigned mimo_pack_f16x2(float lo, float hi) {
  return static_cast<unsigned>(__half_as_ushort(__float2half_rn(lo))) |
         (static_cast<unsigned>(__half_as_ushort(__float2half_rn(hi))) << 16);
}
// Load p[0] (low half) and p[1] (high half) as one 32-bit value; p must be 4-byte aligned.
__device__ __forceinline__ unsigned mimo_ld_bf16x2(const __nv_bfloat16* p) {
#if defined(MIMO_HOST_EMU)
  unsigned v;
  std::memcpy(&v, p, sizeof v);  // no strict-aliasing UB in g++
  return v;
#else
  return *reinterpret_cast<const unsigned*>(p);
#endif
}
__device__ __forceinline__ unsigned mimo_ld_f16x2(const __half* p) {
#if defined(MIMO_HOST_EMU)
  unsigned v;
  std::memcpy(&v, p, sizeof v);
  return v;
#else
  return *reinterpret_cast<const unsigned*>(p);
#endif
}

// Two raw 16-bit values as one 32-bit tensor-core operand register, lo in bits 0..15 (no rounding:
// the values are already bf16/f16).
__host__ __device__ __forceinline__ unsigned mimo_pack2(__nv_bfloat16 lo, __nv_bfloat16 hi) {
  return static_cast<unsigned>(__bfloat16_as_ushort(lo)) | (static_cast<unsigned>(__bfloat16_as_ushort(hi)) << 16);
}
__host__ __device__ __forceinline__ unsigned mimo_pack2(__half lo, __half hi) {
  return static_cast<unsigned>(__half_as_ushort(lo)) | (static_cast<unsigned>(__half_as_ushort(hi)) << 16);
}

// An f32 from its bit pattern (non-finite constants cannot be written as C literals).
__host__ __device__ __forceinline__ float mimo_f32_bits(unsigned bits) {
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

// Warp-wide reductions for the DSL's subgroupAdd / subgroupMax (CUDA subgroups are 32-lane warps);
// every lane gets the result.
template <typename T>
__device__ __forceinline__ T mimo_warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <typename T>
__device__ __forceinline__ T mimo_warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) {
    T w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}
