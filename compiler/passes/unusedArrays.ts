import type { Kernel, Stmt } from '../ir/nodes.js';
import { forEachExpr, forEachStmt, mapStmts } from '../ir/walk.js';

/**
 * Drops shared arrays nothing touches and local arrays nothing reads (with their stores):
 * nvcc --Werror and g++ -Werror reject a declared-but-unreferenced variable, and the
 * frontend accepts one. Runs after the limit check, so declared memory still counts there.
 */
export function dropUnusedArrays(k: Kernel): Kernel {
  const touched = new Set<string>();
  const read = new Set<string>();
  forEachExpr(k.body, (e) => {
    if (e.k === 'load' || e.k === 'loadWord') read.add(e.buf);
  });
  forEachStmt(k.body, (s) => {
    for (const b of arraysOf(s)) read.add(b);
    if (s.k === 'store' || s.k === 'storePacked' || s.k === 'atomic') touched.add(s.buf);
  });
  const shared = k.shared.filter((s) => read.has(s.name) || touched.has(s.name));
  const dead = new Set<string>();
  forEachStmt(k.body, (s) => {
    if (s.k === 'localArray' && !read.has(s.name)) dead.add(s.name);
  });
  if (shared.length === k.shared.length && !dead.size) return k;
  const body = mapStmts(k.body, (e) => e, (s) => ((s.k === 'localArray' && dead.has(s.name)) || (s.k === 'store' && s.space === 'local' && dead.has(s.buf)) ? [] : s));
  return { ...k, shared, body };
}

/** Arrays a statement reads other than through a load expression (tile ops read their operands and accumulators). */
function arraysOf(s: Stmt): string[] {
  switch (s.k) {
    case 'mmaSync': return [s.acc];
    case 'mma': return [s.acc, s.a.buf, s.b.buf];
    case 'fragmentStore': return [s.acc, s.dst.buf];
    case 'fragmentAccumulate': return [s.acc, s.part, s.rowScale];
    case 'ldmatrix': return [s.buf];
    default: return [];
  }
}
