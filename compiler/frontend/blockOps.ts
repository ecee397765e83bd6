import { Node as N, type CallExpression, type Node } from 'ts-morph';
import type { BlockRef, Expr } from '../ir/nodes.js';
import { bin, i32 } from '../ir/build.js';
import type { Lowerer } from './lowering.js';
import { locOf } from './source.js';
import { coerce, requireInt } from './typing.js';
import { resolveRef } from './refs.js';
import { fields } from './copyOps.js';

/**
 * The block tile ops (dsl blockMma, blockMmaTransposedB, storeBlock, accumulateBlockScaled,
 * storeBlockGlobal, blockMap, blockMap2) as IR statements. Here: ranks, spaces and dtypes;
 * the sizes are compile-time but only known once the kernel is specialised, so
 * passes/blockTile.ts checks them.
 */
export const BLOCK_CALLS: ReadonlySet<string> = new Set(['blockMma', 'blockMmaTransposedB', 'storeBlock', 'accumulateBlockScaled', 'storeBlockGlobal', 'blockMap', 'blockMap2']);
const OPERAND_TYPES: ReadonlySet<string> = new Set(['bf16', 'f16', 'f32', 'fp8e4m3', 'fp8e5m2']);

export function lowerBlockCall(L: Lowerer, name: string, node: CallExpression, args: Node[]): void {
  const loc = locOf(node);
  const arity = (n: number, sig: string) => {
    if (args.length !== n) throw L.error(node, `${name}(${sig}) takes ${n} arguments, got ${args.length}`);
  };
  if (name === 'blockMma' || name === 'blockMmaTransposedB') {
    arity(3, 'acc, a, b');
    const acc = accumulatorOf(L, args[0], name);
    const a = blockRef(L, args[1], name, 'a');
    const b = blockRef(L, args[2], name, 'b');
    if (!OPERAND_TYPES.has(a.dtype)) throw L.error(args[1], `${name} operand a '${args[1].getText()}' is ${a.dtype}, expected one of ${[...OPERAND_TYPES].join(', ')}`);
    if (a.dtype !== b.dtype) throw L.error(node, `${name} operands differ in dtype: a is ${a.dtype}, b is ${b.dtype}`, 'stage both operands in the same type');
    L.emit({ k: 'blockMma', acc, a: a.ref, b: b.ref, bLayout: name === 'blockMma' ? 'kn' : 'nk', loc });
    return;
  }
  if (name === 'storeBlock') {
    arity(2, 'acc, dst');
    const acc = accumulatorOf(L, args[0], name);
    const dst = blockRef(L, args[1], name, 'dst');
    if (dst.dtype !== 'f32') throw L.error(args[1], `storeBlock dst '${args[1].getText()}' is ${dst.dtype}, expected an f32 shared array`);
    L.emit({ k: 'blockStore', acc, dst: dst.ref, loc });
    return;
  }
  if (name === 'storeBlockGlobal') {
    arity(3, 'acc, out, at');
    const acc = accumulatorOf(L, args[0], name);
    const out = resolveRef(L, args[1]);
    if (out?.kind !== 'buffer' || out.space !== 'global' || out.dims.length !== 2) {
      throw L.error(args[1], `storeBlockGlobal out '${args[1].getText()}' must be a 2-D tensor or view`, out?.kind === 'buffer' && out.dims.length > 2 ? `index it: ${args[1].getText()}[i]` : undefined);
    }
    if (!out.writable) throw L.error(args[1], `storeBlockGlobal out '${args[1].getText()}' is read-only`, 'declare it Out<...> or InOut<...>');
    if (out.dtype !== 'f32' && out.dtype !== 'bf16') throw L.error(args[1], `storeBlockGlobal out '${args[1].getText()}' is ${out.dtype}, expected f32 or bf16`);
    const [rows, cols] = [out.dims[0].e, out.dims[1].e];
    const offset: Expr = out.offset ? L.temp('off', bin('*', out.offset, bin('*', rows, cols)), args[1]) : i32(0);
    L.emit({ k: 'blockStoreGlobal', acc, out: out.buf, offset, stride: cols, ...fields(L, args[2], name), loc });
    return;
  }
  if (name === 'blockMap' || name === 'blockMap2') return lowerBlockMap(L, name, node, args);
  arity(4, 'acc, part, rowScale, scale');
  const acc = accumulatorOf(L, args[0], name);
  const part = accumulatorOf(L, args[1], name);
  if (acc === part) throw L.error(args[1], 'accumulateBlockScaled needs two different accumulators');
  const rows = resolveRef(L, args[2]);
  // [rows][1] is the same storage as [rows], and what copyTile (a pipelined loop's staging) fills.
  const column = (e: Expr) => e.k === 'const' && e.value === 1;
  if (rows?.kind !== 'buffer' || rows.space !== 'shared' || rows.offset || rows.dtype !== 'f32' || !(rows.dims.length === 1 || (rows.dims.length === 2 && column(rows.dims[1].e)))) {
    throw L.error(args[2], `accumulateBlockScaled rowScale '${args[2].getText()}' must be a whole f32 shared array of one value per row`, 'declare it as shared(f32, rows) or shared(f32, rows, 1)');
  }
  const scale = coerce(L, L.expr(args[3]), 'f32', args[3], 'accumulateBlockScaled scale');
  L.emit({ k: 'blockAccumulate', acc, part, rowScale: rows.buf, scale: L.temp('scale', scale, args[3]), loc });
}

/**
 * blockMap(acc, (x) => ...) / blockMap2(acc, other, (x, y) => ...): the callback is lowered
 * once, its parameters left as free variables that passes/blockTile.ts binds per element.
 */
function lowerBlockMap(L: Lowerer, name: string, node: CallExpression, args: Node[]): void {
  const n = name === 'blockMap' ? 1 : 2;
  const sig = n === 1 ? 'acc, (x) => ...' : 'acc, other, (x, y) => ...';
  if (args.length !== n + 1) throw L.error(node, `${name}(${sig}) takes ${n + 1} arguments, got ${args.length}`);
  const inputs = args.slice(0, n).map((a) => accumulatorOf(L, a, name));
  if (n === 2 && inputs[0] === inputs[1]) throw L.error(args[1], `${name} needs two different accumulators`, 'use blockMap for one');
  const fn = args[n];
  if (!N.isArrowFunction(fn) || N.isBlock(fn.getBody())) throw L.error(fn, `${name} takes an arrow function with an expression body`, n === 1 ? '(x) => ...' : '(x, y) => ...');
  const names = fn.getParameters().map((p) => p.getName());
  if (names.length !== n) throw L.error(fn, `${name}'s callback takes ${n} parameter${n === 1 ? '' : 's'}, got ${names.length}`);
  const params = names.map((p) => L.fresh(p));
  const result = L.fresh(`${name}_result`);
  const body = L.block(() => {
    names.forEach((p, i) => L.bind(p, { kind: 'var', name: params[i], type: 'f32', mutable: false }));
    const value = coerce(L, L.expr(fn.getBody()), 'f32', fn.getBody(), `${name} callback result`);
    L.emit({ k: 'let', name: result, type: 'f32', init: value, mutable: false, loc: locOf(fn) });
  });
  L.emit({ k: 'blockMap', acc: inputs[0], inputs, params, body, result, loc: locOf(node) });
}


function accumulatorOf(L: Lowerer, node: Node, op: string): string {
  const b = resolveRef(L, node);
  if (b?.kind !== 'blockAcc') throw L.error(node, `${op}: '${node.getText()}' is not a block accumulator`, 'declare one with const acc = blockAccumulator(rows, cols)');
  return b.name;
}

/** A 2-D shared array or view as a block operand: element offset of [0][0], row stride = its last extent. */
function blockRef(L: Lowerer, node: Node, op: string, what: string): { ref: BlockRef; dtype: string } {
  const b = resolveRef(L, node);
  if (b?.kind !== 'buffer' || b.space !== 'shared') throw L.error(node, `${op} ${what} '${node.getText()}' must be a shared array`, 'stage the tile in shared memory first');
  if (b.dims.length !== 2) throw L.error(node, `${op} ${what} '${node.getText()}' has rank ${b.dims.length}, expected a 2-D shared array or view`, b.dims.length > 2 ? `index it: ${node.getText()}[i]` : undefined);
  const [rows, cols] = [b.dims[0].e, b.dims[1].e];
  const offset: Expr = b.offset ? L.temp('off', bin('*', b.offset, bin('*', rows, cols)), node) : i32(0);
  return { ref: { buf: b.buf, offset, stride: cols, rows, cols }, dtype: b.dtype };
}

/** `const acc = blockAccumulator(rows, cols)`: compile-time sizes (checked once specialised). */
export function blockAccumulatorDecl(L: Lowerer, init: CallExpression, base: string): { kind: 'blockAcc'; name: string } {
  const args = init.getArguments();
  if (args.length !== 2) throw L.error(init, `blockAccumulator(rows, cols) takes 2 arguments, got ${args.length}`);
  const [rows, cols] = args.map((a, i) => {
    const e = requireInt(L, L.expr(a), a, `blockAccumulator ${i ? 'cols' : 'rows'}`);
    if (!isCompileTime(e)) throw L.error(a, `blockAccumulator ${i ? 'cols' : 'rows'} '${a.getText()}' must be a compile-time constant`, 'use a literal, a tunable or a const from the kernel config');
    return e;
  });
  const name = L.fresh(base);
  L.emit({ k: 'blockAcc', name, rows, cols, loc: locOf(init) });
  return { kind: 'blockAcc', name };
}

const isCompileTime = (e: Expr): boolean =>
  e.k === 'const' || e.k === 'sym' || (e.k === 'bin' && isCompileTime(e.a) && isCompileTime(e.b));
