import {
  kernel, barrier, cdiv, fragment, mma, shared, storeFragment, workgroupId,
  bf16, f32, type Dim, type i32, type Out, type Shared, type Tensor,
} from '../compiler/dsl/index.js';
import { loadTile, storeTile, tileThreads, warpCol, warpRow } from './common/tile.js';

/**
 * Tiled C = A·B with the warp tile MMA: each workgroup computes a BM x BN tile of C,
 * each warp one 16x16 fragment of it; K advances BK at a time through shared memory.
 * Rows and columns past M, N, K are zero-filled on load and skipped on store, so any
 * shape works. The same body serves bf16 and f32 inputs (f32 accumulate either way).
 * The loads and stores are the shared tile helpers of ops/common/tile.ts, which the
 * grouped MoE GEMM (ops/moe/expert_tiles.ts) uses too.
 */

type GemmCtx = { M: i32; N: i32; K: i32; BM: i32; BN: i32; BK: i32 };
/** Staged operands: As[BM][BK] of A, Bs[BK][BN] of B. */
type Staging = { As: Shared<bf16 | f32, [number, number]>; Bs: Shared<bf16 | f32, [number, number]> };

function gemmTile(a: Tensor<bf16 | f32, [Dim, Dim]>, b: Tensor<bf16 | f32, [Dim, Dim]>, out: Out<f32, [Dim, Dim]>, ws: Staging, c: GemmCtx): void {
  const threads = tileThreads(c.BM, c.BN);
  const m0 = workgroupId.y * c.BM;
  const n0 = workgroupId.x * c.BN;
  const wm = warpRow(c.BN);
  const wn = warpCol(c.BN);
  const acc = fragment();
  for (let k0 = 0; k0 < c.K; k0 += c.BK) {
    loadTile(ws.As, a, { r0: m0, c0: k0, rows: c.M, cols: c.K }, { R: c.BM, C: c.BK, threads });
    loadTile(ws.Bs, b, { r0: k0, c0: n0, rows: c.K, cols: c.N }, { R: c.BK, C: c.BN, threads });
    barrier();
    for (let kk = 0; kk < c.BK; kk += 16) {
      mma(acc, ws.As.flat, wm * c.BK + kk, c.BK, ws.Bs.flat, kk * c.BN + wn, c.BN);
    }
    barrier();
  }
  const Cs = shared(f32, c.BM, c.BN);
  storeFragment(acc, Cs.flat, wm * c.BN + wn, c.BN);
  barrier();
  storeTile(out, Cs, { r0: m0, c0: n0, rows: c.M, cols: c.N }, { R: c.BM, C: c.BN, threads });
}

/** Shared tiling of both GEMMs: tile sizes are tunables, BK steps by the 16-deep MMA. */
const gemmConfig = {
  tunables: { BM: [32, 16, 64], BN: [32, 16, 64], BK: [16, 32] },
  constraints: (c: { BM: i32; BN: i32; BK: i32 }) => [c.BM * c.BN <= 2048, c.BK % 16 === 0],
  workgroup: (c: { BM: i32; BN: i32 }) => [(c.BM / 16) * (c.BN / 16) * 32],
  grid: (c: { M: i32; N: i32; BM: i32; BN: i32 }) => [cdiv(c.N, c.BN), cdiv(c.M, c.BM)],
};

export const gemm_bf16 = kernel(
  { doc: 'C[M,N] = A[M,K]·B[K,N]; bf16 inputs, f32 accumulate and output (tensor cores on CUDA)', ...gemmConfig },
  (a: Tensor<bf16, ['M', 'K']>, b: Tensor<bf16, ['K', 'N']>, out: Out<f32, ['M', 'N']>, c: GemmCtx) => {
    const As = shared(bf16, c.BM, c.BK);
    const Bs = shared(bf16, c.BK, c.BN);
    gemmTile(a, b, out, { As, Bs }, c);
  },
);

export const gemm_f32 = kernel(
  { doc: 'C[M,N] = A[M,K]·B[K,N]; f32 inputs, f32 accumulate and output', ...gemmConfig },
  (a: Tensor<f32, ['M', 'K']>, b: Tensor<f32, ['K', 'N']>, out: Out<f32, ['M', 'N']>, c: GemmCtx) => {
    const As = shared(f32, c.BM, c.BK);
    const Bs = shared(f32, c.BK, c.BN);
    gemmTile(a, b, out, { As, Bs }, c);
  },
);
