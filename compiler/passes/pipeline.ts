import type { Kernel } from '../ir/nodes.js';
import type { LoweredKernel } from '../ir/lowered.js';
import { finalise } from './finalise.js';
import { verifyKernel } from '../ir/verifier.js';
import { specialise, type TunableChoice } from './specialise.js';
import { foldConstants } from './fold.js';
import { propagateConstants, eliminateDeadCode } from './dce.js';
import { unrollLoops } from './unroll.js';
import { lowerTileOps } from './tileOps.js';
import { lowerBlockTiles } from './blockTile.js';
import { addProxyFences, perArchBranch, splitForWgmma } from './wgmmaTile.js';
import { legalisePackedStorage } from './legaliseStorage.js';
import { lowerTileCopies } from './copyTile.js';
import { lowerSoftwarePipelines } from './softwarePipeline.js';
import { checkLimits } from './limits.js';
import { assignSharedOffsets } from './sharedReuse.js';
import { foldLargeGrid } from './foldGrid.js';
import { dropUnusedArrays } from './unusedArrays.js';
import { checkUniformity } from './uniformity.js';
import { checkSizes } from './sizeChecks.js';
import { CAPS, type TargetName } from '../common/target.js';
import { forTarget } from '../ir/tunables.js';

/** The pass pipeline from frontend IR to what a target renders (or the interpreter runs). */
export function lowerForTarget(k: Kernel, target: TargetName, choice: TunableChoice = {}): LoweredKernel {
  const caps = CAPS[target];
  // Each target specialises from its own candidates (defaults); the IR is otherwise the same.
  const specialised = specialise(forTarget(k, target), choice);
  checkSizes(k, specialised.consts);
  let x = propagateConstants(foldConstants(specialised));
  // The interpreter runs divergent barriers to report the threads involved; targets never see them.
  if (caps.name !== 'interp') checkUniformity(x);
  // CUDA: eligible block MMAs get an sm_90a wgmma copy of the body; each branch lowers its own block tiles.
  x = perArchBranch(splitForWgmma(x, caps), (b) => lowerBlockTiles(lowerTileOps(b, caps.tensorCores), caps.tensorCores));
  x = propagateConstants(foldConstants(unrollLoops(x, { keepRolled: caps.name !== 'cuda' })));
  x = eliminateDeadCode(x);
  if (caps.maxWorkgroupsPerDimension) x = foldLargeGrid(x, caps.maxWorkgroupsPerDimension);
  if (caps.packNarrowTypes) x = legalisePackedStorage(x);
  // After packing, so each copy path sees the storage it moves; DCE drops the copies' spent temporaries.
  x = eliminateDeadCode(addProxyFences(lowerTileCopies(lowerSoftwarePipelines(x, caps), caps)));
  verifyKernel(x);
  const lowered = assignSharedOffsets(finalise(dropUnusedArrays(x), caps), caps);
  checkLimits(lowered, caps);
  return lowered;
}
