import type { Kernel, SizeExpr, Stmt } from '../ir/nodes.js';
import type { KernelFacts, LoweredKernel } from '../ir/lowered.js';
import { BYTES } from '../ir/types.js';
import { foldSize, sizeToString } from '../ir/size.js';
import { forEachStmt } from '../ir/walk.js';
import type { TargetCaps } from '../common/target.js';
import { CompileError } from '../common/errors.js';

/**
 * The last step of the pipeline: a specialised, lowered kernel becomes a LoweredKernel, its
 * sizes numbers (or an error naming the one that is not) and its facts computed once.
 */
export function finalise(k: Kernel, caps: TargetCaps): LoweredKernel {
  const num = (e: SizeExpr, what: string): number => {
    const f = foldSize(e, k.consts);
    if (f.k !== 'num') throw new CompileError(`${what} '${sizeToString(e)}' is not a compile-time constant`, k.loc, undefined, 'use only tunables, consts and literals', k.name);
    return f.v;
  };
  const wg = k.workgroup.map((w, i) => num(w, `workgroup size ${'xyz'[i]}`));
  const workgroup = [wg[0] ?? 1, wg[1] ?? 1, wg[2] ?? 1] as const;
  const shared = k.shared.map((s) => ({ ...s, size: num(s.size, `shared array '${s.name}' size`) }));
  const facts: KernelFacts = {
    threads: workgroup[0] * workgroup[1] * workgroup[2],
    sharedBytes: shared.reduce((a, s) => a + s.size * (caps.packNarrowTypes ? 4 : BYTES[s.dtype]), 0),
    ...bodyFacts(k.body, (s) => num(s.size, `local array '${s.name}' size`)),
  };
  const { workgroup: _w, shared: _s, ...rest } = k;
  return { ...rest, target: caps.name, workgroup, shared, facts };
}

function bodyFacts(body: readonly Stmt[], localSize: (s: Extract<Stmt, { k: 'localArray' }>) => number): Omit<KernelFacts, 'threads' | 'sharedBytes'> {
  const localSizes = new Map<string, number>();
  const atomics = new Set<string>();
  let subgroups = false;
  let tensorCores = false;
  forEachStmt(body, (s) => {
    if (s.k === 'localArray') localSizes.set(s.name, localSize(s));
    else if (s.k === 'atomic' || s.k === 'storePacked') atomics.add(s.buf);
    else if (s.k === 'subgroup') subgroups = true;
    else if (s.k === 'mmaSync') tensorCores = true;
  });
  return { localSizes, atomics, subgroups, tensorCores };
}
