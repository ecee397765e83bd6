// mimo_ldmatrix.cuh — tensor-core operand fragments from shared memory (PTX ISA "ldmatrix", sm_75+),
// for the block tile ops' lowering (compiler/passes/blockMmaSync.ts). Included by mimo_prelude.cuh.
//   mimo_ldmatrix_x{1,2,4}[_trans](r0, ..., row): warp-collective (all 32 lanes, converged). Lane l
//   gives `row`, the 16-byte-aligned shared address of row l % 8 of matrix l / 8 (lanes 0-7 for .x1,
//   0-15 for .x2); r_j of lane l receives the 32 bits at byte 4*(l % 4) of matrix j's row l / 4
//   (_trans, 16-bit elements: the elements at column l / 4 of rows 2*(l % 4) and 2*(l % 4) + 1).
// Under MIMO_HOST_EMU the same functions are emulated warp collectives (mimo_emu_ldmatrix.h).
#pragma once

#if defined(MIMO_HOST_EMU)
#define MIMO_LDMATRIX_BODY(count, trans, ...)          \
  unsigned* out[] = {__VA_ARGS__};                     \
  ::mimo_emu::ldmatrix(count, trans, row, out)
#else
// `n`: the operand number of the address (after the outputs).
#define MIMO_LDMATRIX_ASM(shape, regs, n, ...)                                              \
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(row));                \
  asm volatile("ldmatrix.sync.aligned.m8n8" shape ".shared.b16 " regs ", [%" n "];\n" \
               : __VA_ARGS__                                                                 \
               : "r"(addr))
#endif

#if defined(MIMO_HOST_EMU)
__device__ __forceinline__ void mimo_ldmatrix_x1(unsigned& r0, const void* row) { MIMO_LDMATRIX_BODY(1, false, &r0); }
__device__ __forceinline__ void mimo_ldmatrix_x2(unsigned& r0, unsigned& r1, const void* row) { MIMO_LDMATRIX_BODY(2, false, &r0, &r1); }
__device__ __forceinline__ void mimo_ldmatrix_x4(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, const void* row) {
  MIMO_LDMATRIX_BODY(4, false, &r0, &r1, &r2, &r3);
}
__device__ __forceinline__ void mimo_ldmatrix_x1_trans(unsigned& r0, const void* row) { MIMO_LDMATRIX_BODY(1, true, &r0); }
__device__ __forceinline__ void mimo_ldmatrix_x2_trans(unsigned& r0, unsigned& r1, const void* row) { MIMO_LDMATRIX_BODY(2, true, &r0, &r1); }
__device__ __forceinline__ void mimo_ldmatrix_x4_trans(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, const void* row) {
  MIMO_LDMATRIX_BODY(4, true, &r0, &r1, &r2, &r3);
}
#undef MIMO_LDMATRIX_BODY
#else
__device__ __forceinline__ void mimo_ldmatrix_x1(unsigned& r0, const void* row) { MIMO_LDMATRIX_ASM(".x1", "{%0}", "1", "=r"(r0)); }
__device__ __forceinline__ void mimo_ldmatrix_x1_trans(unsigned& r0, const void* row) { MIMO_LDMATRIX_ASM(".x1.trans", "{%0}", "1", "=r"(r0)); }
__device__ __forceinline__ void mimo_ldmatrix_x2(unsigned& r0, unsigned& r1, const void* row) { MIMO_LDMATRIX_ASM(".x2", "{%0, %1}", "2", "=r"(r0), "=r"(r1)); }
__device__ __forceinline__ void mimo_ldmatrix_x2_trans(unsigned& r0, unsigned& r1, const void* row) {
  MIMO_LDMATRIX_ASM(".x2.trans", "{%0, %1}", "2", "=r"(r0), "=r"(r1));
}
__device__ __forceinline__ void mimo_ldmatrix_x4(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, const void* row) {
  MIMO_LDMATRIX_ASM(".x4", "{%0, %1, %2, %3}", "4", "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3));
}
__device__ __forceinline__ void mimo_ldmatrix_x4_trans(unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3, const void* row) {
  MIMO_LDMATRIX_ASM(".x4.trans", "{%0, %1, %2, %3}", "4", "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3));
}
#undef MIMO_LDMATRIX_ASM
#endif
