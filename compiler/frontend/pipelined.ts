import { Node, type ForOfStatement } from 'ts-morph';
import type { Expr } from '../ir/nodes.js';
import type { Lowerer } from './lowering.js';
import { dslName, locOf } from './source.js';
import { requireInt } from './typing.js';

/** `for (const k of pipelined(...))`: the one for-of kernels may write. */
export function isPipelined(node: ForOfStatement): boolean {
  const e = node.getExpression();
  return Node.isCallExpression(e) && Node.isIdentifier(e.getExpression()) && dslName(e.getExpression()) === 'pipelined';
}

const isCompileTime = (e: Expr): boolean =>
  e.k === 'const' || e.k === 'sym' || (e.k === 'bin' && isCompileTime(e.a) && isCompileTime(e.b));

/**
 * The IR `pipelined` loop. Its structure (copies first, no barriers, one level) is checked
 * by passes/softwarePipeline.ts once helpers are inlined and the stage count is known.
 */
export function lowerPipelined(L: Lowerer, node: ForOfStatement, lowerBody: () => void): void {
  const call = node.getExpression();
  if (!Node.isCallExpression(call)) throw L.error(node, 'expected pipelined(start, end, step, stages)');
  const args = call.getArguments();
  if (args.length !== 4) throw L.error(call, `pipelined(start, end, step, stages) takes 4 arguments, got ${args.length}`);
  const [start, end, step, stages] = args.map((a, i) => requireInt(L, L.expr(a), a, `pipelined ${['start', 'end', 'step', 'stages'][i]}`));
  if (!isCompileTime(stages)) throw L.error(args[3], `pipelined stages '${args[3].getText()}' must be a compile-time constant`, 'use a literal, a tunable or a const');
  const init = node.getInitializer();
  const decl = Node.isVariableDeclarationList(init) ? init.getDeclarations() : [];
  if (decl.length !== 1 || !Node.isIdentifier(decl[0].getNameNode()) || init.getText().trim().startsWith('let')) {
    throw L.error(init, 'pipelined loops declare one counter: for (const k of pipelined(...))');
  }
  const name = decl[0].getName();
  const index = L.fresh(name);
  L.loopDepth++;
  const body = L.block(() => {
    L.bind(name, { kind: 'var', name: index, type: 'i32', mutable: false });
    lowerBody();
  });
  L.loopDepth--;
  L.emit({ k: 'pipelined', index, start, end, step, stages, body, loc: locOf(node) });
}
