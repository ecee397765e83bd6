import type { Stmt } from '../ir/nodes.js';
import type { NarrowType } from '../ir/numerics.js';
import { BYTES, STORAGE_ONLY } from '../ir/types.js';
import { compileExpr, oob, type Ctx, type N, type Scope } from './exprs.js';
import { decodeTable, fail, type Thread } from './state.js';

/** A copy issued, not yet in shared memory: the source values as read at issue. */
interface Pending { readonly si: number; readonly index: number; readonly values: readonly number[] }
interface Queue { open: Pending[]; readonly groups: Pending[][] }
const queues = new WeakMap<Thread, Queue>();
const queueOf = (t: Thread): Queue => {
  let q = queues.get(t);
  if (!q) queues.set(t, (q = { open: [], groups: [] }));
  return q;
};

/**
 * cp.async (IR asyncCopy/asyncCommit/asyncWait, CUDA copyTile lowering) with the latest
 * completion the PTX ISA allows, as backends/cuda/include/mimo_emu_cp_async.h: the source is
 * read at issue, shared memory written when the wait that retires the group runs. A read of
 * the tile before that wait sees the old contents (or faults as uninitialised), so a lowering
 * that waits too little fails here rather than passing by luck.
 */
export function compileAsync(cx: Ctx, s: Extract<Stmt, { k: 'asyncCopy' | 'asyncCommit' | 'asyncWait' }>, scope: Scope): (t: Thread) => void {
  const loc = s.loc;
  if (s.k === 'asyncCommit') {
    return (t) => {
      const q = queueOf(t);
      q.groups.push(q.open);
      q.open = [];
    };
  }
  if (s.k === 'asyncWait') {
    const pending = s.pending;
    return (t) => {
      const q = queueOf(t);
      while (q.groups.length > pending) {
        for (const c of q.groups.shift()!) {
          const m = t.wg.shared[c.si];
          c.values.forEach((v, j) => {
            m.data[c.index + j] = v;
            m.init[c.index + j] = 1;
          });
        }
      }
    };
  }
  const si = cx.shared.get(s.dst) ?? cx.error(loc, `unknown shared array '${s.dst}'`);
  const ti = cx.tensors.get(s.src) ?? cx.error(loc, `unknown tensor '${s.src}'`);
  const dtype = cx.k.shared[si].dtype;
  if (cx.k.tensors[ti].dtype !== dtype || cx.k.tensors[ti].packed) cx.error(loc, `cp.async from '${s.src}' (${cx.k.tensors[ti].dtype}) into shared '${s.dst}' (${dtype}) (malformed IR)`);
  const bytes = BYTES[dtype];
  const per = 16 / bytes;
  const tab = STORAGE_ONLY.has(dtype) ? decodeTable(dtype as NarrowType) : undefined;
  const [dst, src, n] = [s.dstIndex, s.srcIndex, s.srcBytes].map((e) => compileExpr(cx, e, scope, loc) as N);
  return (t) => {
    const d = dst(t), i = src(t), nb = n(t);
    const m = t.wg.shared[si];
    if (!(nb >= 0 && nb <= 16 && nb % bytes === 0)) fail(t, loc, `cp.async into shared '${s.dst}': src-size ${nb} bytes is not 0..16 in whole ${dtype} elements`);
    if (d % per !== 0) fail(t, loc, `cp.async into shared '${s.dst}' at index ${d}: not 16-byte aligned (a multiple of ${per} ${dtype} elements)`);
    if (!(d >= 0 && d + per <= m.data.length)) oob(t, loc, 'cp.async', 'shared', s.dst, d + per - 1, m.data.length);
    const count = nb / bytes;
    const a = t.run.tensors[ti];
    if (count > 0) {
      if (i % per !== 0) fail(t, loc, `cp.async from '${s.src}' at index ${i}: not 16-byte aligned (a multiple of ${per} ${dtype} elements)`);
      if (!(i >= 0 && i + count <= a.length)) oob(t, loc, 'cp.async', 'global', s.src, i + count - 1, a.length);
    }
    const values = Array.from({ length: per }, (_, j) => (j < count ? (tab ? tab[a[i + j]] : a[i + j]) : 0));
    queueOf(t).open.push({ si, index: d, values });
  };
}
