/**
 * Global names of mimo_prelude.cuh and mimo_cuda_emu.h that a kernel's launcher symbol must
 * not equal (naming.ts kernelBaseName). Apart from reserved.ts, which needs naming.ts's
 * TargetReserved, so that naming.ts can read it without an import cycle.
 */
export const PRELUDE_GLOBALS: ReadonlySet<string> = new Set(
  `
mimo_emu mimo_emu_swap mimo_f32_bits mimo_fp8x2_to_f16x2 mimo_ld_u32 mimo_mma_m16n8k16_bf16 mimo_mma_m16n8k16_f16
mimo_mma_m16n8k32_e4m3 mimo_mma_m16n8k32_e5m2 mimo_mma_m16n8k32_fp8 mimo_mma_m16n8k32_fp8_via_f16 mimo_pack2 mimo_pack4
mimo_pack_bf16x2 mimo_pack_f16x2 mimo_warp_max mimo_warp_sum mimo_fmaxf mimo_fminf mimo_max_of
mimo_ldmatrix_x1 mimo_ldmatrix_x2 mimo_ldmatrix_x4 mimo_ldmatrix_x1_trans mimo_ldmatrix_x2_trans mimo_ldmatrix_x4_trans
`.split(/\s+/).filter(Boolean),
);
