import type { Expr, Kernel, Stmt } from '../ir/nodes.js';
import { forEachExpr, forEachStmt, mapStmts } from '../ir/walk.js';
import { evalBin } from '../ir/semantics.js';
import { foldExpr } from './fold.js';

/** Loops with at most this many iterations and a constant trip count are unrolled. */
export const MAX_UNROLL = 16;
/**
 * ...and only while the unrolled copies stay under this many IR nodes (statements plus
 * expression nodes). Inner loops are unrolled first, so an outer loop's body is measured
 * with its inner loops already expanded: nesting cannot multiply past the budget (16
 * nested 2-trip loops once became 2 MB of WGSL that took nvcc, Dawn and g++ minutes each).
 * The largest register-tile loops of ops/ (the MoE epilogues, about 4,250 nodes) fit.
 */
export const MAX_UNROLLED_NODES = 5000;

/**
 * Unrolls `for (let v = c0; v < c1; v += c2)` when the trip count is a small constant, the
 * copies fit the budget, and the body neither assigns v nor breaks out. Per-thread register
 * tiles rely on this: once the loop index is a constant, local-array indices are constants
 * and live in registers. With `keepRolled` (WGSL, the interpreter), only such loops are:
 * one whose index reaches no local-array index nor an inner loop's bounds stays a loop. Unrolling the others made 200 KB attention shaders that
 * SwiftShader took 6 s each to compile, for no register they needed.
 */
export function unrollLoops(k: Kernel, opts: { keepRolled: boolean }): Kernel {
  let copy = 0;
  const visit = (stmts: readonly Stmt[]): Stmt[] =>
    mapStmts(stmts, (e) => e, (s) => {
      if (s.k !== 'for') return s;
      const plan = tripPlan(s);
      // A single trip is always worth unrolling: it costs no size.
      if (plan && plan.values.length > 1 && opts.keepRolled && !addressesRegisters(s)) return s;
      if (!plan || plan.values.length > MAX_UNROLL || plan.values.length * nodeCount(s.body) > MAX_UNROLLED_NODES) return s;
      const out: Stmt[] = [];
      for (const v of plan.values) {
        const suffix = `.u${copy++}`; // '.': never a DSL identifier's (codegen/naming.ts)
        out.push(...renameLocals(substitute(s.body, plan.name, v, plan.type), suffix));
      }
      return out;
    });
  return { ...k, body: visit(k.body) };
}

function tripPlan(s: Extract<Stmt, { k: 'for' }>): { name: string; type: 'i32' | 'u32'; values: number[] } | undefined {
  if (s.init.length !== 1 || s.update.length !== 1) return undefined;
  const [init] = s.init;
  const [upd] = s.update;
  if (init.k !== 'let' || init.init.k !== 'const' || (init.type !== 'i32' && init.type !== 'u32')) return undefined;
  if (upd.k !== 'assign' || upd.name !== init.name) return undefined;
  const step = upd.value;
  if (step.k !== 'bin' || step.op !== '+' || step.a.k !== 'var' || step.a.name !== init.name || step.b.k !== 'const') return undefined;
  const c = s.cond;
  if (c.k !== 'bin' || (c.op !== '<' && c.op !== '<=') || c.a.k !== 'var' || c.a.name !== init.name || c.b.k !== 'const') return undefined;
  let safe = true;
  forEachStmt(s.body, (x) => {
    if (x.k === 'assign' && x.name === init.name) safe = false;
    if (x.k === 'break' || x.k === 'continue' || x.k === 'return') safe = false;
  });
  if (!safe) return undefined;
  const values: number[] = [];
  const type = init.type;
  for (let v = init.init.value as number; evalBin(c.op, type, v, c.b.value) && values.length <= MAX_UNROLL; v = evalBin('+', type, v, step.b.value) as number) {
    values.push(v);
    if ((step.b.value as number) <= 0) return undefined;
  }
  return { name: init.name, type, values };
}

function substitute(stmts: readonly Stmt[], name: string, value: number, type: 'i32' | 'u32'): Stmt[] {
  return mapStmts(stmts, (e): Expr => foldExpr(e.k === 'var' && e.name === name ? { k: 'const', type, value, loc: e.loc } : e));
}

/** Each unrolled copy gets its own names: the copies share one scope after unrolling. */
export function renameLocals(stmts: readonly Stmt[], suffix: string): Stmt[] {
  const names = new Set<string>();
  forEachStmt(stmts, (s) => {
    if (s.k === 'let' || s.k === 'localArray' || s.k === 'fragment') names.add(s.name);
    if ((s.k === 'atomic' && s.result) || s.k === 'subgroup') names.add(s.result!);
    if (s.k === 'ldmatrix') s.results.forEach((n) => names.add(n));
  });
  const r = (n: string) => (names.has(n) ? n + suffix : n);
  const renameExpr = (e: Expr): Expr => (e.k === 'var' || (e.k === 'load' && e.space === 'local') ? ({ ...e, ...(e.k === 'var' ? { name: r(e.name) } : { buf: r(e.buf) }) } as Expr) : e);
  return mapStmts(stmts, renameExpr, (s): Stmt => {
    switch (s.k) {
      case 'let': case 'assign': case 'localArray': case 'fragment': return { ...s, name: r(s.name) };
      case 'store': return s.space === 'local' ? { ...s, buf: r(s.buf) } : s;
      case 'atomic': return s.result ? { ...s, result: r(s.result) } : s;
      case 'subgroup': return { ...s, result: r(s.result) };
      case 'mma': return { ...s, acc: r(s.acc) };
      case 'fragmentStore': return { ...s, acc: r(s.acc) };
      case 'mmaSync': return { ...s, acc: r(s.acc) };
      case 'ldmatrix': return { ...s, results: s.results.map(r) };
      default: return s;
    }
  });
}

function nodeCount(stmts: readonly Stmt[]): number {
  let n = 0;
  forEachStmt(stmts, () => n++);
  forEachExpr(stmts, () => n++);
  return n;
}

/**
 * Whether the loop's index flows (through lets and assignments in its body) into a
 * local-array index or an inner loop's bounds: unrolled, those become constants.
 */
function addressesRegisters(s: Extract<Stmt, { k: 'for' }>): boolean {
  const tainted = new Set<string>([...s.init].flatMap((x) => (x.k === 'let' ? [x.name] : [])));
  const mentions = (e: unknown): boolean => {
    if (Array.isArray(e)) return e.some(mentions);
    if (!e || typeof e !== 'object') return false;
    const x = e as Expr;
    if (x.k === 'var' && tainted.has(x.name)) return true;
    return Object.values(x).some((v) => typeof v === 'object' && mentions(v));
  };
  // Loop-carried assignments can taint a variable read earlier in the body: repeat to a fixed point.
  for (let before = -1; before !== tainted.size; ) {
    before = tainted.size;
    forEachStmt(s.body, (x) => {
      if (x.k === 'let' && mentions(x.init)) tainted.add(x.name);
      if (x.k === 'assign' && mentions(x.value)) tainted.add(x.name);
    });
  }
  let found = false;
  forEachStmt(s.body, (x) => {
    if (x.k === 'store' && x.space === 'local' && mentions(x.index)) found = true;
    if (x.k === 'for' && (mentions(x.init) || mentions(x.cond))) found = true;
  });
  forEachExpr(s.body, (e) => {
    if (e.k === 'load' && e.space === 'local' && mentions(e.index)) found = true;
  });
  return found;
}
