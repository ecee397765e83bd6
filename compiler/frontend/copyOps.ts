import type { CallExpression, Node } from 'ts-morph';
import { Node as N } from 'ts-morph';
import type { Expr } from '../ir/nodes.js';
import { bin, i32 } from '../ir/build.js';
import type { Binding, BufferRef, Lowerer } from './lowering.js';
import { locOf } from './source.js';
import { requireInt } from './typing.js';
import { resolveRef } from './refs.js';
import { groupOf } from './helpers.js';
import { ctxMember } from './lowerExpr.js';

/**
 * dsl copyTile(dst, src, at) as the IR statement `tileCopy`: operand ranks, spaces and dtypes
 * here; the tile sizes are compile-time once specialised, and passes/copyTile.ts lowers it.
 */
export function lowerCopyTile(L: Lowerer, node: CallExpression, args: Node[]): void {
  if (args.length !== 3) throw L.error(node, `copyTile(dst, src, at) takes 3 arguments, got ${args.length}`);
  const dst = matrix(L, args[0], 'dst', 'shared');
  const src = matrix(L, args[1], 'src', 'global', 3);
  if (dst.ref.dtype !== src.ref.dtype) {
    throw L.error(node, `copyTile dst '${args[0].getText()}' is ${dst.ref.dtype} but src '${args[1].getText()}' is ${src.ref.dtype}`, 'stage the tile in a shared array of the tensor\'s element type');
  }
  const at = fields(L, args[2]);
  const rows = rowsOf(L, src, args[1], args[2]);
  L.emit({
    k: 'tileCopy', dst: dst.ref.buf, dstOffset: dst.offset, tileRows: dst.ref.dims[0].e, tileCols: dst.ref.dims[1].e,
    src: src.ref.buf, srcOffset: rows.offset, srcStride: rows.stride, ...at, loc: locOf(node),
  });
}


/**
 * The source rows as offset and stride: a matrix's own, or for a 3-D src [A][B][C] the rows
 * src[i][at.mid] (stride B*C), a 2-D matrix inside the tensor that no view names (one KV head
 * of k[S][HKV][D]); the IR op and its lowerings see only offset and stride.
 */
function rowsOf(L: Lowerer, src: { ref: BufferRef; offset: Expr }, srcNode: Node, atNode: Node): { offset: Expr; stride: Expr } {
  const d = src.ref.dims.map((x) => x.e);
  const mid = midOf(L, atNode);
  if (d.length === 2) {
    if (mid) throw L.error(atNode, `copyTile at.mid is for a 3-D src; '${srcNode.getText()}' is 2-D`, 'drop mid');
    return { offset: src.offset, stride: d[1] };
  }
  if (!mid) throw L.error(atNode, `copyTile from the 3-D '${srcNode.getText()}' needs at.mid, the fixed middle index of its rows`, `{ r0, mid, c0, rows, cols } copies ${srcNode.getText()}[r0 + r][mid][c0 + c]`);
  return { offset: L.temp('off', bin('+', src.offset, bin('*', mid, d[2])), atNode), stride: bin('*', d[1], d[2]) };
}

/** at.mid when `at` has it (an object literal or group member). */
function midOf(L: Lowerer, node: Node): Expr | undefined {
  const g = N.isObjectLiteralExpression(node) ? groupOf(L, node) : resolveRef(L, node);
  const m = g?.kind === 'group' ? g.members.get('mid') : undefined;
  return m && requireInt(L, { e: valueOf(L, m, node, 'mid', 'copyTile') }, node, 'copyTile at.mid');
}


/** A 2-D (up to maxRank-D) array or view in `space` and the element offset of its [0][0]. */
function matrix(L: Lowerer, node: Node, what: string, space: 'shared' | 'global', maxRank = 2): { ref: BufferRef; offset: Expr } {
  const b = resolveRef(L, node);
  const expected = space === 'shared' ? 'a 2-D shared array or view' : maxRank === 3 ? 'a 2-D or 3-D tensor or view' : 'a 2-D tensor or view';
  if (b?.kind !== 'buffer' || b.space !== space) {
    throw L.error(node, `copyTile ${what} '${node.getText()}' is ${b?.kind === 'buffer' ? `a ${b.space} array` : 'not an array'}, expected ${expected}`);
  }
  if (b.dims.length < 2 || b.dims.length > maxRank) throw L.error(node, `copyTile ${what} '${node.getText()}' has rank ${b.dims.length}, expected ${expected}`, b.dims.length > maxRank ? `index it: ${node.getText()}[i]` : undefined);
  const offset: Expr = b.offset ? L.temp('off', bin('*', b.offset, b.dims.map((x) => x.e).reduce((x, y) => bin('*', x, y))), node) : i32(0);
  return { ref: b, offset };
}

const FIELDS = ['r0', 'c0', 'rows', 'cols'] as const;

/** `at` of copyTile (or another tile op `op`): an object literal or a group with integer members r0, c0, rows, cols. */
export function fields(L: Lowerer, node: Node, op = 'copyTile'): Record<(typeof FIELDS)[number], Expr> {
  const g = N.isObjectLiteralExpression(node) ? groupOf(L, node) : resolveRef(L, node);
  if (g?.kind !== 'group') throw L.error(node, `${op} at '${node.getText()}' must be an object { r0, c0, rows, cols }`);
  const out = {} as Record<(typeof FIELDS)[number], Expr>;
  for (const f of FIELDS) {
    const m = g.members.get(f);
    if (!m) throw L.error(node, `${op} at '${node.getText()}' has no member '${f}'`, `it needs r0, c0, rows, cols; it has: ${[...g.members.keys()].join(', ')}`);
    out[f] = requireInt(L, { e: valueOf(L, m, node, f, op) }, node, `${op} at.${f}`);
  }
  return out;
}

function valueOf(L: Lowerer, b: Binding, node: Node, f: string, op: string): Expr {
  if (b.kind === 'var') return { k: 'var', name: b.name, type: b.type, loc: locOf(node) };
  if (b.kind === 'value') return b.e;
  if (b.kind === 'ctxMember') return ctxMember(L, b.name, node).e;
  throw L.error(node, `${op} at.${f} is a ${b.kind}, expected an integer`);
}
