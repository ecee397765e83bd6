import type { Expr, Kernel, Stmt } from './nodes.js';
import { isInt } from './types.js';
import { CompileError } from '../common/errors.js';

/**
 * Nesting the WGSL output may reach: Tint stops at 128 nested parentheses and braces
 * together, and WGSL output parenthesises every operator. The frontend bounds what a
 * kernel writes (frontend/nesting.ts); this bounds what inlining and the passes build.
 */
export const MAX_IR_NESTING = 120;

/**
 * Operands that are constants only once tunables are chosen and loops unrolled: a division
 * or remainder by zero (WGSL defines integer x / 0 as x and leaves a float one to the
 * implementation, CUDA leaves the integer one undefined and nvcc rejects the float one) and a
 * shift by a constant outside 0..31 (WGSL rejects it, CUDA leaves it undefined). The
 * frontend reports the literal cases; these are the ones specialisation exposes. Also the
 * nesting depth, which inlining can grow past what WGSL compilers parse (the ops reach 15).
 */
export function checkOperands(k: Kernel): void {
  const fail = (detail: string, e: Expr | Stmt, hint: string): never => {
    throw new CompileError(detail, e.loc ?? k.loc, undefined, hint, k.name);
  };
  const expr = (e: Expr, depth: number): void => {
    if (depth > MAX_IR_NESTING) fail(`expression nested more than ${MAX_IR_NESTING} levels deep after inlining`, e, 'split the expression, or the helpers it calls, into statements with intermediate variables');
    switch (e.k) {
      case 'bin':
        // Both constant, a float division has folded to its infinity or NaN; only integer ones remain.
        if ((e.op === '/' || e.op === '%') && e.b.k === 'const' && e.b.value === 0 && (isInt(e.type) || e.a.k !== 'const')) {
          fail(`${isInt(e.type) ? 'integer' : 'floating-point'} ${e.op === '/' ? 'division' : 'remainder'} by zero once tunables and loop indices are constants`, e, 'guard the divisor, or choose tunables that keep it nonzero');
        }
        if ((e.op === '<<' || e.op === '>>') && e.b.k === 'const' && !((e.b.value as number) >= 0 && (e.b.value as number) < 32)) {
          fail(`shift by ${e.b.value} once tunables and loop indices are constants: the amount must be 0 to 31`, e, 'mask or clamp the shift amount');
        }
        expr(e.a, depth + 1);
        expr(e.b, depth + 1);
        break;
      case 'un': case 'cast': case 'bitcast': expr(e.a, depth + 1); break;
      case 'call': for (const a of e.args) expr(a, depth + 1); break;
      case 'select': expr(e.cond, depth + 1); expr(e.a, depth + 1); expr(e.b, depth + 1); break;
      case 'load': case 'loadWord': expr(e.index, depth + 1); break;
      default: break;
    }
  };
  const stmts = (list: readonly Stmt[], depth: number): void => {
    for (const s of list) {
      if (depth > MAX_IR_NESTING) fail(`statements nested more than ${MAX_IR_NESTING} levels deep after inlining`, s, 'flatten the conditions or loops');
      for (const e of operands(s)) expr(e, depth + 1);
      if (s.k === 'if') {
        stmts(s.then, depth + 1);
        stmts(s.else, depth + 1);
      } else if (s.k === 'archSwitch') {
        stmts(s.sm90a, depth + 1);
        stmts(s.other, depth + 1);
      } else if (s.k === 'for') {
        stmts(s.init, depth + 1);
        stmts(s.update, depth + 1);
        stmts(s.body, depth + 1);
      }
    }
  };
  stmts(k.body, 1);
}

/** The expressions a statement evaluates itself (not those of nested statements). */
function operands(s: Stmt): readonly Expr[] {
  switch (s.k) {
    case 'let': return [s.init];
    case 'assign': return [s.value];
    case 'store': return [s.index, s.value];
    case 'storePacked': return [s.word, s.shift, s.bits];
    case 'if': return [s.cond];
    case 'for': return [s.cond];
    case 'atomic': return [s.index, s.value];
    case 'subgroup': return s.laneMask ? [s.value, s.laneMask] : [s.value];
    case 'mma': return [s.a.offset, s.a.stride, s.b.offset, s.b.stride];
    case 'fragmentStore': return [s.dst.offset, s.dst.stride];
    case 'fragmentAccumulate': return [s.rowOffset, s.scale];
    case 'mmaSync': return [...s.a, ...s.b];
    case 'ldmatrix': return [s.rowIndex];
    case 'wgmma': return [s.a.index, s.b.index];
    default: return [];
  }
}
