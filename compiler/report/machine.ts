/**
 * The GPU each --arch is reported against, and its occupancy rules. Peaks are NVIDIA's
 * published dense (no sparsity) figures; the L2 figures are assumptions (no spec gives
 * one), of the order microbenchmarks measure; the clock is the one at which the
 * published tensor peak holds, which the issue model uses too.
 */
import type { CudaArch } from '../codegen/cuda/arch.js';

export interface Machine {
  readonly name: string;
  readonly sms: number;
  /** Hz: tensor peak / (SMs × tensor FLOPs per SM per clock). */
  readonly clock: number;
  /** FLOP/s of the tensor cores per operand class; `fp8` where the hardware has no FP8 MMA is the f16 rate. */
  readonly tensorPeak: { readonly bf16: number; readonly fp8: number };
  /** FLOP/s of the FP32 CUDA cores (FFMA = 2 FLOPs). */
  readonly fp32Peak: number;
  /** Bytes/s. */
  readonly hbm: number;
  readonly l2: number;
  /** Warp instructions issued per SM per clock (one per scheduler). */
  readonly issuePerSm: number;
  readonly regsPerSm: number;
  readonly maxRegsPerThread: number;
  /** Registers are allocated per warp in units of this many. */
  readonly regUnit: number;
  readonly smemPerSm: number;
  readonly smemPerBlock: number;
  /** Shared memory the system reserves per resident block (CUDA 11+ on sm_80 and later). */
  readonly smemReservedPerBlock: number;
  readonly smemUnit: number;
  readonly threadsPerSm: number;
  readonly blocksPerSm: number;
}

const KIB = 1024;

export const MACHINES: Record<CudaArch, Machine> = {
  sm_90a: {
    name: 'H200 SXM (sm_90a)', sms: 132, clock: 989.4e12 / (132 * 4096),
    tensorPeak: { bf16: 989.4e12, fp8: 1978.9e12 }, fp32Peak: 66.9e12, hbm: 4.8e12, l2: 5.5e12, issuePerSm: 4,
    regsPerSm: 65536, maxRegsPerThread: 255, regUnit: 256,
    smemPerSm: 228 * KIB, smemPerBlock: 227 * KIB, smemReservedPerBlock: KIB, smemUnit: 128, threadsPerSm: 2048, blocksPerSm: 32,
  },
  sm_80: {
    name: 'A100 SXM 80GB (sm_80)', sms: 108, clock: 312e12 / (108 * 2048),
    tensorPeak: { bf16: 312e12, fp8: 312e12 }, fp32Peak: 19.5e12, hbm: 2.039e12, l2: 3.8e12, issuePerSm: 4,
    regsPerSm: 65536, maxRegsPerThread: 255, regUnit: 256,
    smemPerSm: 164 * KIB, smemPerBlock: 163 * KIB, smemReservedPerBlock: KIB, smemUnit: 128, threadsPerSm: 2048, blocksPerSm: 32,
  },
};

export interface Occupancy {
  readonly blocksPerSm: number;
  /** Resident warps / the SM's maximum. */
  readonly fraction: number;
  /** What stops one more block: threads, registers, shared memory or the block limit. */
  readonly limit: 'threads' | 'registers' | 'smem' | 'blocks';
}

const roundUp = (v: number, unit: number) => Math.ceil(v / unit) * unit;

/** Resident blocks per SM for a block of `threads` using `regs` registers each and `smem` bytes of shared memory (static plus dynamic). */
export function occupancy(m: Machine, threads: number, regs: number, smem: number): Occupancy {
  const warps = Math.ceil(threads / 32);
  const byLimit = {
    threads: Math.floor(m.threadsPerSm / (warps * 32)),
    registers: Math.floor(Math.floor(m.regsPerSm / roundUp(Math.max(regs, 1) * 32, m.regUnit)) / warps),
    smem: Math.floor(m.smemPerSm / roundUp(smem + m.smemReservedPerBlock, m.smemUnit)),
    blocks: m.blocksPerSm,
  };
  const limit = (Object.keys(byLimit) as (keyof typeof byLimit)[]).reduce((a, b) => (byLimit[b] < byLimit[a] ? b : a));
  const blocks = byLimit[limit];
  return { blocksPerSm: blocks, fraction: (blocks * warps * 32) / m.threadsPerSm, limit };
}
