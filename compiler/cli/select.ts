/**
 * Which kernels a CLI works on: the user's files (paths, folders, globs) or, with none,
 * the package's own ops; then --ops on their names. Loaded lazily by the CLIs: it brings
 * in the compiler's front end (ts-morph), which a usage error should not wait for.
 */
import picomatch from 'picomatch';
import type { Kernel } from '../ir/nodes.js';
import { loadKernels } from '../compile.js';
import { kernelFiles, loadKernelFiles } from '../files.js';
import { UsageError } from './args.js';

export function selectKernels(patterns: readonly string[], ops: string | undefined): Kernel[] {
  let all: Kernel[];
  if (patterns.length) {
    const { files, unmatched } = kernelFiles(patterns);
    if (unmatched.length) throw new UsageError(unmatched.map((u) => `'${u.pattern}': ${u.why}`).join('; '));
    all = loadKernelFiles(files);
    if (!all.length) throw new UsageError(`no kernel() declarations in ${patterns.join(' ')}`);
  } else all = loadKernels();
  if (ops === undefined) return all;
  const match = picomatch(ops);
  const kernels = all.filter((k) => match(k.name));
  if (!kernels.length) throw new UsageError(`--ops '${ops}' matches no kernel (have: ${all.map((k) => k.name).sort().join(', ')})`);
  return kernels;
}
