import {
  kernel, barrier, cdiv, fragment, mma, shared, storeFragment, workgroupId,
  bf16, f32, type i32, type Out, type Shared, type Tensor,
} from '../compiler/dsl/index.js';
import { loadTile, storeTile, tileThreads, warpCol, warpRow } from './common/tile.js';

/**
 * Tiled C = A·B with the warp tile MMA: each workgroup computes a BM x BN tile of C,
 * each warp one 16x16 fragment of it; K advances BK at a time through shared memory.
 * Rows and columns past M, N, K are zero-filled on load and skipped on store, so any
 * shape works. The same body serves bf16 and f32 inputs (f32 accumulate either way).
 * The loads and stores are the shared tile helpers of ops/common/tile.ts, which the
 * grouped MoE GEMM (ops/moe/grouped_gemm.ts) uses too.
 */
function gemmTile(
  a: Tensor<bf16 | f32, ['M', 'K']>, b: Tensor<bf16 | f32, ['K', 'N']>, out: Out<f32, ['M', 'N']>,
  As: Shared<bf16 | f32>, Bs: Shared<bf16 | f32>, Cs: Shared<f32>,
  M: i32, N: i32, K: i32, BM: i32, BN: i32, BK: i32,
): void {
  const threads = tileThreads(BM, BN);
  const m0 = workgroupId.y * BM;
  const n0 = workgroupId.x * BN;
  const wm = warpRow(BN);
  const wn = warpCol(BN);
  const acc = fragment();
  for (let k0 = 0; k0 < K; k0 += BK) {
    loadTile(As, 0, BK, 1, a, m0 * K + k0, K, M - m0, K - k0, BM, BK, threads);
    loadTile(Bs, 0, BN, 1, b, k0 * N + n0, N, K - k0, N - n0, BK, BN, threads);
    barrier();
    for (let kk = 0; kk < BK; kk += 16) {
      mma(acc, As, wm * BK + kk, BK, Bs, kk * BN + wn, BN);
    }
    barrier();
  }
  storeFragment(acc, Cs, wm * BN + wn, BN);
  barrier();
  storeTile(out, m0 * N + n0, N, M - m0, N - n0, Cs, BM, BN, threads);
}

/** Shared tiling of both GEMMs: tile sizes are tunables, BK steps by the 16-deep MMA. */
const gemmConfig = {
  tunables: { BM: [32, 16, 64], BN: [32, 16, 64], BK: [16, 32] },
  constraints: (c: { BM: i32; BN: i32; BK: i32 }) => [c.BM * c.BN <= 2048, c.BK % 16 === 0],
  workgroup: (c: { BM: i32; BN: i32 }) => [(c.BM / 16) * (c.BN / 16) * 32],
  grid: (c: { M: i32; N: i32; BM: i32; BN: i32 }) => [cdiv(c.N, c.BN), cdiv(c.M, c.BM)],
};

type GemmCtx = { M: i32; N: i32; K: i32; BM: i32; BN: i32; BK: i32 };

export const gemm_bf16 = kernel(
  { doc: 'C[M,N] = A[M,K]·B[K,N]; bf16 inputs, f32 accumulate and output (tensor cores on CUDA)', ...gemmConfig },
  (a: Tensor<bf16, ['M', 'K']>, b: Tensor<bf16, ['K', 'N']>, out: Out<f32, ['M', 'N']>, c: GemmCtx) => {
    const As = shared(bf16, c.BM * c.BK);
    const Bs = shared(bf16, c.BK * c.BN);
    const Cs = shared(f32, c.BM * c.BN);
    gemmTile(a, b, out, As, Bs, Cs, c.M, c.N, c.K, c.BM, c.BN, c.BK);
  },
);

export const gemm_f32 = kernel(
  { doc: 'C[M,N] = A[M,K]·B[K,N]; f32 inputs, f32 accumulate and output', ...gemmConfig },
  (a: Tensor<f32, ['M', 'K']>, b: Tensor<f32, ['K', 'N']>, out: Out<f32, ['M', 'N']>, c: GemmCtx) => {
    const As = shared(f32, c.BM * c.BK);
    const Bs = shared(f32, c.BK * c.BN);
    const Cs = shared(f32, c.BM * c.BN);
    gemmTile(a, b, out, As, Bs, Cs, c.M, c.N, c.K, c.BM, c.BN, c.BK);
  },
);
