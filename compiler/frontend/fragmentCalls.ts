import { Node, type CallExpression, type ElementAccessExpression } from 'ts-morph';
import type { Expr } from '../ir/nodes.js';
import { FRAGMENT_ELEMS, ROW_LANE_MASKS, ROW_SLOTS, elemOfSlot, rowSlot } from '../ir/fragmentLayout.js';
import { i32 } from '../ir/build.js';
import type { Binding, Lowerer, Val } from './lowering.js';
import { dslName, locOf } from './source.js';
import { coerce } from './typing.js';
import { resolveRef } from './refs.js';

/**
 * The fragment ops for flash attention (dsl fragmentMap, rowMap, rowVector, fragmentRowMax,
 * fragmentRowSum, toOperand, mmaFragment). Maps are inlined per element with the element's
 * coordinates as ir fragmentCoord (the layout is the tile-op pass's choice); row vectors
 * and row reductions need only the layout facts of ir/fragmentLayout.ts, so they lower here
 * to locals and subgroup shuffles.
 */
export const FRAGMENT_DECLS: ReadonlySet<string> = new Set(['rowVector', 'fragmentRowMax', 'fragmentRowSum', 'toOperand']);
export const FRAGMENT_STMTS: ReadonlySet<string> = new Set(['fragmentMap', 'rowMap', 'mmaFragment']);

const local = (buf: string, index: number): Expr => ({ k: 'load', space: 'local', type: 'f32', buf, index: i32(index) });

/** The callback being inlined: its row parameter's name and the row slot of the current copy. */
interface RowContext { readonly L: Lowerer; readonly rowParam: string | undefined; readonly slot: number }
const contexts: RowContext[] = [];

export function lowerFragmentDecl(L: Lowerer, name: string, node: CallExpression, base: string): Binding {
  const args = node.getArguments();
  const loc = locOf(node);
  const arity = (n: number, sig: string) => {
    if (args.length !== n) throw L.error(node, `${name}(${sig}) takes ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`);
  };
  if (name === 'toOperand') {
    arity(2, 'acc, dtype');
    const acc = fragmentOf(L, args[0], name);
    const dt = Node.isIdentifier(args[1]) ? dslName(args[1]) : undefined;
    if (dt !== 'bf16' && dt !== 'f16') throw L.error(args[1], `toOperand dtype '${args[1].getText()}' must be bf16 or f16 (the m16n8k16 A operand types)`);
    const irName = L.fresh(base);
    L.emit({ k: 'fragmentOperand', name: irName, acc, dtype: dt, loc });
    return { kind: 'operand', name: irName, dtype: dt };
  }
  const irName = L.fresh(base);
  L.emit({ k: 'localArray', name: irName, type: 'f32', size: { k: 'num', v: ROW_SLOTS }, loc });
  const set = (slot: number, value: Expr) => L.emit({ k: 'store', space: 'local', buf: irName, index: i32(slot), value, loc });
  if (name === 'rowVector') {
    arity(1, 'init');
    const init = L.temp('init', coerce(L, L.expr(args[0]), 'f32', args[0], 'rowVector init'), args[0]);
    for (let s = 0; s < ROW_SLOTS; s++) set(s, init);
    return { kind: 'rowVector', name: irName };
  }
  arity(1, 'acc');
  const acc = fragmentOf(L, args[0], name);
  const combine = (a: Expr, b: Expr): Expr => (name === 'fragmentRowMax' ? { k: 'call', fn: 'max', type: 'f32', args: [a, b] } : { k: 'bin', op: '+', type: 'f32', a, b });
  for (let s = 0; s < ROW_SLOTS; s++) {
    const mine = Array.from({ length: FRAGMENT_ELEMS }, (_, j) => j).filter((j) => rowSlot(j) === s).map((j) => local(acc, j));
    let partial = L.temp(`${base}_part`, mine.reduce(combine), node);
    for (const mask of ROW_LANE_MASKS) {
      const other = L.fresh(`${base}_x`);
      L.emit({ k: 'subgroup', op: 'shuffleXor', result: other, type: 'f32', value: partial, laneMask: i32(mask), loc });
      partial = L.temp(`${base}_part`, combine(partial, { k: 'var', name: other, type: 'f32' }), node);
    }
    set(s, partial);
  }
  return { kind: 'rowVector', name: irName };
}

export function lowerFragmentStmt(L: Lowerer, name: string, node: CallExpression): void {
  const args = node.getArguments();
  const loc = locOf(node);
  if (name === 'mmaFragment') {
    if (args.length !== 5) throw L.error(node, `mmaFragment(acc, a, b, bOffset, bStride) takes 5 arguments, got ${args.length}`);
    const acc = fragmentOf(L, args[0], name);
    const a = resolveRef(L, args[1]);
    if (a?.kind !== 'operand') throw L.error(args[1], `mmaFragment a '${args[1].getText()}' is not a register operand`, 'make one with const p = toOperand(acc, bf16)');
    const b = resolveRef(L, args[2]);
    if (b?.kind !== 'buffer' || b.space !== 'shared' || b.offset) throw L.error(args[2], `mmaFragment b '${args[2].getText()}' must be a whole shared array`, 'pass the array and the element offset of the tile');
    if (b.dtype !== a.dtype) throw L.error(args[2], `mmaFragment b '${args[2].getText()}' is ${b.dtype}, expected ${a.dtype} like the operand '${args[1].getText()}'`);
    const offset = L.temp('off', coerce(L, L.expr(args[3]), 'i32', args[3], 'mmaFragment bOffset'), args[3]);
    const stride = coerce(L, L.expr(args[4]), 'i32', args[4], 'mmaFragment bStride');
    L.emit({ k: 'mmaFragment', acc, a: a.name, dtype: a.dtype, b: { buf: b.buf, offset, stride }, loc });
    return;
  }
  if (args.length !== 2) throw L.error(node, `${name}(${name === 'rowMap' ? 'rows' : 'acc'}, callback) takes 2 arguments, got ${args.length}`);
  const fn = args[1];
  if (!Node.isArrowFunction(fn) || Node.isBlock(fn.getBody())) {
    throw L.error(fn, `${name} takes an arrow function with an expression body`, name === 'rowMap' ? '(x, row) => ...' : '(x, row, col) => ...');
  }
  const params = fn.getParameters().map((p) => p.getName());
  const most = name === 'rowMap' ? 2 : 3;
  if (params.length === 0 || params.length > most) throw L.error(fn, `${name}'s callback takes 1 to ${most} parameters (${name === 'rowMap' ? 'x, row' : 'x, row, col'}), got ${params.length}`);
  const body = fn.getBody();
  // Each copy of the callback: (buffer, element, row slot, the element that gives its coordinates).
  const copies = name === 'rowMap'
    ? Array.from({ length: ROW_SLOTS }, (_, s) => ({ buf: rowVectorOf(L, args[0], name), index: s, slot: s, coordElem: elemOfSlot(s) }))
    : Array.from({ length: FRAGMENT_ELEMS }, (_, j) => ({ buf: fragmentOf(L, args[0], name), index: j, slot: rowSlot(j), coordElem: j }));
  for (const c of copies) {
    const stmts = L.block(() => {
      const param = (name: string, e: Expr) => {
        const ir = L.fresh(name);
        L.emit({ k: 'let', name: ir, type: e.type, init: e, mutable: false, loc: locOf(fn) });
        L.bind(name, { kind: 'var', name: ir, type: e.type, mutable: false });
      };
      param(params[0], local(c.buf, c.index));
      if (params.length > 1) param(params[1], { k: 'fragmentCoord', type: 'i32', axis: 'row', elem: c.coordElem, loc: locOf(fn) });
      if (params.length > 2) param(params[2], { k: 'fragmentCoord', type: 'i32', axis: 'col', elem: c.coordElem, loc: locOf(fn) });
      contexts.push({ L, rowParam: params[1], slot: c.slot });
      try {
        const value = coerce(L, L.expr(body), 'f32', body, `${name} callback result`);
        L.emit({ k: 'store', space: 'local', buf: c.buf, index: i32(c.index), value, loc });
      } finally {
        contexts.pop();
      }
    });
    for (const s of stmts) L.emit(s);
  }
}

/**
 * `m[row]` for a row vector m inside a fragmentMap/rowMap callback: m's value at the current
 * element's row. Undefined when `node` does not index a row vector.
 */
export function rowVectorElement(L: Lowerer, node: ElementAccessExpression): Val | undefined {
  // Row vectors are only ever names; resolving anything else here would lower its indices twice.
  const base = node.getExpression();
  const b = Node.isIdentifier(base) ? L.lookup(base.getText()) : undefined;
  if (b?.kind !== 'rowVector') return undefined;
  const ctx = contexts[contexts.length - 1];
  const idx = node.getArgumentExpressionOrThrow();
  if (!ctx || ctx.L !== L || !ctx.rowParam || !Node.isIdentifier(idx) || idx.getText() !== ctx.rowParam) {
    throw L.error(node, `row vector '${node.getExpression().getText()}' is indexed by '${idx.getText()}', expected the row parameter of an enclosing fragmentMap/rowMap callback`,
      'read it as m[row] inside fragmentMap(acc, (x, row, col) => ...) or rowMap(m, (x, row) => ...)');
  }
  return { e: { ...local(b.name, ctx.slot), loc: locOf(node) } };
}

function fragmentOf(L: Lowerer, node: Node, op: string): string {
  const b = resolveRef(L, node);
  if (b?.kind !== 'fragment') throw L.error(node, `${op}: '${node.getText()}' is not a fragment`, 'declare one with const acc = fragment()');
  return b.name;
}

function rowVectorOf(L: Lowerer, node: Node, op: string): string {
  const b = resolveRef(L, node);
  if (b?.kind !== 'rowVector') throw L.error(node, `${op}: '${node.getText()}' is not a row vector`, 'declare one with const m = rowVector(init) or fragmentRowMax(acc)');
  return b.name;
}
