// mimo_cp_async.cuh — asynchronous global -> shared copies (PTX ISA "cp.async", sm_80+), for the
// copyTile lowering (compiler/passes/copyTile.ts). Included by mimo_prelude.cuh.
//   mimo_cp_async16(dst, src, src_bytes): 16 bytes to shared dst from global src, both 16-byte
//   aligned; only the first src_bytes (0..16) are read, the rest of the 16 are zero-filled.
//   mimo_cp_async_commit(): this thread's copies since the last commit become one group.
//   mimo_cp_async_wait<N>(): waits until at most N of this thread's committed groups are pending.
// The data is in dst only after the wait that retires its group (and, for other threads, after a
// __syncthreads that follows it). Under MIMO_HOST_EMU the emulator defers the copies to that wait
// as well (mimo_emu_cp_async.h), so a kernel that reads too early reads stale data there too.
#pragma once

#if defined(MIMO_HOST_EMU)
template <typename T>
__device__ __forceinline__ void mimo_cp_async16(T* dst, const T* src, int src_bytes) {
  ::mimo_emu::cp_async16(dst, src, src_bytes);
}
__device__ __forceinline__ void mimo_cp_async_commit() { ::mimo_emu::cp_async_commit(); }
template <int N>
__device__ __forceinline__ void mimo_cp_async_wait() { ::mimo_emu::cp_async_wait(N); }
#else
// .cg: cache in L2 only (the tile is staged in shared memory, L1 would hold a second copy).
template <typename T>
__device__ __forceinline__ void mimo_cp_async16(T* dst, const T* src, int src_bytes) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void mimo_cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void mimo_cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }
#endif
