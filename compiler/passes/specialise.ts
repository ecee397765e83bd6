import type { Expr, Kernel, SizeExpr } from '../ir/nodes.js';
import { mapStmts } from '../ir/walk.js';
import { evalSize, foldSize, sizeToString } from '../ir/size.js';
import { CompileError } from '../common/errors.js';

/** Tunable values for one kernel variant; missing names take their default (first candidate). */
export type TunableChoice = Readonly<Record<string, number>>;

export function defaultChoice(k: Kernel): Record<string, number> {
  return Object.fromEntries(k.tunables.map((t) => [t.name, t.values[0]]));
}

/**
 * Fixes every tunable and const to a number: body symbols become constants, workgroup and
 * shared sizes become plain numbers, the grid keeps only runtime shape symbols.
 */
export function specialise(k: Kernel, choice: TunableChoice = {}): Kernel {
  for (const name of Object.keys(choice)) {
    if (!k.tunables.some((t) => t.name === name)) throw new CompileError(`unknown tunable '${name}' (has: ${k.tunables.map((t) => t.name).join(', ') || 'none'})`, k.loc, undefined, undefined, k.name);
  }
  const env: Record<string, number> = { ...k.consts, ...defaultChoice(k), ...choice };
  for (const c of k.constraints) {
    if (evalSize(c.expr, env) <= 0) {
      const values = k.tunables.map((t) => `${t.name}=${env[t.name]}`).join(', ');
      throw new CompileError(`tunables ${values} violate constraint '${c.text}'`, k.loc, undefined, 'pick values that satisfy the kernel constraints', k.name);
    }
  }
  const num = (e: SizeExpr, what: string): SizeExpr => {
    const f = foldSize(e, env);
    if (f.k !== 'num') throw new CompileError(`${what} '${sizeToString(e)}' must be a compile-time constant`, k.loc, undefined, 'use only tunables, consts and literals', k.name);
    return f;
  };
  const body = mapStmts(
    k.body,
    (e): Expr => (e.k === 'sym' ? { k: 'const', type: e.type, value: env[e.name], loc: e.loc } : e),
    (s) => (s.k === 'localArray' ? { ...s, size: num(s.size, `local array '${s.name}' size`) } : s),
  );
  return {
    ...k,
    tensors: k.tensors.map((t) => ({ ...t, shape: t.shape.map((d) => foldSize(d, env)) })),
    consts: env,
    constraints: [],
    workgroup: k.workgroup.map((w) => num(w, 'workgroup size')),
    grid: k.grid.map((g) => foldSize(g, env)),
    shared: k.shared.map((s) => ({ ...s, size: num(s.size, `shared array '${s.name}' size`) })),
    body,
  };
}
