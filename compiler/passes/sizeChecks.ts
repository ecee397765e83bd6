import type { Kernel, SizeExpr } from '../ir/nodes.js';
import type { SourceLoc } from '../common/source-loc.js';
import { forEachStmt } from '../ir/walk.js';
import { foldSize, sizeToString } from '../ir/size.js';
import { CompileError } from '../common/errors.js';

/**
 * Bytes of local arrays (and tile-op fragments) one thread may hold. WGSL guarantees 8192
 * bytes of function-scope variables per function (spec §"Limits"); Dawn on SwiftShader
 * accepted 64 KiB in our tests, but a kernel over the guaranteed limit is not portable, and
 * on GPUs an array that size spills to slow local memory anyway. Local arrays are counted at
 * 4 bytes an element, as WGSL holds narrow types in 32-bit words.
 */
export const MAX_LOCAL_BYTES = 8192;
const FRAGMENT_BYTES = 8 * 4;

/**
 * Size formulas once the tunables are chosen (`env`: consts and tunables): no division by
 * a divisor that is zero for this choice, positive array sizes, local memory within
 * MAX_LOCAL_BYTES. Literal mistakes are caught earlier with their exact location; these are
 * the ones a tunable value causes, reported with the values that cause them.
 */
export function checkSizes(k: Kernel, env: Readonly<Record<string, number>>): void {
  const choice = k.tunables.map((t) => `${t.name}=${env[t.name]}`).join(', ');
  const withChoice = choice ? ` with ${choice}` : '';
  const fail = (detail: string, loc: SourceLoc | undefined, hint?: string): never => {
    throw new CompileError(detail, loc ?? k.loc, undefined, hint, k.name);
  };
  const divisions = (what: string, e: SizeExpr, loc?: SourceLoc) => {
    const zero = zeroDivisor(e, env);
    if (zero) fail(`${what} divides by zero: '${sizeToString(zero)}' is 0${withChoice}`, loc, 'choose tunables that keep every divisor nonzero, or add a constraint that excludes them');
  };
  for (const c of k.constraints) divisions(`constraint '${c.text}'`, c.expr);
  k.workgroup.forEach((w, i) => divisions(`workgroup size ${'xyz'[i]} '${sizeToString(w)}'`, w));
  k.grid.forEach((g, i) => divisions(`grid dimension ${'xyz'[i]} '${sizeToString(g)}'`, g));
  const positive = (what: string, size: SizeExpr, loc: SourceLoc | undefined): number => {
    divisions(`${what} size '${sizeToString(size)}'`, size, loc);
    const f = foldSize(size, env);
    if (f.k === 'num' && !(f.v > 0)) fail(`${what} has size ${f.v} ('${sizeToString(size)}'${withChoice}); sizes must be positive`, loc);
    return f.k === 'num' ? f.v : 0;
  };
  for (const s of k.shared) positive(`shared array '${s.name}'`, s.size, s.loc);
  let bytes = 0;
  forEachStmt(k.body, (s) => {
    if (s.k !== 'localArray' && s.k !== 'fragment') return;
    bytes += s.k === 'fragment' ? FRAGMENT_BYTES : 4 * positive(`local array '${s.name}'`, s.size, s.loc);
    if (bytes > MAX_LOCAL_BYTES) {
      fail(`local arrays and fragments need ${bytes} bytes per thread here, over the ${MAX_LOCAL_BYTES} that WGSL guarantees${withChoice}`, s.loc, 'use shared memory for large per-workgroup data, or smaller per-thread tiles');
    }
  });
}

/** The first divisor in `e` that is zero under `env`, as written. */
function zeroDivisor(e: SizeExpr, env: Readonly<Record<string, number>>): SizeExpr | undefined {
  if (e.k !== 'op') return undefined;
  const inner = zeroDivisor(e.a, env) ?? zeroDivisor(e.b, env);
  if (inner) return inner;
  if (e.op !== '/' && e.op !== '%' && e.op !== 'cdiv') return undefined;
  const d = foldSize(e.b, env);
  return d.k === 'num' && d.v === 0 ? e.b : undefined;
}
