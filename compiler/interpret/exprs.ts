import type { Expr, IndexBound, Space } from '../ir/nodes.js';
import type { LoweredKernel } from '../ir/lowered.js';
import type { DType } from '../ir/types.js';
import type { SourceLoc } from '../common/source-loc.js';
import { STORAGE_ONLY } from '../ir/types.js';
import { evalBin, evalBitcast, evalCall, evalCast, evalUn, normalise } from '../ir/semantics.js';
import type { NarrowType } from '../ir/numerics.js';
import { InterpretError } from './errors.js';
import { FORMATS, encode } from '../ir/numerics.js';
import { decodeTable, fail, type HostArray, type MemArray, type Thread, type Val } from './state.js';
import { poisonedNote } from './sharedPoison.js';

export type E = (t: Thread) => Val;
export type N = (t: Thread) => number;

/** Lexical scope at compile time: IR names to environment slots. */
export interface Scope {
  readonly vars: Map<string, number>;
  readonly locals: Map<string, { slot: number; type: DType }>;
  readonly parent?: Scope;
}
export const childScope = (parent?: Scope): Scope => ({ vars: new Map(), locals: new Map(), parent });

function lookup<T>(s: Scope | undefined, get: (s: Scope) => T | undefined): T | undefined {
  for (; s; s = s.parent) {
    const v = get(s);
    if (v !== undefined) return v;
  }
  return undefined;
}

/** Compile-time context of one kernel: parameter indices and the slot counter. */
export class Ctx {
  nslots = 0;
  readonly tensors: Map<string, number>;
  readonly shared: Map<string, number>;
  readonly scalars: Map<string, number>;

  constructor(readonly k: LoweredKernel) {
    this.tensors = new Map(k.tensors.map((t, i) => [t.name, i]));
    this.shared = new Map(k.shared.map((s, i) => [s.name, i]));
    this.scalars = new Map(k.scalars.map((s, i) => [s.name, i]));
  }

  alloc(): number {
    return this.nslots++;
  }

  /** A malformed kernel (not lowered for 'interp', or broken IR): reported before running. */
  error(loc: SourceLoc | undefined, detail: string): never {
    throw new InterpretError(this.k.name, detail, loc ?? this.k.loc);
  }

  varSlot(scope: Scope, name: string, loc: SourceLoc | undefined): number {
    return lookup(scope, (s) => s.vars.get(name)) ?? this.error(loc, `variable '${name}' used before its declaration (malformed IR)`);
  }

  local(scope: Scope, name: string, loc: SourceLoc | undefined): { slot: number; type: DType } {
    return lookup(scope, (s) => s.locals.get(name)) ?? this.error(loc, `unknown local array '${name}' (malformed IR)`);
  }
}

const spaceName = (space: Space, buf: string) => (space === 'global' ? `'${buf}'` : `${space} '${buf}'`);

/** Reports an out-of-bounds access; `what` is 'load', 'store' or 'atomic'. */
export function oob(t: Thread, loc: SourceLoc | undefined, what: string, space: Space, buf: string, i: number, length: number): never {
  return fail(t, loc, `out-of-bounds ${what} of ${spaceName(space, buf)} at index ${i} (length ${length})`);
}

export function uninit(t: Thread, loc: SourceLoc | undefined, buf: string, i: number): never {
  return fail(t, loc, `read of shared '${buf}' at index ${i} before any thread of the workgroup wrote it (missing store or barrier?)${poisonedNote(t.wg, buf)}`);
}

/** Integer division by zero and the like: semantics.ts throws RangeError, reported at `loc`. */
export function rethrow(t: Thread, loc: SourceLoc | undefined, err: unknown): never {
  if (err instanceof RangeError) fail(t, loc, err.message);
  throw err;
}

/** Compiles an expression into a closure over the thread; `at` is the nearest enclosing location. */
export function compileExpr(cx: Ctx, e: Expr, scope: Scope, at: SourceLoc | undefined): E {
  const loc = e.loc ?? at;
  const sub = (x: Expr) => compileExpr(cx, x, scope, loc);
  const type = e.type;
  switch (e.k) {
    case 'const': {
      const v: Val = typeof e.value === 'boolean' ? e.value : STORAGE_ONLY.has(type) ? evalCast('f32', type, e.value) : normalise(type, e.value);
      return () => v;
    }
    case 'var': {
      const slot = cx.varSlot(scope, e.name, loc);
      return (t) => t.v[slot] as Val;
    }
    case 'uniform': {
      const i = cx.scalars.get(e.name) ?? cx.error(loc, `unknown uniform '${e.name}'`);
      return (t) => t.run.uniforms[i];
    }
    case 'sym':
      return cx.error(loc, `unspecialised symbol '${e.name}': interpret lowerForTarget(kernel, 'interp', choice), not the frontend IR`);
    case 'builtin': {
      const ax = e.axis;
      switch (e.name) {
        case 'localId': return (t) => t.lid[ax];
        case 'workgroupId': return (t) => t.wg.id[ax];
        case 'numWorkgroups': return (t) => t.run.grid[ax];
        case 'localIndex': return (t) => t.li;
        case 'subgroupLane': return (t) => t.lane;
        case 'subgroupSize': return (t) => t.run.sgSize;
      }
      return cx.error(loc, `unknown builtin '${(e as { name: string }).name}'`);
    }
    case 'bin': {
      const a = sub(e.a);
      const b = sub(e.b);
      const op = e.op;
      const ot = e.a.type; // operand type: comparisons are typed bool but compare operands
      if (op === '&&') return (t) => { const x = a(t); return x ? evalBin(op, ot, x, b(t)) : x; };
      if (op === '||') return (t) => { const x = a(t); return x ? x : evalBin(op, ot, x, b(t)); };
      if (op === '/' || op === '%') {
        return (t) => {
          const x = a(t);
          const y = b(t);
          try {
            return evalBin(op, ot, x, y);
          } catch (err) {
            return rethrow(t, loc, err);
          }
        };
      }
      return (t) => evalBin(op, ot, a(t), b(t));
    }
    case 'un': {
      const a = sub(e.a);
      const op = e.op;
      return (t) => evalUn(op, type, a(t));
    }
    case 'cast': {
      const a = sub(e.a);
      const from = e.a.type;
      if (from === type) return a;
      return (t) => evalCast(from, type, a(t));
    }
    case 'bitcast': {
      const a = sub(e.a);
      const from = e.a.type;
      return (t) => evalBitcast(from, type, a(t) as number);
    }
    case 'select': {
      // Both operands are evaluated, as WGSL's select() does.
      const c = sub(e.cond);
      const a = sub(e.a);
      const b = sub(e.b);
      return (t) => { const x = a(t); const y = b(t); return c(t) ? x : y; };
    }
    case 'call': {
      if (e.fn === 'pack2' || e.fn === 'pack4') return compilePack(cx, e, scope, loc);
      const args = e.args.map(sub);
      const fn = e.fn;
      // One argument buffer per call site: expressions never suspend, and a call cannot
      // contain itself, so no evaluation of this closure overlaps another.
      const buf = args.map(() => 0);
      if (args.length === 1) {
        const [a] = args;
        return (t) => ((buf[0] = a(t) as number), evalCall(fn, type, buf));
      }
      if (args.length === 2) {
        const [a, b] = args;
        return (t) => ((buf[0] = a(t) as number), (buf[1] = b(t) as number), evalCall(fn, type, buf));
      }
      if (args.length === 3) {
        const [a, b, c] = args;
        return (t) => ((buf[0] = a(t) as number), (buf[1] = b(t) as number), (buf[2] = c(t) as number), evalCall(fn, type, buf));
      }
      return (t) => {
        for (let i = 0; i < args.length; i++) buf[i] = args[i](t) as number;
        return evalCall(fn, type, buf);
      };
    }
    case 'load':
      return compileLoad(cx, e, scope, loc);
    case 'loadWord':
      return compileLoadWord(cx, e, scope, loc);
  }
  return cx.error(loc, `unknown expression kind '${(e as { k: string }).k}'`);
}

/**
 * The flat index of an access, checking first each index of a multi-dimensional access
 * against its own dimension (IR `bounds`): `q[t][h][192]` is caught although its flat
 * index lands in range, in the next head.
 */
export function checkedIndex(cx: Ctx, index: Expr, bounds: readonly IndexBound[] | undefined, scope: Scope, loc: SourceLoc | undefined): N {
  const idx = compileExpr(cx, index, scope, loc) as N;
  if (!bounds?.length) return idx;
  const checks = bounds.map((b) => ({ i: compileExpr(cx, b.index, scope, loc) as N, n: compileExpr(cx, b.extent, scope, loc) as N, dim: b.dim }));
  return (t) => {
    for (const c of checks) {
      const i = c.i(t);
      const n = c.n(t);
      if (!(i >= 0 && i < n)) fail(t, loc, `index ${i} out of range for ${c.dim} (0 to ${n - 1})`);
    }
    return idx(t);
  };
}

/** Word i of a packed tensor (its interpreter array holds the u32 words). */
function packedWord(ti: number, idx: N, loc: SourceLoc | undefined, buf: string): E {
  return (t) => {
    const a = t.run.tensors[ti];
    const i = idx(t);
    if (!(i >= 0 && i < a.length)) oob(t, loc, 'word load', 'global', buf, i, a.length);
    return a[i];
  };
}

function compileLoad(cx: Ctx, e: Extract<Expr, { k: 'load' }>, scope: Scope, loc: SourceLoc | undefined): E {
  const idx = checkedIndex(cx, e.index, e.bounds, scope, loc);
  const { buf, space } = e;
  const isBool = e.type === 'bool';
  if (space === 'global') {
    const ti = cx.tensors.get(buf) ?? cx.error(loc, `unknown tensor '${buf}'`);
    const p = cx.k.tensors[ti];
    // WGSL legalisation: a u32 word of the packed tensor, unpacked by an unpack_* call.
    if (p.packed) return packedWord(ti, idx, loc, buf);
    if (STORAGE_ONLY.has(p.dtype)) {
      const tab = decodeTable(p.dtype as NarrowType);
      return (t) => {
        const a = t.run.tensors[ti];
        const i = idx(t);
        if (!(i >= 0 && i < a.length)) oob(t, loc, 'load', space, buf, i, a.length);
        return tab[a[i]];
      };
    }
    return (t) => {
      const a = t.run.tensors[ti];
      const i = idx(t);
      if (!(i >= 0 && i < a.length)) oob(t, loc, 'load', space, buf, i, a.length);
      return isBool ? a[i] !== 0 : a[i];
    };
  }
  if (space === 'shared') {
    const si = cx.shared.get(buf) ?? cx.error(loc, `unknown shared array '${buf}'`);
    return (t) => {
      const m = t.wg.shared[si];
      const i = idx(t);
      if (!(i >= 0 && i < m.data.length)) oob(t, loc, 'load', space, buf, i, m.data.length);
      if (m.init[i] === 0) uninit(t, loc, buf, i);
      return isBool ? m.data[i] !== 0 : m.data[i];
    };
  }
  const { slot } = cx.local(scope, buf, loc);
  return (t) => {
    const a = t.v[slot] as MemArray;
    const i = idx(t);
    if (!(i >= 0 && i < a.length)) oob(t, loc, 'load', space, buf, i, a.length);
    return isBool ? a[i] !== 0 : a[i];
  };
}

/** The bit pattern a narrow-typed operand is stored as (values are held as their f32 number). */
export function bitsOf(cx: Ctx, type: DType, loc: SourceLoc | undefined): (v: number) => number {
  if (!STORAGE_ONLY.has(type)) return cx.error(loc, `packing a ${type} value (pack2/pack4/loadWord take bf16, f16 or fp8 elements)`);
  const fmt = FORMATS[type as NarrowType];
  return (v) => encode(fmt, v);
}

/** pack2/pack4: the operands' bit patterns side by side, the first in the low bits. */
function compilePack(cx: Ctx, e: Extract<Expr, { k: 'call' }>, scope: Scope, loc: SourceLoc | undefined): E {
  const want = e.fn === 'pack2' ? 2 : 4;
  if (e.args.length !== want) cx.error(loc, `${e.fn} takes ${want} operands, got ${e.args.length} (malformed IR)`);
  const args = e.args.map((x) => compileExpr(cx, x, scope, loc) as N);
  const enc = bitsOf(cx, e.args[0].type, loc);
  if (e.args.some((x) => x.type !== e.args[0].type)) cx.error(loc, `${e.fn} operands differ in type (${e.args.map((x) => x.type).join(', ')})`);
  const width = 32 / want;
  return (t) => {
    let w = 0;
    for (let i = 0; i < want; i++) w |= enc(args[i](t)) << (width * i);
    return w >>> 0;
  };
}

/**
 * The u32 word holding buf[index..index+n-1] (n = 2 for 16-bit elements, 4 for 8-bit), the
 * lowest index in the low bits; index must be a multiple of n, as a 32-bit load on the
 * device needs. Shared and local arrays hold values, so their bit patterns are packed here.
 */
function compileLoadWord(cx: Ctx, e: Extract<Expr, { k: 'loadWord' }>, scope: Scope, loc: SourceLoc | undefined): E {
  const idx = compileExpr(cx, e.index, scope, loc) as N;
  const { buf, space } = e;
  let dtype: DType;
  let get: (t: Thread) => MemArray | HostArray;
  let init: ((t: Thread) => Uint8Array) | undefined;
  if (space === 'global') {
    const ti = cx.tensors.get(buf) ?? cx.error(loc, `unknown tensor '${buf}'`);
    const p = cx.k.tensors[ti];
    if (p.packed) return packedWord(ti, idx, loc, buf);
    dtype = p.dtype;
    get = (t) => t.run.tensors[ti];
    const tab = STORAGE_ONLY.has(dtype) ? decodeTable(dtype as NarrowType) : undefined;
    if (tab) {
      // Host arrays of narrow types already hold bit patterns.
      const per = dtype === 'bf16' || dtype === 'f16' ? 2 : 4;
      const width = 32 / per;
      return (t) => {
        const a = get(t);
        const i = idx(t);
        if (i % per !== 0) fail(t, loc, `loadWord of '${buf}' at index ${i}: not a multiple of ${per} (a misaligned 32-bit load)`);
        if (!(i >= 0 && i + per <= a.length)) oob(t, loc, 'word load', space, buf, i + per - 1, a.length);
        let w = 0;
        for (let j = 0; j < per; j++) w |= a[i + j] << (width * j);
        return w >>> 0;
      };
    }
  } else if (space === 'shared') {
    const si = cx.shared.get(buf) ?? cx.error(loc, `unknown shared array '${buf}'`);
    dtype = cx.k.shared[si].dtype;
    get = (t) => t.wg.shared[si].data;
    init = (t) => t.wg.shared[si].init;
  } else {
    const l = cx.local(scope, buf, loc);
    dtype = l.type;
    get = (t) => t.v[l.slot] as MemArray;
  }
  const enc = bitsOf(cx, dtype, loc);
  const per = dtype === 'bf16' || dtype === 'f16' ? 2 : 4;
  const width = 32 / per;
  return (t) => {
    const a = get(t);
    const i = idx(t);
    if (i % per !== 0) fail(t, loc, `loadWord of ${space} '${buf}' at index ${i}: not a multiple of ${per} (a misaligned 32-bit load)`);
    if (!(i >= 0 && i + per <= a.length)) oob(t, loc, 'word load', space, buf, i + per - 1, a.length);
    const m = init?.(t);
    let w = 0;
    for (let j = 0; j < per; j++) {
      if (m && m[i + j] === 0) uninit(t, loc, buf, i + j);
      w |= enc(a[i + j]) << (width * j);
    }
    return w >>> 0;
  };
}
