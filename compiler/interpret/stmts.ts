import type { Expr, Space, Stmt } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import type { SourceLoc } from '../common/source-loc.js';
import { STORAGE_ONLY } from '../ir/types.js';
import { evalBin, evalCall } from '../ir/semantics.js';
import { FORMATS, encode, type NarrowType } from '../ir/numerics.js';
import { compileLdmatrix } from './ldmatrix.js';
import { compileAsync } from './asyncCopy.js';
import { compileWgmma } from './wgmma.js';
import { poisonAfter } from './sharedPoison.js';
import { Ctx, checkedIndex, childScope, compileExpr, oob, uninit, type E, type N, type Scope } from './exprs.js';
import { WAIT_BARRIER, WAIT_SUBGROUP, fail, makeArray, outOfSteps, type MemArray, type Site, type Thread, type Val } from './state.js';

/** How a statement (or block) ended: fall through, break, continue, return. */
export const NEXT = 0, BREAK = 1, CONTINUE = 2, RETURN = 3;
export type Code = number;
export type Plain = (t: Thread) => Code;
/** Statements containing collectives run as generators that yield while blocked. */
export type Gen = (t: Thread) => Generator<void, Code, void>;
export type Compiled = { readonly gen: false; readonly run: Plain } | { readonly gen: true; readonly run: Gen };

const plain = (run: Plain): Compiled => ({ gen: false, run });
const gen = (run: Gen): Compiled => ({ gen: true, run });

/** Whether a statement list may reach a barrier or subgroup op (so must run as a generator). */
export function hasCollective(stmts: readonly Stmt[]): boolean {
  return stmts.some((s) => {
    switch (s.k) {
      case 'barrier': case 'subgroup': case 'mmaSync': case 'ldmatrix': return true;
      case 'if': return hasCollective(s.then) || hasCollective(s.else);
      case 'for': return hasCollective(s.init) || hasCollective(s.update) || hasCollective(s.body);
      default: return false;
    }
  });
}

/** Compiles a list of statements in `scope` (declarations are added to it). */
export function compileBlock(cx: Ctx, stmts: readonly Stmt[], scope: Scope): Compiled {
  const parts = stmts.map((s) => compileStmt(cx, s, scope));
  if (!parts.some((p) => p.gen)) {
    const fs = parts.map((p) => p.run as Plain);
    const n = fs.length;
    if (n === 0) return plain(() => NEXT);
    if (n === 1) return plain(fs[0]);
    return plain((t) => {
      for (let i = 0; i < n; i++) {
        const c = fs[i](t);
        if (c !== NEXT) return c;
      }
      return NEXT;
    });
  }
  return gen(function* (t) {
    for (const p of parts) {
      const c = p.gen ? yield* p.run(t) : p.run(t);
      if (c !== NEXT) return c;
    }
    return NEXT;
  });
}

function compileStmt(cx: Ctx, s: Stmt, scope: Scope): Compiled {
  const loc = s.loc;
  const ex = (e: Expr) => compileExpr(cx, e, scope, loc);
  switch (s.k) {
    case 'let': {
      const init = ex(s.init);
      const slot = cx.alloc();
      scope.vars.set(s.name, slot);
      return plain((t) => ((t.v[slot] = init(t)), NEXT));
    }
    case 'assign': {
      const slot = cx.varSlot(scope, s.name, loc);
      const value = ex(s.value);
      return plain((t) => ((t.v[slot] = value(t)), NEXT));
    }
    case 'store':
      return plain(compileStore(cx, s.space, s.buf, checkedIndex(cx, s.index, s.bounds, scope, loc), ex(s.value), scope, loc));
    case 'if': {
      const cond = ex(s.cond);
      const th = compileBlock(cx, s.then, childScope(scope));
      const el = compileBlock(cx, s.else, childScope(scope));
      if (!th.gen && !el.gen) {
        const a = th.run, b = el.run;
        return plain((t) => (cond(t) ? a(t) : b(t)));
      }
      return gen(function* (t) {
        const b = cond(t) ? th : el;
        return b.gen ? yield* b.run(t) : b.run(t);
      });
    }
    case 'for': {
      const inner = childScope(scope);
      const init = compileBlock(cx, s.init, inner);
      const cond = compileExpr(cx, s.cond, inner, loc);
      const body = compileBlock(cx, s.body, childScope(inner));
      const update = compileBlock(cx, s.update, inner);
      if (!init.gen && !body.gen && !update.gen) {
        const i = init.run, b = body.run, u = update.run;
        return plain((t) => {
          i(t);
          while (cond(t)) {
            if (--t.steps.left < 0) outOfSteps(t, loc);
            const c = b(t);
            if (c === BREAK) break;
            if (c === RETURN) return RETURN;
            u(t);
          }
          return NEXT;
        });
      }
      return gen(function* (t) {
        if (init.gen) yield* init.run(t);
        else init.run(t);
        while (cond(t)) {
          if (--t.steps.left < 0) outOfSteps(t, loc);
          const c = body.gen ? yield* body.run(t) : body.run(t);
          if (c === BREAK) break;
          if (c === RETURN) return RETURN;
          if (update.gen) yield* update.run(t);
          else update.run(t);
        }
        return NEXT;
      });
    }
    case 'break': return plain(() => BREAK);
    case 'continue': return plain(() => CONTINUE);
    case 'return': return plain(() => RETURN);
    case 'barrier': {
      const site: Site = { kind: 'barrier', loc, poison: poisonAfter(cx.k, s) };
      return gen(function* (t) {
        t.wait = WAIT_BARRIER;
        t.site = site;
        yield;
        return NEXT;
      });
    }
    case 'subgroup': {
      const value = ex(s.value);
      const mask = s.laneMask ? (ex(s.laneMask) as N) : undefined;
      if (s.op === 'shuffleXor' && !mask) cx.error(loc, 'subgroup shuffleXor without a lane mask');
      const slot = cx.alloc();
      scope.vars.set(s.result, slot);
      const site: Site = { kind: 'subgroup', op: s.op, type: s.type, loc };
      return gen(function* (t) {
        t.sgValue = value(t);
        t.sgMask = mask ? mask(t) : 0;
        t.wait = WAIT_SUBGROUP;
        t.site = site;
        yield;
        t.v[slot] = t.sgResult;
        return NEXT;
      });
    }
    case 'localArray': {
      const size = cx.k.facts.localSizes.get(s.name) ?? cx.error(loc, `unknown local array '${s.name}' (malformed IR)`);
      const slot = cx.alloc();
      const type = s.type;
      scope.locals.set(s.name, { slot, type });
      return plain((t) => ((t.v[slot] = makeArray(type, size)), NEXT));
    }
    case 'atomic':
      return plain(compileAtomic(cx, s, scope));
    case 'storePacked':
      return plain(compileStorePacked(cx, s, scope));
    case 'mmaSync':
      return compileMmaSync(cx, s, scope);
    case 'ldmatrix': {
      const run = compileLdmatrix(cx, s, scope);
      return gen(function* (t) {
        yield* run(t);
        return NEXT;
      });
    }
    case 'asyncCopy': case 'asyncCommit': case 'asyncWait': {
      const run = compileAsync(cx, s, scope);
      return plain((t) => (run(t), NEXT));
    }
    case 'wgmma': {
      const run = compileWgmma(cx, s, scope);
      return plain((t) => (run(t), NEXT));
    }
    // Ordering only: the interpreter's wgmma completes when a thread reaches it (interpret/wgmma.ts).
    case 'wgmmaSync': return plain(() => NEXT);
    case 'archSwitch': return cx.error(loc, 'an archSwitch reached the interpreter: interpret() selects its branch first (interpret/archBranch.ts, malformed IR otherwise)');
    case 'tileCopy': case 'pipelined':
      return cx.error(loc, `${s.k === 'pipelined' ? 'a pipelined loop' : `copyTile into '${s.dst}'`} is lowered per target by lowerForTarget: interpret lowerForTarget(kernel, target, choice), not the frontend IR`);
    case 'fragment': case 'mma': case 'fragmentStore': case 'fragmentAccumulate': case 'fragmentOperand': case 'mmaFragment':
    case 'blockAcc': case 'blockMma': case 'blockStore': case 'blockAccumulate': case 'blockStoreGlobal': case 'blockMap':
      return cx.error(loc, `'${s.k}' is a tile op that lowerForTarget lowers for every target: interpret lowerForTarget(kernel, 'interp' | 'wgsl' | 'cuda', choice), not the frontend IR`);
  }
}

/** Where a store or atomic writes: checks bounds, marks shared elements written. */
function target(cx: Ctx, space: Space, buf: string, scope: Scope, loc: SourceLoc | undefined): { type: DType; get: (t: Thread) => MemArray | Uint16Array; mark: boolean } {
  if (space === 'global') {
    const ti = cx.tensors.get(buf) ?? cx.error(loc, `unknown tensor '${buf}'`);
    const p = cx.k.tensors[ti];
    if (p.packed) cx.error(loc, `tensor '${buf}' is packed: interpret lowerForTarget(kernel, 'interp'), not the WGSL IR`);
    return { type: p.dtype, get: (t) => t.run.tensors[ti], mark: false };
  }
  if (space === 'shared') {
    const si = cx.shared.get(buf) ?? cx.error(loc, `unknown shared array '${buf}'`);
    return { type: cx.k.shared[si].dtype, get: (t) => t.wg.shared[si].data, mark: true };
  }
  const { slot, type } = cx.local(scope, buf, loc);
  return { type, get: (t) => t.v[slot] as MemArray, mark: false };
}

function compileStore(cx: Ctx, space: Space, buf: string, idx: N, value: E, scope: Scope, loc: SourceLoc | undefined): Plain {
  const { type } = target(cx, space, buf, scope, loc);
  const narrow = space === 'global' && STORAGE_ONLY.has(type) ? FORMATS[type as NarrowType] : undefined;
  const isBool = type === 'bool';
  const conv = narrow ? (v: Val) => encode(narrow, v as number) : isBool ? (v: Val) => (v ? 1 : 0) : (v: Val) => v as number;
  if (space === 'shared') {
    const si = cx.shared.get(buf)!;
    return (t) => {
      const m = t.wg.shared[si];
      const i = idx(t);
      const v = value(t);
      if (!(i >= 0 && i < m.data.length)) oob(t, loc, 'store', space, buf, i, m.data.length);
      m.data[i] = conv(v);
      m.init[i] = 1;
      return NEXT;
    };
  }
  const { get } = target(cx, space, buf, scope, loc);
  return (t) => {
    const a = get(t);
    const i = idx(t);
    const v = value(t);
    if (!(i >= 0 && i < a.length)) oob(t, loc, 'store', space, buf, i, a.length);
    a[i] = conv(v);
    return NEXT;
  };
}

/** Atomic add/max: a plain read-modify-write (threads never preempt each other). */
function compileAtomic(cx: Ctx, s: Extract<Stmt, { k: 'atomic' }>, scope: Scope): Plain {
  const loc = s.loc;
  const idx = compileExpr(cx, s.index, scope, loc) as N;
  const value = compileExpr(cx, s.value, scope, loc);
  const { type, get } = target(cx, s.space, s.buf, scope, loc);
  if (type !== 'i32' && type !== 'u32') cx.error(loc, `atomic_${s.op} on ${type} buffer '${s.buf}' (atomics are i32/u32)`);
  const slot = s.result ? cx.alloc() : -1;
  if (s.result) scope.vars.set(s.result, slot);
  const op = s.op;
  const { space, buf } = s;
  const si = space === 'shared' ? cx.shared.get(buf)! : -1;
  return (t) => {
    const a = get(t);
    const i = idx(t);
    const v = value(t) as number;
    if (!(i >= 0 && i < a.length)) oob(t, loc, 'atomic', space, buf, i, a.length);
    if (si >= 0 && t.wg.shared[si].init[i] === 0) uninit(t, loc, buf, i);
    const old = a[i];
    a[i] = op === 'add' ? (evalBin('+', type, old, v) as number) : evalCall('max', type, [old, v]);
    if (slot >= 0) t.v[slot] = old;
    return NEXT;
  };
}

/**
 * WGSL's sub-word store into a packed tensor: clears `width` bits at `shift` of word `word`
 * and ORs in `bits`. Bounds are checked per element, so a store past the tensor's last
 * element is caught even when it falls inside the last word.
 */
function compileStorePacked(cx: Ctx, s: Extract<Stmt, { k: 'storePacked' }>, scope: Scope): Plain {
  const loc = s.loc;
  const ex = (e: Expr) => compileExpr(cx, e, scope, loc) as N;
  const word = ex(s.word), shift = ex(s.shift), bits = ex(s.bits);
  const ti = cx.tensors.get(s.buf) ?? cx.error(loc, `unknown tensor '${s.buf}'`);
  if (!cx.k.tensors[ti].packed) cx.error(loc, `storePacked into tensor '${s.buf}', which is not packed (malformed IR)`);
  const { width, buf } = s;
  const mask = width === 16 ? 0xffff : 0xff;
  return (t) => {
    const a = t.run.tensors[ti];
    const w = word(t), sh = shift(t), b = bits(t);
    const n = t.run.elements[ti];
    if (!(sh >= 0 && sh + width <= 32 && sh % width === 0)) fail(t, loc, `storePacked into '${buf}': shift ${sh} is not a multiple of ${width} below 32`);
    const i = w * (32 / width) + sh / width;
    if (!(w >= 0 && i < n)) oob(t, loc, 'store', 'global', buf, i, n);
    if (b >>> width !== 0) fail(t, loc, `storePacked into '${buf}': bits 0x${(b >>> 0).toString(16)} do not fit in ${width} bits`);
    a[w] = ((a[w] & ~(mask << sh)) | (b << sh)) >>> 0;
    return NEXT;
  };
}

/**
 * A warp's tensor-core step: the thread deposits its registers and 4 accumulators and waits
 * until all 32 lanes of its warp do (schedule.ts completes it with mmaWarp).
 */
function compileMmaSync(cx: Ctx, s: Extract<Stmt, { k: 'mmaSync' }>, scope: Scope): Compiled {
  const loc = s.loc;
  if (s.a.length !== 4 || s.b.length !== 2) cx.error(loc, `mmaSync takes 4 A and 2 B registers, got ${s.a.length} and ${s.b.length} (malformed IR)`);
  const regs = [...s.a, ...s.b].map((e) => compileExpr(cx, e, scope, loc) as N);
  const { slot, type } = cx.local(scope, s.acc, loc);
  if (type !== 'f32') cx.error(loc, `mmaSync accumulator '${s.acc}' is ${type}, expected f32`);
  const base = s.accBase;
  const site: Site = { kind: 'mma', type: s.dtype, loc };
  return gen(function* (t) {
    const acc = t.v[slot] as MemArray;
    if (!(base >= 0 && base + 4 <= acc.length)) oob(t, loc, 'mma accumulator access', 'local', s.acc, base + 3, acc.length);
    const lane = (t.mma ??= { regs: new Uint32Array(6), acc: new Float32Array(4) });
    for (let i = 0; i < 6; i++) lane.regs[i] = regs[i](t);
    for (let i = 0; i < 4; i++) lane.acc[i] = acc[base + i];
    t.wait = WAIT_SUBGROUP;
    t.site = site;
    yield;
    for (let i = 0; i < 4; i++) acc[base + i] = lane.acc[i];
    return NEXT;
  });
}
