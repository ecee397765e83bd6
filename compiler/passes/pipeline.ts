import type { Kernel } from '../ir/nodes.js';
import type { LoweredKernel } from '../ir/lowered.js';
import { finalise } from './finalise.js';
import { verifyKernel } from '../ir/verifier.js';
import { specialise, type TunableChoice } from './specialise.js';
import { foldConstants } from './fold.js';
import { propagateConstants, eliminateDeadCode } from './dce.js';
import { unrollLoops } from './unroll.js';
import { lowerTileOps } from './tileOps.js';
import { legalisePackedStorage } from './legaliseStorage.js';
import { checkLimits } from './limits.js';
import { foldLargeGrid } from './foldGrid.js';
import { dropUnusedArrays } from './unusedArrays.js';
import { checkUniformity } from './uniformity.js';
import { checkSizes } from './sizeChecks.js';
import { CAPS, type TargetName } from '../common/target.js';

/** The pass pipeline from frontend IR to what a target renders (or the interpreter runs). */
export function lowerForTarget(k: Kernel, target: TargetName, choice: TunableChoice = {}): LoweredKernel {
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
  const lowered = finalise(dropUnusedArrays(x), caps);
  checkLimits(lowered, caps);
  return lowered;
}
