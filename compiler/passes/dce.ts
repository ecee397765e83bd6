import type { Expr, Kernel, Stmt } from '../ir/nodes.js';
import { forEachExpr, forEachStmt, mapStmts } from '../ir/walk.js';
import { foldExpr } from './fold.js';

/**
 * Replaces reads of immutable variables bound to constants, uniforms or other immutable
 * variables by what they are bound to (copies made by inlining and unrolling).
 */
export function propagateConstants(k: Kernel): Kernel {
  // Each round can turn more declarations into constants (folding `BM / 16` once BM is known).
  for (let round = 0; round < 32; round++) {
    const next = propagateOnce(k);
    if (next === k) return k;
    k = next;
  }
  return k;
}

function propagateOnce(k: Kernel): Kernel {
  const known = new Map<string, Expr>();
  const immutable = new Set<string>();
  forEachStmt(k.body, (s) => {
    if (s.k === 'let' && !s.mutable) immutable.add(s.name);
  });
  forEachStmt(k.body, (s) => {
    if (s.k !== 'let' || s.mutable) return;
    const i = s.init;
    if (i.k === 'const' || i.k === 'uniform') known.set(s.name, i);
    if (i.k === 'var' && immutable.has(i.name)) known.set(s.name, known.get(i.name) ?? i);
  });
  let changed = false;
  const body = mapStmts(k.body, (e) => {
    const c = e.k === 'var' ? known.get(e.name) : undefined;
    if (c) changed = true;
    return c ? { ...c, loc: e.loc } : foldExpr(e);
  });
  return changed ? { ...k, body } : k;
}

/** Removes unused pure declarations and code after return/break/continue, to a fixed point. */
export function eliminateDeadCode(k: Kernel): Kernel {
  let body = k.body;
  for (;;) {
    const used = new Set<string>();
    forEachExpr(body, (e) => {
      if (e.k === 'var') used.add(e.name);
    });
    let changed = false;
    const prune = (stmts: readonly Stmt[]): Stmt[] => {
      const out: Stmt[] = [];
      for (const [i, s] of stmts.entries()) {
        if (s.k === 'let' && !used.has(s.name)) {
          changed = true;
          continue;
        }
        if (s.k === 'assign' && !used.has(s.name)) {
          changed = true;
          continue;
        }
        if (s.k === 'if') out.push({ ...s, then: prune(s.then), else: prune(s.else) });
        else if (s.k === 'archSwitch') out.push({ ...s, sm90a: prune(s.sm90a), other: prune(s.other) });
        else if (s.k === 'for') out.push({ ...s, init: prune(s.init), body: prune(s.body) });
        else out.push(s);
        if (s.k === 'return' || s.k === 'break' || s.k === 'continue') {
          if (i < stmts.length - 1) changed = true;
          break;
        }
      }
      return out;
    };
    const next = prune(body);
    body = next;
    if (!changed) return { ...k, body };
  }
}
