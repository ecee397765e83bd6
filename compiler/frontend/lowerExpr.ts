import { Node, SyntaxKind } from 'ts-morph';
import type { BinOp, Builtin, Expr } from '../ir/nodes.js';
import { isFloat } from '../ir/types.js';
import type { Binding, Lowerer, Val } from './lowering.js';
import { dslName, locOf, numericValue } from './source.js';
import { coerce, concrete, requireArith, requireBool, unify } from './typing.js';
import { binary } from './operators.js';
import { bufferRef, element, resolveRef } from './refs.js';
import { rowVectorElement } from './fragmentCalls.js';

const BINOPS: Partial<Record<SyntaxKind, BinOp>> = {
  [SyntaxKind.PlusToken]: '+', [SyntaxKind.MinusToken]: '-', [SyntaxKind.AsteriskToken]: '*',
  [SyntaxKind.SlashToken]: '/', [SyntaxKind.PercentToken]: '%',
  [SyntaxKind.LessThanToken]: '<', [SyntaxKind.LessThanEqualsToken]: '<=',
  [SyntaxKind.GreaterThanToken]: '>', [SyntaxKind.GreaterThanEqualsToken]: '>=',
  [SyntaxKind.EqualsEqualsEqualsToken]: '==', [SyntaxKind.ExclamationEqualsEqualsToken]: '!=',
  [SyntaxKind.AmpersandAmpersandToken]: '&&', [SyntaxKind.BarBarToken]: '||',
  [SyntaxKind.AmpersandToken]: '&', [SyntaxKind.BarToken]: '|', [SyntaxKind.CaretToken]: '^',
  [SyntaxKind.LessThanLessThanToken]: '<<', [SyntaxKind.GreaterThanGreaterThanToken]: '>>',
};
const BUILTIN_AXES: Record<string, Builtin> = { localId: 'localId', workgroupId: 'workgroupId', numWorkgroups: 'numWorkgroups' };

export function lowerExpr(L: Lowerer, node: Node): Val {
  const loc = locOf(node);
  if (Node.isParenthesizedExpression(node)) return lowerExpr(L, node.getExpression());
  if (Node.isNumericLiteral(node)) {
    const text = node.getText();
    const isFloatLit = !/^0[xXbBoO]/.test(text) && /[.eE]/.test(text);
    const value = numericValue(node);
    return { e: { k: 'const', type: isFloatLit ? 'f32' : 'i32', value, loc }, abstract: isFloatLit ? 'float' : 'int' };
  }
  if (node.getKind() === SyntaxKind.TrueKeyword || node.getKind() === SyntaxKind.FalseKeyword) {
    return { e: { k: 'const', type: 'bool', value: node.getKind() === SyntaxKind.TrueKeyword, loc } };
  }
  if (Node.isIdentifier(node)) return lowerIdentifier(L, node);
  if (Node.isPropertyAccessExpression(node)) return lowerMember(L, node);
  if (Node.isElementAccessExpression(node)) {
    const rowValue = rowVectorElement(L, node);
    if (rowValue) return rowValue;
    const ref = bufferRef(L, node.getExpression());
    const { index, bounds } = element(L, ref, node.getArgumentExpressionOrThrow(), node);
    return { e: { k: 'load', type: ref.dtype, space: ref.space, buf: ref.buf, index, ...(bounds ? { bounds } : {}), loc } };
  }
  if (Node.isPrefixUnaryExpression(node)) return lowerPrefix(L, node);
  if (Node.isBinaryExpression(node)) return lowerBinary(L, node);
  if (Node.isConditionalExpression(node)) return lowerConditional(L, node);
  if (Node.isCallExpression(node)) return L.fns.call(L, node, true);
  if (Node.isAsExpression(node) || Node.isTypeAssertion(node)) {
    throw L.error(node, "type assertions do not convert values", 'use an explicit cast such as f32(x) or bf16(x)');
  }
  if (Node.isStringLiteral(node) || Node.isTemplateExpression(node) || Node.isNoSubstitutionTemplateLiteral(node)) {
    throw L.error(node, 'strings are not supported in kernels');
  }
  if (Node.isArrowFunction(node) || Node.isFunctionExpression(node)) {
    throw L.error(node, 'closures are not supported in kernels', 'declare a top-level function; helpers are inlined');
  }
  if (Node.isNewExpression(node) || Node.isArrayLiteralExpression(node) || Node.isObjectLiteralExpression(node)) {
    throw L.error(node, 'dynamic allocation is not supported in kernels', 'use local(dtype, N) or shared(dtype, N) with a constant N');
  }
  if (Node.isPostfixUnaryExpression(node) || (Node.isBinaryExpression(node))) {
    throw L.error(node, 'increments and assignments are statements, not expressions');
  }
  throw L.error(node, `unsupported expression (${node.getKindName()})`);
}

function lowerIdentifier(L: Lowerer, node: Node): Val {
  const name = node.getText();
  const loc = locOf(node);
  const b = L.lookup(name);
  if (b) return bindingValue(L, b, node);
  const dsl = dslName(node);
  if (dsl === 'localIndex' || dsl === 'subgroupLane' || dsl === 'subgroupSize') return { e: { k: 'builtin', type: 'i32', name: dsl, axis: 0, loc } };
  if (dsl === 'F32_MAX') return { e: { k: 'const', type: 'f32', value: 3.4028234663852886e38, loc } };
  if (dsl === 'LOG2E') return { e: { k: 'const', type: 'f32', value: Math.LOG2E, loc } };
  throw L.error(node, `'${name}' is not defined inside the kernel`, 'kernels cannot capture outer variables; pass values through the context (consts or runtime scalars)');
}

/** The value a binding has where an expression is expected. */
function bindingValue(L: Lowerer, b: Binding, node: Node): Val {
  const loc = locOf(node);
  switch (b.kind) {
    case 'var': return { e: { k: 'var', type: b.type, name: b.name, loc } };
    case 'value': return { e: { ...b.e, loc } };
    case 'ctxMember': return ctxMember(L, b.name, node);
    case 'buffer': throw L.error(node, `'${node.getText()}' is ${b.dims.length > 1 ? `a view of [${b.dims.map((d) => d.text).join(', ')}]` : 'an array'} and has no value`, `index it: ${node.getText()}[i]`);
    default: throw L.error(node, `'${node.getText()}' is a ${b.kind === 'ctx' ? 'context object' : b.kind} and has no value`, b.kind === 'group' ? `use its members: ${[...b.members.keys()].map((m) => `${node.getText()}.${m}`).join(', ')}` : undefined);
  }
}

export function ctxMember(L: Lowerer, name: string, node: Node): Val {
  const kind = L.decl.ctxKinds.get(name);
  const type = L.decl.ctxTypes.get(name);
  if (!kind || !type) throw L.error(node, `'${name}' is not a member of the kernel context`);
  const loc = locOf(node);
  return { e: kind === 'dim' || kind === 'scalar' ? { k: 'uniform', type, name, loc } : { k: 'sym', type, name, loc } };
}

function lowerMember(L: Lowerer, node: Node & { getExpression(): Node; getName(): string }): Val {
  const obj = node.getExpression();
  const name = node.getName();
  const ref = resolveRef(L, node);
  if (ref) return bindingValue(L, ref, node);
  if (Node.isIdentifier(obj) && !L.lookup(obj.getText())) {
    const dsl = dslName(obj);
    const builtin = dsl ? BUILTIN_AXES[dsl] : undefined;
    if (builtin) {
      const axis = ({ x: 0, y: 1, z: 2 } as const)[name as 'x'];
      if (axis === undefined) throw L.error(node, `${dsl} has axes x, y, z`);
      return { e: { k: 'builtin', type: 'i32', name: builtin, axis, loc: locOf(node) } };
    }
  }
  throw L.error(node, `unsupported property access '${node.getText()}'`, 'kernels read context members (c.T), builtins (localId.x) and tensors (x[i])');
}

function lowerPrefix(L: Lowerer, node: Node & { getOperatorToken(): SyntaxKind; getOperand(): Node }): Val {
  const op = node.getOperatorToken();
  const v = lowerExpr(L, node.getOperand());
  const loc = locOf(node);
  if (op === SyntaxKind.PlusToken) return v;
  if (op === SyntaxKind.MinusToken) {
    if (v.abstract && v.e.k === 'const') return { e: { ...v.e, value: -(v.e.value as number), loc }, abstract: v.abstract };
    requireArith(L, v.e.type, node, '-');
    if (v.e.type === 'u32') throw L.error(node, 'cannot negate a u32');
    return { e: { k: 'un', op: '-', type: v.e.type, a: v.e, loc } };
  }
  if (op === SyntaxKind.ExclamationToken) return { e: { k: 'un', op: '!', type: 'bool', a: requireBool(L, v, node, "operand of '!'"), loc } };
  if (op === SyntaxKind.TildeToken) {
    const a = requireIntLike(L, v, node, '~');
    return { e: { k: 'un', op: '~', type: a.type, a, loc } };
  }
  throw L.error(node, 'increments are statements, not expressions', 'write i += 1 on its own line');
}

function requireIntLike(L: Lowerer, v: Val, node: Node, op: string): Expr {
  const e = concrete(L, v, node);
  if (e.type !== 'i32' && e.type !== 'u32') throw L.error(node, `'${op}' needs i32 or u32, got ${e.type}`);
  return e;
}

function lowerBinary(L: Lowerer, node: Node & { getOperatorToken(): Node; getLeft(): Node; getRight(): Node }): Val {
  const kind = node.getOperatorToken().getKind();
  const op = BINOPS[kind];
  if (kind === SyntaxKind.EqualsEqualsToken || kind === SyntaxKind.ExclamationEqualsToken) {
    throw L.error(node, 'loose equality is not supported', `use ${kind === SyntaxKind.EqualsEqualsToken ? '===' : '!=='}`);
  }
  if (!op) throw L.error(node, `operator '${node.getOperatorToken().getText()}' is not supported here`, kind === SyntaxKind.GreaterThanGreaterThanGreaterThanToken ? 'use >> on a u32' : 'assignments are statements');
  if (op === '&&' || op === '||') {
    // Short-circuit matters: `i < N && x[i] > 0` must not read x[N]. The right side may
    // not need pre-statements, which would run unconditionally.
    const a = lowerExpr(L, node.getLeft());
    const r = L.capture(() => lowerExpr(L, node.getRight()));
    if (r.stmts.length) return lowerLazyLogic(L, op, a, node);
    return binary(L, op, a, r.val, node);
  }
  return binary(L, op, lowerExpr(L, node.getLeft()), lowerExpr(L, node.getRight()), node);
}

/** `a && b` whose right side has pre-statements: an if that only evaluates b when needed. */
function lowerLazyLogic(L: Lowerer, op: '&&' | '||', a: Val, node: Node & { getRight(): Node }): Val {
  const loc = locOf(node);
  const name = L.fresh('logic');
  L.emit({ k: 'let', name, type: 'bool', init: requireBool(L, a, node, `operand of '${op}'`), mutable: true, loc });
  const ref: Expr = { k: 'var', name, type: 'bool', loc };
  const body = L.block(() => {
    const b = requireBool(L, lowerExpr(L, node.getRight()), node, `operand of '${op}'`);
    L.emit({ k: 'assign', name, value: b, loc });
  });
  L.emit({ k: 'if', cond: op === '&&' ? ref : { k: 'un', op: '!', type: 'bool', a: ref, loc }, then: body, else: [], loc });
  return { e: ref };
}

/** `c ? a : b` evaluates only the chosen side (a guard like `i < N ? x[i] : 0` must not read x[N]). */
function lowerConditional(L: Lowerer, node: Node & { getCondition(): Node; getWhenTrue(): Node; getWhenFalse(): Node }): Val {
  const loc = locOf(node);
  const cond = requireBool(L, lowerExpr(L, node.getCondition()), node.getCondition(), 'condition');
  const t = L.capture(() => lowerExpr(L, node.getWhenTrue()));
  const f = L.capture(() => lowerExpr(L, node.getWhenFalse()));
  if (!t.stmts.length && !f.stmts.length && isPure(t.val.e) && isPure(f.val.e)) {
    const [a, b, type] = unify(L, t.val, f.val, node, '?:');
    return { e: { k: 'select', type, cond, a, b, loc } };
  }
  const [a, b, type] = unify(L, t.val, f.val, node, '?:');
  const name = L.fresh('pick');
  const zero: Expr = type === 'bool' ? { k: 'const', type, value: false } : isFloat(type) ? coerce(L, { e: { k: 'const', type: 'f32', value: 0 }, abstract: 'float' }, type, node, '?:') : { k: 'const', type, value: 0 };
  L.emit({ k: 'let', name, type, init: zero, mutable: true, loc });
  L.emit({ k: 'if', cond, then: [...t.stmts, { k: 'assign', name, value: a, loc }], else: [...f.stmts, { k: 'assign', name, value: b, loc }], loc });
  return { e: { k: 'var', name, type, loc } };
}

/** No memory reads: safe to evaluate even on the side a guard would skip. */
export function isPure(e: Expr): boolean {
  switch (e.k) {
    case 'load': return false;
    case 'bin': return isPure(e.a) && isPure(e.b);
    case 'un': case 'cast': case 'bitcast': return isPure(e.a);
    case 'call': return e.args.every(isPure);
    case 'select': return isPure(e.cond) && isPure(e.a) && isPure(e.b);
    default: return true;
  }
}
