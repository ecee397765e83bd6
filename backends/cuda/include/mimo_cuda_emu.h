// mimo_cuda_emu.h — host (CPU) emulation of the CUDA subset used by mimo-kc generated kernels.
//
// Usage: generated .cu files include "mimo_prelude.cuh" first; with -DMIMO_HOST_EMU it includes this
// header, so the same file builds with
//     g++ -x c++ -std=c++17 -O1 -DMIMO_HOST_EMU -I backends/cuda/include -I/usr/local/cuda/include foo.cu
// (only the CUDA *headers* are needed for __nv_bfloat16 / __half / __nv_fp8_*; no libcudart, no GPU).
//
// EXECUTION MODEL
//   * MIMO_LAUNCH(kernel, grid, block, smem, stream, args...) runs the whole grid synchronously on the
//     calling host thread. Blocks run one after another (blockIdx.x fastest, then y, then z).
//   * Every thread of a block is a cooperative fiber with its own stack (MIMO_EMU_STACK_BYTES, default
//     256 KiB, mmap'ed once with a PROT_NONE guard page below it and reused by every block/launch).
//     Kernel arguments are converted to the kernel's parameter types once per launch (like <<<>>>);
//     each fiber then calls kernel(params...) with its own copy.
//   * Scheduling is deterministic: a scheduling pass resumes runnable fibers in ascending linear thread
//     id (x + y*Dx + z*Dx*Dy); a fiber runs until it blocks (barrier / warp collective) or returns.
//   * Context switch: on x86-64 a 20-instruction callee-saved-register switch (default; ~100x cheaper
//     than glibc swapcontext, which makes a sigprocmask syscall per switch). Elsewhere, under
//     AddressSanitizer, or with -DMIMO_EMU_UCONTEXT: ucontext makecontext/swapcontext.
//   * __shared__ is `static`: one instance per declaration, which is exactly "one array per block" because
//     blocks never overlap in time. Contents are NOT reset between blocks (on a GPU they are undefined at
//     block start), so a kernel that reads shared memory before writing it sees the previous block's data.
//   * Dynamic shared memory (MIMO_EXTERN_SHARED / mimo_emu::dynamic_smem()) is one buffer of `smem` bytes
//     per launch, filled with 0xFF bytes (float NaN, int -1) at the start of every block.
//   * __syncthreads(): counting barrier over the block's live threads; a returned thread no longer counts,
//     so "if (tid >= n) return; ... __syncthreads();" works. __syncthreads_count/_and/_or supported.
//   * Warps are 32 consecutive linear thread ids (lane = linear id % 32). Warp collectives (__shfl*_sync,
//     __ballot_sync, __any/__all_sync, __reduce_*_sync, __syncwarp, mimo_mma_*) rendezvous the live lanes
//     named in `mask`: phase 1, each lane deposits its value into an exchange record and blocks; the last
//     arriver releases the others; phase 2, every lane reads what it needs and leaves the record, which is
//     recycled only when all its participants have read it (so a fast lane that already entered the next
//     collective never overwrites a value a slow lane has yet to read). A lane joins the in-flight record
//     with the same (op, mask); a lane is in at most one record, so 32 records per warp always suffice.
//     Disjoint-mask collectives in divergent code (lanes 0-15 and 16-31 separately) therefore work; lanes
//     that disagree on the mask never complete and are reported as a deadlock.
//     Shuffle semantics follow the CUDA C++ Programming Guide (width, out-of-range => own value);
//     reading from a lane that did not participate (not in mask / exited) returns the caller's own value.
//   * mimo_mma_m16n8k16_{bf16,f16}: all 32 lanes deposit a[4], b[2]; after the rendezvous A (16x16) and
//     B (16x8) are decoded once per op with the PTX ISA fragment layouts (see mimo_prelude.cuh) and each
//     lane computes its four D elements in f32: d = c; for k = 0..15: d = fmaf(A[r][k], B[k][c], d).
//     (bf16*bf16 and f16*f16 products are exact in f32; only summation order/rounding may differ from
//     the tensor core, i.e. results agree to ~1e-6 relative, not bit-exactly.)
//   * mimo_mma_m16n8k32_{e4m3,e5m2}: the same with A (16x32) and B (32x8) of fp8, decoded with the
//     m16n8k32 8-bit layouts (see mimo_prelude.cuh); k runs 0..31. fp8*fp8 products are exact in f32.
//   * Atomics are plain read-modify-write (fibers never preempt each other).
//   * Host API subset: cudaMalloc (+ template), cudaFree, cudaMemcpy(Async), cudaMemset(Async),
//     cudaDeviceSynchronize, cudaStreamSynchronize, cudaGetLastError, cudaPeekAtLastError,
//     cudaGetErrorString, cudaFuncSetAttribute, cudaGetDevice (mimo_emu_smem.h: the dynamic shared memory
//     opt-in is enforced past 48 KiB). "Device" memory is ordinary host memory.
//
// ERRORS (message on stderr; abort() unless noted)
//   * Deadlock: no fiber runnable while some are blocked (barrier never completes, lanes disagree on a
//     collective's mask, a lane named in a mask waits at __syncthreads, ...) -> lists the block id, the
//     thread ids per wait kind and the pending warp collectives.
//   * Invalid launch config (0 or >1024 threads per block, blockDim.z > 64, empty grid): message,
//     cudaGetLastError() == cudaErrorInvalidConfiguration, kernel not run (like CUDA; no abort).
//   * Warp collective whose mask does not contain the calling lane; mma when not all 32 lanes of the warp
//     exist/participate (or one returns while it is pending); nested launch from a kernel; concurrent
//     launches from several host threads (the emulator state and __shared__ statics are process-global).
//   * __builtin_assume(cond) with cond false (nvcc takes it as a hint; here it is checked).
//
// NOT EMULATED
//   * Memory-model effects: no data races are detected, everything is sequentially consistent,
//     __threadfence*() are no-ops; uninitialised-shared-memory bugs may be masked (see above).
//   * Independent thread scheduling / warp divergence: lanes do not run in lockstep; only the collectives
//     above synchronise lanes. Code relying on implicit warp-synchronous behaviour (no __syncwarp) may
//     behave differently than on a GPU.
//   * Streams/events/graphs (everything is synchronous), cooperative groups, textures, cp.async, ldmatrix,
//     TMA, other inline PTX, dynamic parallelism, clusters, __noinline__ (not defined here because
//     libstdc++ uses it as an attribute name).
//   * Fast-math intrinsics (__expf, __fdividef, ...) use the accurate libm functions.
//   * Performance characteristics of any kind.
#ifndef MIMO_CUDA_EMU_H
#define MIMO_CUDA_EMU_H

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "mimo_cuda_emu.h needs C++17 (-std=c++17)"
#endif
#if defined(__CUDACC__)
#error "mimo_cuda_emu.h is for host compilers (g++/clang++); do not define MIMO_HOST_EMU under nvcc"
#endif

// CUDA headers compile as plain host C++ (they pull in vector_types.h: dim3/uint3, driver_types.h:
// cudaError_t/cudaStream_t, cuda_runtime_api.h: host API declarations). No defines are required.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <type_traits>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

#if !defined(MIMO_EMU_UCONTEXT) && (!defined(__x86_64__) || defined(__SANITIZE_ADDRESS__))
#define MIMO_EMU_UCONTEXT 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(MIMO_EMU_UCONTEXT)
#define MIMO_EMU_UCONTEXT 1
#endif
#endif
#if defined(MIMO_EMU_UCONTEXT)
#include <ucontext.h>
#endif

#ifndef MIMO_EMU_STACK_BYTES
#define MIMO_EMU_STACK_BYTES (256u * 1024u)
#endif

// `#pragma unroll` (nvcc) is unknown to g++: silence -Wunknown-pragmas for the rest of the translation unit.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wunknown-pragmas"
#elif defined(__clang__)
#pragma clang diagnostic ignored "-Wunknown-pragmas"
#endif

// ---- execution-space qualifiers --------------------------------------------------------------------
// host_defines.h (via cuda_bf16.h) already maps these to nothing for host compilers; make it explicit.
#undef __global__
#undef __device__
#undef __host__
#undef __shared__
#undef __constant__
#undef __managed__
#undef __forceinline__
#undef __launch_bounds__
#undef __grid_constant__
#define __global__
#define __device__
#define __host__
#define __shared__ static  // one instance per block because blocks run sequentially (see top)
#define __constant__
#define __managed__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __grid_constant__
// __restrict__ and __align__(n) are understood by g++ / defined by host_defines.h.

namespace mimo_emu {

enum : unsigned char { kRunnable = 0, kBarrier = 1, kWarp = 2, kDone = 3 };
enum OpKind : int { kOpNone = 0, kOpSync, kOpShfl, kOpVote, kOpReduce, kOpMmaBf16, kOpMmaF16, kOpMmaE4m3, kOpMmaE5m2 };
inline bool is_mma(int k) { return k == kOpMmaBf16 || k == kOpMmaF16 || k == kOpMmaE4m3 || k == kOpMmaE5m2; }

inline const char* op_name(int k) {
  switch (k) {
    case kOpSync: return "__syncwarp";
    case kOpShfl: return "__shfl*_sync";
    case kOpVote: return "__ballot/__any/__all_sync";
    case kOpReduce: return "__reduce_*_sync";
    case kOpMmaBf16: return "mimo_mma_m16n8k16_bf16";
    case kOpMmaF16: return "mimo_mma_m16n8k16_f16";
    case kOpMmaE4m3: return "mimo_mma_m16n8k32_e4m3";
    case kOpMmaE5m2: return "mimo_mma_m16n8k32_e5m2";
    default: return "none";
  }
}

struct Fiber {
  void* sp = nullptr;               // saved stack pointer (x86-64 fast switch)
  unsigned char* stack = nullptr;   // mapping base (guard page first)
  uint3 tid{0, 0, 0};
  unsigned linear = 0;
  unsigned char state = kDone;
#if defined(MIMO_EMU_UCONTEXT)
  ucontext_t uc;
  bool uc_init = false;
#endif
};

struct Slot {
  uint32_t w[6];
};

// One warp collective: in flight until all live lanes of `mask` arrived, then read by every participant.
struct WarpOp {
  uint32_t mask = 0;
  int kind = kOpNone;
  bool done = false;
  uint32_t arrived = 0;  // participants (lanes that deposited)
  uint32_t unread = 0;   // participants that still have to read the result
  Slot slot[32];
  float mA[16][32];      // decoded mma operands (k < 16 for 16-bit types)
  float mB[32][8];
};

struct Warp {
  unsigned base = 0;    // linear id of lane 0
  uint32_t live = 0;    // lanes that exist in this block and have not returned
  uint32_t alive = 0;   // records in use
  WarpOp ops[32];
};

constexpr unsigned kMaxThreads = 1024;

struct State {
  Fiber fibers[kMaxThreads];  // fixed storage (stable addresses); stacks are mapped lazily and reused
  Warp warps[kMaxThreads / 32];
  unsigned nwarps = 0;
  Fiber* cur = nullptr;       // fiber currently running (nullptr: host / scheduler)
  uint3 block_idx{0, 0, 0};
  dim3 block_dim{1, 1, 1};
  dim3 grid_dim{1, 1, 1};
  unsigned nthreads = 0, live = 0, done = 0;
  unsigned bar_arrived = 0, bar_gen = 0;
  int bar_acc_count = 0, bar_res_count[2] = {0, 0};
  int bar_acc_and = 1, bar_res_and[2] = {1, 1};
  int bar_acc_or = 0, bar_res_or[2] = {0, 0};
  const char* kernel_name = "";
  void (*invoke)(void*) = nullptr;
  void* invoke_ctx = nullptr;
  unsigned char* dyn_smem = nullptr;
  size_t dyn_smem_cap = 0, dyn_smem_size = 0;
  bool in_launch = false;
  cudaError_t last_error = cudaSuccess;
  void* main_sp = nullptr;
#if defined(MIMO_EMU_UCONTEXT)
  ucontext_t main_uc;
#endif
};

inline State g;  // process-global emulator state (single host thread at a time)

[[noreturn]] __attribute__((format(printf, 1, 2))) inline void fatal(const char* fmt, ...) {
  std::fflush(stdout);
  std::fprintf(stderr, "mimo_emu: error in kernel '%s'", g.kernel_name);
  if (g.in_launch)
    std::fprintf(stderr, " block (%u,%u,%u)", g.block_idx.x, g.block_idx.y, g.block_idx.z);
  if (g.cur) std::fprintf(stderr, " thread (%u,%u,%u)", g.cur->tid.x, g.cur->tid.y, g.cur->tid.z);
  std::fprintf(stderr, ": ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
  std::abort();
}

// ---- context switching --------------------------------------------------------------------------------
[[noreturn]] inline void fiber_main();

#if !defined(MIMO_EMU_UCONTEXT)
// mimo_emu_swap(void** save_sp, void* new_sp): push callee-saved state (SysV x86-64: rbx rbp r12-r15,
// MXCSR, x87 control word) on the current stack, store rsp into *save_sp, switch to new_sp, pop, ret.
// Weak + hidden so that several translation units may include this header.
__asm__(
    ".pushsection .text\n"
    ".weak mimo_emu_swap\n"
    ".hidden mimo_emu_swap\n"
    ".type mimo_emu_swap, @function\n"
    ".p2align 4\n"
    "mimo_emu_swap:\n"
    "  .cfi_startproc\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  subq $8, %rsp\n"
    "  stmxcsr (%rsp)\n"
    "  fnstcw 4(%rsp)\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  ldmxcsr (%rsp)\n"
    "  fldcw 4(%rsp)\n"
    "  addq $8, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    "  .cfi_endproc\n"
    ".size mimo_emu_swap, .-mimo_emu_swap\n"
    ".popsection\n");
extern "C" void mimo_emu_swap(void** save_sp, void* new_sp);

inline void fiber_entry_x86() { fiber_main(); }

inline void prepare_fiber(Fiber& f) {
  uintptr_t top = reinterpret_cast<uintptr_t>(f.stack) + static_cast<uintptr_t>(getpagesize()) + MIMO_EMU_STACK_BYTES;
  top &= ~static_cast<uintptr_t>(15);
  uint64_t* sp = reinterpret_cast<uint64_t*>(top);
  *--sp = 0;  // fake return address of fiber_entry_x86 (it never returns); keeps rsp%16 == 8 at entry
  *--sp = reinterpret_cast<uint64_t>(&fiber_entry_x86);  // consumed by `ret`
  for (int i = 0; i < 6; ++i) *--sp = 0;                 // rbp rbx r12 r13 r14 r15
  unsigned mxcsr = __builtin_ia32_stmxcsr();
  unsigned short fpucw;
  __asm__ volatile("fnstcw %0" : "=m"(fpucw));
  *--sp = static_cast<uint64_t>(mxcsr) | (static_cast<uint64_t>(fpucw) << 32);
  f.sp = sp;
}
inline void switch_to(Fiber* from, Fiber* to) {
  mimo_emu_swap(from ? &from->sp : &g.main_sp, to ? to->sp : g.main_sp);
}
#else
inline void prepare_fiber(Fiber& f) {
  if (!f.uc_init) {
    if (getcontext(&f.uc) != 0) fatal("getcontext failed");
    f.uc_init = true;
  }
  f.uc.uc_stack.ss_sp = f.stack + getpagesize();
  f.uc.uc_stack.ss_size = MIMO_EMU_STACK_BYTES;
  f.uc.uc_link = nullptr;
  makecontext(&f.uc, reinterpret_cast<void (*)()>(&fiber_main), 0);
}
inline void switch_to(Fiber* from, Fiber* to) {
  swapcontext(from ? &from->uc : &g.main_uc, to ? &to->uc : &g.main_uc);
}
#endif

inline void alloc_stack(Fiber& f) {
  if (f.stack) return;
  size_t page = static_cast<size_t>(getpagesize());
  size_t bytes = page + ((MIMO_EMU_STACK_BYTES + page - 1) / page) * page;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) fatal("mmap of a %zu-byte fiber stack failed", bytes);
  mprotect(p, page, PROT_NONE);  // guard page: a stack overflow faults instead of corrupting memory
  f.stack = static_cast<unsigned char*>(p);
}

// ---- scheduler ------------------------------------------------------------------------------------------
// Current fiber has set its state (blocked/done); run the next runnable fiber after it in linear order,
// or return to the scheduler loop (which starts a new pass from thread 0).
inline void yield_current() {
  Fiber* self = g.cur;
  Fiber* next = nullptr;
  for (unsigned j = self->linear + 1; j < g.nthreads; ++j)
    if (g.fibers[j].state == kRunnable) { next = &g.fibers[j]; break; }
  g.cur = next;
  switch_to(self, next);
  // resumed: whoever switched to us set g.cur = self
}

inline void release_barrier() {
  unsigned p = g.bar_gen & 1u;
  g.bar_res_count[p] = g.bar_acc_count;
  g.bar_res_and[p] = g.bar_acc_and;
  g.bar_res_or[p] = g.bar_acc_or;
  g.bar_acc_count = 0, g.bar_acc_and = 1, g.bar_acc_or = 0;
  g.bar_arrived = 0;
  ++g.bar_gen;
  for (unsigned i = 0; i < g.nthreads; ++i)
    if (g.fibers[i].state == kBarrier) g.fibers[i].state = kRunnable;
}

// returns the generation parity whose __syncthreads_count/and/or results this thread may read
inline unsigned syncthreads_impl(int pred) {
  Fiber* f = g.cur;
  if (!f) fatal("__syncthreads() called outside a kernel");
  unsigned p = g.bar_gen & 1u;
  g.bar_acc_count += pred ? 1 : 0;
  g.bar_acc_and &= pred ? 1 : 0;
  g.bar_acc_or |= pred ? 1 : 0;
  if (++g.bar_arrived == g.live) {
    release_barrier();
  } else {
    f->state = kBarrier;
    yield_current();
  }
  return p;
}

inline Warp& warp_of(const Fiber* f) { return g.warps[f->linear >> 5]; }

inline float bf16_bits_to_float(uint32_t h) {
  uint32_t u = (h & 0xFFFFu) << 16;
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}
inline float f16_bits_to_float(uint32_t h) {
  h &= 0xFFFFu;
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, u;
  if (exp == 0x1F) {
    u = sign | 0x7F800000u | (man << 13);
  } else if (exp != 0) {
    u = sign | ((exp + 112u) << 23) | (man << 13);
  } else if (man == 0) {
    u = sign;
  } else {  // subnormal: value = man * 2^-24, exact in f32
    float r = std::ldexp(static_cast<float>(man), -24);
    return sign ? -r : r;
  }
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}

// fp8 bit patterns (low byte) -> float, exactly. e5m2 is the upper byte of an f16.
inline float e5m2_bits_to_float(uint32_t b) { return f16_bits_to_float((b & 0xFFu) << 8); }
inline float e4m3_bits_to_float(uint32_t b) {
  b &= 0xFFu;
  const uint32_t exp = (b >> 3) & 0xFu, man = b & 7u;
  float r;
  if (exp == 0xFu && man == 7u) r = std::numeric_limits<float>::quiet_NaN();  // e4m3 has no infinity
  else if (exp == 0) r = std::ldexp(static_cast<float>(man), -9);
  else r = std::ldexp(static_cast<float>(8u + man), static_cast<int>(exp) - 10);
  return (b & 0x80u) ? -r : r;
}

// Decode the 32 lanes' fragments into row-major A[16][depth] and B[depth][8] (k x n), depth 16 for
// bf16/f16 (m16n8k16) or 32 for fp8 (m16n8k32). Each register holds `per` elements (2 of 16 bits or 4
// of 8) consecutive along k, the lowest k in the low bits; with half = depth/2 (PTX ISA "Matrix Fragments
// for mma.m16n8k16 with floating point type" / "for mma.m16n8k32", see the prelude):
//   a[0..3] = rows g, g+8, g, g+8 at k = per*t (+ half for a[2], a[3]); b[0], b[1] = column g at
//   k = per*t and per*t + half.
inline void mma_decode(WarpOp& op) {
  const bool fp8 = op.kind == kOpMmaE4m3 || op.kind == kOpMmaE5m2;
  float (*cvt)(uint32_t) = op.kind == kOpMmaBf16 ? &bf16_bits_to_float
                           : op.kind == kOpMmaF16 ? &f16_bits_to_float
                           : op.kind == kOpMmaE4m3 ? &e4m3_bits_to_float
                                                   : &e5m2_bits_to_float;
  const unsigned per = fp8 ? 4 : 2, bits = 32 / per, half = fp8 ? 16 : 8;
  for (unsigned lane = 0; lane < 32; ++lane) {
    const uint32_t* r = op.slot[lane].w;
    const unsigned gid = lane >> 2, k0 = per * (lane & 3u);
    const unsigned arow[4] = {gid, gid + 8, gid, gid + 8};
    const unsigned acol[4] = {k0, k0, k0 + half, k0 + half};
    for (unsigned e = 0; e < per; ++e) {
      for (int i = 0; i < 4; ++i) op.mA[arow[i]][acol[i] + e] = cvt(r[i] >> (bits * e));
      op.mB[k0 + e][gid] = cvt(r[4] >> (bits * e));
      op.mB[k0 + half + e][gid] = cvt(r[5] >> (bits * e));
    }
  }
}

inline void warp_complete(Warp& w, WarpOp& op) {
  if (is_mma(op.kind)) {
    if (op.arrived != 0xFFFFFFFFu)
      fatal("%s needs all 32 lanes of warp %u (participating lanes 0x%08x)", op_name(op.kind), w.base / 32,
            op.arrived);
    mma_decode(op);
  }
  op.done = true;
  op.unread = op.arrived;
  for (uint32_t m = op.arrived; m; m &= m - 1) {
    Fiber& f = g.fibers[w.base + static_cast<unsigned>(__builtin_ctz(m))];
    if (f.state == kWarp) f.state = kRunnable;
  }
}

// after a lane returned: complete the in-flight collectives that no longer wait for anyone
inline void warp_after_exit(Warp& w, uint32_t bit) {
  for (uint32_t m = w.alive; m; m &= m - 1) {
    WarpOp& op = w.ops[__builtin_ctz(m)];
    if (op.done) continue;
    if (is_mma(op.kind) && (op.mask & bit))
      fatal("thread returned while %s is in flight in its warp", op_name(op.kind));
    uint32_t need = op.mask & w.live;
    if ((op.arrived & need) == need) warp_complete(w, op);
  }
}

// Phase 1: deposit `mine` and rendezvous with the live lanes in `mask`. Returns the completed record;
// the caller reads it and then calls warp_done_reading (phase 2).
inline WarpOp& warp_arrive(unsigned mask, int kind, const Slot& mine) {
  Fiber* f = g.cur;
  if (!f) fatal("%s called outside a kernel", op_name(kind));
  Warp& w = warp_of(f);
  unsigned lane = f->linear & 31u;
  uint32_t bit = 1u << lane;
  if (!(mask & bit)) fatal("%s: mask 0x%08x does not contain the calling lane %u", op_name(kind), mask, lane);
  WarpOp* op = nullptr;
  for (uint32_t m = w.alive; m; m &= m - 1) {
    WarpOp& o = w.ops[__builtin_ctz(m)];
    if (!o.done && o.mask == mask && o.kind == kind) {
      op = &o;
      break;
    }
  }
  if (!op) {  // start a new collective; a free record always exists (each lane is in at most one)
    unsigned r = static_cast<unsigned>(__builtin_ctz(~w.alive));
    w.alive |= 1u << r;
    op = &w.ops[r];
    op->mask = mask;
    op->kind = kind;
    op->done = false;
    op->arrived = op->unread = 0;
  }
  op->slot[lane] = mine;
  op->arrived |= bit;
  uint32_t need = mask & w.live;
  if ((op->arrived & need) == need) {
    warp_complete(w, *op);
  } else {
    f->state = kWarp;
    yield_current();
  }
  return *op;
}

inline void warp_done_reading(WarpOp& op) {
  Fiber* f = g.cur;
  Warp& w = warp_of(f);
  op.unread &= ~(1u << (f->linear & 31u));
  if (!op.unread) w.alive &= ~(1u << static_cast<unsigned>(&op - w.ops));  // recycle the record
}

[[noreturn]] inline void fiber_main() {
  g.invoke(g.invoke_ctx);
  // the thread returned from the kernel
  Fiber* self = g.cur;
  self->state = kDone;
  ++g.done;
  --g.live;
  Warp& w = warp_of(self);
  uint32_t bit = 1u << (self->linear & 31u);
  w.live &= ~bit;
  warp_after_exit(w, bit);
  if (g.bar_arrived && g.bar_arrived == g.live) release_barrier();
  yield_current();
  std::abort();  // unreachable: a finished fiber is never resumed
}

inline void report_deadlock() {
  std::fflush(stdout);
  const dim3& bd = g.block_dim;
  std::fprintf(stderr,
               "mimo_emu: DEADLOCK in kernel '%s' block (%u,%u,%u) of grid (%u,%u,%u), blockDim (%u,%u,%u): "
               "no thread can make progress (%u live, %u returned)\n",
               g.kernel_name, g.block_idx.x, g.block_idx.y, g.block_idx.z, g.grid_dim.x, g.grid_dim.y,
               g.grid_dim.z, bd.x, bd.y, bd.z, g.live, g.done);
  const char* what[] = {"", "waiting at __syncthreads", "waiting in a warp collective", ""};
  for (unsigned char s = kBarrier; s <= kWarp; ++s) {
    unsigned n = 0;
    for (unsigned i = 0; i < g.nthreads; ++i) n += g.fibers[i].state == s;
    if (!n) continue;
    std::fprintf(stderr, "  %u thread(s) %s:", n, what[s]);
    unsigned shown = 0;
    for (unsigned i = 0; i < g.nthreads && shown < 64; ++i) {
      const Fiber& f = g.fibers[i];
      if (f.state != s) continue;
      std::fprintf(stderr, " (%u,%u,%u)", f.tid.x, f.tid.y, f.tid.z);
      ++shown;
    }
    std::fprintf(stderr, n > shown ? " ...\n" : "\n");
  }
  for (unsigned wi = 0; wi < g.nwarps; ++wi) {
    const Warp& w = g.warps[wi];
    for (uint32_t m = w.alive; m; m &= m - 1) {
      const WarpOp& op = w.ops[__builtin_ctz(m)];
      if (!op.done)
        std::fprintf(stderr, "  warp %u: %s with mask 0x%08x waits; arrived 0x%08x, live lanes 0x%08x\n", wi,
                     op_name(op.kind), op.mask, op.arrived, w.live);
    }
  }
  std::fflush(stderr);
  std::abort();
}

inline void run_block() {
  const dim3 bd = g.block_dim;
  const unsigned n = g.nthreads;
  for (unsigned i = 0; i < n; ++i) {
    Fiber& f = g.fibers[i];
    f.linear = i;
    f.tid = uint3{i % bd.x, (i / bd.x) % bd.y, i / (bd.x * bd.y)};
    f.state = kRunnable;
    prepare_fiber(f);
  }
  for (unsigned wi = 0; wi < g.nwarps; ++wi) {
    Warp& w = g.warps[wi];
    w.base = wi * 32;
    unsigned lanes = std::min(32u, n - w.base);
    w.live = lanes == 32 ? 0xFFFFFFFFu : ((1u << lanes) - 1u);
    w.alive = 0;
  }
  g.live = n;
  g.done = 0;
  g.bar_arrived = 0;
  g.bar_gen = 0;
  g.bar_acc_count = 0, g.bar_acc_and = 1, g.bar_acc_or = 0;
  if (g.dyn_smem_size) std::memset(g.dyn_smem, 0xFF, g.dyn_smem_size);
  for (;;) {  // one scheduling pass per iteration, always starting at linear thread 0
    Fiber* f = nullptr;
    for (unsigned i = 0; i < n; ++i)
      if (g.fibers[i].state == kRunnable) { f = &g.fibers[i]; break; }
    if (!f) {
      if (g.done == n) break;
      report_deadlock();
    }
    g.cur = f;
    switch_to(nullptr, f);
    g.cur = nullptr;
  }
}

using InvokeFn = void (*)(void*);
inline bool dynamic_smem_allowed(const char* name, const void* kernel, size_t smem);  // mimo_emu_smem.h

inline void run_grid(const char* name, dim3 grid, dim3 block, size_t smem, InvokeFn invoke, void* ctx) {
  if (g.in_launch) {
    g.kernel_name = name;
    fatal("kernel launched from inside a kernel (or concurrently from another host thread)");
  }
  unsigned long long nt = 1ull * block.x * block.y * block.z;
  if (nt == 0 || nt > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 ||
      grid.z == 0 || grid.y > 65535 || grid.z > 65535) {
    std::fprintf(stderr,
                 "mimo_emu: invalid launch configuration for kernel '%s': grid (%u,%u,%u) block (%u,%u,%u) "
                 "(1..1024 threads per block, blockDim.z <= 64, grid dims >= 1)\n",
                 name, grid.x, grid.y, grid.z, block.x, block.y, block.z);
    g.last_error = cudaErrorInvalidConfiguration;
    return;
  }
  g.in_launch = true;
  g.kernel_name = name;
  g.grid_dim = grid;
  g.block_dim = block;
  g.nthreads = static_cast<unsigned>(nt);
  for (unsigned i = 0; i < g.nthreads; ++i) alloc_stack(g.fibers[i]);
  g.nwarps = (g.nthreads + 31) / 32;
  if (smem > g.dyn_smem_cap) {
    std::free(g.dyn_smem);
    g.dyn_smem = static_cast<unsigned char*>(std::aligned_alloc(1024, (smem + 1023) & ~size_t(1023)));
    if (!g.dyn_smem) fatal("out of memory for %zu bytes of dynamic shared memory", smem);
    g.dyn_smem_cap = smem;
  }
  g.dyn_smem_size = smem;
  g.invoke = invoke;
  g.invoke_ctx = ctx;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        g.block_idx = uint3{x, y, z};
        run_block();
      }
  g.in_launch = false;
  g.kernel_name = "";
}

template <class... P>
struct Launcher {
  const char* name;
  dim3 grid, block;
  size_t smem;
  void (*kernel)(P...);

  template <class... A>
  void operator()(A&&... args) const {
    static_assert(sizeof...(A) == sizeof...(P), "MIMO_LAUNCH: wrong number of kernel arguments");
    using Params = std::tuple<std::decay_t<P>...>;
    struct Ctx {
      void (*k)(P...);
      Params* params;
    };
    if (!dynamic_smem_allowed(name, reinterpret_cast<const void*>(kernel), smem)) return;
    Params params(std::forward<A>(args)...);  // converted once per launch, like <<<>>>
    Ctx ctx{kernel, &params};
    run_grid(name, grid, block, smem,
             [](void* c) {
               Ctx* x = static_cast<Ctx*>(c);
               std::apply(x->k, *x->params);  // by-value parameters: every thread gets its own copy
             },
             &ctx);
  }
};

template <class... P>
inline Launcher<P...> make_launcher(const char* name, dim3 grid, dim3 block, size_t smem, cudaStream_t,
                                    void (*kernel)(P...)) {
  return Launcher<P...>{name, grid, block, smem, kernel};
}

inline void* dynamic_smem() { return g.dyn_smem; }

// --- warp-collective helpers ---
template <class T>
inline T shfl_impl(unsigned mask, T var, unsigned src_lane_or_self) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffle of a type larger than 8 bytes");
  Slot s{};
  std::memcpy(s.w, &var, sizeof(T));
  WarpOp& op = warp_arrive(mask, kOpShfl, s);
  T r = var;
  unsigned src = src_lane_or_self;
  if (src < 32 && (op.arrived >> src & 1u)) std::memcpy(&r, op.slot[src].w, sizeof(T));
  warp_done_reading(op);
  return r;
}
inline unsigned cur_lane() {
  if (!g.cur) fatal("warp intrinsic called outside a kernel");
  return g.cur->linear & 31u;
}
// returns the ballot of the participating lanes; *participants (optional) receives their mask
inline uint32_t vote_impl(unsigned mask, int pred, uint32_t* participants = nullptr) {
  Slot s{};
  s.w[0] = pred ? 1u : 0u;
  WarpOp& op = warp_arrive(mask, kOpVote, s);
  uint32_t r = 0;
  for (uint32_t m = op.arrived; m; m &= m - 1) {
    unsigned l = static_cast<unsigned>(__builtin_ctz(m));
    if (op.slot[l].w[0]) r |= 1u << l;
  }
  if (participants) *participants = op.arrived;
  warp_done_reading(op);
  return r;
}
template <class F>
inline unsigned reduce_impl(unsigned mask, unsigned v, F op) {
  Slot s{};
  s.w[0] = v;
  WarpOp& rec = warp_arrive(mask, kOpReduce, s);
  bool first = true;
  unsigned r = 0;
  for (uint32_t m = rec.arrived; m; m &= m - 1) {
    unsigned x = rec.slot[__builtin_ctz(m)].w[0];
    r = first ? x : op(r, x);
    first = false;
  }
  warp_done_reading(rec);
  return r;
}

// One warp mma of depth 16 (m16n8k16) or 32 (m16n8k32, fp8 kinds).
inline void mma_sync(int kind, int depth, float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  Slot s{};
  for (int i = 0; i < 4; ++i) s.w[i] = a[i];
  s.w[4] = b[0];
  s.w[5] = b[1];
  WarpOp& op = warp_arrive(0xFFFFFFFFu, kind, s);
  unsigned lane = g.cur->linear & 31u, gid = lane >> 2, t = lane & 3u;
  for (int i = 0; i < 4; ++i) {  // c0,c1: row g; c2,c3: row g+8; col 2t + (i&1)
    unsigned row = gid + (i >= 2 ? 8u : 0u), col = 2 * t + static_cast<unsigned>(i & 1);
    float d = acc[i];
    for (int k = 0; k < depth; ++k) d = std::fma(op.mA[row][k], op.mB[k][col], d);
    acc[i] = d;
  }
  warp_done_reading(op);
}
inline void mma_m16n8k16(int kind, float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  mma_sync(kind, 16, acc, a, b);
}
inline void mma_m16n8k32(int kind, float (&acc)[4], const unsigned (&a)[4], const unsigned (&b)[2]) {
  mma_sync(kind, 32, acc, a, b);
}

}  // namespace mimo_emu

// ---- built-in variables -----------------------------------------------------------------------------
#define threadIdx (static_cast<const uint3&>(::mimo_emu::g.cur->tid))
#define blockIdx (static_cast<const uint3&>(::mimo_emu::g.block_idx))
#define blockDim (static_cast<const dim3&>(::mimo_emu::g.block_dim))
#define gridDim (static_cast<const dim3&>(::mimo_emu::g.grid_dim))
constexpr int warpSize = 32;
// nvcc's optimisation hint (the generated kernels state their thread-index bound with it); here
// it is checked, so a launch that breaks the kernel's assumption aborts instead of misbehaving.
#undef __builtin_assume
#define __builtin_assume(cond) \
  ((cond) ? static_cast<void>(0) : ::mimo_emu::fatal("%s:%d: __builtin_assume(%s) is false", __FILE__, __LINE__, #cond))

// ---- launch ----------------------------------------------------------------------------------------------
// Evaluates `kernel`, grid/block/smem/stream and the arguments once, then runs the grid synchronously.
#define MIMO_LAUNCH(kernel, grid, block, smem, stream, ...) \
  ::mimo_emu::make_launcher(#kernel, dim3(grid), dim3(block), static_cast<size_t>(smem), (stream), (kernel))(__VA_ARGS__)

// ---- synchronisation ---------------------------------------------------------------------------------
inline void __syncthreads() { ::mimo_emu::syncthreads_impl(1); }
inline int __syncthreads_count(int pred) { return ::mimo_emu::g.bar_res_count[::mimo_emu::syncthreads_impl(pred)]; }
inline int __syncthreads_and(int pred) { return ::mimo_emu::g.bar_res_and[::mimo_emu::syncthreads_impl(pred)]; }
inline int __syncthreads_or(int pred) { return ::mimo_emu::g.bar_res_or[::mimo_emu::syncthreads_impl(pred)]; }
inline void __syncwarp(unsigned mask = 0xFFFFFFFFu) {
  ::mimo_emu::warp_done_reading(::mimo_emu::warp_arrive(mask, ::mimo_emu::kOpSync, ::mimo_emu::Slot{}));
}
inline unsigned __activemask() { return ::mimo_emu::warp_of(::mimo_emu::g.cur).live; }
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __threadfence_system() {}
inline void __nanosleep(unsigned) {}
[[noreturn]] inline void __trap() { ::mimo_emu::fatal("__trap() called"); }

// ---- warp shuffles / votes / reductions (CUDA C++ Programming Guide semantics) ------------------------
template <class T>
inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize) {
  unsigned lane = ::mimo_emu::cur_lane(), w = static_cast<unsigned>(width);
  unsigned src = (lane & ~(w - 1)) + (static_cast<unsigned>(srcLane) & (w - 1));
  return ::mimo_emu::shfl_impl(mask, var, src);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  unsigned lane = ::mimo_emu::cur_lane(), w = static_cast<unsigned>(width);
  unsigned src = ((lane & (w - 1)) >= delta) ? lane - delta : 32u;  // 32: keep own value
  return ::mimo_emu::shfl_impl(mask, var, src);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
  unsigned lane = ::mimo_emu::cur_lane(), w = static_cast<unsigned>(width);
  unsigned src = ((lane & (w - 1)) + delta < w) ? lane + delta : 32u;
  return ::mimo_emu::shfl_impl(mask, var, src);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize) {
  unsigned lane = ::mimo_emu::cur_lane(), w = static_cast<unsigned>(width);
  unsigned src = lane ^ static_cast<unsigned>(laneMask);
  if (src >= (lane & ~(w - 1)) + w) src = 32u;  // later group -> own value
  return ::mimo_emu::shfl_impl(mask, var, src);
}
inline unsigned __ballot_sync(unsigned mask, int pred) { return ::mimo_emu::vote_impl(mask, pred); }
inline int __any_sync(unsigned mask, int pred) { return ::mimo_emu::vote_impl(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) {
  uint32_t part = 0;
  uint32_t b = ::mimo_emu::vote_impl(mask, pred, &part);
  return b == part ? 1 : 0;
}
inline unsigned __reduce_add_sync(unsigned mask, unsigned v) {
  return ::mimo_emu::reduce_impl(mask, v, [](unsigned a, unsigned b) { return a + b; });
}
inline int __reduce_add_sync(unsigned mask, int v) {
  return static_cast<int>(__reduce_add_sync(mask, static_cast<unsigned>(v)));
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned v) {
  return ::mimo_emu::reduce_impl(mask, v, [](unsigned a, unsigned b) { return a < b ? a : b; });
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned v) {
  return ::mimo_emu::reduce_impl(mask, v, [](unsigned a, unsigned b) { return a > b ? a : b; });
}
inline int __reduce_min_sync(unsigned mask, int v) {
  return static_cast<int>(::mimo_emu::reduce_impl(mask, static_cast<unsigned>(v), [](unsigned a, unsigned b) {
    return static_cast<int>(a) < static_cast<int>(b) ? a : b;
  }));
}
inline int __reduce_max_sync(unsigned mask, int v) {
  return static_cast<int>(::mimo_emu::reduce_impl(mask, static_cast<unsigned>(v), [](unsigned a, unsigned b) {
    return static_cast<int>(a) > static_cast<int>(b) ? a : b;
  }));
}
inline unsigned __reduce_and_sync(unsigned mask, unsigned v) {
  return ::mimo_emu::reduce_impl(mask, v, [](unsigned a, unsigned b) { return a & b; });
}
inline unsigned __reduce_or_sync(unsigned mask, unsigned v) {
  return ::mimo_emu::reduce_impl(mask, v, [](unsigned a, unsigned b) { return a | b; });
}
inline unsigned __reduce_xor_sync(unsigned mask, unsigned v) {
  return ::mimo_emu::reduce_impl(mask, v, [](unsigned a, unsigned b) { return a ^ b; });
}

// ---- atomics (fibers never preempt: plain read-modify-write is atomic) ----------------------------------
#define MIMO_EMU_ATOMIC2(NAME, T, EXPR) \
  inline T NAME(T* p, T v) {            \
    T old = *p;                         \
    *p = (EXPR);                        \
    return old;                         \
  }
MIMO_EMU_ATOMIC2(atomicAdd, int, old + v)
MIMO_EMU_ATOMIC2(atomicAdd, unsigned, old + v)
MIMO_EMU_ATOMIC2(atomicAdd, unsigned long long, old + v)
MIMO_EMU_ATOMIC2(atomicAdd, float, old + v)
MIMO_EMU_ATOMIC2(atomicAdd, double, old + v)
MIMO_EMU_ATOMIC2(atomicAdd, __nv_bfloat16, __float2bfloat16_rn(__bfloat162float(old) + __bfloat162float(v)))
MIMO_EMU_ATOMIC2(atomicAdd, __half, __float2half_rn(__half2float(old) + __half2float(v)))
MIMO_EMU_ATOMIC2(atomicSub, int, old - v)
MIMO_EMU_ATOMIC2(atomicSub, unsigned, old - v)
MIMO_EMU_ATOMIC2(atomicExch, int, v)
MIMO_EMU_ATOMIC2(atomicExch, unsigned, v)
MIMO_EMU_ATOMIC2(atomicExch, unsigned long long, v)
MIMO_EMU_ATOMIC2(atomicExch, float, v)
MIMO_EMU_ATOMIC2(atomicMax, int, old > v ? old : v)
MIMO_EMU_ATOMIC2(atomicMax, unsigned, old > v ? old : v)
MIMO_EMU_ATOMIC2(atomicMax, long long, old > v ? old : v)
MIMO_EMU_ATOMIC2(atomicMax, unsigned long long, old > v ? old : v)
MIMO_EMU_ATOMIC2(atomicMin, int, old < v ? old : v)
MIMO_EMU_ATOMIC2(atomicMin, unsigned, old < v ? old : v)
MIMO_EMU_ATOMIC2(atomicMin, long long, old < v ? old : v)
MIMO_EMU_ATOMIC2(atomicMin, unsigned long long, old < v ? old : v)
MIMO_EMU_ATOMIC2(atomicAnd, int, old & v)
MIMO_EMU_ATOMIC2(atomicAnd, unsigned, old & v)
MIMO_EMU_ATOMIC2(atomicAnd, unsigned long long, old & v)
MIMO_EMU_ATOMIC2(atomicOr, int, old | v)
MIMO_EMU_ATOMIC2(atomicOr, unsigned, old | v)
MIMO_EMU_ATOMIC2(atomicOr, unsigned long long, old | v)
MIMO_EMU_ATOMIC2(atomicXor, int, old ^ v)
MIMO_EMU_ATOMIC2(atomicXor, unsigned, old ^ v)
MIMO_EMU_ATOMIC2(atomicXor, unsigned long long, old ^ v)
MIMO_EMU_ATOMIC2(atomicInc, unsigned, old >= v ? 0u : old + 1u)
MIMO_EMU_ATOMIC2(atomicDec, unsigned, (old == 0u || old > v) ? v : old - 1u)
#undef MIMO_EMU_ATOMIC2
#define MIMO_EMU_CAS(T)                       \
  inline T atomicCAS(T* p, T compare, T val) { \
    T old = *p;                                \
    if (old == compare) *p = val;              \
    return old;                                \
  }
MIMO_EMU_CAS(int)
MIMO_EMU_CAS(unsigned)
MIMO_EMU_CAS(unsigned long long)
MIMO_EMU_CAS(unsigned short)
#undef MIMO_EMU_CAS

// ---- device math missing from the host libm ---------------------------------------------------------------
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float* s, float* c) { *s = std::sin(x), *c = std::cos(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline float __saturatef(float x) { return x != x ? 0.0f : (x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x)); }
inline int __float_as_int(float x) { int r; std::memcpy(&r, &x, 4); return r; }
inline unsigned __float_as_uint(float x) { unsigned r; std::memcpy(&r, &x, 4); return r; }
inline float __int_as_float(int x) { float r; std::memcpy(&r, &x, 4); return r; }
inline float __uint_as_float(unsigned x) { float r; std::memcpy(&r, &x, 4); return r; }
inline long long __double_as_longlong(double x) { long long r; std::memcpy(&r, &x, 8); return r; }
inline double __longlong_as_double(long long x) { double r; std::memcpy(&r, &x, 8); return r; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
  x = ((x >> 8) & 0x00FF00FFu) | ((x & 0x00FF00FFu) << 8);
  return (x >> 16) | (x << 16);
}
inline int __mulhi(int a, int b) { return static_cast<int>((static_cast<long long>(a) * b) >> 32); }
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline int __mul24(int a, int b) { return a * b; }
inline unsigned __umul24(unsigned a, unsigned b) { return a * b; }
template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }
template <class T> inline T __ldca(const T* p) { return *p; }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline T __ldlu(const T* p) { return *p; }
template <class T> inline T __ldcv(const T* p) { return *p; }
template <class T> inline void __stcg(T* p, T v) { *p = v; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
template <class T> inline void __stwb(T* p, T v) { *p = v; }
template <class T> inline void __stwt(T* p, T v) { *p = v; }

// CUDA device code has global min/max overloads (crt/math_functions.hpp); the host has none.
#define MIMO_EMU_MINMAX(R, A, B)                                       \
  inline R min(A a, B b) { return static_cast<R>(a) < static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b); } \
  inline R max(A a, B b) { return static_cast<R>(a) > static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b); }
MIMO_EMU_MINMAX(int, int, int)
MIMO_EMU_MINMAX(unsigned, unsigned, unsigned)
MIMO_EMU_MINMAX(unsigned, int, unsigned)
MIMO_EMU_MINMAX(unsigned, unsigned, int)
MIMO_EMU_MINMAX(long, long, long)
MIMO_EMU_MINMAX(unsigned long, unsigned long, unsigned long)
MIMO_EMU_MINMAX(long long, long long, long long)
MIMO_EMU_MINMAX(unsigned long long, unsigned long long, unsigned long long)
MIMO_EMU_MINMAX(unsigned long long, long long, unsigned long long)
MIMO_EMU_MINMAX(unsigned long long, unsigned long long, long long)
#undef MIMO_EMU_MINMAX
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
inline double min(float a, double b) { return std::fmin(static_cast<double>(a), b); }
inline double max(float a, double b) { return std::fmax(static_cast<double>(a), b); }
inline double min(double a, float b) { return std::fmin(a, static_cast<double>(b)); }
inline double max(double a, float b) { return std::fmax(a, static_cast<double>(b)); }

// ---- host runtime API subset (definitions of the declarations in cuda_runtime_api.h) -------------------------
extern "C" {
inline cudaError_t cudaGetLastError(void) {
  cudaError_t e = ::mimo_emu::g.last_error;
  ::mimo_emu::g.last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError(void) { return ::mimo_emu::g.last_error; }
inline const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidValue: return "invalid argument";
    default: return "unknown error (mimo_emu)";
  }
}
inline cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaMalloc(void** p, size_t n) {
  if (!p) return cudaErrorInvalidValue;
  *p = std::aligned_alloc(256, ((n ? n : 1) + 255) & ~size_t(255));
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFree(void* p) {
  std::free(p);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, enum cudaMemcpyKind) {
  if (n) std::memmove(dst, src, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, enum cudaMemcpyKind, cudaStream_t) {
  if (n) std::memmove(dst, src, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int v, size_t n) {
  if (n) std::memset(p, v, n);
  return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
  if (n) std::memset(p, v, n);
  return cudaSuccess;
}
}  // extern "C"
template <class T>
inline cudaError_t cudaMalloc(T** p, size_t n) {
  return ::cudaMalloc(reinterpret_cast<void**>(p), n);
}
#include "mimo_emu_smem.h"

#include "mimo_emu_ldmatrix.h"
#include "mimo_emu_cp_async.h"
#include "mimo_emu_wgmma.h"

#endif  // MIMO_CUDA_EMU_H
