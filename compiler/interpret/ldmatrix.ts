import type { Stmt } from '../ir/nodes.js';
import { WARP } from '../ir/nodes.js';
import { bitsOf, compileExpr, oob, uninit, type Ctx, type N, type Scope } from './exprs.js';
import { WAIT_NONE, WAIT_SUBGROUP, fail, type Site, type Thread } from './state.js';

/**
 * ldmatrix (IR `ldmatrix`, CUDA legalisation output) as a warp collective, PTX ISA
 * "ldmatrix": each lane deposits the element index of one 16-byte row; once all 32 lanes
 * have, lane l reads result j from the row that lane 8j + l/4 gave: the 32 bits at byte
 * 4*(l % 4) (two 16-bit or four 8-bit elements, the lowest index in the low bits). With
 * .trans (16-bit) it reads the transposed matrix: the elements at column l/4 of the rows
 * that lanes 8j + 2*(l % 4) and 8j + 2*(l % 4) + 1 gave, the first in the low half. The
 * same distribution as backends/cuda/include/mimo_emu_ldmatrix.h.
 */
export function compileLdmatrix(cx: Ctx, s: Extract<Stmt, { k: 'ldmatrix' }>, scope: Scope): (t: Thread) => Generator<void, void, void> {
  const loc = s.loc;
  const rowIndex = compileExpr(cx, s.rowIndex, scope, loc) as N;
  const si = cx.shared.get(s.buf) ?? cx.error(loc, `unknown shared array '${s.buf}'`);
  const dtype = cx.k.shared[si].dtype;
  const enc = bitsOf(cx, dtype, loc);
  const bytes = dtype === 'bf16' || dtype === 'f16' ? 2 : 1;
  if (s.trans && bytes !== 2) cx.error(loc, `ldmatrix.trans moves 16-bit elements, '${s.buf}' is ${dtype}`);
  if (s.results.length !== s.count) cx.error(loc, `ldmatrix.x${s.count} with ${s.results.length} results (malformed IR)`);
  const rowElems = 16 / bytes, per = 4 / bytes, width = 8 * bytes;
  const slots = s.results.map((r) => {
    const slot = cx.alloc();
    scope.vars.set(r, slot);
    return slot;
  });
  const site: Site = { kind: 'ldmatrix', loc };
  const count = s.count, trans = s.trans, buf = s.buf;
  return function* (t: Thread) {
    t.sgValue = rowIndex(t);
    t.wait = WAIT_SUBGROUP;
    t.site = site;
    yield;
    const rows = t.warpValues!;
    const { data, init } = t.wg.shared[si];
    const element = (row: number, col: number): number => {
      if (row % rowElems !== 0) fail(t, loc, `ldmatrix of shared '${buf}': row at element ${row} is not 16-byte aligned (a multiple of ${rowElems})`);
      if (!(row >= 0 && row + rowElems <= data.length)) oob(t, loc, 'ldmatrix row load', 'shared', buf, row + rowElems - 1, data.length);
      const i = row + col;
      if (init[i] === 0) uninit(t, loc, buf, i);
      return enc(data[i]);
    };
    const l = t.lane;
    for (let j = 0; j < count; j++) {
      let w = 0;
      if (trans) {
        for (let h = 0; h < 2; h++) w |= element(rows[8 * j + 2 * (l & 3) + h], l >> 2) << (16 * h);
      } else {
        const row = rows[8 * j + (l >> 2)];
        for (let e = 0; e < per; e++) w |= element(row, per * (l & 3) + e) << (width * e);
      }
      t.v[slots[j]] = w >>> 0;
    }
  };
}

/** Completes an ldmatrix that every lane of a full warp waits at: hands each lane the 32 row indices. */
export function resolveLdmatrix(threads: readonly Thread[], done: (i: number) => boolean, s0: number, end: number, site: Site): void {
  const t0 = threads[s0];
  if (t0.run.sgSize !== WARP || end - s0 !== WARP) {
    fail(t0, site.loc, `ldmatrix needs warps of ${WARP} lanes: this launch has subgroups of ${t0.run.sgSize} and ${end - s0} threads in this one`);
  }
  const rows = new Int32Array(WARP);
  for (let i = s0; i < end; i++) {
    if (done(i)) fail(t0, site.loc, `ldmatrix needs all ${WARP} lanes of the warp, but lane ${threads[i].lane} has returned`);
    rows[i - s0] = threads[i].sgValue as number;
  }
  for (let i = s0; i < end; i++) {
    threads[i].warpValues = rows;
    threads[i].wait = WAIT_NONE;
  }
}
