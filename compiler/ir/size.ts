import type { SizeExpr } from './nodes.js';

export function evalSize(e: SizeExpr, env: Readonly<Record<string, number>>): number {
  switch (e.k) {
    case 'num': return e.v;
    case 'sym': {
      const v = env[e.name];
      if (v === undefined) throw new Error(`size symbol '${e.name}' has no value`);
      return v;
    }
    case 'op': {
      const a = evalSize(e.a, env);
      const b = evalSize(e.b, env);
      switch (e.op) {
        case '+': return a + b;
        case '-': return a - b;
        case '*': return a * b;
        case '/': return Math.trunc(a / b);
        case '%': return a % b;
        case 'cdiv': return Math.ceil(a / b);
        case 'min': return Math.min(a, b);
        case 'max': return Math.max(a, b);
      }
    }
  }
}

/** Replaces known symbols by numbers and folds; what remains refers to runtime shape symbols only. */
export function foldSize(e: SizeExpr, env: Readonly<Record<string, number>>): SizeExpr {
  if (e.k === 'num') return e;
  if (e.k === 'sym') return env[e.name] !== undefined ? { k: 'num', v: env[e.name] } : e;
  const a = foldSize(e.a, env);
  const b = foldSize(e.b, env);
  if (a.k === 'num' && b.k === 'num') return { k: 'num', v: evalSize({ k: 'op', op: e.op, a, b }, {}) };
  if (e.op === '*' && a.k === 'num' && a.v === 1) return b;
  if ((e.op === '*' || e.op === '/' || e.op === 'cdiv') && b.k === 'num' && b.v === 1) return a;
  return { k: 'op', op: e.op, a, b };
}

/** Text form used by the IR printer and the manifest (`cdiv(T*D, 256)`). */
export function sizeToString(e: SizeExpr): string {
  switch (e.k) {
    case 'num': return String(e.v);
    case 'sym': return e.name;
    case 'op':
      if (e.op === 'cdiv' || e.op === 'min' || e.op === 'max') return `${e.op}(${sizeToString(e.a)}, ${sizeToString(e.b)})`;
      return `(${sizeToString(e.a)} ${e.op} ${sizeToString(e.b)})`;
  }
}
