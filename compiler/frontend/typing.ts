import type { Node } from 'ts-morph';
import type { DType } from '../ir/types.js';
import type { SourceLoc } from '../common/source-loc.js';
import { STORAGE_ONLY, isFloat, isInt } from '../ir/types.js';
import type { Expr } from '../ir/nodes.js';
import type { Lowerer, Val } from './lowering.js';
import { CompileError } from '../common/errors.js';
import { locOf } from './source.js';

/** Gives an abstract literal the concrete type `to`, or reports why it cannot have it. */
export function coerce(L: Lowerer, v: Val, to: DType, node: Node, what: string): Expr {
  if (!v.abstract) {
    if (v.e.type !== to) {
      const hint = STORAGE_ONLY.has(to) ? `round explicitly: ${to}(...)` : `cast explicitly: ${to}(...)`;
      throw L.error(node, `${what}: expected ${to}, got ${v.e.type} (no implicit conversion)`, hint);
    }
    return v.e;
  }
  if (to === 'bool') throw L.error(node, `${what}: expected bool, got a number`);
  if (v.abstract === 'float' && isInt(to)) throw L.error(node, `${what}: a float literal cannot become ${to}`, `write an integer literal or cast: ${to}(...)`);
  if (v.e.k !== 'const') return { ...v.e, type: to };
  const value = v.e.value as number;
  if (to === 'u32' && value < 0) throw L.error(node, `${what}: negative literal ${value} cannot be u32`);
  checkRange(L, value, to, v.e.loc, node);
  if (STORAGE_ONLY.has(to)) return { k: 'cast', type: to, a: { k: 'const', type: 'f32', value, loc: v.e.loc }, loc: v.e.loc };
  return { k: 'const', type: to, value, loc: v.e.loc };
}

const INT_RANGE: Partial<Record<DType, readonly [number, number]>> = { i32: [-(2 ** 31), 2 ** 31 - 1], u32: [0, 2 ** 32 - 1] };

/**
 * An integer literal (or a literal-only expression the frontend folded) must fit the type it
 * becomes: WGSL rejects the shader otherwise, and CUDA silently truncates it. (A float
 * literal beyond f32 is how a kernel writes infinity: 1e39.)
 */
function checkRange(L: Lowerer, value: number, to: DType, loc: SourceLoc | undefined, node: Node): void {
  const range = INT_RANGE[to];
  if (!range || (value >= range[0] && value <= range[1])) return;
  const hint = to === 'i32' && value > range[1] && value <= 2 ** 32 - 1 ? 'for a bit pattern, make the other operand u32 or write u32(...)' : undefined;
  throw new CompileError(`constant ${value} is out of range for ${to} (${range[0]} to ${range[1]})`, loc ?? locOf(node), node.getText(), hint, L.decl.name);
}

/** The default type of a value that is declared without annotation. */
export function concrete(L: Lowerer, v: Val, node: Node): Expr {
  if (!v.abstract) return v.e;
  return coerce(L, v, v.abstract === 'int' ? 'i32' : 'f32', node, 'literal');
}

/** Brings two operands to one type (abstract literals adapt), rejecting silent mixing. */
export function unify(L: Lowerer, a: Val, b: Val, node: Node, op: string): [Expr, Expr, DType] {
  if (a.abstract && b.abstract) {
    const t: DType = a.abstract === 'float' || b.abstract === 'float' ? 'f32' : 'i32';
    return [coerce(L, a, t, node, op), coerce(L, b, t, node, op), t];
  }
  if (a.abstract) return [coerce(L, a, b.e.type, node, `operand of '${op}'`), b.e, b.e.type];
  if (b.abstract) return [a.e, coerce(L, b, a.e.type, node, `operand of '${op}'`), a.e.type];
  if (a.e.type !== b.e.type) {
    const floaty = isFloat(a.e.type) || isFloat(b.e.type);
    throw L.error(node, `cannot mix ${a.e.type} and ${b.e.type} in '${op}' without a cast`, `cast one side explicitly, e.g. ${floaty ? 'f32' : a.e.type}(x)`);
  }
  return [a.e, b.e, a.e.type];
}

export function requireArith(L: Lowerer, t: DType, node: Node, op: string): void {
  if (STORAGE_ONLY.has(t)) throw L.error(node, `${t} is a storage type and has no arithmetic ('${op}')`, `cast to f32 first: f32(x)`);
  if (t === 'bool') throw L.error(node, `'${op}' needs numbers, got bool`);
}

export function requireInt(L: Lowerer, v: Val, node: Node, what: string): Expr {
  if (v.abstract === 'int') return coerce(L, v, 'i32', node, what);
  if (!isInt(v.e.type)) throw L.error(node, `${what} must be an integer, got ${v.abstract ? 'a float literal' : v.e.type}`, 'indices and sizes are i32');
  return v.e.type === 'u32' ? { k: 'cast', type: 'i32', a: v.e, loc: v.e.loc } : v.e;
}

export function requireBool(L: Lowerer, v: Val, node: Node, what: string): Expr {
  if (v.abstract || v.e.type !== 'bool') throw L.error(node, `${what} must be a bool, got ${v.abstract ? 'a number' : v.e.type}`, 'compare explicitly, e.g. x != 0');
  return v.e;
}
