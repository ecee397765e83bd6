import type { Expr, MmaDType, Stmt } from '../ir/nodes.js';
import { mmaDepth } from '../ir/nodes.js';
import { forEachStmt } from '../ir/walk.js';

/**
 * Alignment facts for the tile-op lowerings (passes/tileOps.ts, passes/blockTile.ts): which
 * shared-memory element indices are provably multiples of a power of two, so that a 32-bit
 * word load or a 16-byte ldmatrix row is legal, and the operand registers built on them.
 */

/**
 * One 32-bit tensor-core operand register: the 2 (16-bit) or 4 (fp8) elements from shared
 * buf[first], `step` apart (undefined: adjacent), the lowest in the low bits. One word load
 * when they are adjacent and `aligned` (first is a multiple of their count); else packed.
 */
export function operandRegister(buf: string, dtype: MmaDType, first: Expr, step: Expr | undefined, aligned: boolean): Expr {
  const per = mmaDepth(dtype) === 32 ? 4 : 2;
  if (step === undefined && aligned) return { k: 'loadWord', type: 'u32', space: 'shared', buf, index: first };
  const at = (i: number): Expr => (i === 0 ? first : { k: 'bin', op: '+', type: 'i32', a: first, b: step ? { k: 'bin', op: '*', type: 'i32', a: step, b: { k: 'const', type: 'i32', value: i } } : { k: 'const', type: 'i32', value: i } });
  const elems = Array.from({ length: per }, (_, i): Expr => ({ k: 'load', space: 'shared', buf, type: dtype, index: at(i) }));
  return { k: 'call', fn: per === 2 ? 'pack2' : 'pack4', type: 'u32', args: elems };
}

/**
 * Every value each variable is given, so alignment facts survive the frontend's temporaries
 * and loop counters (`for (kk = 0; ...; kk += 16)`).
 */
export function valuesGiven(body: readonly Stmt[]): ReadonlyMap<string, readonly Expr[]> {
  const defs = new Map<string, Expr[]>();
  const give = (name: string, e: Expr) => defs.set(name, [...(defs.get(name) ?? []), e]);
  forEachStmt(body, (s) => {
    if (s.k === 'let') give(s.name, s.init);
    if (s.k === 'assign') give(s.name, s.value);
  });
  return defs;
}

const MAX_POW2 = 8;
/**
 * Conservative: the largest p (up to MAX_POW2) such that 2^p divides e whenever it is
 * evaluated. A variable's factor is the least over every value it is given, assuming
 * (inductively) its own: an aligned start plus aligned steps stays aligned.
 */
export function pow2Factor(e: Expr, defs: ReadonlyMap<string, readonly Expr[]>, assumed: ReadonlySet<string> = new Set(), depth = 0): number {
  const f = (x: Expr) => pow2Factor(x, defs, assumed, depth + 1);
  if (depth > 32) return 0;
  if (e.k === 'const') {
    const n = e.value as number;
    if (typeof n !== 'number' || !Number.isInteger(n)) return 0;
    let p = 0;
    while (p < MAX_POW2 && n % 2 ** (p + 1) === 0) p++;
    return p;
  }
  if (e.k === 'var') {
    if (assumed.has(e.name)) return MAX_POW2;
    const given = defs.get(e.name);
    const inner = new Set([...assumed, e.name]);
    return given === undefined ? 0 : Math.min(...given.map((x) => pow2Factor(x, defs, inner, depth + 1)));
  }
  if (e.k !== 'bin') return 0;
  if (e.op === '*') return Math.min(MAX_POW2, f(e.a) + f(e.b));
  if (e.op === '&') return Math.max(f(e.a), f(e.b));
  if (e.op === '+' || e.op === '-') return Math.min(f(e.a), f(e.b));
  if (e.op === '<<' && e.b.k === 'const') return Math.min(MAX_POW2, f(e.a) + (e.b.value as number));
  return 0;
}
