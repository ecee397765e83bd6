import type { BinOp, Expr, Stmt } from './nodes.js';
import type { DType } from './types.js';
import type { SourceLoc } from '../common/source-loc.js';

/**
 * IR builders for the lowering passes, which write the loops and index arithmetic of the
 * code they expand by hand (tile ops, copies, pipelines): one spelling of each node.
 */

const COMPARISONS: ReadonlySet<BinOp> = new Set<BinOp>(['<', '<=', '>', '>=', '==', '!=', '&&', '||']);

export const i32 = (value: number): Expr => ({ k: 'const', type: 'i32', value });
export const f32c = (value: number): Expr => ({ k: 'const', type: 'f32', value });
export const localIndex: Expr = { k: 'builtin', type: 'i32', name: 'localIndex', axis: 0 };
export const v = (name: string, type: DType = 'i32'): Expr => ({ k: 'var', name, type });
/** a op b: comparisons and logic are bool, arithmetic has a's type. */
export const bin = (op: BinOp, a: Expr, b: Expr): Expr => ({ k: 'bin', op, type: COMPARISONS.has(op) ? 'bool' : a.type, a, b });
/** e + c, just e when c is 0. */
export const plus = (e: Expr, c: number): Expr => (c === 0 ? e : bin('+', e, i32(c)));
export const let_ = (name: string, init: Expr, loc?: SourceLoc, mutable = false): Stmt => ({ k: 'let', name, type: init.type, init, mutable, loc });

/** for (let index = start; index < end; index += step) body, with an i32 index. */
export function countedLoop(index: string, start: Expr, end: Expr, step: Expr, body: Stmt[], loc?: SourceLoc): Stmt {
  return {
    k: 'for',
    init: [let_(index, start, loc, true)],
    cond: bin('<', v(index), end),
    update: [{ k: 'assign', name: index, value: bin('+', v(index), step), loc }],
    body,
    loc,
  };
}
