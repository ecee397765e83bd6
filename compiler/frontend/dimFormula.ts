import type { SizeExpr, SizeOp } from '../ir/nodes.js';

/**
 * Parses a tensor dimension written as a string in a shape tuple: a shape symbol (`'T'`), a
 * const's name, or a formula of them (`'cdiv(K, 128)'`, `'B + 1'`) with integer literals,
 * + - * / %, parentheses and cdiv/min/max. A type-level tuple can only hold string and
 * number literals, so this is how a derived size is spelled in `Tensor<f32, ['T', 'cdiv(K, 128)']>`.
 * Throws an Error with a message; the caller adds the location.
 */
export function parseDimFormula(text: string): SizeExpr {
  const tokens = text.match(/\s*(\d+|[A-Za-z_][A-Za-z0-9_]*|[-+*/%(),]|\S)/g)?.map((t) => t.trim()) ?? [];
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const fail = (why: string): never => {
    throw new Error(`dimension '${text}': ${why}`);
  };
  const expect = (t: string) => {
    if (tokens[pos] !== t) fail(`expected '${t}'${tokens[pos] === undefined ? ' at the end' : `, found '${tokens[pos]}'`}`);
    pos++;
  };
  const binary = (ops: readonly string[], next: () => SizeExpr): SizeExpr => {
    let a = next();
    for (let op = peek(); op !== undefined && ops.includes(op); op = peek()) {
      pos++;
      const b = next();
      if ((op === '/' || op === '%') && b.k === 'num' && b.v === 0) fail('divides by zero');
      a = { k: 'op', op: op as SizeOp, a, b };
    }
    return a;
  };
  const sum = (): SizeExpr => binary(['+', '-'], product);
  const product = (): SizeExpr => binary(['*', '/', '%'], factor);
  function factor(): SizeExpr {
    const t = peek();
    if (t === undefined) return fail('ends too early');
    pos++;
    if (/^\d+$/.test(t)) return { k: 'num', v: Number(t) };
    if (t === '(') {
      const e = sum();
      expect(')');
      return e;
    }
    if (!/^[A-Za-z_]/.test(t)) return fail(`unexpected '${t}'`);
    if (peek() !== '(') return { k: 'sym', name: t };
    if (t !== 'cdiv' && t !== 'min' && t !== 'max') return fail(`unknown function '${t}' (formulas may use cdiv, min and max)`);
    pos++;
    const a = sum();
    expect(',');
    const b = sum();
    expect(')');
    if (t === 'cdiv' && b.k === 'num' && b.v === 0) fail('divides by zero');
    return { k: 'op', op: t, a, b };
  }
  if (tokens.length === 0) fail('is empty');
  const e = sum();
  if (pos < tokens.length) fail(`unexpected '${tokens[pos]}'`);
  return e;
}
