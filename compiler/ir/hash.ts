import { createHash } from 'node:crypto';
import type { Kernel } from './nodes.js';
import { printKernel } from './printer.js';
import { COMPILER_VERSION } from '../version.js';

/**
 * Identity of a kernel's code for caches and tuning keys. The tunables' candidate lists
 * are left out: adding a candidate must not invalidate what was measured for the others
 * (Triton keys on its config list, and users complained that one new config retunes all).
 */
export const irHash = (k: Kernel): string =>
  createHash('sha256').update(COMPILER_VERSION).update(printKernel({ ...k, tunables: k.tunables.map((t) => ({ name: t.name, values: [] })) })).digest('hex').slice(0, 16);
