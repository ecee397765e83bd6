import {
  accumulateScaled, barrier, fragment, min, mmaTransposedB, shared, storeFragment, workgroupId,
  bf16, f32, fp8e4m3, type Dim, type Fragment, type i32, type Out, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';
import { loadRowScales, loadTile, storeSwiGlu, storeTileBf16, tileThreads, warpCol, warpRow } from '../common/tile.js';

/**
 * The block tiles of the grouped expert GEMMs (ops/moe/grouped_gemm.ts), BF16 and FP8. A
 * workgroup computes a BM x BN output tile of one expert, each warp a 16x16 fragment
 * (gate/up: a gate and an up fragment for the same outputs). The kernels hand over views
 * of one expert's operands: activation rows x[rows, K], weights w[N, K], output rows
 * out[rows, N]. Weight tiles are staged as stored ([N, K], a straight copy) and read along
 * K by mmaTransposedB, which gives the tensor cores whole 32-bit registers.
 *
 * FP8 (DeepGEMM's promotion): the raw e4m3 tiles go to the FP8 MMA (CUDA: mma.sync
 * m16n8k32 e4m3 on sm_89+; below it, the same registers converted exactly to f16), each
 * 128-deep K block is accumulated on its own, and accumulateScaled adds it to the result
 * times xs[row][block] * ws[n / 128][block]. BK divides 128, so K tiles never straddle a
 * scale block, and BN divides 128, so a tile's columns share one weight scale per block.
 * Products of fp8 values are exact, but the tensor cores of sm_89/sm_90 sum them with fewer
 * mantissa bits than f32 (about 13, by published measurements; the CPU emulator uses f32):
 * promoting every 128 K into the f32 accumulator bounds that error, as in DeepGEMM.
 */

type Operand = bf16 | fp8e4m3;
/** Tile sizes (tunables) and the FFN's hidden size H and width F, read from the kernel's context. */
type Cfg = { H: i32; F: i32; BM: i32; BN: i32; BK: i32 };
/** The tile's rows in the activation and output views: the first, m0, and how many rows are valid (past them: zero in, nothing out). */
type Rows = { m0: i32; rows: i32 };
/** An output tile: rows as in Rows, columns from n0. */
type Tile = { m0: i32; rows: i32; n0: i32 };
/** K range [k0, k1) of a span, stepped by the MMA depth (16 for bf16, 32 for fp8). */
type Span = { k0: i32; k1: i32; depth: i32 };
/** Staged gate/up operands: x rows As[BM][BK], gate and up weight rows Bs[0] and Bs[1] ([BN][BK] each). */
type GluStaging = { As: Shared<Operand, [number, number]>; Bs: Shared<Operand, [number, number, number]> };
/** Staged down operands: As[BM][BK], Bs[BN][BK]. */
type DownStaging = { As: Shared<Operand, [number, number]>; Bs: Shared<Operand, [number, number]> };

/** The output tile of this workgroup: columns from workgroupId.x * BN. */
function tileAt(rows: Rows, c: Cfg): Tile {
  return { m0: rows.m0, rows: rows.rows, n0: workgroupId.x * c.BN };
}

/** gate += x[tile rows, k0..k1)·wgᵀ and up += x·wuᵀ for the tile's columns, BK at a time. */
function gateUpSpan(
  ws: GluStaging, acc: { gate: Fragment; up: Fragment },
  op: { x: Tensor<Operand, [Dim, Dim]>; wg: Tensor<Operand, [Dim, Dim]>; wu: Tensor<Operand, [Dim, Dim]> },
  t: Tile, span: Span, c: Cfg,
): void {
  const threads = tileThreads(c.BM, c.BN);
  const wm = warpRow(c.BN);
  const wn = warpCol(c.BN);
  for (let k = span.k0; k < span.k1; k += c.BK) {
    loadTile(ws.As, op.x, { r0: t.m0, c0: k, rows: t.rows, cols: c.H }, { R: c.BM, C: c.BK, threads });
    loadTile(ws.Bs[0], op.wg, { r0: t.n0, c0: k, rows: c.F, cols: c.H }, { R: c.BN, C: c.BK, threads });
    loadTile(ws.Bs[1], op.wu, { r0: t.n0, c0: k, rows: c.F, cols: c.H }, { R: c.BN, C: c.BK, threads });
    barrier();
    for (let kk = 0; kk < c.BK; kk += span.depth) {
      mmaTransposedB(acc.gate, ws.As.flat, wm * c.BK + kk, c.BK, ws.Bs.flat, wn * c.BK + kk, c.BK);
      mmaTransposedB(acc.up, ws.As.flat, wm * c.BK + kk, c.BK, ws.Bs.flat, (c.BN + wn) * c.BK + kk, c.BK);
    }
    barrier();
  }
}

/** acc += x[tile rows, k0..k1)·wᵀ for the tile's columns, BK at a time (K = F, N = H). */
function downSpan(ws: DownStaging, acc: Fragment, op: { x: Tensor<Operand, [Dim, Dim]>; w: Tensor<Operand, [Dim, Dim]> }, t: Tile, span: Span, c: Cfg): void {
  const threads = tileThreads(c.BM, c.BN);
  const wm = warpRow(c.BN);
  const wn = warpCol(c.BN);
  for (let k = span.k0; k < span.k1; k += c.BK) {
    loadTile(ws.As, op.x, { r0: t.m0, c0: k, rows: t.rows, cols: c.F }, { R: c.BM, C: c.BK, threads });
    loadTile(ws.Bs, op.w, { r0: t.n0, c0: k, rows: c.H, cols: c.F }, { R: c.BN, C: c.BK, threads });
    barrier();
    for (let kk = 0; kk < c.BK; kk += span.depth) {
      mmaTransposedB(acc, ws.As.flat, wm * c.BK + kk, c.BK, ws.Bs.flat, wn * c.BK + kk, c.BK);
    }
    barrier();
  }
}

/** h[tile] = bf16(silu(gate) * up) through Cs[BM][2][BN] (gate at [r][0], up at [r][1]). */
function gateUpEpilogue(acc: { gate: Fragment; up: Fragment }, Cs: Shared<f32, [number, number, number]>, h: Out<bf16, [Dim, Dim]>, t: Tile, c: Cfg): void {
  const wm = warpRow(c.BN);
  const wn = warpCol(c.BN);
  storeFragment(acc.gate, Cs.flat, wm * 2 * c.BN + wn, 2 * c.BN);
  storeFragment(acc.up, Cs.flat, wm * 2 * c.BN + c.BN + wn, 2 * c.BN);
  barrier();
  storeSwiGlu(h, Cs, { r0: t.m0, c0: t.n0, rows: t.rows, cols: c.F }, { R: c.BM, C: c.BN, threads: tileThreads(c.BM, c.BN) });
}

/** y[tile] = bf16(acc) through Cs[BM][BN]. */
function downEpilogue(acc: Fragment, Cs: Shared<f32, [number, number]>, y: Out<bf16, [Dim, Dim]>, t: Tile, c: Cfg): void {
  storeFragment(acc, Cs.flat, warpRow(c.BN) * c.BN + warpCol(c.BN), c.BN);
  barrier();
  storeTileBf16(y, Cs, { r0: t.m0, c0: t.n0, rows: t.rows, cols: c.H }, { R: c.BM, C: c.BN, threads: tileThreads(c.BM, c.BN) });
}

/** Gate/up + SwiGLU tile, BF16: h = silu(x·wgᵀ) * (x·wuᵀ) for one expert's wg, wu [F, H]. */
export function gluTileBf16(
  c: Cfg, rows: Rows,
  op: { x: Tensor<bf16, [Dim, Dim]>; wg: Tensor<bf16, [Dim, Dim]>; wu: Tensor<bf16, [Dim, Dim]>; h: Out<bf16, [Dim, Dim]> },
): void {
  const t = tileAt(rows, c);
  const As = shared(bf16, c.BM, c.BK);
  const Bs = shared(bf16, 2, c.BN, c.BK);
  const Cs = shared(f32, c.BM, 2, c.BN);
  const gate = fragment();
  const up = fragment();
  gateUpSpan({ As, Bs }, { gate, up }, op, t, { k0: 0, k1: c.H, depth: 16 }, c);
  gateUpEpilogue({ gate, up }, Cs, op.h, t, c);
}

/** Gate/up + SwiGLU tile, FP8: the FP8 MMA per 128-deep K block, promoted with xs[row][block] and wgs/wus[n / 128][block]. */
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
  const Cs = shared(f32, c.BM, 2, c.BN);
  const Ss = shared(f32, c.BM);
  const gate = fragment();
  const up = fragment();
  for (let kb = 0; kb < c.H; kb += 128) {
    const kg = kb / 128;
    const gateBlock = fragment();
    const upBlock = fragment();
    loadRowScales(Ss, op.xs, { r0: t.m0, rows: t.rows, col: kg }, c.BM, tileThreads(c.BM, c.BN));
    gateUpSpan({ As, Bs }, { gate: gateBlock, up: upBlock }, { x: op.xq, wg: op.wg, wu: op.wu }, t, { k0: kb, k1: min(kb + 128, c.H), depth: 32 }, c);
    accumulateScaled(gate, gateBlock, Ss, warpRow(c.BN), op.wgs[t.n0 / 128][kg]);
    accumulateScaled(up, upBlock, Ss, warpRow(c.BN), op.wus[t.n0 / 128][kg]);
    barrier(); // the next block rewrites Ss
  }
  gateUpEpilogue({ gate, up }, Cs, op.h, t, c);
}

/** Down-projection tile, BF16: y = h·wdᵀ for one expert's wd [H, F]. */
export function downTileBf16(c: Cfg, rows: Rows, op: { h: Tensor<bf16, [Dim, Dim]>; wd: Tensor<bf16, [Dim, Dim]>; y: Out<bf16, [Dim, Dim]> }): void {
  const t = tileAt(rows, c);
  const As = shared(bf16, c.BM, c.BK);
  const Bs = shared(bf16, c.BN, c.BK);
  const Cs = shared(f32, c.BM, c.BN);
  const acc = fragment();
  downSpan({ As, Bs }, acc, { x: op.h, w: op.wd }, t, { k0: 0, k1: c.F, depth: 16 }, c);
  downEpilogue(acc, Cs, op.y, t, c);
}

/** Down-projection tile, FP8: as gluTileFp8 with one weight, hs[row][block] and wds[n / 128][block]. */
export function downTileFp8(
  c: Cfg, rows: Rows,
  op: { hq: Tensor<fp8e4m3, [Dim, Dim]>; hs: Tensor<f32, [Dim, Dim]>; wd: Tensor<fp8e4m3, [Dim, Dim]>; wds: Tensor<f32, [Dim, Dim]>; y: Out<bf16, [Dim, Dim]> },
): void {
  const t = tileAt(rows, c);
  const As = shared(fp8e4m3, c.BM, c.BK);
  const Bs = shared(fp8e4m3, c.BN, c.BK);
  const Cs = shared(f32, c.BM, c.BN);
  const Ss = shared(f32, c.BM);
  const acc = fragment();
  for (let kb = 0; kb < c.F; kb += 128) {
    const kg = kb / 128;
    const block = fragment();
    loadRowScales(Ss, op.hs, { r0: t.m0, rows: t.rows, col: kg }, c.BM, tileThreads(c.BM, c.BN));
    downSpan({ As, Bs }, block, { x: op.hq, w: op.wd }, t, { k0: kb, k1: min(kb + 128, c.F), depth: 32 }, c);
    accumulateScaled(acc, block, Ss, warpRow(c.BN), op.wds[t.n0 / 128][kg]);
    barrier(); // the next block rewrites Ss
  }
  downEpilogue(acc, Cs, op.y, t, c);
}
