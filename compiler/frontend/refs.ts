import { Node } from 'ts-morph';
import type { Expr, IndexBound, TensorParam } from '../ir/nodes.js';
import { sizeToExpr, sizeToString } from '../ir/size.js';
import type { KernelDeclaration } from './declaration.js';
import type { Binding, BufferRef, Extent, Lowerer } from './lowering.js';
import { locOf } from './source.js';
import { requireInt } from './typing.js';

/**
 * Multi-dimensional access: references to buffers and views (`q`, `q[t][h]`, `ws.Qs`,
 * `x.flat`) and the flat row-major offsets the compiler computes for them.
 */

/** A kernel's tensor parameter as a whole-buffer reference; its extents read the shape uniforms and consts. */
export function tensorRef(decl: KernelDeclaration, t: TensorParam): BufferRef {
  const sym = (name: string): Expr => {
    const kind = decl.ctxKinds.get(name);
    return kind === 'dim' || kind === 'scalar' ? { k: 'uniform', type: 'i32', name } : { k: 'sym', type: 'i32', name };
  };
  return {
    kind: 'buffer', space: 'global', buf: t.name, label: t.name, dtype: t.dtype, writable: t.access !== 'read',
    dims: t.shape.map((d) => ({ e: sizeToExpr(d, sym), text: sizeToString(d) })),
    bounds: [],
  };
}

/**
 * What a reference expression names, or undefined when `node` is not one (a literal, an
 * arithmetic expression, a full-rank element access: those are values).
 */
export function resolveRef(L: Lowerer, node: Node): Binding | undefined {
  if (Node.isParenthesizedExpression(node)) return resolveRef(L, node.getExpression());
  if (Node.isIdentifier(node)) return L.lookup(node.getText());
  if (Node.isPropertyAccessExpression(node)) {
    const base = resolveRef(L, node.getExpression());
    const name = node.getName();
    if (!base) return undefined;
    if (base.kind === 'group') {
      const m = base.members.get(name);
      if (!m) throw L.error(node, `'${node.getExpression().getText()}' has no member '${name}'`, `it has: ${[...base.members.keys()].join(', ')}`);
      return m;
    }
    if (base.kind === 'ctx') return { kind: 'ctxMember', name };
    if (base.kind === 'buffer') {
      if (name !== 'flat') throw L.error(node, `'${base.label}' has no member '${name}'`, 'buffers are indexed (x[i]) or flattened (x.flat)');
      return flatten(base);
    }
    return undefined;
  }
  if (Node.isElementAccessExpression(node)) {
    const base = resolveRef(L, node.getExpression());
    if (base?.kind !== 'buffer' || base.dims.length < 2) return undefined;
    return index(L, base, node.getArgumentExpressionOrThrow());
  }
  return undefined;
}

/** The buffer or view `node` names, or a located error saying what it is instead. */
export function bufferRef(L: Lowerer, node: Node): BufferRef {
  const b = resolveRef(L, node);
  if (b?.kind === 'buffer') return b;
  throw L.error(node, `'${node.getText()}' is not a tensor, shared or local array`);
}

/** All elements of a view as one dimension. */
function flatten(b: BufferRef): BufferRef {
  if (b.dims.length === 1) return b;
  const extent = b.dims.reduce((a, d): Extent => ({ e: { k: 'bin', op: '*', type: 'i32', a: a.e, b: d.e }, text: `${a.text}*${d.text}` }));
  return { ...b, dims: [extent] };
}

/** Applies one index to the first remaining dimension. */
function index(L: Lowerer, b: BufferRef, idxNode: Node): BufferRef {
  const i = requireInt(L, L.expr(idxNode), idxNode, 'index');
  const d = b.dims[0];
  const offset: Expr = b.offset ? { k: 'bin', op: '+', type: 'i32', a: { k: 'bin', op: '*', type: 'i32', a: b.offset, b: d.e }, b: i, loc: locOf(idxNode) } : i;
  const bound: IndexBound = { index: i, extent: d.e, dim: `dimension ${b.bounds.length} (${d.text}) of '${b.label}'` };
  return { ...b, dims: b.dims.slice(1), offset, bounds: [...b.bounds, bound] };
}

/**
 * The element `ref[idx]` of a one-dimensional reference: its flat index and per-dimension
 * bounds. A view of higher rank is not an element: the caller indexes every dimension.
 */
export function element(L: Lowerer, ref: BufferRef, idxNode: Node, node: Node): { readonly index: Expr; readonly bounds?: readonly IndexBound[] } {
  if (ref.dims.length !== 1) {
    const rest = ref.dims.slice(1).map((d) => d.text);
    throw L.error(node, `'${node.getText()}' is a view of [${rest.join(', ')}], not an element of '${ref.label}'`, `index ${rest.length === 1 ? 'one more dimension' : `${rest.length} more dimensions`}, or use .flat`);
  }
  const r = index(L, ref, idxNode);
  // A whole 1-D buffer's one bound is the buffer's length, which every access is checked against anyway.
  return ref.offset ? { index: r.offset!, bounds: r.bounds } : { index: r.offset! };
}

/** A view kept in a variable or passed to a helper: its offset computed once, into a temporary. */
export function pinned(L: Lowerer, ref: BufferRef, node: Node): BufferRef {
  if (!ref.offset || ref.offset.k === 'var' || ref.offset.k === 'const') return ref;
  return { ...ref, offset: L.temp('view', ref.offset, node) };
}
