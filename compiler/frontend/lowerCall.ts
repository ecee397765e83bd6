import { Node, type CallExpression } from 'ts-morph';
import type { Expr, MathFn } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import { DTYPES, STORAGE_ONLY, isInt } from '../ir/types.js';
import type { Lowerer, Val } from './lowering.js';
import { dslName, locOf } from './source.js';
import { coerce, concrete, requireArith, requireBool, requireInt, unify } from './typing.js';
import { binary } from './operators.js';
import { bufferRef, element } from './refs.js';
import { helperOf, inlineHelper } from './helpers.js';
import { BLOCK_CALLS } from './blockOps.js';
import { FRAGMENT_DECLS, FRAGMENT_STMTS } from './fragmentCalls.js';

const FLOAT_FNS = new Set(['exp', 'exp2', 'log', 'sqrt', 'rsqrt', 'tanh', 'floor']);
/** DSL calls that are statements (they produce no value). */
export const STATEMENT_CALLS = new Set(['barrier', 'mma', 'mmaTransposedB', 'accumulateScaled', 'storeFragment', 'shared', 'local', 'fragment', 'blockAccumulator', ...BLOCK_CALLS, 'copyTile', ...FRAGMENT_DECLS, ...FRAGMENT_STMTS]);

export function lowerCall(L: Lowerer, node: CallExpression, valueUsed = true): Val {
  const callee = node.getExpression();
  const args = node.getArguments();
  const loc = locOf(node);
  const dsl = Node.isIdentifier(callee) ? dslName(callee) : undefined;
  if (dsl && (DTYPES as readonly string[]).includes(dsl)) {
    if (args.length !== 1) throw L.error(node, `cast ${dsl}(x) takes one argument`);
    const to = dsl as DType;
    const v = L.expr(args[0]);
    if (v.abstract) return { e: coerce(L, { ...v, abstract: to === 'bool' || isInt(to) ? 'int' : v.abstract }, to, node, 'cast') };
    if (v.e.type === to) return v;
    if (to === 'bool' || v.e.type === 'bool') throw L.error(node, `cannot cast ${v.e.type} to ${to}`, 'compare instead, e.g. x != 0, or use select(c, 1, 0)');
    if (STORAGE_ONLY.has(to) && STORAGE_ONLY.has(v.e.type)) throw L.error(node, `cast ${v.e.type} -> ${to} must go through f32`, `${to}(f32(x))`);
    return { e: { k: 'cast', type: to, a: v.e, loc } };
  }
  if (dsl) return lowerDslCall(L, dsl, node, args);
  const helper = helperOf(node);
  if (helper) {
    const r = inlineHelper(L, helper, node);
    if (r && 'binding' in r) throw L.error(node, `helper '${helper.getName()}' returns ${r.binding.kind === 'buffer' ? 'an array' : `a ${r.binding.kind}`}, not a value`, `bind it: const x = ${node.getText().slice(0, 40)}`);
    if (valueUsed && !r) throw L.error(node, `helper '${helper.getName()}' returns no value`, 'call it as a statement');
    return r?.val ?? { e: { k: 'const', type: 'bool', value: false, loc } };
  }
  throw L.error(node, `call of '${callee.getText()}' is not supported in kernels`, 'kernels may call DSL intrinsics and top-level helper functions');
}

function lowerDslCall(L: Lowerer, name: string, node: CallExpression, args: Node[]): Val {
  const loc = locOf(node);
  const arity = (n: number) => {
    if (args.length !== n) throw L.error(node, `${name} takes ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`);
  };
  if (STATEMENT_CALLS.has(name)) {
    throw L.error(node, `${name}(...) is a statement and has no value here`, name === 'shared' || name === 'local' || name === 'fragment' || name === 'blockAccumulator' || FRAGMENT_DECLS.has(name) ? `declare it: const s = ${name}(...)` : undefined);
  }
  if (FLOAT_FNS.has(name)) {
    arity(1);
    const a = concreteFloat(L, L.expr(args[0]), args[0], name);
    return { e: { k: 'call', type: 'f32', fn: name as MathFn, args: [a], loc } };
  }
  if (name === 'abs') {
    arity(1);
    const a = concrete(L, L.expr(args[0]), args[0]);
    requireArith(L, a.type, node, name);
    return { e: { k: 'call', type: a.type, fn: 'abs', args: [a], loc } };
  }
  if (name === 'max' || name === 'min') {
    arity(2);
    const [a, b, t] = unify(L, L.expr(args[0]), L.expr(args[1]), node, name);
    requireArith(L, t, node, name);
    return { e: { k: 'call', type: t, fn: name, args: [a, b], loc } };
  }
  if (name === 'fma') {
    arity(3);
    const [a, b] = unify(L, L.expr(args[0]), L.expr(args[1]), node, name);
    const c = coerce(L, L.expr(args[2]), a.type, args[2], 'fma addend');
    if (a.type !== 'f32') throw L.error(node, `fma needs f32 operands, got ${a.type}`);
    return { e: { k: 'call', type: 'f32', fn: 'fma', args: [a, b, c], loc } };
  }
  if (name === 'select') {
    arity(3);
    const cond = requireBool(L, L.expr(args[0]), args[0], 'select condition');
    const [a, b, type] = unify(L, L.expr(args[1]), L.expr(args[2]), node, 'select');
    return { e: { k: 'select', type, cond, a, b, loc } };
  }
  if (name === 'cdiv') {
    arity(2);
    const a = requireInt(L, L.expr(args[0]), args[0], 'cdiv operand');
    const b = requireInt(L, L.expr(args[1]), args[1], 'cdiv operand');
    const one: Val = { e: { k: 'const', type: 'i32', value: 1 }, abstract: 'int' };
    return binary(L, '/', binary(L, '-', binary(L, '+', { e: a }, { e: b }, node), one, node), { e: b }, node);
  }
  if (name === 'bitcast') {
    arity(2);
    const to = dslName(args[0]);
    if (to !== 'f32' && to !== 'i32' && to !== 'u32') throw L.error(args[0], 'bitcast target must be f32, i32 or u32');
    const a = concrete(L, L.expr(args[1]), args[1]);
    if (a.type !== 'f32' && a.type !== 'i32' && a.type !== 'u32') throw L.error(args[1], `bitcast needs a 32-bit value, got ${a.type}`);
    return { e: { k: 'bitcast', type: to, a, loc } };
  }
  if (name === 'subgroupAdd' || name === 'subgroupMax' || name === 'subgroupShuffleXor') {
    arity(name === 'subgroupShuffleXor' ? 2 : 1);
    const value = concrete(L, L.expr(args[0]), args[0]);
    requireArith(L, value.type, node, name);
    const laneMask = name === 'subgroupShuffleXor' ? requireInt(L, L.expr(args[1]), args[1], 'lane mask') : undefined;
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
  const ref = bufferRef(L, args[0]);
  const { space, buf, dtype } = ref;
  if (!ref.writable) throw L.error(args[0], `${name} needs a writable buffer; '${ref.label}' is read-only`, 'declare it as Out<...>');
  if (space === 'local') throw L.error(args[0], `${name} works on global or shared memory, not a local array`);
  if (dtype !== 'i32' && dtype !== 'u32') throw L.error(args[0], `${name} needs an i32 or u32 buffer, got ${dtype}`);
  const { index } = element(L, ref, args[1], args[0]);
  const value = coerce(L, L.expr(args[2]), dtype, args[2], `${name} value`);
  const result = wantResult ? L.fresh('old') : undefined;
  L.emit({ k: 'atomic', op: name === 'atomicAdd' ? 'add' : 'max', space, buf, index, value, result, loc: locOf(node) });
  return result ? { k: 'var', name: result, type: dtype, loc: locOf(node) } : undefined;
}
