import type { BlockRef, Expr, MmaDType, Stmt } from '../ir/nodes.js';
import { mmaDepth } from '../ir/nodes.js';
import { operandRegister, pow2Factor } from './alignment.js';
import { warpCoords, type WarpShape } from './blockLayout.js';
import { bin, countedLoop, i32, let_, plus, v } from '../ir/build.js';

/**
 * A warp tile's share of blockMma on tensor cores: for each K step of the MMA depth, the
 * A fragments of the warp's WM/16 row blocks and the B fragments of its WN/8 column blocks
 * are loaded once, then every (row block, column block) pair is one mma.sync m16n8 (PTX ISA
 * m16n8k16 / m16n8k32), so each A fragment serves WN/8 mmas and each B fragment WM/16.
 *
 * Operand fragments come through ldmatrix when every 16-byte row it addresses is provably
 * 16-byte aligned (the operand's offset and row stride are multiples of 16 bytes): each
 * 8x8 matrix of 16-bit elements (8 x 16 fp8 bytes) is one mma register of 8 lanes' rows.
 *   A (row-major [rows][K]): one .x4 per row block: matrices (rows 0-7, k 0), (rows 8-15, k 0),
 *     (rows 0-7, k half), (rows 8-15, k half) are a[0..3] (half = depth/2 = 16 bytes of K);
 *   B 'nk' ([cols][K]): one .x4 per column-block pair, rows = columns: (n 0-7, k 0), (n 0-7,
 *     k half), (n 8-15, k 0), (n 8-15, k half) are b[0], b[1] of the pair's two blocks;
 *   B 'kn' ([K][cols], 16-bit): the same with .trans, rows = k: (k 0-7, n 0-7), (k 8-15, n 0-7), ...
 * fp8 'kn' has no transposing form (.trans moves 16-bit elements) and unaligned operands
 * are read as packed element loads (alignment.ts operandRegister).
 */
export function warpTileMma(s: Extract<Stmt, { k: 'blockMma' }>, dtype: MmaDType, K: number, shape: WarpShape, tag: string, defs: ReadonlyMap<string, readonly Expr[]>): Stmt[] {
  const { a, b, loc } = s;
  const depth = mmaDepth(dtype);
  const per = depth === 32 ? 4 : 2;
  const half = depth / 2;
  const MI = shape.WM / 16, NI = shape.WN / 8;
  const c = warpCoords(shape, tag, loc);
  const kk = `${tag}_k`;
  const tk = bin('*', c.t, i32(per));
  const aligned = (r: BlockRef, log2: number) => pow2Factor(r.offset, defs) >= log2 && pow2Factor(r.stride, defs) >= log2;
  // Element counts as powers of two: a 16-byte row, a 32-bit register.
  const rowLog2 = Math.log2(half), wordLog2 = Math.log2(per);
  const ldA = aligned(a, rowLog2);
  const ldB = aligned(b, rowLog2) && (s.bLayout === 'nk' || per === 2);
  const at = (r: BlockRef, row: Expr, col: Expr) => bin('+', bin('+', r.offset, bin('*', row, r.stride)), col);
  const lane7 = bin('&', c.lane, i32(7));
  const matrixBit = (bit: number) => bin('&', bin('>>', c.lane, i32(bit)), i32(1));
  const body: Stmt[] = [];

  const aRegs: Expr[][] = [];
  for (let mi = 0; mi < MI; mi++) {
    const rowBase = plus(c.wm0, mi * 16);
    const names = [0, 1, 2, 3].map((j) => `${tag}_a${mi}_${j}`);
    if (ldA) {
      const row = bin('+', bin('+', rowBase, lane7), bin('*', matrixBit(3), i32(8)));
      const col = bin('+', v(kk), bin('*', bin('>>', c.lane, i32(4)), i32(half)));
      body.push({ k: 'ldmatrix', count: 4, trans: false, buf: a.buf, rowIndex: at(a, row, col), results: names, loc });
    } else {
      const wordOk = aligned(a, wordLog2);
      names.forEach((name, j) => {
        const row = plus(bin('+', rowBase, c.g), (j & 1) * 8);
        body.push(let_(name, operandRegister(a.buf, dtype, at(a, row, plus(bin('+', v(kk), tk), (j >> 1) * half)), undefined, wordOk), loc));
      });
    }
    aRegs.push(names.map((x) => v(x, 'u32')));
  }

  const bRegs: Expr[][] = [];
  for (let ni = 0; ni < NI; ni += ldB ? 2 : 1) {
    const colBase = plus(c.wn0, ni * 8);
    if (ldB) {
      const pair = ni + 1 < NI;
      const names = Array.from({ length: pair ? 4 : 2 }, (_, j) => `${tag}_b${ni + (j >> 1)}_${j & 1}`);
      // .x2 reads the addresses of lanes 0-15 only; lanes 16-31 repeat them.
      const second = pair ? bin('*', bin('>>', c.lane, i32(4)), i32(8)) : i32(0);
      const index = s.bLayout === 'nk'
        ? at(b, bin('+', bin('+', colBase, lane7), second), bin('+', v(kk), bin('*', matrixBit(3), i32(half))))
        : at(b, bin('+', bin('+', v(kk), lane7), bin('*', matrixBit(3), i32(8))), bin('+', colBase, second));
      body.push({ k: 'ldmatrix', count: pair ? 4 : 2, trans: s.bLayout === 'kn', buf: b.buf, rowIndex: index, results: names, loc });
      bRegs.push(names.slice(0, 2).map((x) => v(x, 'u32')));
      if (pair) bRegs.push(names.slice(2).map((x) => v(x, 'u32')));
    } else {
      const wordOk = s.bLayout === 'nk' && aligned(b, wordLog2);
      const col = bin('+', colBase, c.g);
      const names = [0, 1].map((h) => {
        const kIdx = plus(bin('+', v(kk), tk), h * half);
        const first = s.bLayout === 'kn' ? at(b, kIdx, col) : at(b, col, kIdx);
        const name = `${tag}_b${ni}_${h}`;
        body.push(let_(name, operandRegister(b.buf, dtype, first, s.bLayout === 'kn' ? b.stride : undefined, wordOk), loc));
        return v(name, 'u32');
      });
      bRegs.push(names);
    }
  }

  for (let mi = 0; mi < MI; mi++) {
    for (let ni = 0; ni < NI; ni++) {
      body.push({ k: 'mmaSync', dtype, acc: s.acc, accBase: (mi * NI + ni) * 4, a: aRegs[mi], b: bRegs[ni], loc });
    }
  }
  return [...c.lets, countedLoop(kk, i32(0), i32(K), i32(depth), body, loc)];
}
