import type { BlockRef, Expr, IndexBound, Stmt, TileRef } from './nodes.js';

/** Rebuilds an expression bottom-up, applying `f` to every node after its children. */
export function mapExpr(e: Expr, f: (e: Expr) => Expr): Expr {
  switch (e.k) {
    case 'bin': return f({ ...e, a: mapExpr(e.a, f), b: mapExpr(e.b, f) });
    case 'un': case 'cast': case 'bitcast': return f({ ...e, a: mapExpr(e.a, f) });
    case 'call': return f({ ...e, args: e.args.map((x) => mapExpr(x, f)) });
    case 'select': return f({ ...e, cond: mapExpr(e.cond, f), a: mapExpr(e.a, f), b: mapExpr(e.b, f) });
    case 'load': return f({ ...e, index: mapExpr(e.index, f), ...(e.bounds ? { bounds: mapBounds(e.bounds, f) } : {}) });
    case 'loadWord': return f({ ...e, index: mapExpr(e.index, f) });
    default: return f(e);
  }
}

const mapBounds = (bounds: readonly IndexBound[], f: (e: Expr) => Expr): IndexBound[] =>
  bounds.map((b) => ({ ...b, index: mapExpr(b.index, f), extent: mapExpr(b.extent, f) }));

/**
 * Rebuilds statements: `expr` maps every expression (bottom-up), then `stmt` may
 * replace each rebuilt statement by zero or more statements.
 */
export function mapStmts(stmts: readonly Stmt[], expr: (e: Expr) => Expr, stmt: (s: Stmt) => Stmt | readonly Stmt[] = (s) => s): Stmt[] {
  const me = (e: Expr) => mapExpr(e, expr);
  const tile = (t: TileRef): TileRef => ({ ...t, offset: me(t.offset), stride: me(t.stride) });
  const block = (t: BlockRef): BlockRef => ({ ...t, offset: me(t.offset), stride: me(t.stride), rows: me(t.rows), cols: me(t.cols) });
  const out: Stmt[] = [];
  for (const s of stmts) {
    let r: Stmt;
    switch (s.k) {
      case 'let': r = { ...s, init: me(s.init) }; break;
      case 'assign': r = { ...s, value: me(s.value) }; break;
      case 'store': r = { ...s, index: me(s.index), value: me(s.value), ...(s.bounds ? { bounds: mapBounds(s.bounds, expr) } : {}) }; break;
      case 'storePacked': r = { ...s, word: me(s.word), shift: me(s.shift), bits: me(s.bits) }; break;
      case 'if': r = { ...s, cond: me(s.cond), then: mapStmts(s.then, expr, stmt), else: mapStmts(s.else, expr, stmt) }; break;
      case 'for': r = { ...s, init: mapStmts(s.init, expr, stmt), cond: me(s.cond), update: mapStmts(s.update, expr, stmt), body: mapStmts(s.body, expr, stmt) }; break;
      case 'atomic': r = { ...s, index: me(s.index), value: me(s.value) }; break;
      case 'subgroup': r = { ...s, value: me(s.value), laneMask: s.laneMask && me(s.laneMask) }; break;
      case 'mma': r = { ...s, a: tile(s.a), b: tile(s.b) }; break;
      case 'mmaFragment': r = { ...s, b: tile(s.b) }; break;
      case 'fragmentStore': r = { ...s, dst: tile(s.dst) }; break;
      case 'fragmentAccumulate': r = { ...s, rowOffset: me(s.rowOffset), scale: me(s.scale) }; break;
      case 'mmaSync': r = { ...s, a: s.a.map(me), b: s.b.map(me) }; break;
      case 'blockAcc': r = { ...s, rows: me(s.rows), cols: me(s.cols) }; break;
      case 'blockMma': r = { ...s, a: block(s.a), b: block(s.b) }; break;
      case 'blockStore': r = { ...s, dst: block(s.dst) }; break;
      case 'blockAccumulate': r = { ...s, scale: me(s.scale) }; break;
      case 'blockStoreGlobal': r = { ...s, offset: me(s.offset), stride: me(s.stride), r0: me(s.r0), c0: me(s.c0), rows: me(s.rows), cols: me(s.cols) }; break;
      case 'blockMap': r = { ...s, body: mapStmts(s.body, expr, stmt) }; break;
      case 'ldmatrix': r = { ...s, rowIndex: me(s.rowIndex) }; break;
      case 'tileCopy': r = { ...s, dstOffset: me(s.dstOffset), tileRows: me(s.tileRows), tileCols: me(s.tileCols), srcOffset: me(s.srcOffset), srcStride: me(s.srcStride), r0: me(s.r0), c0: me(s.c0), rows: me(s.rows), cols: me(s.cols) }; break;
      case 'asyncCopy': r = { ...s, dstIndex: me(s.dstIndex), srcIndex: me(s.srcIndex), srcBytes: me(s.srcBytes) }; break;
      case 'pipelined': r = { ...s, start: me(s.start), end: me(s.end), step: me(s.step), stages: me(s.stages), body: mapStmts(s.body, expr, stmt) }; break;
      case 'archSwitch': r = { ...s, sm90a: mapStmts(s.sm90a, expr, stmt), other: mapStmts(s.other, expr, stmt) }; break;
      case 'wgmma': r = { ...s, a: { ...s.a, index: me(s.a.index) }, b: { ...s.b, index: me(s.b.index) } }; break;
      default: r = s;
    }
    const res = stmt(r);
    if (Array.isArray(res)) out.push(...(res as Stmt[]));
    else out.push(res as Stmt);
  }
  return out;
}

/** Visits every expression of every statement (children before parents not guaranteed). */
export function forEachExpr(stmts: readonly Stmt[], f: (e: Expr) => void): void {
  mapStmts(stmts, (e) => {
    f(e);
    return e;
  });
}

export function forEachStmt(stmts: readonly Stmt[], f: (s: Stmt) => void): void {
  for (const s of stmts) {
    f(s);
    if (s.k === 'if') {
      forEachStmt(s.then, f);
      forEachStmt(s.else, f);
    } else if (s.k === 'for') {
      forEachStmt(s.init, f);
      forEachStmt(s.update, f);
      forEachStmt(s.body, f);
    } else if (s.k === 'pipelined' || s.k === 'blockMap') {
      forEachStmt(s.body, f);
    } else if (s.k === 'archSwitch') {
      forEachStmt(s.sm90a, f);
      forEachStmt(s.other, f);
    }
  }
}

/**
 * Rebuilds every statement list, innermost first: `f` gets each list (the top one last)
 * with its nested lists already rebuilt, for rewrites that look at neighbouring statements.
 */
export function mapStmtLists(stmts: readonly Stmt[], f: (list: readonly Stmt[]) => Stmt[]): Stmt[] {
  const inner = (list: readonly Stmt[]) => mapStmtLists(list, f);
  return f(stmts.map((s): Stmt => {
    switch (s.k) {
      case 'if': return { ...s, then: inner(s.then), else: inner(s.else) };
      case 'for': return { ...s, init: inner(s.init), update: inner(s.update), body: inner(s.body) };
      case 'pipelined': case 'blockMap': return { ...s, body: inner(s.body) };
      case 'archSwitch': return { ...s, sm90a: inner(s.sm90a), other: inner(s.other) };
      default: return s;
    }
  }));
}
