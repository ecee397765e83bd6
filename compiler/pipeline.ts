import type { Kernel } from './ir/nodes.js';
import { verifyKernel } from './ir/verifier.js';
import { specialise, type TunableChoice } from './passes/specialise.js';
import { foldConstants } from './passes/fold.js';
import { propagateConstants, eliminateDeadCode } from './passes/dce.js';
import { unrollLoops } from './passes/unroll.js';
import { lowerTileOps } from './passes/tileOps.js';
import { legalisePackedStorage } from './passes/legaliseStorage.js';
import { checkLimits } from './passes/limits.js';
import { foldLargeGrid } from './passes/foldGrid.js';
import { dropUnusedArrays } from './passes/unusedArrays.js';
import { checkUniformity } from './passes/uniformity.js';
import { checkSizes } from './passes/sizeChecks.js';
import { CAPS, type TargetName } from './target.js';

/** The pass pipeline from frontend IR to what a target renders (or the interpreter runs). */
export function lowerForTarget(k: Kernel, target: TargetName, choice: TunableChoice = {}): Kernel {
  const caps = CAPS[target];
  const specialised = specialise(k, choice);
  checkSizes(k, specialised.consts);
  let x = propagateConstants(foldConstants(specialised));
  // The interpreter runs divergent barriers to report the threads involved; targets never see them.
  if (caps.name !== 'interp') checkUniformity(x);
  x = lowerTileOps(x, caps.tensorCores);
  x = propagateConstants(foldConstants(unrollLoops(x)));
  x = eliminateDeadCode(x);
  if (caps.maxWorkgroupsPerDimension) x = foldLargeGrid(x, caps.maxWorkgroupsPerDimension);
  if (caps.packNarrowTypes) x = legalisePackedStorage(x);
  verifyKernel(x);
  checkLimits(x, caps);
  return dropUnusedArrays(x);
}
