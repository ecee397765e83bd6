import type { Expr, Kernel, Stmt } from './nodes.js';
import type { DType } from './types.js';
import { STORAGE_ONLY, isInt } from './types.js';
import { CompileError } from '../common/errors.js';
import { printExpr } from './printer.js';
import { checkOperands } from './operandChecks.js';

/**
 * Checks the IR's invariants: names declared before use, operand types agree, storage
 * types only loaded, stored and cast, writes only to writable buffers. Every pass's
 * output must verify; a failure here is a compiler bug or a malformed hand-built kernel.
 * Then the kernel's own faults that only the final IR shows (checkOperands).
 */
export function verifyKernel(k: Kernel): void {
  const fail = (msg: string, at?: Expr | Stmt): never => {
    throw new CompileError(`IR verifier: ${msg}`, at?.loc ?? k.loc, at && 'type' in at && 'k' in at ? printExpr(at as Expr) : undefined, undefined, k.name);
  };
  const tensors = new Map(k.tensors.map((t) => [t.name, t]));
  const shared = new Map(k.shared.map((s) => [s.name, s]));
  const uniforms = new Map(k.scalars.map((s) => [s.name, s.dtype]));
  const bufType = (space: string, name: string, scope: Scope, at: Expr | Stmt): DType => {
    if (space === 'global') {
      const t = tensors.get(name) ?? fail(`unknown tensor '${name}'`, at);
      return t.packed ? 'u32' : t.dtype;
    }
    if (space === 'shared') return shared.get(name)?.dtype ?? fail(`unknown shared array '${name}'`, at);
    return find(scope, (s) => s.locals.get(name)) ?? fail(`unknown local array '${name}'`, at);
  };

  type Scope = { vars: Map<string, { type: DType; mutable: boolean }>; locals: Map<string, DType>; frags: Set<string>; parent?: Scope };
  const find = <T>(s: Scope | undefined, get: (s: Scope) => T | undefined): T | undefined => {
    for (; s; s = s.parent) {
      const v = get(s);
      if (v !== undefined) return v;
    }
    return undefined;
  };
  const child = (parent: Scope): Scope => ({ vars: new Map(), locals: new Map(), frags: new Set(), parent });

  const expr = (e: Expr, scope: Scope): DType => {
    const t = (x: Expr) => expr(x, scope);
    switch (e.k) {
      case 'const': break;
      case 'var': {
        const v = find(scope, (s) => s.vars.get(e.name));
        if (!v) fail(`'${e.name}' used before declaration`, e);
        if (v!.type !== e.type) fail(`'${e.name}' has type ${v!.type}, used as ${e.type}`, e);
        break;
      }
      case 'uniform': if (uniforms.get(e.name) !== e.type) fail(`unknown uniform '${e.name}' or wrong type`, e); break;
      case 'sym': fail(`unspecialised symbol '${e.name}' (run specialise first)`, e); break;
      case 'builtin': if (e.type !== 'i32') fail('builtins are i32', e); break;
      case 'bin': {
        const [a, b] = [t(e.a), t(e.b)];
        if (a !== b) fail(`operands of '${e.op}' differ: ${a} vs ${b}`, e);
        if (STORAGE_ONLY.has(a)) fail(`arithmetic on storage type ${a}`, e);
        const cmp = ['<', '<=', '>', '>=', '==', '!=', '&&', '||'].includes(e.op);
        if (cmp ? e.type !== 'bool' : e.type !== a) fail(`result type of '${e.op}' is wrong`, e);
        if ((e.op === '&&' || e.op === '||') && a !== 'bool') fail(`'${e.op}' needs bool operands`, e);
        break;
      }
      case 'un': if (t(e.a) !== e.type || STORAGE_ONLY.has(e.type)) fail(`bad operand of '${e.op}'`, e); break;
      case 'cast': t(e.a); break;
      case 'bitcast': t(e.a); break;
      case 'select': {
        if (t(e.cond) !== 'bool') fail('select condition must be bool', e);
        if (t(e.a) !== e.type || t(e.b) !== e.type) fail('select branches differ', e);
        break;
      }
      case 'call': for (const a of e.args) t(a); break;
      case 'loadWord': {
        if (!isInt(t(e.index))) fail('index must be an integer', e);
        const bt = bufType(e.space, e.buf, scope, e);
        if (e.type !== 'u32' || !STORAGE_ONLY.has(bt)) fail(`word load needs an 8- or 16-bit buffer, '${e.buf}' is ${bt}`, e);
        break;
      }
      case 'load': {
        if (!isInt(t(e.index))) fail('index must be an integer', e);
        if (bufType(e.space, e.buf, scope, e) !== e.type) fail(`load type ${e.type} does not match buffer '${e.buf}'`, e);
        break;
      }
    }
    return e.type;
  };

  const stmts = (list: readonly Stmt[], scope: Scope, loop: boolean): void => {
    for (const s of list) {
      switch (s.k) {
        case 'let':
          if (expr(s.init, scope) !== s.type) fail(`'${s.name}' declared ${s.type}, initialised with ${s.init.type}`, s);
          if (find(scope, (x) => x.vars.get(s.name))) fail(`'${s.name}' declared twice`, s);
          scope.vars.set(s.name, { type: s.type, mutable: s.mutable });
          break;
        case 'assign': {
          const v = find(scope, (x) => x.vars.get(s.name));
          if (!v) fail(`assignment to undeclared '${s.name}'`, s);
          if (!v!.mutable) fail(`assignment to immutable '${s.name}'`, s);
          if (expr(s.value, scope) !== v!.type) fail(`'${s.name}' is ${v!.type}, assigned ${s.value.type}`, s);
          break;
        }
        case 'store': {
          if (!isInt(expr(s.index, scope))) fail('index must be an integer', s);
          if (s.space === 'global' && tensors.get(s.buf)?.access === 'read') fail(`store to read-only tensor '${s.buf}'`, s);
          const bt = bufType(s.space, s.buf, scope, s);
          if (expr(s.value, scope) !== bt) fail(`store of ${s.value.type} into ${bt} buffer '${s.buf}'`, s);
          break;
        }
        case 'storePacked':
          if (!tensors.get(s.buf)?.packed) fail(`packed store to unpacked tensor '${s.buf}'`, s);
          expr(s.word, scope); expr(s.shift, scope); expr(s.bits, scope);
          break;
        case 'if':
          if (expr(s.cond, scope) !== 'bool') fail('if condition must be bool', s);
          stmts(s.then, child(scope), loop);
          stmts(s.else, child(scope), loop);
          break;
        case 'for': {
          const inner = child(scope);
          stmts(s.init, inner, loop);
          if (expr(s.cond, inner) !== 'bool') fail('loop condition must be bool', s);
          stmts(s.update, inner, true);
          stmts(s.body, child(inner), true);
          break;
        }
        case 'break': case 'continue': if (!loop) fail(`${s.k} outside a loop`, s); break;
        case 'return': case 'barrier': break;
        case 'localArray': scope.locals.set(s.name, s.type); break;
        case 'atomic':
          expr(s.index, scope);
          if (expr(s.value, scope) !== bufType(s.space, s.buf, scope, s)) fail('atomic value type differs from buffer', s);
          if (s.result) scope.vars.set(s.result, { type: s.value.type, mutable: false });
          break;
        case 'subgroup':
          if (expr(s.value, scope) !== s.type) fail('subgroup value type mismatch', s);
          if (s.laneMask) expr(s.laneMask, scope);
          scope.vars.set(s.result, { type: s.type, mutable: false });
          break;
        case 'fragment': scope.frags.add(s.name); break;
        case 'mma': case 'fragmentStore':
          if (!find(scope, (x) => (x.frags.has(s.acc) ? true : undefined))) fail(`unknown fragment '${s.acc}'`, s);
          break;
        case 'fragmentAccumulate':
          for (const f of [s.acc, s.part]) if (!find(scope, (x) => (x.frags.has(f) ? true : undefined))) fail(`unknown fragment '${f}'`, s);
          if (s.acc === s.part) fail('a fragment cannot accumulate into itself', s);
          if (bufType('shared', s.rowScale, scope, s) !== 'f32') fail(`row scales '${s.rowScale}' must be an f32 shared array`, s);
          if (!isInt(expr(s.rowOffset, scope))) fail('row scale offset must be an integer', s);
          if (expr(s.scale, scope) !== 'f32') fail('fragment scale must be f32', s);
          break;
        case 'mmaSync':
          if (!find(scope, (x) => x.locals.get(s.acc))) fail(`unknown accumulator '${s.acc}'`, s);
          for (const a of [...s.a, ...s.b]) if (expr(a, scope) !== 'u32') fail('mma_sync operands are packed u32', s);
          break;
        case 'blockAcc': case 'blockMma': case 'blockStore': case 'blockAccumulate':
          fail(`block tile op '${s.k}' was not lowered (passes/blockTile.ts)`, s);
          break;
        case 'ldmatrix': {
          const t = bufType('shared', s.buf, scope, s);
          if (!STORAGE_ONLY.has(t)) fail(`ldmatrix reads 16- or 8-bit elements, '${s.buf}' is ${t}`, s);
          if (!isInt(expr(s.rowIndex, scope))) fail('ldmatrix row index must be an integer', s);
          if (s.results.length !== s.count) fail(`ldmatrix.x${s.count} gives ${s.count} registers, got ${s.results.length} names`, s);
          for (const r of s.results) scope.vars.set(r, { type: 'u32', mutable: false });
          break;
        }
        case 'tileCopy':
          fail(`copyTile into '${s.dst}' was not lowered (passes/copyTile.ts)`, s);
          break;
        case 'asyncCopy':
          bufType('shared', s.dst, scope, s);
          bufType('global', s.src, scope, s);
          for (const e of [s.dstIndex, s.srcIndex, s.srcBytes]) if (!isInt(expr(e, scope))) fail('cp.async indices and byte count must be integers', s);
          break;
        case 'asyncCommit': case 'asyncWait': break;
        case 'archSwitch':
          stmts(s.sm90a, child(scope), loop);
          stmts(s.other, child(scope), loop);
          break;
        case 'wgmma':
          for (const o of [s.a, s.b]) {
            if (bufType('shared', o.buf, scope, s) !== s.dtype) fail(`wgmma ${s.dtype} operand '${o.buf}' is ${bufType('shared', o.buf, scope, s)}`, s);
            if (!isInt(expr(o.index, scope))) fail('wgmma operand index must be an integer', s);
          }
          if (find(scope, (x) => x.locals.get(s.acc)) !== 'f32') fail(`unknown f32 accumulator '${s.acc}'`, s);
          break;
        case 'wgmmaSync':
          for (const a of s.accs ?? []) if (!find(scope, (x) => x.locals.get(a))) fail(`unknown accumulator '${a}'`, s);
          break;
        case 'pipelined':
          fail('a pipelined loop was not lowered (passes/softwarePipeline.ts)', s);
          break;
      }
    }
  };
  stmts(k.body, { vars: new Map(), locals: new Map(), frags: new Set() }, false);
  checkOperands(k);
}
