import type { Expr, Kernel, Stmt } from '../ir/nodes.js';
import { mapStmts } from '../ir/walk.js';
import { evalBin, evalBitcast, evalCall, evalCast, evalUn } from '../ir/semantics.js';
import { isInt } from '../ir/types.js';

const isConst = (e: Expr, v?: number | boolean): e is Extract<Expr, { k: 'const' }> => e.k === 'const' && (v === undefined || e.value === v);

/** Folds constant subexpressions with the IR's own semantics and simplifies index arithmetic. */
export function foldExpr(e: Expr): Expr {
  const c = (value: number | boolean): Expr => ({ k: 'const', type: e.type, value, loc: e.loc });
  try {
    switch (e.k) {
      case 'bin': {
        const { a, b, op } = e;
        // evalBin masks shift amounts as WGSL does at run time; a constant amount outside
        // 0..31 is an error the verifier reports, so it must not fold away.
        if ((op === '<<' || op === '>>') && isConst(b) && !((b.value as number) >= 0 && (b.value as number) < 32)) return e;
        if (isConst(a) && isConst(b)) return c(evalBin(op, a.type, a.value, b.value));
        // Integer identities only: for floats x*0 is not 0 (NaN, -0) and x+0 is not x for -0.
        if (isInt(e.type)) {
          if ((op === '+' || op === '-' || op === '|' || op === '^' || op === '<<' || op === '>>') && isConst(b, 0)) return a;
          if ((op === '+' || op === '|' || op === '^') && isConst(a, 0)) return b;
          if ((op === '*' || op === '/') && isConst(b, 1)) return a;
          if (op === '*' && isConst(a, 1)) return b;
          if ((op === '*' || op === '&') && (isConst(a, 0) || isConst(b, 0))) return c(0);
          if (op === '%' && isConst(b, 1)) return c(0);
          // (x * c1) * c2 -> x * (c1*c2), (x + c1) + c2 -> x + (c1+c2): shorter index math.
          if ((op === '*' || op === '+') && isConst(b) && a.k === 'bin' && a.op === op && isConst(a.b)) {
            return foldExpr({ ...e, a: a.a, b: c(evalBin(op, e.type, a.b.value, b.value)) });
          }
        }
        if (op === '&&') {
          if (isConst(a)) return a.value ? b : a;
          if (isConst(b, true)) return a;
        }
        if (op === '||') {
          if (isConst(a)) return a.value ? a : b;
          if (isConst(b, false)) return a;
        }
        return e;
      }
      case 'un': return isConst(e.a) ? c(evalUn(e.op, e.type, e.a.value)) : e;
      case 'cast':
        if (e.a.type === e.type) return e.a;
        return isConst(e.a) && (e.type === 'f32' || isInt(e.type) || e.type === 'bool') ? c(evalCast(e.a.type, e.type, e.a.value)) : e;
      case 'bitcast':
        if (e.a.type === e.type) return e.a;
        return isConst(e.a) ? c(evalBitcast(e.a.type, e.type, e.a.value as number)) : e;
      case 'select':
        if (isConst(e.cond)) return e.cond.value ? e.a : e.b;
        return e;
      case 'call':
        return e.args.every((x) => isConst(x)) ? c(evalCall(e.fn, e.type, e.args.map((x) => (x as { value: number }).value))) : e;
      default: return e;
    }
  } catch {
    // Division by a constant zero and the like stay in the program; the verifier
    // (ir/operandChecks.ts) reports them with their location.
    return e;
  }
}

function foldStmt(s: Stmt): Stmt | Stmt[] {
  if (s.k === 'if' && isConst(s.cond)) return [...(s.cond.value ? s.then : s.else)];
  if (s.k === 'if' && !s.then.length && !s.else.length) return [];
  if (s.k === 'for' && isConst(s.cond, false)) return [...s.init];
  return s;
}

export function foldConstants(k: Kernel): Kernel {
  return { ...k, body: mapStmts(k.body, foldExpr, foldStmt) };
}
