import type { Node } from 'ts-morph';
import type { BinOp } from '../ir/nodes.js';
import type { Lowerer, Val } from './lowering.js';
import { locOf } from './source.js';
import { requireArith, requireBool, unify } from './typing.js';

const COMPARE = new Set<BinOp>(['<', '<=', '>', '>=', '==', '!=']);
const BITWISE = new Set<BinOp>(['&', '|', '^', '<<', '>>', '%']);

/** A binary operation with the DSL's typing rules: abstract literals fold, mixed types and bad shifts or zero divisors are errors. */
export function binary(L: Lowerer, op: BinOp, a: Val, b: Val, node: Node): Val {
  const loc = locOf(node);
  if (op === '&&' || op === '||') {
    return { e: { k: 'bin', op, type: 'bool', a: requireBool(L, a, node, `operand of '${op}'`), b: requireBool(L, b, node, `operand of '${op}'`), loc } };
  }
  if (a.abstract && b.abstract && a.e.k === 'const' && b.e.k === 'const') {
    const folded = foldAbstract(op, a.e.value as number, b.e.value as number, a.abstract === 'float' || b.abstract === 'float');
    if (folded !== undefined) return folded.type === 'bool' ? { e: { k: 'const', type: 'bool', value: folded.value, loc } } : { e: { k: 'const', type: folded.type, value: folded.value, loc }, abstract: folded.type === 'f32' ? 'float' : 'int' };
  }
  if ((op === '<<' || op === '>>') && b.e.k === 'const' && typeof b.e.value === 'number' && !(b.e.value >= 0 && b.e.value < 32)) {
    throw L.error(node, `shift by ${b.e.value}: the amount must be 0 to 31`, 'WGSL rejects a constant shift of 32 or more and CUDA leaves it undefined; mask or clamp the amount explicitly');
  }
  const [x, y, t] = unify(L, a, b, node, op);
  requireArith(L, t, node, op);
  if (BITWISE.has(op) && !(t === 'i32' || t === 'u32')) throw L.error(node, `'${op}' needs i32 or u32, got ${t}`);
  // A float constant over zero folds to the infinity or NaN it means (the DSL has no other
  // spelling for them); a runtime value over zero is a mistake that nvcc rejects.
  const int = t === 'i32' || t === 'u32';
  if ((op === '/' || op === '%') && y.k === 'const' && y.value === 0 && (int || x.k !== 'const')) {
    throw L.error(node, `${int ? 'integer' : 'floating-point'} ${op === '/' ? 'division' : 'remainder'} by zero`, int
      ? 'WGSL defines x / 0 as x and CUDA leaves it undefined; guard the divisor or use a nonzero constant'
      : 'nvcc rejects it and WGSL leaves the result to the implementation; write the intended constant (e.g. F32_MAX) instead');
  }
  if (COMPARE.has(op)) return { e: { k: 'bin', op, type: 'bool', a: x, b: y, loc } };
  return { e: { k: 'bin', op, type: t, a: x, b: y, loc } };
}

function foldAbstract(op: BinOp, a: number, b: number, float: boolean): { type: 'i32' | 'f32' | 'bool'; value: number | boolean } | undefined {
  const num = (v: number) => ({ type: float ? 'f32' as const : 'i32' as const, value: float ? v : Math.trunc(v) });
  switch (op) {
    case '+': return num(a + b);
    case '-': return num(a - b);
    case '*': return num(a * b);
    case '/': return b === 0 ? undefined : num(a / b);
    case '<': return { type: 'bool', value: a < b };
    case '>': return { type: 'bool', value: a > b };
    case '<=': return { type: 'bool', value: a <= b };
    case '>=': return { type: 'bool', value: a >= b };
    case '==': return { type: 'bool', value: a === b };
    case '!=': return { type: 'bool', value: a !== b };
    default: return undefined;
  }
}
