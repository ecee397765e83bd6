import { Node, SyntaxKind, type CallExpression, type VariableDeclaration } from 'ts-morph';
import type { BinOp, Expr, SizeExpr, Stmt } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import { DTYPES } from '../ir/types.js';
import { dslName, locOf } from './source.js';
import { coerce, concrete, requireBool, requireInt } from './typing.js';
import { binary } from './operators.js';
import { lowerAtomic, lowerCall } from './lowerCall.js';
import { dtypeOfTypeNode } from './declaration.js';
import { bufferRef, element, pinned, resolveRef } from './refs.js';
import { groupOf, helperOf, inlineHelper } from './helpers.js';
import { BLOCK_CALLS, blockAccumulatorDecl, lowerBlockCall } from './blockOps.js';
import { lowerCopyTile } from './copyOps.js';
import { isPipelined, lowerPipelined } from './pipelined.js';
import { FRAGMENT_DECLS, FRAGMENT_STMTS, lowerFragmentDecl, lowerFragmentStmt } from './fragmentCalls.js';
import type { Binding, Extent, Lowerer, Val } from './lowering.js';

const COMPOUND: Partial<Record<SyntaxKind, BinOp>> = {
  [SyntaxKind.PlusEqualsToken]: '+', [SyntaxKind.MinusEqualsToken]: '-', [SyntaxKind.AsteriskEqualsToken]: '*',
  [SyntaxKind.SlashEqualsToken]: '/', [SyntaxKind.PercentEqualsToken]: '%', [SyntaxKind.AmpersandEqualsToken]: '&',
  [SyntaxKind.BarEqualsToken]: '|', [SyntaxKind.CaretEqualsToken]: '^', [SyntaxKind.LessThanLessThanEqualsToken]: '<<',
  [SyntaxKind.GreaterThanGreaterThanEqualsToken]: '>>',
};

/** `helper` names the function being inlined (return is only allowed last there), undefined in the kernel body. */
export function lowerStatements(L: Lowerer, stmts: Node[], helper?: string): void {
  for (const s of stmts) lowerStatement(L, s, helper);
}

function lowerStatement(L: Lowerer, node: Node, helper: string | undefined): void {
  const loc = locOf(node);
  if (Node.isVariableStatement(node)) {
    const isConst = node.getDeclarationKind() === 'const';
    for (const d of node.getDeclarations()) lowerDeclaration(L, d, !isConst);
    return;
  }
  if (Node.isExpressionStatement(node)) return lowerExprStatement(L, node.getExpression());
  if (Node.isBlock(node)) {
    for (const s of L.block(() => lowerStatements(L, node.getStatements(), helper))) L.emit(s);
    return;
  }
  if (Node.isIfStatement(node)) {
    const cond = requireBool(L, L.expr(node.getExpression()), node.getExpression(), 'if condition');
    const then = L.block(() => lowerStatement(L, node.getThenStatement(), helper));
    const elseNode = node.getElseStatement();
    const els = elseNode ? L.block(() => lowerStatement(L, elseNode, helper)) : [];
    L.emit({ k: 'if', cond, then, else: els, loc });
    return;
  }
  if (Node.isForStatement(node) || Node.isWhileStatement(node)) {
    const stmts = L.block(() => lowerLoop(L, node, helper));
    for (const s of stmts) L.emit(s);
    return;
  }
  if (Node.isBreakStatement(node) || Node.isContinueStatement(node)) {
    if (node.getLabel()) throw L.error(node, 'labelled break/continue is not supported');
    if (L.loopDepth === 0) throw L.error(node, `${node.getKindName() === 'BreakStatement' ? 'break' : 'continue'} outside a loop`);
    L.emit({ k: Node.isBreakStatement(node) ? 'break' : 'continue', loc });
    return;
  }
  if (Node.isReturnStatement(node)) {
    if (helper) throw L.error(node, `early return in helper '${helper}' is not supported`, 'assign to a variable and return it once, as the last statement');
    if (node.getExpression()) throw L.error(node, 'kernels return nothing; write results to an Out tensor');
    L.emit({ k: 'return', loc });
    return;
  }
  if (Node.isEmptyStatement(node)) return;
  if (Node.isFunctionDeclaration(node)) throw L.error(node, 'nested functions (closures) are not supported in kernels', 'declare helpers at the top level of the file');
  if (Node.isDoStatement(node)) throw L.error(node, 'do-while is not supported', 'use while (...) or for (...)');
  if (Node.isForOfStatement(node) && isPipelined(node)) return lowerPipelined(L, node, () => lowerStatement(L, node.getStatement(), helper));
  if (Node.isForOfStatement(node) || Node.isForInStatement(node)) throw L.error(node, 'for-of/for-in are not supported', 'use an indexed for loop');
  throw L.error(node, `unsupported statement (${node.getKindName()})`);
}

function lowerLoop(L: Lowerer, node: Node, helper: string | undefined): void {
  const loc = locOf(node);
  let init: Stmt[] = [];
  let update: Stmt[] = [];
  let condNode: Node | undefined;
  if (Node.isForStatement(node)) {
    const i = node.getInitializer();
    // The caller opened a scope for the whole loop, so init's declarations stay visible in it.
    init = L.collect(() => {
      if (!i) return;
      if (Node.isVariableDeclarationList(i)) for (const d of i.getDeclarations()) lowerDeclaration(L, d, true);
      else lowerExprStatement(L, i);
    });
    condNode = node.getCondition();
    const inc = node.getIncrementor();
    update = inc ? L.block(() => lowerExprStatement(L, inc)) : [];
  } else if (Node.isWhileStatement(node)) condNode = node.getExpression();
  const c = condNode ? L.capture(() => L.expr(condNode)) : { stmts: [], val: { e: { k: 'const', type: 'bool', value: true } as Expr } };
  if (c.stmts.length) throw L.error(condNode!, 'loop conditions must be simple expressions', 'compute the condition inside the loop and break');
  const cond = requireBool(L, c.val, condNode ?? node, 'loop condition');
  L.loopDepth++;
  const body = L.block(() => lowerStatement(L, (node as Node & { getStatement(): Node }).getStatement(), helper));
  L.loopDepth--;
  L.emit({ k: 'for', init, cond, update, body, loc });
}

function lowerDeclaration(L: Lowerer, d: VariableDeclaration, mutable: boolean): void {
  const nameNode = d.getNameNode();
  const init = d.getInitializer();
  if (!init) throw L.error(d, `'${d.getName()}' needs an initializer`);
  const initial = bindingInit(L, init, d);
  const bound = initial && 'kind' in initial ? initial : undefined;
  if (Node.isObjectBindingPattern(nameNode)) {
    if (bound?.kind !== 'group' || mutable) throw L.error(d, 'destructuring is not supported in kernels, except `const { a, b } = group` of a group (a workspace a helper returned, an object of arrays)');
    for (const el of nameNode.getElements()) {
      const key = el.getPropertyNameNode()?.getText() ?? el.getName();
      const m = bound.members.get(key);
      if (!m || el.getInitializer() || el.getDotDotDotToken()) throw L.error(el, m ? 'defaults and rest elements are not supported in kernels' : `no member '${key}' (has: ${[...bound.members.keys()].join(', ')})`);
      L.bind(el.getName(), m);
    }
    return;
  }
  if (!Node.isIdentifier(nameNode)) throw L.error(d, 'array destructuring is not supported in kernels');
  const name = d.getName();
  if (bound) {
    if (mutable) throw L.error(d, `'${name}' names ${bound.kind === 'buffer' ? 'an array or view' : `a ${bound.kind}`}: declare it with const`);
    L.bind(name, bound);
    return;
  }
  const v = initial && 'e' in initial ? initial : L.expr(init);
  const annotated = d.getTypeNode();
  const e = annotated ? coerce(L, v, dtypeOfTypeNode(annotated, `'${name}'`, d), init, `initializer of '${name}'`) : concrete(L, v, init);
  const irName = L.fresh(name);
  L.emit({ k: 'let', name: irName, type: e.type, init: e, mutable, loc: locOf(d) });
  L.bind(name, { kind: 'var', name: irName, type: e.type, mutable });
}

/**
 * An initializer that binds rather than computes: shared(...), local(...), fragment(), a
 * view or another name's array (`const row = q[t]`), an object of references, a helper
 * returning a workspace. Undefined for a value; a helper returning one is inlined here once
 * and its value returned.
 */
function bindingInit(L: Lowerer, init: Node, d: VariableDeclaration): Binding | Val | undefined {
  const loc = locOf(d);
  const base = Node.isIdentifier(d.getNameNode()) ? d.getName() : 'ws';
  if (Node.isObjectLiteralExpression(init)) return groupOf(L, init);
  if (Node.isCallExpression(init)) {
    const dsl = Node.isIdentifier(init.getExpression()) ? dslName(init.getExpression()) : undefined;
    if (dsl === 'shared' || dsl === 'local') {
      const [dtNode, ...sizeNodes] = init.getArguments();
      const dt = dtNode && Node.isIdentifier(dtNode) ? dslName(dtNode) : undefined;
      if (!dt || !(DTYPES as readonly string[]).includes(dt) || dt === 'bool') throw L.error(dtNode ?? init, `${dsl}(dtype, ...sizes): dtype must be a DSL scalar type`);
      if (!sizeNodes.length) throw L.error(init, `${dsl}(dtype, ...sizes) needs at least one size`);
      const sizes = sizeNodes.map((n) => constantSize(L, n, dsl));
      const dims: Extent[] = sizes.map((sz, i) => ({ e: sz.e, text: sizeNodes[i].getText() }));
      const size = sizes.map((sz) => sz.size).reduce((a, b) => ({ k: 'op', op: '*', a, b }));
      const dtype = dt as DType;
      if (dsl === 'shared') return { kind: 'buffer', space: 'shared', buf: L.addShared(d, base, dtype, size), label: base, dtype, writable: true, dims, bounds: [] };
      const irName = L.fresh(base);
      L.emit({ k: 'localArray', name: irName, type: dtype, size, loc });
      return { kind: 'buffer', space: 'local', buf: irName, label: base, dtype, writable: true, dims, bounds: [] };
    }
    if (dsl === 'fragment') {
      const irName = L.fresh(base);
      L.emit({ k: 'fragment', name: irName, loc });
      return { kind: 'fragment', name: irName };
    }
    if (dsl === 'blockAccumulator') return blockAccumulatorDecl(L, init, base);
    if (dsl && FRAGMENT_DECLS.has(dsl)) return lowerFragmentDecl(L, dsl, init, base);
    const helper = dsl ? undefined : helperOf(init);
    if (helper) {
      const r = inlineHelper(L, helper, init);
      if (!r) throw L.error(init, `helper '${helper.getName()}' returns no value`, 'call it as a statement');
      return 'binding' in r ? r.binding : r.val;
    }
    return undefined;
  }
  const ref = resolveRef(L, init);
  if (ref?.kind === 'buffer') return pinned(L, ref, init);
  if (ref?.kind === 'group' || ref?.kind === 'fragment' || ref?.kind === 'blockAcc') return ref;
  return undefined;
}

/**
 * Shared and local sizes: literals, tunables and consts only, so memory is known at compile
 * time. Returns the size formula and the i32 expression it was lowered from (the extent of
 * that dimension when the array is indexed).
 */
function constantSize(L: Lowerer, node: Node, what: string): { size: SizeExpr; e: Expr } {
  const e = requireInt(L, L.expr(node), node, `${what} size`);
  const toSize = (x: Expr): SizeExpr => {
    if (x.k === 'const') return { k: 'num', v: x.value as number };
    if (x.k === 'sym') return { k: 'sym', name: x.name };
    if (x.k === 'bin' && (x.op === '+' || x.op === '-' || x.op === '*' || x.op === '/' || x.op === '%')) return { k: 'op', op: x.op, a: toSize(x.a), b: toSize(x.b) };
    const culprit = x.k === 'uniform' ? `runtime value '${x.name}'` : `a ${x.k === 'var' ? 'variable' : 'runtime expression'}`;
    throw L.error(node, `${what} array size must be a compile-time constant, but it depends on ${culprit}`, 'use a literal, a tunable or a const from the kernel config');
  };
  const size = toSize(e);
  if (size.k === 'num' && !(size.v > 0)) throw L.error(node, `${what} array size must be positive, got ${size.v}`);
  return { size, e };
}

function lowerExprStatement(L: Lowerer, node: Node): void {
  if (Node.isParenthesizedExpression(node)) return lowerExprStatement(L, node.getExpression());
  if (Node.isPostfixUnaryExpression(node) || (Node.isPrefixUnaryExpression(node) && (node.getOperatorToken() === SyntaxKind.PlusPlusToken || node.getOperatorToken() === SyntaxKind.MinusMinusToken))) {
    const op = node.getOperatorToken() === SyntaxKind.PlusPlusToken ? '+' : '-';
    return assignTo(L, node.getOperand(), (old) => binary(L, op, old, { e: { k: 'const', type: 'i32', value: 1 }, abstract: 'int' }, node).e, node);
  }
  if (Node.isBinaryExpression(node)) {
    const kind = node.getOperatorToken().getKind();
    if (kind === SyntaxKind.EqualsToken) return assignTo(L, node.getLeft(), undefined, node, node.getRight());
    const op = COMPOUND[kind];
    if (op) return assignTo(L, node.getLeft(), (old) => binary(L, op, old, L.expr(node.getRight()), node).e, node);
  }
  if (Node.isCallExpression(node)) return lowerCallStatement(L, node);
  throw L.error(node, 'this expression has no effect or is not supported as a statement');
}

/** Assignment to a variable or buffer element, `value` computing the new value from the old one for compound forms. */
function assignTo(L: Lowerer, target: Node, compute: ((old: import('./lowering.js').Val) => Expr) | undefined, node: Node, rhs?: Node): void {
  const loc = locOf(node);
  if (Node.isIdentifier(target)) {
    const b = L.lookup(target.getText());
    if (!b || b.kind !== 'var') throw L.error(target, `cannot assign to '${target.getText()}'`, b?.kind === 'ctxMember' ? 'context members are read-only' : undefined);
    if (!b.mutable) throw L.error(target, `cannot assign to const '${target.getText()}'`, 'declare it with let');
    const old = { e: { k: 'var', name: b.name, type: b.type, loc } as Expr };
    const value = compute ? coerce(L, { e: compute(old) }, b.type, node, `assignment to '${target.getText()}'`) : coerce(L, L.expr(rhs!), b.type, rhs!, `assignment to '${target.getText()}'`);
    L.emit({ k: 'assign', name: b.name, value, loc });
    return;
  }
  if (Node.isElementAccessExpression(target)) {
    const ref = bufferRef(L, target.getExpression());
    if (!ref.writable) throw L.error(target, `tensor '${ref.label}' is read-only`, `declare it as Out<${ref.dtype}, [...]> to write it`);
    const at = element(L, ref, target.getArgumentExpressionOrThrow(), target);
    const index = L.temp('idx', at.index, target.getArgumentExpressionOrThrow());
    const bounds = at.bounds ? { bounds: at.bounds } : {};
    const old = { e: { k: 'load', type: ref.dtype, space: ref.space, buf: ref.buf, index, ...bounds, loc } as Expr };
    const raw = compute ? { e: compute(old) } : L.expr(rhs!);
    const value = coerce(L, raw, ref.dtype, rhs ?? node, `store to '${target.getExpression().getText()}'`);
    L.emit({ k: 'store', space: ref.space, buf: ref.buf, index, value, ...bounds, loc });
    return;
  }
  if (Node.isPropertyAccessExpression(target)) throw L.error(target, 'context members and builtins are read-only');
  throw L.error(target, 'unsupported assignment target');
}

function lowerCallStatement(L: Lowerer, node: CallExpression): void {
  const callee = node.getExpression();
  const dsl = Node.isIdentifier(callee) ? dslName(callee) : undefined;
  const args = node.getArguments();
  const loc = locOf(node);
  if (dsl === 'barrier') {
    if (args.length) throw L.error(node, 'barrier() takes no arguments');
    L.emit({ k: 'barrier', loc });
    return;
  }
  if (dsl === 'atomicAdd' || dsl === 'atomicMax') {
    lowerAtomic(L, dsl, node, args, false);
    return;
  }
  if (dsl && BLOCK_CALLS.has(dsl)) return lowerBlockCall(L, dsl, node, args);
  if (dsl && FRAGMENT_STMTS.has(dsl)) return lowerFragmentStmt(L, dsl, node);
  if (dsl === 'copyTile') return lowerCopyTile(L, node, args);
  if (dsl === 'mma' || dsl === 'mmaTransposedB') {
    if (args.length !== 7) throw L.error(node, `${dsl}(acc, a, aOffset, aStride, b, bOffset, bStride) takes 7 arguments`);
    const acc = fragmentOf(L, args[0]);
    const a = tileRef(L, args[1], args[2], args[3]);
    const b = tileRef(L, args[4], args[5], args[6]);
    const [at, bt] = [resolveRef(L, args[1]), resolveRef(L, args[4])].map((x) => (x?.kind === 'buffer' ? x.dtype : undefined));
    if (at !== bt) throw L.error(node, `${dsl} operands differ in dtype: a is ${at}, b is ${bt}`, 'stage both operands in the same type');
    L.emit({ k: 'mma', acc, a, b, bLayout: dsl === 'mma' ? 'kn' : 'nk', loc });
    return;
  }
  if (dsl === 'accumulateScaled') {
    if (args.length !== 5) throw L.error(node, 'accumulateScaled(acc, part, rowScale, rowOffset, scale) takes 5 arguments');
    const acc = fragmentOf(L, args[0]);
    const part = fragmentOf(L, args[1]);
    if (acc === part) throw L.error(args[1], 'accumulateScaled needs two different fragments');
    const rows = wholeShared(L, args[2]);
    if (rows?.dtype !== 'f32') throw L.error(args[2], 'accumulateScaled reads row scales from an f32 shared array');
    const rowOffset = L.temp('off', requireInt(L, L.expr(args[3]), args[3], 'row scale offset'), args[3]);
    const scale = coerce(L, L.expr(args[4]), 'f32', args[4], 'accumulateScaled scale');
    L.emit({ k: 'fragmentAccumulate', acc, part, rowScale: rows.buf, rowOffset, scale: L.temp('scale', scale, args[4]), loc });
    return;
  }
  if (dsl === 'storeFragment') {
    if (args.length !== 4) throw L.error(node, 'storeFragment(acc, dst, offset, stride) takes 4 arguments');
    const acc = fragmentOf(L, args[0]);
    const dst = tileRef(L, args[1], args[2], args[3]);
    if (wholeShared(L, args[1])?.dtype !== 'f32') throw L.error(args[1], 'storeFragment writes an f32 shared array');
    L.emit({ k: 'fragmentStore', acc, dst, loc });
    return;
  }
  lowerCall(L, node, false);
}

function fragmentOf(L: Lowerer, node: Node): string {
  const b = resolveRef(L, node);
  if (b?.kind !== 'fragment') throw L.error(node, `'${node.getText()}' is not a fragment`, 'declare one with const acc = fragment()');
  return b.name;
}

/** A whole shared array (tile ops address it by element offset and row stride, whatever its dimensions). */
function wholeShared(L: Lowerer, node: Node): { buf: string; dtype: DType } | undefined {
  const b = resolveRef(L, node);
  if (b?.kind !== 'buffer' || b.space !== 'shared') return undefined;
  if (b.offset) throw L.error(node, `tile ops take a whole shared array, not the view '${node.getText()}'`, 'pass the array and the element offset of the tile');
  return b;
}

function tileRef(L: Lowerer, buf: Node, offset: Node, stride: Node) {
  const b = wholeShared(L, buf);
  if (!b) throw L.error(buf, 'tile operands must be shared arrays', 'stage the tile in shared memory first');
  return {
    buf: b.buf,
    offset: L.temp('off', requireInt(L, L.expr(offset), offset, 'tile offset'), offset),
    stride: requireInt(L, L.expr(stride), stride, 'tile stride'),
  };
}
