import type { Expr, Kernel, SizeExpr, Stmt } from '../ir/nodes.js';
import { mapStmts } from '../ir/walk.js';
import { foldSize, sizeToExpr } from '../ir/size.js';

/**
 * WebGPU allows 65,535 workgroups per grid dimension, and an elementwise kernel over a
 * MoE activation (8 experts x 4096 tokens x 2048) needs more. A 1-D grid is folded into
 * two dimensions: the dispatch becomes (min(g, max), cdiv(g, max)), the kernel rebuilds
 * its linear workgroup index and skips the few surplus workgroups of the last row
 * (a workgroup-uniform early return, so barriers stay uniform).
 */
export function foldLargeGrid(k: Kernel, maxPerDim: number): Kernel {
  if (k.grid.length !== 1) return k;
  const g = k.grid[0];
  if (g.k === 'num' && g.v <= maxPerDim) return k;
  const i32 = (value: number): Expr => ({ k: 'const', type: 'i32', value });
  const wid = (axis: 0 | 1): Expr => ({ k: 'builtin', type: 'i32', name: 'workgroupId', axis });
  const name = 'wg.linear'; // '.': never a DSL identifier's (codegen/naming.ts)
  const linear: Expr = { k: 'var', type: 'i32', name };
  const body = mapStmts(k.body, (e) => (e.k === 'builtin' && e.name === 'workgroupId' ? (e.axis === 0 ? linear : i32(0)) : e));
  const prologue: Stmt[] = [
    { k: 'let', name, type: 'i32', mutable: false, init: { k: 'bin', op: '+', type: 'i32', a: wid(0), b: { k: 'bin', op: '*', type: 'i32', a: wid(1), b: { k: 'builtin', type: 'i32', name: 'numWorkgroups', axis: 0 } } } },
    { k: 'if', cond: { k: 'bin', op: '>=', type: 'bool', a: linear, b: sizeToExpr(g, (name) => ({ k: 'uniform', type: 'i32', name })) }, then: [{ k: 'return' }], else: [] },
  ];
  const max: SizeExpr = { k: 'num', v: maxPerDim };
  return {
    ...k,
    grid: [foldSize({ k: 'op', op: 'min', a: g, b: max }, {}), foldSize({ k: 'op', op: 'cdiv', a: g, b: max }, {})],
    body: [...prologue, ...body],
  };
}
