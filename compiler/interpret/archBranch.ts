import type { Stmt } from '../ir/nodes.js';
import type { LoweredKernel } from '../ir/lowered.js';
import { forEachStmt, mapStmts } from '../ir/walk.js';

/** Which branch of an archSwitch (passes/wgmmaTile.ts) a run takes: generated CUDA decides with the preprocessor. */
export type InterpArch = 'sm90a' | 'other';

const picked = new WeakMap<LoweredKernel, Partial<Record<InterpArch, LoweredKernel>>>();

/** The kernel with every archSwitch replaced by `arch`'s branch (the kernel itself when it has none); cached. */
export function pickArchBranch(k: LoweredKernel, arch: InterpArch): LoweredKernel {
  let m = picked.get(k);
  if (!m) picked.set(k, (m = {}));
  return (m[arch] ??= select(k, arch));
}

function select(k: LoweredKernel, arch: InterpArch): LoweredKernel {
  let any = false;
  forEachStmt(k.body, (s) => {
    any ||= s.k === 'archSwitch';
  });
  if (!any) return k;
  // An always-taken if: the branch's declarations stay in their own scope, as CUDA's braces keep them.
  const body = mapStmts(k.body, (e) => e, (s): Stmt => (s.k === 'archSwitch' ? { k: 'if', cond: { k: 'const', type: 'bool', value: true }, then: arch === 'sm90a' ? s.sm90a : s.other, else: [], loc: s.loc } : s));
  return { ...k, body };
}
