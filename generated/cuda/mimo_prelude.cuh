// mimo_prelude.cuh — included first by every mimo-kc generated .cu file.
//   nvcc (real GPU):      nvcc -std=c++17 -arch=sm_80 (or sm_90a, ...) -I backends/cuda/include foo.cu
//   g++ (CPU emulation):  g++ -x c++ -std=c++17 -O1 -DMIMO_HOST_EMU -I backends/cuda/include
//                             -I/usr/local/cuda/include foo.cu          (see mimo_cuda_emu.h)
// Provides: MIMO_LAUNCH, MIMO_EXTERN_SHARED, mimo_mma_m16n8k16_{bf16,f16}, mimo_mma_m16n8k32_{e4m3,e5m2},
// mimo_pack_{bf16,f16}x2, mimo_pack2, mimo_pack4, mimo_ld_u32, mimo_f32_bits, mimo_warp_{sum,max},
// mimo_fmaxf, mimo_fminf.
#pragma once

// Every kernel may use sm_80's mma.sync and bf16 instructions. nvcc's default architecture (sm_75 in
// CUDA 13) is below that: say so here, once, rather than as unknown mimo_mma_* identifiers later.
// #error cannot print a macro's value, hence one line per architecture nvcc still accepts.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#if __CUDA_ARCH__ == 750
#error "mimo-kc kernels need sm_80 or newer (compiled for __CUDA_ARCH__ = 750, sm_75): pass -arch=sm_80 or newer (CMake: CMAKE_CUDA_ARCHITECTURES=80)"
#elif __CUDA_ARCH__ == 720
#error "mimo-kc kernels need sm_80 or newer (compiled for __CUDA_ARCH__ = 720, sm_72): pass -arch=sm_80 or newer (CMake: CMAKE_CUDA_ARCHITECTURES=80)"
#elif __CUDA_ARCH__ == 700
#error "mimo-kc kernels need sm_80 or newer (compiled for __CUDA_ARCH__ = 700, sm_70): pass -arch=sm_80 or newer (CMake: CMAKE_CUDA_ARCHITECTURES=80)"
#else
#error "mimo-kc kernels need sm_80 or newer (compiled for __CUDA_ARCH__ < 700): pass -arch=sm_80 or newer (CMake: CMAKE_CUDA_ARCHITECTURES=80)"
#endif
#endif

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
  extern __shared__ __align__(1024) unsigned char name##_mimo_raw_[]; \
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
// I.e. a[] = mimo_ld_u32 of row-major A at (row, col) pairs above; b[] = mimo_ld_u32 of B stored
// column-major (= B^T row-major, Bt[n][k]) at &Bt[g][2t] and &Bt[g][2t+8].
//
// FP8: D = A(16x32) * B(32x8) + C, mma.sync.aligned.m16n8k32.row.col.f32.{e4m3,e5m2}.{e4m3,e5m2}.f32
// (sm_89+), four 8-bit elements per register, the lowest k in the lowest byte (PTX ISA "Matrix
// Fragments for mma.m16n8k32"):
//   a[0] = A[g][4t..4t+3]     a[1] = A[g+8][4t..4t+3]     a[2] = A[g][4t+16..4t+19]     a[3] = A[g+8][4t+16..]
//   b[0] = B[4t..4t+3][g]     b[1] = B[4t+16..4t+19][g]   acc as for m16n8k16.
// Below sm_89 the same fragments feed two f16 m16n8k16 mmas: fp8 -> f16 is exact, and the k order
// inside one mma does not change the sum, so k = 4t+{0,1} of the fp8 layout plays f16's k = 2t+{0,1}
// and 4t+{2,3} plays 2t+{8,9} (both A and B use the same map, so the products pair up unchanged).
#if defined(MIMO_HOST_EMU)
__device__ __forceinline__ void mimo_mma_m16n8k16_bf16(float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  ::mimo_emu::mma_m16n8k16(::mimo_emu::kOpMmaBf16, acc, a, b);
}
__device__ __forceinline__ void mimo_mma_m16n8k16_f16(float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  ::mimo_emu::mma_m16n8k16(::mimo_emu::kOpMmaF16, acc, a, b);
}
#else
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

// Two fp8 (low 16 bits of w) -> two f16 in one register, exactly, in integer and f16x2 ops (cuda_fp8.h's
// pre-sm_89 conversion goes through a stack frame, which ptxas reports as spills). e5m2 is the upper
// byte of an f16. e4m3 magnitude bits shifted into f16's field read as the value times 2^-8 (exponent
// biases 7 vs 15; subnormals too), so one exact multiply by 256 restores it; 0x7f/0xff are NaN.
__device__ __forceinline__ unsigned mimo_fp8x2_to_f16x2(unsigned w, __nv_fp8_interpretation_t kind) {
  if (kind == __NV_E5M2) return ((w & 0xFFu) << 8) | ((w & 0xFF00u) << 16);
  const unsigned mag = ((w & 0x7Fu) << 7) | ((w & 0x7F00u) << 15);
  const __half2 scaled = __hmul2(*reinterpret_cast<const __half2*>(&mag), __half2(__half(256.0f), __half(256.0f)));
  unsigned h = *reinterpret_cast<const unsigned*>(&scaled) | ((w & 0x80u) << 8) | ((w & 0x8000u) << 16);
  if ((w & 0x7Fu) == 0x7Fu) h |= 0x7FFFu;
  if ((w & 0x7F00u) == 0x7F00u) h |= 0x7FFF0000u;
  return h;
}
// m16n8k32 fp8 as two m16n8k16 f16 mmas on the same fragments (the k map is in the comment above).
template <__nv_fp8_interpretation_t kKind>
__device__ __forceinline__ void mimo_mma_m16n8k32_fp8_via_f16(float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  for (int half = 0; half < 2; ++half) {  // k 0..15 from a[0], a[1], b[0]; k 16..31 from a[2], a[3], b[1]
    const unsigned lo = a[2 * half], hi = a[2 * half + 1];
    const unsigned fa[4] = {mimo_fp8x2_to_f16x2(lo, kKind), mimo_fp8x2_to_f16x2(hi, kKind),
                            mimo_fp8x2_to_f16x2(lo >> 16, kKind), mimo_fp8x2_to_f16x2(hi >> 16, kKind)};
    const unsigned fb[2] = {mimo_fp8x2_to_f16x2(b[half], kKind), mimo_fp8x2_to_f16x2(b[half] >> 16, kKind)};
    mimo_mma_m16n8k16_f16(acc, fa, fb);
  }
}
// The emulator runs the native layout unless MIMO_EMU_FP8_VIA_F16 asks for the pre-sm_89 path.
template <__nv_fp8_interpretation_t kKind>
__device__ __forceinline__ void mimo_mma_m16n8k32_fp8(float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
#if defined(MIMO_HOST_EMU) && !defined(MIMO_EMU_FP8_VIA_F16)
  ::mimo_emu::mma_m16n8k32(kKind == __NV_E4M3 ? ::mimo_emu::kOpMmaE4m3 : ::mimo_emu::kOpMmaE5m2, acc, a, b);
#elif defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  if constexpr (kKind == __NV_E4M3) {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.f32.e5m2.e5m2.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(acc[0]), "+f"(acc[1]), "+f"(acc[2]), "+f"(acc[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
#else
  mimo_mma_m16n8k32_fp8_via_f16<kKind>(acc, a, b);
#endif
}
__device__ __forceinline__ void mimo_mma_m16n8k32_e4m3(float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  mimo_mma_m16n8k32_fp8<__NV_E4M3>(acc, a, b);
}
__device__ __forceinline__ void mimo_mma_m16n8k32_e5m2(float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  mimo_mma_m16n8k32_fp8<__NV_E5M2>(acc, a, b);
}

// Pack two floats (round-to-nearest-even) as {lo: bits 0..15, hi: bits 16..31}.
__host__ __device__ __forceinline__ unsigned mimo_pack_bf16x2(float lo, float hi) {
  return static_cast<unsigned>(__bfloat16_as_ushort(__float2bfloat16_rn(lo))) |
         (static_cast<unsigned>(__bfloat16_as_ushort(__float2bfloat16_rn(hi))) << 16);
}
__host__ __device__ __forceinline__ unsigned mimo_pack_f16x2(float lo, float hi) {
  return static_cast<unsigned>(__half_as_ushort(__float2half_rn(lo))) |
         (static_cast<unsigned>(__half_as_ushort(__float2half_rn(hi))) << 16);
}
// The 32 bits at p (two 16-bit or four 8-bit elements, p[0] in the low bits) as one value; p must be
// 4-byte aligned.
template <typename T>
__device__ __forceinline__ unsigned mimo_ld_u32(const T* p) {
  static_assert(sizeof(T) == 1 || sizeof(T) == 2, "mimo_ld_u32 loads 8- or 16-bit elements");
#if defined(MIMO_HOST_EMU)
  // A GPU faults on a misaligned 32-bit shared load; the emulator must not hide it.
  if (reinterpret_cast<std::uintptr_t>(p) & 3u) ::mimo_emu::fatal("mimo_ld_u32: address %p is not 4-byte aligned", static_cast<const void*>(p));
  unsigned v;
  std::memcpy(&v, p, sizeof v);  // no strict-aliasing UB in g++
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

// Four raw fp8 values as one 32-bit tensor-core operand register, b0 in bits 0..7.
template <typename T>
__host__ __device__ __forceinline__ unsigned mimo_pack4(T b0, T b1, T b2, T b3) {
  static_assert(sizeof(T) == 1, "mimo_pack4 packs 8-bit elements");
  return static_cast<unsigned>(b0.__x) | (static_cast<unsigned>(b1.__x) << 8) | (static_cast<unsigned>(b2.__x) << 16) |
         (static_cast<unsigned>(b3.__x) << 24);
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
// The DSL's f32 max/min: NaN if either operand is NaN (IEEE 754-2019 maximum/minimum, and what
// the interpreter and the WGSL helpers do); fmaxf/fminf would return the other operand. On the
// GPU one instruction (PTX max.NaN / min.NaN, sm_80+): compares and selects around fmaxf cost
// registers, enough to make the attention kernels spill on sm_90a.
#if defined(__CUDA_ARCH__)
__device__ __forceinline__ float mimo_fmaxf(float a, float b) { float r; asm("max.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
__device__ __forceinline__ float mimo_fminf(float a, float b) { float r; asm("min.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
#else
__host__ __device__ __forceinline__ float mimo_fmaxf(float a, float b) { return a != a ? a : b != b ? b : fmaxf(a, b); }
__host__ __device__ __forceinline__ float mimo_fminf(float a, float b) { return a != a ? a : b != b ? b : fminf(a, b); }
#endif
__device__ __forceinline__ float mimo_max_of(float a, float b) { return mimo_fmaxf(a, b); }
template <typename T>
__device__ __forceinline__ T mimo_max_of(T a, T b) { return a > b ? a : b; }

// A NaN anywhere in the warp makes every lane's f32 maximum NaN.
template <typename T>
__device__ __forceinline__ T mimo_warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) v = mimo_max_of(__shfl_xor_sync(0xffffffffu, v, o), v);
  return v;
}

#include "mimo_ldmatrix.cuh"  // mimo_ldmatrix_x{1,2,4}[_trans]
#include "mimo_cp_async.cuh"  // mimo_cp_async16, mimo_cp_async_commit, mimo_cp_async_wait<N>
#include "mimo_wgmma.cuh"  // mimo_wgmma_desc, mimo_wgmma_m64nNk32_e4m3<N>, mimo_wgmma_m64nNk16_bf16<N>, fence/commit/wait (sm_90a)
// Generated code's `#if MIMO_SM90A_PATH` (IR archSwitch, passes/wgmmaTile.ts): the wgmma branch in nvcc's
// sm_90a device pass, or on the emulator built with -DMIMO_EMU_SM90A; the host pass and other archs take #else.
// (Spelled out: `defined` produced by a macro expansion is undefined behaviour, -Wexpansion-to-defined.)
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) || defined(MIMO_EMU_SM90A)
#define MIMO_SM90A_PATH 1
#else
#define MIMO_SM90A_PATH 0
#endif
#include "mimo_smem.cuh"  // mimo_smem_opt_in: the launchers' dynamic shared memory opt-in past 48 KiB
