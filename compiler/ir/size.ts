import type { Expr, SizeExpr } from './nodes.js';

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

/** Row-major element count of a shape: the product of its dimensions (1 for rank 0). */
export function elementCount(shape: readonly SizeExpr[]): SizeExpr {
  return shape.reduce<SizeExpr>((a, b) => (a.k === 'num' && a.v === 1 ? b : { k: 'op', op: '*', a, b }), { k: 'num', v: 1 });
}

/** The symbols a formula reads, in order of appearance. */
export function sizeSymbols(e: SizeExpr, out: Set<string> = new Set()): Set<string> {
  if (e.k === 'sym') out.add(e.name);
  else if (e.k === 'op') sizeSymbols(e.b, sizeSymbols(e.a, out));
  return out;
}

/** A size formula as i32 kernel arithmetic; `sym` says what each symbol is in the kernel (a uniform, a compile-time symbol). */
export function sizeToExpr(e: SizeExpr, sym: (name: string) => Expr): Expr {
  switch (e.k) {
    case 'num': return { k: 'const', type: 'i32', value: e.v };
    case 'sym': return sym(e.name);
    case 'op': {
      const a = sizeToExpr(e.a, sym);
      const b = sizeToExpr(e.b, sym);
      const bin = (op: '+' | '-' | '*' | '/' | '%', x: Expr, y: Expr): Expr => ({ k: 'bin', op, type: 'i32', a: x, b: y });
      if (e.op === 'cdiv') return bin('/', bin('-', bin('+', a, b), { k: 'const', type: 'i32', value: 1 }), b);
      if (e.op === 'min' || e.op === 'max') return { k: 'call', fn: e.op, type: 'i32', args: [a, b] };
      return bin(e.op, a, b);
    }
  }
}
