import type { Stmt } from '../ir/nodes.js';
import { wgmmaSwizzle } from '../ir/nodes.js';
import { BYTES } from '../ir/types.js';
import { compileExpr, oob, uninit, type Ctx, type N, type Scope } from './exprs.js';
import { fail, type MemArray, type Thread } from './state.js';

/**
 * One warpgroup's wgmma.mma_async (IR `wgmma`, passes/wgmmaTile.ts), from the PTX ISA's
 * layouts rather than from the emulator's (backends/cuda/include/mimo_emu_wgmma.h decodes real
 * descriptors), so the two check each other:
 *   operand element (row, k) of a K-major tile with rows of R bytes starting at byte `start`
 *   (the tile itself 8R-aligned): logical byte start + (row / 8) * 8R + (row % 8) * R + k * size,
 *   stored at wgmmaSwizzle(logical, R), the function copyTile's swizzled stores use too;
 *   MN-major B (mnLbo set: B stored [K][N], column atoms of R bytes mnLbo apart): element (n, k) at
 *   logical byte start + floor(n * size / R) * mnLbo + (k / 8) * 8R + (k % 8) * R + (n * size) % R;
 *   accumulator element 4i + j of warp w (of the warpgroup), lane l: D[16w + l/4 + 8(j >> 1)][8i + 2(l % 4) + (j & 1)].
 * The operand tiles are stable between the barrier that publishes them and the wait that
 * retires the wgmma, so each thread computes its own elements when it reaches the statement
 * (products in f32 are exact for bf16 and e4m3; summed in k order as the emulator does).
 */
export function compileWgmma(cx: Ctx, s: Extract<Stmt, { k: 'wgmma' }>, scope: Scope): (t: Thread) => void {
  const loc = s.loc;
  const size = BYTES[s.dtype];
  const K = 32 / size;
  const ops = [s.a, s.b].map((o) => {
    const si = cx.shared.get(o.buf) ?? cx.error(loc, `wgmma: unknown shared array '${o.buf}'`);
    if (cx.k.shared[si].dtype !== s.dtype) cx.error(loc, `wgmma ${s.dtype}: shared '${o.buf}' is ${cx.k.shared[si].dtype}`);
    return { si, buf: o.buf, R: o.rowBytes, mnLbo: o.mnLbo, index: compileExpr(cx, o.index, scope, loc) as N };
  });
  if (s.a.mnLbo !== undefined || (s.b.mnLbo !== undefined && s.dtype !== 'bf16')) cx.error(loc, `wgmma ${s.dtype}: only a bf16 B may be MN-major`);
  const { slot, type } = cx.local(scope, s.acc, loc);
  if (type !== 'f32') cx.error(loc, `wgmma accumulator '${s.acc}' is ${type}, expected f32`);
  const NI = s.n / 8;
  const a = new Float64Array(K), b = new Float64Array(K);
  return (t) => {
    const acc = t.v[slot] as MemArray;
    if (acc.length !== s.n / 2) fail(t, loc, `wgmma m64n${s.n}: accumulator '${s.acc}' has ${acc.length} elements, expected ${s.n / 2}`);
    const [A, B] = ops.map((o) => {
      const start = o.index(t) * size;
      // The hardware anchors the swizzle at the address bits: a tile start inside an 8-row group would shift it.
      if (start % 16) fail(t, loc, `wgmma operand '${o.buf}' starts at byte ${start}, not a multiple of 16`);
      return { ...o, start, m: t.wg.shared[o.si] };
    });
    const read = (o: typeof A, row: number, out: Float64Array) => {
      for (let k = 0; k < K; k++) {
        const logical = o.mnLbo === undefined
          ? o.start + (row >> 3) * 8 * o.R + (row & 7) * o.R + k * size
          : o.start + Math.floor((row * size) / o.R) * o.mnLbo + (k >> 3) * 8 * o.R + (k & 7) * o.R + ((row * size) % o.R);
        const i = wgmmaSwizzle(logical, o.R) / size;
        if (!(i >= 0 && i < o.m.data.length)) oob(t, loc, 'wgmma operand read', 'shared', o.buf, i, o.m.data.length);
        if (!o.m.init[i]) uninit(t, loc, o.buf, i);
        out[k] = o.m.data[i];
      }
    };
    const w = (t.li & 127) >> 5, g = (t.li & 31) >> 2, q = t.li & 3;
    for (let h = 0; h < 2; h++) {
      read(A, 16 * w + g + 8 * h, a);
      for (let i = 0; i < NI; i++) {
        for (let c = 0; c < 2; c++) {
          read(B, 8 * i + 2 * q + c, b);
          const e = 4 * i + 2 * h + c;
          let d = acc[e];
          for (let k = 0; k < K; k++) d = Math.fround(d + a[k] * b[k]);
          acc[e] = d;
        }
      }
    }
  };
}
