import {
  kernel, blockAccumulator, blockMma, cdiv, copyTile, pipelined, shared, storeBlockGlobal, workgroupId,
  bf16, f32, type Dim, type i32, type Out, type Shared, type Tensor,
} from '../compiler/dsl/index.js';

/**
 * Tiled C = A·B with the block tile MMA: each workgroup computes a BM x BN tile of C in one
 * block accumulator, which the compiler spreads over the WG threads per target (CUDA: warp
 * tiles of mma.sync fragments; WGSL: a register micro-tile per thread). K advances BK at a
 * time through shared memory in a pipelined loop (CUDA: STAGES tiles in flight through
 * cp.async), and each thread stores its own accumulator elements (storeBlockGlobal: no shared
 * output tile). Rows and columns past M, N, K are zero-filled on load and skipped on store,
 * so any shape works. The same body serves bf16 and f32 inputs (f32 accumulate either way).
 */

type GemmCtx = { M: i32; N: i32; K: i32; BM: i32; BN: i32; BK: i32; WG: i32; STAGES: i32 };
/** Staged operands: As[BM][BK] of A, Bs[BK][BN] of B. */
type Staging = { As: Shared<bf16 | f32, [number, number]>; Bs: Shared<bf16 | f32, [number, number]> };

function gemmTile(a: Tensor<bf16 | f32, [Dim, Dim]>, b: Tensor<bf16 | f32, [Dim, Dim]>, out: Out<f32, [Dim, Dim]>, ws: Staging, c: GemmCtx): void {
  const m0 = workgroupId.y * c.BM;
  const n0 = workgroupId.x * c.BN;
  const acc = blockAccumulator(c.BM, c.BN);
  for (const k0 of pipelined(0, c.K, c.BK, c.STAGES)) {
    copyTile(ws.As, a, { r0: m0, c0: k0, rows: c.M, cols: c.K });
    copyTile(ws.Bs, b, { r0: k0, c0: n0, rows: c.K, cols: c.N });
    blockMma(acc, ws.As, ws.Bs);
  }
  storeBlockGlobal(acc, out, { r0: m0, c0: n0, rows: c.M, cols: c.N });
}

/**
 * Tiles per target; BK steps by the 16-deep MMA, and each target's shared-memory limit rules
 * out the tiles that do not fit. WebGPU (no async copies: one stage): gemm_f32 128x64 over 128
 * threads, an 8x8 register micro-tile per thread (16 shared loads per 64 fmas, 12 KiB staged;
 * on SwiftShader at 512^3, in one run: 3.9x tf.js's matMul, 64x32 over 64 threads 3.0x);
 * gemm_bf16 64x32 over 64 threads. CUDA, bf16: 128x128x32 over 8 warps of 32x64 warp tiles (64
 * accumulators per thread), 3 stages of 16 KiB; on sm_90a the same tile is two warpgroups of
 * wgmma m64n128k16, B read MN-major (passes/wgmmaTile.ts). BN 256 (1 block/SM) is a candidate to
 * measure: the static report estimates it ahead (fewer L2 re-reads), but does not model occupancy.
 * CUDA f32 has no tensor cores: 128x64 over 256 threads, 4x8 micro-tiles, 3 stages of 12 KiB.
 */
const gemmLaunch = {
  constraints: (c: { BK: i32 }) => [c.BK % 16 === 0],
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { M: i32; N: i32; BM: i32; BN: i32 }) => [cdiv(c.N, c.BN), cdiv(c.M, c.BM)],
};

export const gemm_bf16 = kernel(
  {
    doc: 'C[M,N] = A[M,K]·B[K,N]; bf16 inputs, f32 accumulate and output (tensor cores on CUDA)',
    tunables: {
      BM: { webgpu: [64, 16, 32, 128], cuda: [128, 64, 32] }, BN: { webgpu: [32, 16, 64, 128], cuda: [128, 64, 32, 256] },
      BK: { webgpu: [16, 32], cuda: [32, 16, 64] }, WG: { webgpu: [64, 128, 256], cuda: [256, 128] }, STAGES: { webgpu: [1], cuda: [3, 2, 4] },
    },
    ...gemmLaunch,
  },
  (a: Tensor<bf16, ['M', 'K']>, b: Tensor<bf16, ['K', 'N']>, out: Out<f32, ['M', 'N']>, c: GemmCtx) => {
    const As = shared(bf16, c.BM, c.BK);
    const Bs = shared(bf16, c.BK, c.BN);
    gemmTile(a, b, out, { As, Bs }, c);
  },
);

export const gemm_f32 = kernel(
  {
    doc: 'C[M,N] = A[M,K]·B[K,N]; f32 inputs, f32 accumulate and output',
    tunables: {
      BM: { webgpu: [128, 64, 16, 32], cuda: [128, 64, 32] }, BN: { webgpu: [64, 32, 16, 128], cuda: [64, 32, 128] },
      BK: { webgpu: [16, 32], cuda: [16, 32] }, WG: { webgpu: [128, 64, 256], cuda: [256, 128] }, STAGES: { webgpu: [1], cuda: [3, 2, 4] },
    },
    ...gemmLaunch,
  },
  (a: Tensor<f32, ['M', 'K']>, b: Tensor<f32, ['K', 'N']>, out: Out<f32, ['M', 'N']>, c: GemmCtx) => {
    const As = shared(f32, c.BM, c.BK);
    const Bs = shared(f32, c.BK, c.BN);
    gemmTile(a, b, out, { As, Bs }, c);
  },
);
