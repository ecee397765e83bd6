// mimo_wgmma.cuh — Hopper warpgroup MMA (wgmma.mma_async, sm_90a) with operands in shared memory, for
// the sm_90a lowering of block-level GEMM tiles. Included by mimo_prelude.cuh. Real PTX when nvcc
// compiles for sm_90a (__CUDA_ARCH_FEAT_SM90_ALL), emulated under MIMO_HOST_EMU (mimo_emu_wgmma.h),
// and a compile-time error naming sm_90a when a kernel that calls them is built for anything else.
//
// Sequence for one block tile (PTX ISA 9.7.15 "Asynchronous Warpgroup Level Matrix Multiply-Accumulate"):
//   write A/B tiles to shared memory in a canonical layout (mimo_wgmma_smem_index)
//   mimo_fence_proxy_async_shared();  __syncthreads();   // generic-proxy writes -> visible to wgmma (9.7.15.4)
//   mimo_wgmma_fence();                                   // before the first wgmma / after touching d
//   mimo_wgmma_m64nNk32_e4m3<N>(d, descA, descB, scaleD); ... (several k steps)
//   mimo_wgmma_commit();  mimo_wgmma_wait<0>(d);           // d (and the smem tiles) usable again
// All 128 threads of the warpgroup (linear ids 128j .. 128j+127) must call each function together.
//
// Accumulator fragment (PTX ISA 9.7.15.5.1 "Register Fragments", wgmma .m64nNk16/.m64nNk32, f32 D):
// warp w = (tid % 128) / 32 owns rows 16w .. 16w+15; with g = lane >> 2, t = lane & 3 and i = 0 .. N/8-1
//   d[4i+0] = D[16w+g][8i+2t]     d[4i+1] = D[16w+g][8i+2t+1]
//   d[4i+2] = D[16w+g+8][8i+2t]   d[4i+3] = D[16w+g+8][8i+2t+1]
// i.e. the m16n8 C layout of mma.sync repeated once per 8 columns.
//
// Operands: A is 64 x K (rows m), B is N x K (rows n, i.e. B^T row-major); both K-major, one wgmma reads
// 32 bytes of K per row (k16 bf16 / k32 fp8). Canonical layouts (PTX ISA 9.7.15.5.1 "Shared Memory Matrix
// Layout", K-major), in "core matrices" of 8 rows x 16 bytes:
//   swizzle 0 (none): a core matrix is 128 contiguous bytes (row r at 16r); the core matrix holding
//     rows 8a.. and K bytes 16c.. starts at a*SBO + c*LBO.
//   swizzle 1 (128B) / 2 (64B) / 3 (32B): rows of R = 128 / 64 / 32 bytes, 8-row groups SBO apart
//     (usually 8*R); address bits [4, 4+s) are XOR-ed with bits [7, 7+s), s = 3 / 2 / 1. With the tile
//     base aligned to 8*R (1024 for 128B) that is: 16-byte chunk c of row r is stored at chunk
//     c ^ (r % 8) for 128B. LBO is unused. A k step inside a row is a start address 32 bytes further.
//
// bf16 B may instead be MN-major (imm-trans-b = 1, PTX ISA "Shared Memory Matrix Layout", N-major; CUTLASS
// make_gmma_desc<Major::MN>): B stored [K][N], N contiguous, in units T of 16 bytes (8 elements):
//   swizzle 0: ((1,n),(8,k)):((X,SBO),(1,LBO)) — a core matrix is 8 k-rows of 16 bytes (8 columns),
//     contiguous; the one holding columns 8c.. and k rows 8a.. starts at c*SBO + a*LBO.
//   swizzle 1/2/3: ((W,n),(8,k)):((1,LBO),(W,SBO)), W = 8/4/2: an atom is 8 k-rows of R = 16W bytes of
//     columns (R = 128/64/32), the next R bytes of columns LBO further, the next 8 k-rows SBO further
//     (usually 8R), the same address XOR as K-major. One wgmma reads 16 k-rows: a k step is 2 * SBO
//     further (swizzled) or 2 * LBO further (no swizzle).
#pragma once

#include <stdint.h>

// PTX ISA 9.7.15.5.1.1 "Matrix Descriptor Format": bits 0-13 start address >> 4, 16-29 leading-dimension
// byte offset >> 4, 32-45 stride-dimension byte offset >> 4, 49-51 base offset (0: the swizzle pattern
// is anchored at an aligned address), 62-63 swizzle (0 none, 1 128B, 2 64B, 3 32B). smem, lbo and sbo
// must be multiples of 16 and below 256 KiB; the emulator checks that, a GPU does not.
__device__ __forceinline__ uint64_t mimo_wgmma_desc(const void* smem, unsigned lbo_bytes, unsigned sbo_bytes,
                                                    int swizzle) {
#if defined(MIMO_HOST_EMU)
  return ::mimo_emu::wgmma_desc(smem, lbo_bytes, sbo_bytes, swizzle);
#else
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  return static_cast<uint64_t>((addr & 0x3FFFFu) >> 4) | static_cast<uint64_t>((lbo_bytes >> 4) & 0x3FFFu) << 16 |
         static_cast<uint64_t>((sbo_bytes >> 4) & 0x3FFFu) << 32 | static_cast<uint64_t>(swizzle & 3) << 62;
#endif
}

// The same descriptor with its start address `bytes` (a multiple of 16) further, e.g. the next k step.
__device__ __forceinline__ uint64_t mimo_wgmma_desc_advance(uint64_t desc, unsigned bytes) {
  return desc + (bytes >> 4);
}

// Byte offset, from a tile base aligned to 128 << s (1024 for 128B), of the byte `kbyte` along K of row
// `row` in the canonical layout above: what the hardware reads for a descriptor (base, lbo, sbo, swizzle).
// For swizzled layouts kbyte < R (a wider K tile is several such column blocks, each its own base).
__host__ __device__ constexpr unsigned mimo_wgmma_smem_index(unsigned row, unsigned kbyte, unsigned lbo_bytes,
                                                             unsigned sbo_bytes, int swizzle) {
  if (swizzle == 0) return (row / 8) * sbo_bytes + (kbyte / 16) * lbo_bytes + (row % 8) * 16 + kbyte % 16;
  const unsigned s = swizzle == 1 ? 3u : swizzle == 2 ? 2u : 1u;
  const unsigned logical = (row / 8) * sbo_bytes + (row % 8) * (16u << s) + kbyte;
  return logical ^ (((logical >> 7) & ((1u << s) - 1u)) << 4);
}

// The same for an MN-major operand: byte offset of the byte `mnbyte` along N (or M) of k row `k`.
__host__ __device__ constexpr unsigned mimo_wgmma_smem_index_mn(unsigned k, unsigned mnbyte, unsigned lbo_bytes,
                                                                unsigned sbo_bytes, int swizzle) {
  if (swizzle == 0) return (mnbyte / 16) * sbo_bytes + (k / 8) * lbo_bytes + (k % 8) * 16 + mnbyte % 16;
  const unsigned s = swizzle == 1 ? 3u : swizzle == 2 ? 2u : 1u, R = 16u << s;
  const unsigned logical = (mnbyte / R) * lbo_bytes + (k / 8) * sbo_bytes + (k % 8) * R + mnbyte % R;
  return logical ^ (((logical >> 7) & ((1u << s) - 1u)) << 4);
}

template <int>
constexpr bool mimo_wgmma_never = false;

#if !defined(MIMO_HOST_EMU) && defined(__CUDA_ARCH__) && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define MIMO_WGMMA_UNAVAILABLE(tag) \
  static_assert(mimo_wgmma_never<tag>, "mimo_wgmma_*: wgmma needs sm_90a; compile with -arch=sm_90a (sm_90 without 'a' lacks it)")
#else
#define MIMO_WGMMA_UNAVAILABLE(tag)
#endif

#if defined(__CUDA_ARCH_FEAT_SM90_ALL) && !defined(MIMO_HOST_EMU)
#include "mimo_wgmma_ops.cuh"
#define MIMO_WGMMA_PTX(text) asm volatile(text : : : "memory")
#else
#define MIMO_WGMMA_PTX(text)
#endif

// fence.proxy.async.shared::cta (PTX ISA 9.7.12.4 "membar/fence"): shared-memory writes by ordinary
// stores (generic proxy) become visible to wgmma (async proxy). Every writing thread, before the barrier.
template <int Tag = 0>
__device__ __forceinline__ void mimo_fence_proxy_async_shared() {
  MIMO_WGMMA_UNAVAILABLE(Tag);
  MIMO_WGMMA_PTX("fence.proxy.async.shared::cta;\n");
}

// wgmma.fence.sync.aligned: orders earlier register/shared accesses before the next wgmma.mma_async.
template <int Tag = 0>
__device__ __forceinline__ void mimo_wgmma_fence() {
  MIMO_WGMMA_UNAVAILABLE(Tag);
  MIMO_WGMMA_PTX("wgmma.fence.sync.aligned;\n");
}

// wgmma.commit_group.sync.aligned: closes the group of wgmma.mma_async issued since the last commit.
template <int Tag = 0>
__device__ __forceinline__ void mimo_wgmma_commit() {
  MIMO_WGMMA_UNAVAILABLE(Tag);
  MIMO_WGMMA_PTX("wgmma.commit_group.sync.aligned;\n");
}

// wgmma.wait_group.sync.aligned N: at most N committed groups still pending. The overload taking the
// accumulator also pins its registers after the wait, so the compiler cannot read them earlier.
template <int N>
__device__ __forceinline__ void mimo_wgmma_wait() {
  static_assert(N >= 0 && N <= 7, "mimo_wgmma_wait<N>: N must be 0..7");
  MIMO_WGMMA_UNAVAILABLE(N);
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) && !defined(MIMO_HOST_EMU)
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" : : "n"(N) : "memory");
#endif
}
template <int R>
__device__ __forceinline__ void mimo_wgmma_fence_operand(float (&d)[R]) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL) && !defined(MIMO_HOST_EMU)
#pragma unroll
  for (int i = 0; i < R; ++i) asm volatile("" : "+f"(d[i]) : : "memory");
#else
  (void)d;
#endif
}
template <int N, int R>
__device__ __forceinline__ void mimo_wgmma_wait(float (&d)[R]) {
  mimo_wgmma_wait<N>();
  mimo_wgmma_fence_operand(d);
}

// D(64 x N) = A(64 x 32, e4m3) * B(N x 32, e4m3)^T + (scaleD ? D : 0), f32. wgmma.mma_async.sync.aligned
// .m64nNk32.f32.e4m3.e4m3. d: the fragment above; descA/descB: mimo_wgmma_desc of K-major tiles.
template <int N>
__device__ __forceinline__ void mimo_wgmma_m64nNk32_e4m3(float (&d)[N / 2], uint64_t descA, uint64_t descB,
                                                          int scaleD) {
  static_assert(N == 8 || N == 16 || N == 32 || N == 64 || N == 128 || N == 256,
                "mimo_wgmma_m64nNk32_e4m3<N>: N must be 8, 16, 32, 64, 128 or 256");
  MIMO_WGMMA_UNAVAILABLE(N);
#if defined(MIMO_HOST_EMU)
  ::mimo_emu::wgmma(::mimo_emu::kWgmmaE4m3, N, d, descA, descB, scaleD);
#elif defined(__CUDA_ARCH_FEAT_SM90_ALL)
  mimo_wgmma_ptx_e4m3(d, descA, descB, scaleD);
#else
  (void)d, (void)descA, (void)descB, (void)scaleD;
#endif
}

// The same for bf16: A 64 x 16, B N x 16 (32 bytes of K per row, too). .m64nNk16.f32.bf16.bf16, A K-major;
// B K-major (TransB = 0) or MN-major, i.e. stored [16][N] (TransB = 1, imm-trans-b).
template <int N, int TransB = 0>
__device__ __forceinline__ void mimo_wgmma_m64nNk16_bf16(float (&d)[N / 2], uint64_t descA, uint64_t descB,
                                                          int scaleD) {
  static_assert(N == 8 || N == 16 || N == 32 || N == 64 || N == 128 || N == 256,
                "mimo_wgmma_m64nNk16_bf16<N>: N must be 8, 16, 32, 64, 128 or 256");
  static_assert(TransB == 0 || TransB == 1, "mimo_wgmma_m64nNk16_bf16<N, TransB>: TransB must be 0 or 1");
  MIMO_WGMMA_UNAVAILABLE(N);
#if defined(MIMO_HOST_EMU)
  ::mimo_emu::wgmma(::mimo_emu::kWgmmaBf16, N, d, descA, descB, scaleD, TransB);
#elif defined(__CUDA_ARCH_FEAT_SM90_ALL)
  if constexpr (TransB) mimo_wgmma_ptx_bf16_tb(d, descA, descB, scaleD);
  else mimo_wgmma_ptx_bf16(d, descA, descB, scaleD);
#else
  (void)d, (void)descA, (void)descB, (void)scaleD;
#endif
}

#undef MIMO_WGMMA_PTX
#undef MIMO_WGMMA_UNAVAILABLE
