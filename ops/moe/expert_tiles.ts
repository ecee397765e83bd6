import {
  accumulateBlockScaled, blockAccumulator, blockMap2, blockMmaTransposedB, cdiv, copyTile, pipelined, shared, storeBlockGlobal, workgroupId,
  bf16, f32, fp8e4m3, type BlockAccumulator, type Dim, type i32, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';
import { silu } from '../swiglu.js';

/**
 * The block tiles of the grouped expert GEMMs (ops/moe/grouped_gemm.ts), BF16 and FP8. A
 * workgroup computes a BM x BN output tile of one expert in block accumulators that the
 * compiler spreads over its WG threads (gate/up: a gate and an up accumulator for the same
 * outputs). The kernels hand over views
 * of one expert's operands: activation rows x[rows, K], weights w[N, K], output rows
 * out[rows, N]. Weight tiles are staged as stored ([N, K], a straight copy) and read along
 * K by blockMmaTransposedB, which gives the tensor cores whole rows (ldmatrix on CUDA). The K
 * loops are pipelined (CUDA: STAGES tiles in flight through cp.async) and the epilogue runs in
 * registers: blockMap2 applies SwiGLU to the gate and up accumulators, storeBlockGlobal writes
 * bf16 straight from each thread's elements.
 *
 * FP8 (DeepGEMM's promotion): the raw e4m3 tiles go to the FP8 MMA (CUDA: mma.sync
 * m16n8k32 e4m3 on sm_89+; below it, the same registers converted exactly to f16), each
 * BK-deep K tile is accumulated on its own, and accumulateBlockScaled adds it to the result
 * times xs[row][block] * ws[n / 128][block] (one promotion per 128-deep block at BK = 128, the
 * CUDA default). BK divides 128, so K tiles never straddle a scale block, and BN divides 128,
 * so a tile's columns share one weight scale per block.
 * Products of fp8 values are exact, but the tensor cores of sm_89/sm_90 sum them with fewer
 * mantissa bits than f32 (about 13, by published measurements; the CPU emulator uses f32):
 * promoting every 128 K into the f32 accumulator bounds that error, as in DeepGEMM.
 */

type Operand = bf16 | fp8e4m3;
/** Tile sizes and pipeline depth (tunables) and the FFN's hidden size H and width F, read from the kernel's context. */
type Cfg = { H: i32; F: i32; BM: i32; BN: i32; BK: i32; WG: i32; STAGES: i32 };
/** The tile's rows in the activation and output views: the first, m0, and how many rows are valid (past them: zero in, nothing out). */
type Rows = { m0: i32; rows: i32 };
/** An output tile: rows as in Rows, columns from n0. */
type Tile = { m0: i32; rows: i32; n0: i32 };
/** Staged gate/up operands: x rows As[BM][BK], gate and up weight rows Bs[0] and Bs[1] ([BN][BK] each). */
type GluStaging = { As: Shared<Operand, [number, number]>; Bs: Shared<Operand, [number, number, number]> };
/** Gate/up operands of one expert: activation rows x[rows, H], weights wg, wu [F, H]. */
type GluOperands = { x: Tensor<Operand, [Dim, Dim]>; wg: Tensor<Operand, [Dim, Dim]>; wu: Tensor<Operand, [Dim, Dim]> };

/** The output tile of this workgroup: columns from workgroupId.x * BN. */
function tileAt(rows: Rows, c: Cfg): Tile {
  return { m0: rows.m0, rows: rows.rows, n0: workgroupId.x * c.BN };
}

/** The K tile at k of x rows and gate/up weight rows (copyTile: the leading statements of a pipelined body). */
function copyGateUp(ws: GluStaging, op: GluOperands, t: Tile, k: i32, c: Cfg): void {
  copyTile(ws.As, op.x, { r0: t.m0, c0: k, rows: t.rows, cols: c.H });
  copyTile(ws.Bs[0], op.wg, { r0: t.n0, c0: k, rows: c.F, cols: c.H });
  copyTile(ws.Bs[1], op.wu, { r0: t.n0, c0: k, rows: c.F, cols: c.H });
}

/** h[tile] = bf16(silu(gate) * up), in registers. */
function gateUpEpilogue(acc: { gate: BlockAccumulator; up: BlockAccumulator }, h: Out<bf16, [Dim, Dim]>, t: Tile, c: Cfg): void {
  blockMap2(acc.gate, acc.up, (g, u) => silu(g) * u);
  storeBlockGlobal(acc.gate, h, { r0: t.m0, c0: t.n0, rows: t.rows, cols: c.F });
}

/** Gate/up + SwiGLU tile, BF16: h = silu(x·wgᵀ) * (x·wuᵀ) for one expert's wg, wu [F, H]. */
export function gluTileBf16(
  c: Cfg, rows: Rows,
  op: { x: Tensor<bf16, [Dim, Dim]>; wg: Tensor<bf16, [Dim, Dim]>; wu: Tensor<bf16, [Dim, Dim]>; h: Out<bf16, [Dim, Dim]> },
): void {
  const t = tileAt(rows, c);
  const As = shared(bf16, c.BM, c.BK);
  const Bs = shared(bf16, 2, c.BN, c.BK);
  const gate = blockAccumulator(c.BM, c.BN);
  const up = blockAccumulator(c.BM, c.BN);
  for (const k of pipelined(0, c.H, c.BK, c.STAGES)) {
    copyGateUp({ As, Bs }, op, t, k, c);
    blockMmaTransposedB(gate, As, Bs[0]);
    blockMmaTransposedB(up, As, Bs[1]);
  }
  gateUpEpilogue({ gate, up }, op.h, t, c);
}

/**
 * Gate/up + SwiGLU tile, FP8: the FP8 MMA per K tile into its own accumulators, promoted with
 * xs[row][block] and wgs/wus[n / 128][block]. The tile's row scales Ss[BM][1] are staged with
 * the operands (a 4-byte-wide copyTile: element copies), so the pipeline buffers them too.
 */
export function gluTileFp8(
  c: Cfg, rows: Rows,
  op: {
    xq: Tensor<fp8e4m3, [Dim, Dim]>; xs: Tensor<f32, [Dim, Dim]>; wg: Tensor<fp8e4m3, [Dim, Dim]>; wu: Tensor<fp8e4m3, [Dim, Dim]>;
    wgs: Tensor<f32, [Dim, Dim]>; wus: Tensor<f32, [Dim, Dim]>; h: Out<bf16, [Dim, Dim]>;
  },
): void {
  const t = tileAt(rows, c);
  const As = shared(fp8e4m3, c.BM, c.BK);
  const Bs = shared(fp8e4m3, 2, c.BN, c.BK);
  const Ss = shared(f32, c.BM, 1);
  const gate = blockAccumulator(c.BM, c.BN);
  const up = blockAccumulator(c.BM, c.BN);
  for (const k of pipelined(0, c.H, c.BK, c.STAGES)) {
    const kg = k / 128;
    copyGateUp({ As, Bs }, { x: op.xq, wg: op.wg, wu: op.wu }, t, k, c);
    copyTile(Ss, op.xs, { r0: t.m0, c0: kg, rows: t.rows, cols: cdiv(c.H, 128) });
    const gateTile = blockAccumulator(c.BM, c.BN);
    const upTile = blockAccumulator(c.BM, c.BN);
    blockMmaTransposedB(gateTile, As, Bs[0]);
    blockMmaTransposedB(upTile, As, Bs[1]);
    accumulateBlockScaled(gate, gateTile, Ss, op.wgs[t.n0 / 128][kg]);
    accumulateBlockScaled(up, upTile, Ss, op.wus[t.n0 / 128][kg]);
  }
  gateUpEpilogue({ gate, up }, op.h, t, c);
}

/** Down-projection tile, BF16: y = h·wdᵀ for one expert's wd [H, F]. */
export function downTileBf16(c: Cfg, rows: Rows, op: { h: Tensor<bf16, [Dim, Dim]>; wd: Tensor<bf16, [Dim, Dim]>; y: Out<bf16, [Dim, Dim]> }): void {
  const t = tileAt(rows, c);
  const As = shared(bf16, c.BM, c.BK);
  const Bs = shared(bf16, c.BN, c.BK);
  const acc = blockAccumulator(c.BM, c.BN);
  for (const k of pipelined(0, c.F, c.BK, c.STAGES)) {
    copyTile(As, op.h, { r0: t.m0, c0: k, rows: t.rows, cols: c.F });
    copyTile(Bs, op.wd, { r0: t.n0, c0: k, rows: c.H, cols: c.F });
    blockMmaTransposedB(acc, As, Bs);
  }
  storeBlockGlobal(acc, op.y, { r0: t.m0, c0: t.n0, rows: t.rows, cols: c.H });
}

/** Down-projection tile, FP8: as gluTileFp8 with one weight, hs[row][block] and wds[n / 128][block]. */
export function downTileFp8(
  c: Cfg, rows: Rows,
  op: { hq: Tensor<fp8e4m3, [Dim, Dim]>; hs: Tensor<f32, [Dim, Dim]>; wd: Tensor<fp8e4m3, [Dim, Dim]>; wds: Tensor<f32, [Dim, Dim]>; y: Out<bf16, [Dim, Dim]> },
): void {
  const t = tileAt(rows, c);
  const As = shared(fp8e4m3, c.BM, c.BK);
  const Bs = shared(fp8e4m3, c.BN, c.BK);
  const Ss = shared(f32, c.BM, 1);
  const acc = blockAccumulator(c.BM, c.BN);
  for (const k of pipelined(0, c.F, c.BK, c.STAGES)) {
    const kg = k / 128;
    copyTile(As, op.hq, { r0: t.m0, c0: k, rows: t.rows, cols: c.F });
    copyTile(Bs, op.wd, { r0: t.n0, c0: k, rows: c.H, cols: c.F });
    copyTile(Ss, op.hs, { r0: t.m0, c0: kg, rows: t.rows, cols: cdiv(c.F, 128) });
    const part = blockAccumulator(c.BM, c.BN);
    blockMmaTransposedB(part, As, Bs);
    accumulateBlockScaled(acc, part, Ss, op.wds[t.n0 / 128][kg]);
  }
  storeBlockGlobal(acc, op.y, { r0: t.m0, c0: t.n0, rows: t.rows, cols: c.H });
}
