import { Node, type CallExpression, type FunctionDeclaration, type ParameterDeclaration } from 'ts-morph';
import type { Expr, MathFn } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import { DTYPES, STORAGE_ONLY, isInt } from '../ir/types.js';
import type { Binding, Lowerer, Val } from './lowering.js';
import { dslName, locOf } from './source.js';
import { coerce, concrete, requireArith, requireBool, requireInt, unify } from './typing.js';
import { binary, bufferOf, lowerExpr } from './lowerExpr.js';
import { lowerStatements } from './lowerStmt.js';
import { dtypeOfTypeNode } from './declaration.js';

const FLOAT_FNS = new Set(['exp', 'exp2', 'log', 'sqrt', 'rsqrt', 'tanh', 'floor']);
/** DSL calls that are statements (they produce no value). */
export const STATEMENT_CALLS = new Set(['barrier', 'mma', 'mmaTransposedB', 'accumulateScaled', 'storeFragment', 'shared', 'local', 'fragment']);

export function lowerCall(L: Lowerer, node: CallExpression, valueUsed = true): Val {
  const callee = node.getExpression();
  const args = node.getArguments();
  const loc = locOf(node);
  const dsl = Node.isIdentifier(callee) ? dslName(callee) : undefined;
  if (dsl && (DTYPES as readonly string[]).includes(dsl)) {
    if (args.length !== 1) throw L.error(node, `cast ${dsl}(x) takes one argument`);
    const to = dsl as DType;
    const v = lowerExpr(L, args[0]);
    if (v.abstract) return { e: coerce(L, { ...v, abstract: to === 'bool' || isInt(to) ? 'int' : v.abstract }, to, node, 'cast') };
    if (v.e.type === to) return v;
    if (to === 'bool' || v.e.type === 'bool') throw L.error(node, `cannot cast ${v.e.type} to ${to}`, 'compare instead, e.g. x != 0, or use select(c, 1, 0)');
    if (STORAGE_ONLY.has(to) && STORAGE_ONLY.has(v.e.type)) throw L.error(node, `cast ${v.e.type} -> ${to} must go through f32`, `${to}(f32(x))`);
    return { e: { k: 'cast', type: to, a: v.e, loc } };
  }
  if (dsl) return lowerDslCall(L, dsl, node, args);
  if (Node.isIdentifier(callee)) {
    const sym = callee.getSymbol();
    const decl = (sym?.isAlias() ? sym.getAliasedSymbol() : sym)?.getDeclarations()[0];
    if (decl && Node.isFunctionDeclaration(decl)) return inlineHelper(L, decl, node, valueUsed);
  }
  throw L.error(node, `call of '${callee.getText()}' is not supported in kernels`, 'kernels may call DSL intrinsics and top-level helper functions');
}

function lowerDslCall(L: Lowerer, name: string, node: CallExpression, args: Node[]): Val {
  const loc = locOf(node);
  const arity = (n: number) => {
    if (args.length !== n) throw L.error(node, `${name} takes ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`);
  };
  if (STATEMENT_CALLS.has(name)) {
    throw L.error(node, `${name}(...) is a statement and has no value here`, name === 'shared' || name === 'local' || name === 'fragment' ? `declare it: const s = ${name}(...)` : undefined);
  }
  if (FLOAT_FNS.has(name)) {
    arity(1);
    const a = concreteFloat(L, lowerExpr(L, args[0]), args[0], name);
    return { e: { k: 'call', type: 'f32', fn: name as MathFn, args: [a], loc } };
  }
  if (name === 'abs') {
    arity(1);
    const a = concrete(L, lowerExpr(L, args[0]), args[0]);
    requireArith(L, a.type, node, name);
    return { e: { k: 'call', type: a.type, fn: 'abs', args: [a], loc } };
  }
  if (name === 'max' || name === 'min') {
    arity(2);
    const [a, b, t] = unify(L, lowerExpr(L, args[0]), lowerExpr(L, args[1]), node, name);
    requireArith(L, t, node, name);
    return { e: { k: 'call', type: t, fn: name, args: [a, b], loc } };
  }
  if (name === 'fma') {
    arity(3);
    const [a, b] = unify(L, lowerExpr(L, args[0]), lowerExpr(L, args[1]), node, name);
    const c = coerce(L, lowerExpr(L, args[2]), a.type, args[2], 'fma addend');
    if (a.type !== 'f32') throw L.error(node, `fma needs f32 operands, got ${a.type}`);
    return { e: { k: 'call', type: 'f32', fn: 'fma', args: [a, b, c], loc } };
  }
  if (name === 'select') {
    arity(3);
    const cond = requireBool(L, lowerExpr(L, args[0]), args[0], 'select condition');
    const [a, b, type] = unify(L, lowerExpr(L, args[1]), lowerExpr(L, args[2]), node, 'select');
    return { e: { k: 'select', type, cond, a, b, loc } };
  }
  if (name === 'cdiv') {
    arity(2);
    const a = requireInt(L, lowerExpr(L, args[0]), args[0], 'cdiv operand');
    const b = requireInt(L, lowerExpr(L, args[1]), args[1], 'cdiv operand');
    const one: Val = { e: { k: 'const', type: 'i32', value: 1 }, abstract: 'int' };
    return binary(L, '/', binary(L, '-', binary(L, '+', { e: a }, { e: b }, node), one, node), { e: b }, node);
  }
  if (name === 'bitcast') {
    arity(2);
    const to = dslName(args[0]);
    if (to !== 'f32' && to !== 'i32' && to !== 'u32') throw L.error(args[0], 'bitcast target must be f32, i32 or u32');
    const a = concrete(L, lowerExpr(L, args[1]), args[1]);
    if (a.type !== 'f32' && a.type !== 'i32' && a.type !== 'u32') throw L.error(args[1], `bitcast needs a 32-bit value, got ${a.type}`);
    return { e: { k: 'bitcast', type: to, a, loc } };
  }
  if (name === 'subgroupAdd' || name === 'subgroupMax' || name === 'subgroupShuffleXor') {
    arity(name === 'subgroupShuffleXor' ? 2 : 1);
    const value = concrete(L, lowerExpr(L, args[0]), args[0]);
    requireArith(L, value.type, node, name);
    const laneMask = name === 'subgroupShuffleXor' ? requireInt(L, lowerExpr(L, args[1]), args[1], 'lane mask') : undefined;
    const result = L.fresh('sg');
    const op = ({ subgroupAdd: 'add', subgroupMax: 'max', subgroupShuffleXor: 'shuffleXor' } as const)[name];
    L.emit({ k: 'subgroup', op, result, type: value.type, value, laneMask, loc });
    return { e: { k: 'var', name: result, type: value.type, loc } };
  }
  if (name === 'atomicAdd' || name === 'atomicMax') {
    return { e: lowerAtomic(L, name, node, args, true)! };
  }
  throw L.error(node, `'${name}' cannot be used here`);
}

function concreteFloat(L: Lowerer, v: Val, node: Node, fn: string): Expr {
  const e = v.abstract ? coerce(L, { ...v, abstract: 'float' }, 'f32', node, fn) : v.e;
  if (e.type !== 'f32') throw L.error(node, `${fn} needs f32, got ${e.type}`, STORAGE_ONLY.has(e.type) ? 'cast first: f32(x)' : 'cast first: f32(x)');
  return e;
}

export function lowerAtomic(L: Lowerer, name: 'atomicAdd' | 'atomicMax', node: CallExpression, args: Node[], wantResult: boolean): Expr | undefined {
  if (args.length !== 3) throw L.error(node, `${name} takes (buffer, index, value)`);
  const { space, name: buf, dtype, writable } = bufferOf(L, args[0]);
  if (!writable) throw L.error(args[0], `${name} needs a writable buffer; '${buf}' is read-only`, 'declare it as Out<...>');
  if (space === 'local') throw L.error(args[0], `${name} works on global or shared memory, not a local array`);
  if (dtype !== 'i32' && dtype !== 'u32') throw L.error(args[0], `${name} needs an i32 or u32 buffer, got ${dtype}`);
  const index = requireInt(L, lowerExpr(L, args[1]), args[1], 'index');
  const value = coerce(L, lowerExpr(L, args[2]), dtype, args[2], `${name} value`);
  const result = wantResult ? L.fresh('old') : undefined;
  L.emit({ k: 'atomic', op: name === 'atomicAdd' ? 'add' : 'max', space, buf, index, value, result, loc: locOf(node) });
  return result ? { k: 'var', name: result, type: dtype, loc: locOf(node) } : undefined;
}

/** Inlines a top-level helper: parameters become temporaries, a final `return e` its value. */
function inlineHelper(L: Lowerer, fn: FunctionDeclaration, call: CallExpression, valueUsed: boolean): Val {
  const name = fn.getName() ?? 'helper';
  if (L.inlineStack.includes(name)) throw L.error(call, `recursion is not supported in kernels ('${[...L.inlineStack, name].join(' -> ')}')`, 'write the recursion as a loop');
  const params = fn.getParameters();
  const args = call.getArguments();
  if (params.length !== args.length) throw L.error(call, `${name} takes ${params.length} arguments, got ${args.length}`);
  const body = fn.getBody();
  if (!body || !Node.isBlock(body)) throw L.error(fn, `helper '${name}' needs a body`);
  let stmts = body.getStatements();
  let last = stmts[stmts.length - 1];
  // A trailing bare `return;` of a void helper is no early return.
  if (last && Node.isReturnStatement(last) && !last.getExpression()) {
    stmts = stmts.slice(0, -1);
    last = stmts[stmts.length - 1];
  }
  const returnsValue = last !== undefined && Node.isReturnStatement(last) && last.getExpression() !== undefined;
  if (valueUsed && !returnsValue) throw L.error(call, `helper '${name}' returns no value`, 'call it as a statement');
  const bindings = params.map((p, i): [string, Binding] => [p.getName(), bindArgument(L, name, p, args[i])]);
  L.inlineStack.push(name);
  let result: Val | undefined;
  const inner = L.isolated(() =>
    L.block(() => {
      for (const [n, b] of bindings) L.bind(n, b);
      lowerStatements(L, returnsValue ? stmts.slice(0, -1) : stmts, name);
      if (returnsValue && last && Node.isReturnStatement(last)) {
        const rt = fn.getReturnTypeNode();
        const v = lowerExpr(L, last.getExpressionOrThrow());
        const e = rt ? coerce(L, v, dtypeOfTypeNode(rt, `return type of '${name}'`, fn), last, `return value of ${name}`) : concrete(L, v, last);
        const out = L.fresh(`${name}_result`);
        L.emit({ k: 'let', name: out, type: e.type, init: e, mutable: false, loc: locOf(last) });
        result = { e: { k: 'var', name: out, type: e.type, loc: locOf(call) } };
      }
    }),
  );
  L.inlineStack.pop();
  // The helper's statements join the caller's block; their names are already unique.
  for (const s of inner) L.emit(s);
  return result ?? { e: { k: 'const', type: 'bool', value: false, loc: locOf(call) } };
}

const BUFFER_PARAM: Record<string, Binding['kind']> = { Tensor: 'tensor', Out: 'tensor', Shared: 'shared', Local: 'local' };

/** Binds one helper parameter: buffers and fragments alias the caller's (kind, access and dtype checked), scalars become temporaries. */
function bindArgument(L: Lowerer, helper: string, p: ParameterDeclaration, arg: Node): Binding {
  const t = p.getTypeNode();
  const kind = t && Node.isTypeReference(t) ? dslName(t.getTypeName()) : undefined;
  const what = `argument '${p.getName()}' of ${helper}`;
  if (kind === 'Fragment') {
    const b = Node.isIdentifier(arg) ? L.lookup(arg.getText()) : undefined;
    if (b?.kind !== 'fragment') throw L.error(arg, `${what} must be a fragment`, 'declare one with const acc = fragment()');
    return b;
  }
  if (kind && kind in BUFFER_PARAM && t && Node.isTypeReference(t)) {
    const b = Node.isIdentifier(arg) ? L.lookup(arg.getText()) : undefined;
    if (!b || b.kind !== BUFFER_PARAM[kind]) throw L.error(arg, `${what} must be a ${BUFFER_PARAM[kind] === 'tensor' ? 'tensor' : `${BUFFER_PARAM[kind]} array`}`);
    const dtype = b.kind === 'tensor' ? b.param.dtype : (b as { dtype: DType }).dtype;
    if (kind === 'Out' && b.kind === 'tensor' && b.param.access === 'read') throw L.error(arg, `${what} must be writable; '${arg.getText()}' is read-only`, 'declare it as Out<...>');
    const allowed = dtypeUnion(t.getTypeArguments()[0]);
    if (allowed && !allowed.includes(dtype)) throw L.error(arg, `${what} must hold ${allowed.join(' or ')}, '${arg.getText()}' holds ${dtype}`);
    return b;
  }
  const type = dtypeOfTypeNode(t, `parameter '${p.getName()}' of helper '${helper}'`, p);
  const v = coerce(L, lowerExpr(L, arg), type, arg, what);
  const tmp = L.fresh(`${helper}_${p.getName()}`);
  L.emit({ k: 'let', name: tmp, type, init: v, mutable: false, loc: locOf(arg) });
  return { kind: 'var', name: tmp, type, mutable: false };
}

/** The dtypes a buffer parameter's element type names (`bf16 | f32`), or undefined when it names none. */
function dtypeUnion(t: Node | undefined): DType[] | undefined {
  const members = t && Node.isUnionTypeNode(t) ? t.getTypeNodes() : t ? [t] : [];
  const out: DType[] = [];
  for (const m of members) {
    const n = Node.isTypeReference(m) ? dslName(m.getTypeName()) : undefined;
    if (!n || !(DTYPES as readonly string[]).includes(n)) return undefined;
    out.push(n as DType);
  }
  return out.length ? out : undefined;
}
