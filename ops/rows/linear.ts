import {
  kernel, bf16, cdiv, f32, local, localIndex, min, numWorkgroups, workgroupId, type fp8e4m3, type i32, type Out, type Tensor,
} from '../../compiler/dsl/index.js';
import { dotRowsBf16, dotRowsFp8, storeRows } from './dot.js';

/**
 * Linear layers for decode (few rows): y = x·Wᵀ with W a PyTorch [N, K] weight, GEMV-style.
 * One thread per output column n walks its weight row once for TMAX rows of x (ops/rows/dot.ts);
 * grid [cdiv(N, WG), cdiv(T, TMAX)] (at most 65535 row groups, which then stride), so any T
 * works. f32 accumulation in k order; bf16 outputs are rounded once.
 *
 * Why a thread per column and not a workgroup per column with a reduction over K: on
 * SwiftShader the reduction's barriers dominate (y[4, 768] from K = 256: ~9x slower,
 * measured), and no barrier at all lets every thread run to completion on its own. On real
 * GPUs a thread's walk along its row is uncoalesced across the warp; each 32-byte sector it
 * touches is reused for the next 16 bf16 k steps from L1, so it stays memory-bound.
 * TMAX (rows per weight pass) defaults to 4: SwiftShader executes all TMAX row steps
 * whatever T is (cost grows with TMAX), while a GPU rereads the weights from L2 for each
 * group of TMAX rows; autotuning picks 16 where weight reads dominate.
 */
const rowsLaunch = {
  tunables: { WG: [64, 128, 32], TMAX: [4, 8, 16, 1] },
  constraints: (c: { WG: i32 }) => [c.WG % 32 === 0],
  consts: { GROUP: 128 },
  workgroup: (c: { WG: i32 }) => [c.WG],
  grid: (c: { N: i32; T: i32; WG: i32; TMAX: i32 }) => [cdiv(c.N, c.WG), min(cdiv(c.T, c.TMAX), 65535)],
};

export const linear_rows_bf16 = kernel(
  { doc: 'y[t, n] = bf16(sum_k x[t, k] * w[n, k]); x bf16 [T, K], w bf16 [N, K]; f32 accumulation, one thread per n', ...rowsLaunch },
  (x: Tensor<bf16, ['T', 'K']>, w: Tensor<bf16, ['N', 'K']>, y: Out<bf16, ['T', 'N']>, c: { T: i32; K: i32; N: i32; WG: i32; TMAX: i32; GROUP: i32 }) => {
    const n = workgroupId.x * c.WG + localIndex;
    const acc = local(f32, c.TMAX);
    if (n < c.N) {
      for (let t0 = workgroupId.y * c.TMAX; t0 < c.T; t0 += numWorkgroups.y * c.TMAX) {
        const xs = { x, t0, rows: min(c.T - t0, c.TMAX), K: c.K, TMAX: c.TMAX };
        dotRowsBf16(xs, w[n], acc);
        storeRows(acc, xs, y, n);
      }
    }
  },
);

export const linear_rows_fp8 = kernel(
  {
    doc: 'y[t, n] = bf16(sum_k x[t, k] * f32(w[n, k]) * ws[n/128, k/128]); x bf16 [T, K], w e4m3 [N, K], ws f32 [cdiv(N, 128), cdiv(K, 128)]; W8A16',
    ...rowsLaunch,
  },
  (
    x: Tensor<bf16, ['T', 'K']>, w: Tensor<fp8e4m3, ['N', 'K']>, ws: Tensor<f32, ['cdiv(N, GROUP)', 'cdiv(K, GROUP)']>, y: Out<bf16, ['T', 'N']>,
    c: { T: i32; K: i32; N: i32; WG: i32; TMAX: i32; GROUP: i32 },
  ) => {
    const n = workgroupId.x * c.WG + localIndex;
    const acc = local(f32, c.TMAX);
    if (n < c.N) {
      for (let t0 = workgroupId.y * c.TMAX; t0 < c.T; t0 += numWorkgroups.y * c.TMAX) {
        const xs = { x, t0, rows: min(c.T - t0, c.TMAX), K: c.K, TMAX: c.TMAX };
        dotRowsFp8(xs, w[n], ws[n / c.GROUP], acc, c.GROUP);
        storeRows(acc, xs, y, n);
      }
    }
  },
);

/** The lm_head: f32 logits, not rounded (sampling reads them as they are). */
export const logits_rows = kernel(
  { doc: 'out[t, n] = sum_k x[t, k] * w[n, k] in f32; x bf16 [T, K], w bf16 [N, K] (lm_head, N up to 152576)', ...rowsLaunch },
  (x: Tensor<bf16, ['T', 'K']>, w: Tensor<bf16, ['N', 'K']>, out: Out<f32, ['T', 'N']>, c: { T: i32; K: i32; N: i32; WG: i32; TMAX: i32; GROUP: i32 }) => {
    const n = workgroupId.x * c.WG + localIndex;
    const acc = local(f32, c.TMAX);
    if (n < c.N) {
      for (let t0 = workgroupId.y * c.TMAX; t0 < c.T; t0 += numWorkgroups.y * c.TMAX) {
        const rows = min(c.T - t0, c.TMAX);
        dotRowsBf16({ x, t0, rows, K: c.K, TMAX: c.TMAX }, w[n], acc);
        for (let j = 0; j < c.TMAX; j++) {
          if (j < rows) out[t0 + j][n] = acc[j];
        }
      }
    }
  },
);
