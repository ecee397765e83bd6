import {
  barrier, localIndex, max, min, subgroupAdd, subgroupLane, subgroupMax, subgroupShuffleXor, subgroupSize, type f32, type i32, type Shared,
} from '../../compiler/dsl/index.js';

/**
 * Reduction of `value` over each aligned run of `seg` consecutive threads of a `threads`-thread
 * workgroup (both powers of two, seg dividing threads), returned to every thread of the run: the
 * maximum when `takeMax` (a compile-time constant at every call), else the sum.
 *
 * Subgroups do the work, for any power-of-two subgroup size of at least 2 the device picks (WebGPU
 * guarantees 4..128, CUDA warps are 32; 1 would never shrink a run): a run that fits in
 * a subgroup is a butterfly of shuffles (no barrier, no scratch); a longer one leaves one partial
 * per subgroup in `scratch` (at least `threads` floats), which subgroups reduce again until a
 * subgroup's worth per run is left. In that last round every subgroup reduces its own run's
 * partials itself, so nothing is broadcast: with 32-lane subgroups a run of up to 1024 threads
 * takes two barriers (a shared-memory tree takes log2(seg) + 1). Subgroups are taken to be
 * consecutive runs of localIndex, as CUDA warps and the interpreter's are and WebGPU devices lay
 * them out (dsl-features.test.ts checks the lane numbering). `scratch` may be reused after the call.
 */
function reduceRuns(scratch: Shared<f32>, value: f32, seg: i32, threads: i32, takeMax: boolean): f32 {
  let x = value;
  let run = seg; // values per run still to combine: the threads' own, then partials in scratch
  let live = threads; // values at this level, in threads (or slots) 0..live-1
  while (run > subgroupSize) {
    if (takeMax) x = subgroupMax(x);
    else x = subgroupAdd(x);
    if (subgroupLane === 0) scratch[localIndex / subgroupSize] = x;
    barrier();
    run = run / subgroupSize;
    live = live / subgroupSize;
    // Thread i takes partial i while more than a subgroup's worth per run is left (threads past
    // the live ones re-read the last, and their results land past the live slots); in the last
    // round each lane takes one of its own run's partials, each subgroupSize / run times.
    x = run > subgroupSize ? scratch[min(localIndex, live - 1)] : scratch[(localIndex / seg) * run + subgroupLane % run];
    barrier();
  }
  for (let m = run / 2; m > 0; m = m / 2) {
    const y = subgroupShuffleXor(x, m);
    x = takeMax ? max(x, y) : x + y;
  }
  return x;
}

/** Sum of `value` over the workgroup of `size` threads, to every thread (see reduceRuns). */
export function workgroupSum(scratch: Shared<f32>, value: f32, size: i32): f32 {
  return reduceRuns(scratch, value, size, size, false);
}

/** Maximum of `value` over the workgroup of `size` threads, to every thread; NaN if any is (see reduceRuns). */
export function workgroupMax(scratch: Shared<f32>, value: f32, size: i32): f32 {
  return reduceRuns(scratch, value, size, size, true);
}

/** Maximum of `value` over each aligned run of `seg` of the workgroup's `threads` threads (see reduceRuns). */
export function runMax(scratch: Shared<f32>, value: f32, seg: i32, threads: i32): f32 {
  return reduceRuns(scratch, value, seg, threads, true);
}
