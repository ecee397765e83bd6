import { Node, type CallExpression, type FunctionDeclaration, type TypeNode } from 'ts-morph';
import type { Expr } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import { DTYPES } from '../ir/types.js';
import type { Binding, BufferRef, Lowerer, Val } from './lowering.js';
import { dslName, locOf } from './source.js';
import { coerce, concrete } from './typing.js';
import { dtypeOfTypeNode } from './declaration.js';
import { pinned, resolveRef } from './refs.js';

/**
 * Top-level helper functions, inlined at each call. Parameters bind by their declared
 * type: buffers and views alias the caller's (space, access, dtype and rank checked), an
 * object type takes an object literal, a group or the context (named parameters, a
 * workspace, a compile-time configuration), scalars become temporaries, or stay the
 * compile-time expression they are so they can size the helper's own shared arrays.
 * A helper returns a scalar, or a binding (`return { Qs, acc }`: the workspace it declared).
 */

/** The helper a call names, if any. */
export function helperOf(node: CallExpression): FunctionDeclaration | undefined {
  const callee = node.getExpression();
  if (!Node.isIdentifier(callee)) return undefined;
  const sym = callee.getSymbol();
  const decl = (sym?.isAlias() ? sym.getAliasedSymbol() : sym)?.getDeclarations()[0];
  return decl && Node.isFunctionDeclaration(decl) ? decl : undefined;
}

type Result = { readonly val: Val } | { readonly binding: Binding } | undefined;

/** Inlines `fn` at `call`; the result is its return value or binding (undefined for a void helper). */
export function inlineHelper(L: Lowerer, fn: FunctionDeclaration, call: CallExpression): Result {
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
  const ret = last && Node.isReturnStatement(last) ? last.getExpression() : undefined;
  const bindings = params.map((p, i): [string, Binding] => [p.getName(), bindParam(L, `argument '${p.getName()}' of ${name}`, `${name}_${p.getName()}`, p.getTypeNode(), p, args[i])]);
  L.inlineStack.push(name);
  let result: Result;
  const inner = L.isolated(() =>
    L.block(() => {
      for (const [n, b] of bindings) L.bind(n, b);
      L.fns.statements(L, ret ? stmts.slice(0, -1) : stmts, name);
      if (ret) result = returned(L, fn, name, ret, call);
    }),
  );
  L.inlineStack.pop();
  // The helper's statements join the caller's block; their names are already unique.
  for (const s of inner) L.emit(s);
  return result;
}

function returned(L: Lowerer, fn: FunctionDeclaration, name: string, ret: Node, call: CallExpression): Result {
  if (Node.isObjectLiteralExpression(ret)) return { binding: groupOf(L, ret) };
  const ref = resolveRef(L, ret);
  if (ref && ref.kind !== 'var' && ref.kind !== 'ctxMember' && ref.kind !== 'value') return { binding: ref.kind === 'buffer' ? pinned(L, ref, ret) : ref };
  const rt = fn.getReturnTypeNode();
  const v = L.expr(ret);
  const e = rt ? coerce(L, v, dtypeOfTypeNode(rt, `return type of '${name}'`, fn), ret, `return value of ${name}`) : concrete(L, v, ret);
  const out = L.fresh(`${name}_result`);
  L.emit({ k: 'let', name: out, type: e.type, init: e, mutable: false, loc: locOf(ret) });
  return { val: { e: { k: 'var', name: out, type: e.type, loc: locOf(call) } } };
}

/** `{ Qs, acc: rowAcc, n: 4 }`: members that are references alias them, values become temporaries. */
export function groupOf(L: Lowerer, lit: Node & { getProperties(): Node[] }): Binding {
  const members = new Map<string, Binding>();
  for (const [key, init] of literalMembers(L, lit)) members.set(key, valueBinding(L, init, key));
  return { kind: 'group', members };
}

/** The members of an object literal, name to value node (`{ k0 }` names k0's identifier), in source order. */
function literalMembers(L: Lowerer, lit: Node & { getProperties(): Node[] }): Map<string, Node> {
  const out = new Map<string, Node>();
  for (const p of lit.getProperties()) {
    const init = Node.isShorthandPropertyAssignment(p) ? p.getNameNode() : Node.isPropertyAssignment(p) ? p.getInitializerOrThrow() : undefined;
    if (!init) throw L.error(p, 'object members are `name` or `name: value`', 'spreads and methods are not supported in kernels');
    out.set((p as Node & { getName(): string }).getName(), init);
  }
  return out;
}

/** An untyped member value: a reference as itself, anything else as an immutable temporary. */
function valueBinding(L: Lowerer, node: Node, base: string): Binding {
  if (Node.isObjectLiteralExpression(node)) return groupOf(L, node);
  const ref = resolveRef(L, node);
  if (ref && ref.kind !== 'ctxMember') return ref.kind === 'buffer' ? pinned(L, ref, node) : ref;
  const e = concrete(L, L.expr(node), node);
  if (isCompileTime(e)) return { kind: 'value', e };
  const name = L.fresh(base);
  L.emit({ k: 'let', name, type: e.type, init: e, mutable: false, loc: locOf(node) });
  return { kind: 'var', name, type: e.type, mutable: false };
}

/** Literals, tunables, consts and arithmetic on them: known once the kernel is specialised. */
function isCompileTime(e: Expr): boolean {
  switch (e.k) {
    case 'const': case 'sym': return true;
    case 'bin': return isCompileTime(e.a) && isCompileTime(e.b);
    case 'un': case 'cast': return isCompileTime(e.a);
    case 'call': return e.args.every(isCompileTime);
    default: return false;
  }
}

const BUFFER_SPACE: Record<string, BufferRef['space']> = { Tensor: 'global', Out: 'global', InOut: 'global', Shared: 'shared', Local: 'local' };

/** Binds one declared parameter (or object member) `t` to the argument expression `arg`. */
function bindParam(L: Lowerer, what: string, base: string, t: TypeNode | undefined, anchor: Node, arg: Node): Binding {
  const kind = t && Node.isTypeReference(t) ? dslName(t.getTypeName()) : undefined;
  if (kind === 'Fragment') {
    const b = resolveRef(L, arg);
    if (b?.kind !== 'fragment') throw L.error(arg, `${what} must be a fragment`, 'declare one with const acc = fragment()');
    return b;
  }
  if (kind === 'BlockAccumulator') {
    const b = resolveRef(L, arg);
    if (b?.kind !== 'blockAcc') throw L.error(arg, `${what} must be a block accumulator`, 'declare one with const acc = blockAccumulator(rows, cols)');
    return b;
  }
  if (kind && kind in BUFFER_SPACE && t && Node.isTypeReference(t)) return bindBuffer(L, what, kind, t.getTypeArguments(), arg);
  const members = t && objectMembers(t);
  if (members) return bindObject(L, what, base, members, arg);
  const type = dtypeOfTypeNode(t, what.replace(/^argument/, 'parameter'), anchor);
  const e = coerce(L, L.expr(arg), type, arg, what);
  if (isCompileTime(e)) return { kind: 'value', e };
  const tmp = L.fresh(base);
  L.emit({ k: 'let', name: tmp, type, init: e, mutable: false, loc: locOf(arg) });
  return { kind: 'var', name: tmp, type, mutable: false };
}

function bindBuffer(L: Lowerer, what: string, kind: string, typeArgs: TypeNode[], arg: Node): Binding {
  const b = resolveRef(L, arg);
  const space = BUFFER_SPACE[kind];
  if (b?.kind !== 'buffer' || b.space !== space) throw L.error(arg, `${what} must be a ${space === 'global' ? 'tensor' : `${space} array`}`);
  if (kind !== 'Tensor' && !b.writable) throw L.error(arg, `${what} must be writable; '${arg.getText()}' is read-only`, 'declare it as Out<...>');
  const allowed = dtypeUnion(typeArgs[0]);
  if (allowed && !allowed.includes(b.dtype)) throw L.error(arg, `${what} must hold ${allowed.join(' or ')}, '${arg.getText()}' holds ${b.dtype}`);
  // The declared shape tuple gives the rank; a 1-D `Shared<f32>` or a non-tuple shape takes one dimension.
  const shape = typeArgs[1];
  const rank = shape && Node.isTupleTypeNode(shape) ? shape.getElements().length : 1;
  if (b.dims.length !== rank) {
    throw L.error(arg, `${what} must have ${rank} dimension${rank === 1 ? '' : 's'}, '${arg.getText()}' has ${b.dims.length} ([${b.dims.map((d) => d.text).join(', ')}])`, rank === 1 ? `pass ${arg.getText()}.flat to hand over all its elements` : undefined);
  }
  return pinned(L, b, arg);
}

/** A parameter of object type: members of an object literal, a group, or the kernel context. */
function bindObject(L: Lowerer, what: string, base: string, members: readonly { name: string; type: TypeNode | undefined; node: Node }[], arg: Node): Binding {
  const given = resolveRef(L, arg);
  if (given?.kind === 'ctx') {
    for (const m of members) {
      if (!L.decl.ctxKinds.has(m.name)) throw L.error(arg, `${what}: the kernel context has no member '${m.name}'`);
    }
    return given;
  }
  if (given?.kind === 'group') {
    const missing = members.filter((m) => !given.members.has(m.name)).map((m) => m.name);
    if (missing.length) throw L.error(arg, `${what} lacks ${missing.map((m) => `'${m}'`).join(', ')}`);
    return given;
  }
  if (!Node.isObjectLiteralExpression(arg)) throw L.error(arg, `${what} must be an object literal, a group or the kernel context`, `e.g. { ${members.slice(0, 2).map((m) => m.name).join(', ')} }`);
  const props = literalMembers(L, arg);
  const out = new Map<string, Binding>();
  for (const m of members) {
    const init = props.get(m.name);
    if (!init) throw L.error(arg, `${what} lacks member '${m.name}'`);
    out.set(m.name, bindParam(L, `member '${m.name}' of ${what}`, `${base}_${m.name}`, m.type, m.node, init));
  }
  const extra = [...props.keys()].filter((n) => !members.some((m) => m.name === n));
  if (extra.length) throw L.error(arg, `${what} has no member${extra.length > 1 ? 's' : ''} ${extra.map((n) => `'${n}'`).join(', ')}`);
  return { kind: 'group', members: out };
}

/** The members of an object type (`{ k0: i32; Qs: Shared<f32> }`, an alias or interface of one), or undefined. */
function objectMembers(t: TypeNode): { name: string; type: TypeNode | undefined; node: Node }[] | undefined {
  if (Node.isTypeLiteral(t)) return t.getProperties().map((p) => ({ name: p.getName(), type: p.getTypeNode(), node: p }));
  if (!Node.isTypeReference(t) || dslName(t.getTypeName())) return undefined;
  // An imported alias names the import first: follow it to the declaration.
  const sym = t.getTypeName().getSymbol();
  const decl = (sym?.isAlias() ? sym.getAliasedSymbol() : sym)?.getDeclarations()[0];
  if (decl && Node.isTypeAliasDeclaration(decl)) {
    const inner = decl.getTypeNode();
    return inner ? objectMembers(inner) : undefined;
  }
  if (decl && Node.isInterfaceDeclaration(decl)) return decl.getProperties().map((p) => ({ name: p.getName(), type: p.getTypeNode(), node: p }));
  return undefined;
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
