import type { Expr, Kernel, MathFn, Stmt } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import { STORAGE_ONLY } from '../ir/types.js';
import { mapStmts } from '../ir/walk.js';
import { i32 } from '../ir/build.js';

type Narrow = 'bf16' | 'f16' | 'fp8e4m3' | 'fp8e5m2';
const perWord = (t: Narrow) => (t === 'bf16' || t === 'f16' ? 2 : 4);

/**
 * For targets without 8/16-bit types (WGSL without shader-f16): storage-only values become
 * f32 values that hold exactly the narrow number; global tensors of those types become
 * arrays of u32 words, read with shift+mask and written one element at a time with
 * storePacked (rendered as atomic and/or, so neighbours in a word never race).
 * Shared and local arrays simply hold f32.
 */
export function legalisePackedStorage(k: Kernel): Kernel {
  const narrow = new Map<string, Narrow>();
  for (const t of k.tensors) if (STORAGE_ONLY.has(t.dtype)) narrow.set(t.name, t.dtype as Narrow);
  const widen = (t: DType): DType => (STORAGE_ONLY.has(t) ? 'f32' : t);
  const wordAndShift = (index: Expr, t: Narrow): [Expr, Expr] => {
    const n = perWord(t);
    const bits = 32 / n;
    const word: Expr = { k: 'bin', op: '>>', type: 'i32', a: index, b: i32(Math.log2(n)) };
    const slot: Expr = { k: 'bin', op: '&', type: 'i32', a: index, b: i32(n - 1) };
    const shift: Expr = { k: 'cast', type: 'u32', a: { k: 'bin', op: '*', type: 'i32', a: slot, b: i32(bits) } };
    return [word, shift];
  };
  const expr = (e: Expr): Expr => {
    if (e.k === 'load' && e.space === 'global' && narrow.has(e.buf)) {
      const t = narrow.get(e.buf)!;
      const [word, shift] = wordAndShift(e.index, t);
      return { k: 'call', fn: `unpack_${t}` as MathFn, type: 'f32', args: [{ k: 'load', space: 'global', buf: e.buf, type: 'u32', index: word, loc: e.loc }, shift], loc: e.loc };
    }
    if (e.k === 'cast' && STORAGE_ONLY.has(e.type)) {
      return { k: 'call', fn: `round_${e.type}` as MathFn, type: 'f32', args: [e.a], loc: e.loc };
    }
    if (e.k === 'cast' && e.a.type === 'f32' && e.type === 'f32') return e.a;
    return 'type' in e && STORAGE_ONLY.has(e.type) ? ({ ...e, type: 'f32' } as Expr) : e;
  };
  const stmt = (s: Stmt): Stmt => {
    if (s.k === 'store' && s.space === 'global' && narrow.has(s.buf)) {
      const t = narrow.get(s.buf)!;
      const [word, shift] = wordAndShift(s.index, t);
      // bits_T rounds by itself: a value rounded just before the store needs no second rounding.
      const v = s.value.k === 'call' && s.value.fn === `round_${t}` ? s.value.args[0] : s.value;
      const bits: Expr = { k: 'call', fn: `bits_${t}` as MathFn, type: 'u32', args: [v] };
      return { k: 'storePacked', buf: s.buf, word, shift, width: t === 'bf16' || t === 'f16' ? 16 : 8, bits, loc: s.loc };
    }
    if (s.k === 'let' || s.k === 'localArray') return { ...s, type: widen(s.type) };
    if (s.k === 'subgroup') return { ...s, type: widen(s.type) };
    return s;
  };
  // Casts of narrow values to f32 become no-ops once the value is an f32: fix them bottom-up.
  const body = mapStmts(k.body, (e) => {
    const r = expr(e);
    return r.k === 'cast' && r.type === r.a.type ? r.a : r;
  }, stmt);
  return {
    ...k,
    tensors: k.tensors.map((t) => (narrow.has(t.name) ? { ...t, packed: true } : t)),
    shared: k.shared.map((s) => ({ ...s, dtype: widen(s.dtype) })),
    body,
  };
}
