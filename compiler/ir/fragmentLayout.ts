/**
 * What the frontend may assume about a warp fragment's per-thread storage, whichever layout
 * passes/tileOps.ts picks (mma.sync's or the portable one): each thread holds 8 f32 of the
 * 16x16 tile in 2 rows (a "row slot" each), element j in slot (j >> 1) & 1, and the 4 lanes
 * holding the rest of those rows are the ones that differ from it in lane bits 0 and 1.
 * Row reductions and row vectors (dsl fragmentRowMax, rowMap) are lowered on these facts
 * alone; element coordinates stay layout-specific (ir fragmentCoord).
 */
export const FRAGMENT_ELEMS = 8;
export const ROW_SLOTS = 2;
export const rowSlot = (elem: number): number => (elem >> 1) & 1;
/** subgroupShuffleXor masks that visit the other lanes sharing a thread's rows. */
export const ROW_LANE_MASKS: readonly number[] = [1, 2];
/** An element in row slot s, for coordinates of a row (rowMap). */
export const elemOfSlot = (slot: number): number => 2 * slot;
