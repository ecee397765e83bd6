import {
  exp, f32, i32, local, localIndex, max, min, shared, u32, F32_MAX, type Local, type Shared, type Tensor,
} from '../../compiler/dsl/index.js';
import { workgroupMax, workgroupSum } from '../common/reduce.js';
import { workgroupSumLanes } from './lanes.js';
import { rankKey } from './rank.js';

/**
 * The filtered distribution of sample_token and verify_sample, in vLLM/SGLang order:
 * temperature, then top-k, then top-p on the renormalised top-k distribution. One
 * workgroup owns one row of V logits and never sorts it.
 *
 * A *cut* (cutKey, cutId) is a position in the token order (value desc, id asc): a token
 * is kept iff it ranks at or above it, i.e. rankKey(x) > cutKey, or rankKey(x) == cutKey
 * and id <= cutId. Slot 0 of cutKey/cutId holds the top-k cut, slot 1 the top-p cut; the
 * cut (0, V - 1) keeps everything. A cut is found by bisection with workgroup sums:
 *   F(key) = weight of tokens with rankKey >= key is non-increasing, so the largest key
 *     with F(key) >= target is built bit by bit in 32 passes (the boundary token's value);
 *   among the tokens tied at that value, the smallest id with weight(at or above
 *     (key, id)) >= target is bisected between the lowest and highest tied id (no pass
 *     at all when one token has that value, the usual case).
 * Weights are counts for top-k (exact in f32 below 2^24 tokens) and the unnormalised
 * probabilities exp((x - max) / T) of the top-k tokens for top-p. Every F is the same
 * loop over the same tokens in the same order, so F(0) is bit for bit the total the
 * target was computed from, and dropping tokens never increases a sum: the bisection's
 * invariants hold in f32, not only in exact arithmetic.
 *
 * `active` = false skips every pass over memory but keeps every barrier (the verify
 * loop runs on after a rejection: WGSL wants barriers in uniform control flow).
 */

/** The sampling parameters and the workgroup size: members of sample_token's and verify_sample's context. */
export type Filter = { V: i32; temperature: f32; top_k: i32; top_p: f32; WG: i32 };
/** The two cuts of a row, per thread (every thread holds the same). */
export type Cuts = { cutKey: Local<u32>; cutId: Local<i32> };
/** The cuts plus the workgroup scratch of the reductions (8 * WG floats) and of a draw's pick. */
export type Workspace = { cutKey: Local<u32>; cutId: Local<i32>; red: Shared<f32>; pick: Shared<i32> };
/** Eight candidate cuts (keys[d], ids[d]) asked about in one pass, and their weights. */
type Lanes = { keys: Local<u32>; ids: Local<i32>; sums: Local<f32> };
/** What a bisection weighs: token counts, or with `byMass` the weights (row max m) of the tokens the top-k cut keeps. */
type Weighing = { m: f32; byMass: boolean };
/** A cut to find: `amount` tokens (or of the mass, with byMass), into slot `slot` of the cuts. */
type Cut = { m: f32; byMass: boolean; amount: f32; slot: i32 };

/** Declares a row's cuts and scratch; call it once per kernel. */
export function filterWorkspace(cfg: { WG: i32 }): Workspace {
  const cutKey = local(u32, 2);
  const cutId = local(i32, 2);
  const red = shared(f32, 8 * cfg.WG);
  const pick = shared(i32, 1);
  return { cutKey, cutId, red, pick };
}

/** exp((x - m) / T): the token's unnormalised probability at temperature T (the row max weighs 1). */
export function weight(x: f32, m: f32, temperature: f32): f32 {
  return exp((x - m) / temperature);
}

/** Whether a token (key, id) ranks at or above the cut (cutKey, cutId). */
export function atOrAbove(key: u32, id: i32, cutKey: u32, cutId: i32): boolean {
  return key > cutKey || (key === cutKey && id <= cutId);
}

/** The token's weight in the filtered distribution (0 outside both cuts, or when it is `exclude`). */
export function keptWeight(x: f32, id: i32, m: f32, c: { temperature: f32 }, cuts: Cuts, exclude: i32): f32 {
  const key = rankKey(x);
  const kept = atOrAbove(key, id, cuts.cutKey[0], cuts.cutId[0]) && atOrAbove(key, id, cuts.cutKey[1], cuts.cutId[1]) && id !== exclude;
  return kept ? weight(x, m, c.temperature) : 0.0;
}

/** Declares the eight lanes of a bisection pass. */
function cutLanes(): Lanes {
  const keys = local(u32, 8);
  const ids = local(i32, 8);
  const sums = local(f32, 8);
  return { keys, ids, sums };
}

/**
 * The weights of the tokens at or above each of the 8 lanes' cuts in one pass over the
 * row, into lanes.sums (every thread gets them): one pass answers seven bisection
 * questions. A token weighs 1, or with `byMass` its weight if the top-k cut keeps it.
 */
function massAtCuts(row: Tensor<f32, ['V']>, c: Filter, ws: Workspace, lanes: Lanes, by: Weighing, active: boolean): void {
  for (let d = 0; d < 8; d++) lanes.sums[d] = 0.0;
  if (active) {
    for (let v = localIndex; v < c.V; v += c.WG) {
      const x = row[v];
      const k = rankKey(x);
      const w = !by.byMass ? 1.0 : atOrAbove(k, v, ws.cutKey[0], ws.cutId[0]) ? weight(x, by.m, c.temperature) : 0.0;
      for (let d = 0; d < 8; d++) lanes.sums[d] += atOrAbove(k, v, lanes.keys[d], lanes.ids[d]) ? w : 0.0;
    }
  }
  workgroupSumLanes(ws.red, lanes.sums, c.WG);
}

/**
 * Finds the cut (see the module comment) into slot `cut.slot` of ws's cuts: the target is
 * `cut.amount` tokens, or with `byMass` the fraction `amount` of the top-k mass. The key
 * is built 3 bits a pass (2 in the first), the tie ids are narrowed 8-fold a pass.
 */
function rankCut(row: Tensor<f32, ['V']>, c: Filter, ws: Workspace, cut: Cut, active: boolean): void {
  const lanes = cutLanes();
  const { keys, ids, sums } = lanes;
  let key = u32(0);
  let target = cut.amount;
  for (let sh = 30; sh >= 0; sh -= 3) {
    // Lane d asks F(key + d << sh); shifts that overflow (d >= 4 at sh = 30) are not candidates.
    for (let d = 0; d < 8; d++) {
      keys[d] = key + (u32(d) << u32(sh));
      ids[d] = c.V - 1;
    }
    massAtCuts(row, c, ws, lanes, cut, active);
    // The first pass's lane 0 is F(0), the whole (top-k) mass: the same sum, bit for bit, as every later F.
    if (sh === 30 && cut.byMass) target = cut.amount * sums[0];
    let next = key;
    for (let d = 1; d < 8; d++) {
      if ((u32(d) << u32(sh)) >> u32(sh) === u32(d) && sums[d] >= target) next = keys[d];
    }
    key = next;
  }
  let first = c.V;
  let last = -1;
  if (active) {
    for (let v = localIndex; v < c.V; v += c.WG) {
      if (rankKey(row[v]) === key) {
        first = min(first, v);
        last = v;
      }
    }
  }
  // Invariants: weight(at or above (key, lo)) < target <= weight(at or above (key, hi)).
  let lo = i32(-workgroupMax(ws.red, -f32(first), c.WG)) - 1;
  let hi = i32(workgroupMax(ws.red, f32(last), c.WG));
  for (let span = 1; span < c.V; span *= 8) {
    const open = hi - lo > 1;
    for (let d = 0; d < 8; d++) {
      keys[d] = key;
      ids[d] = lo + ((hi - lo) * d + 7) / 8;
    }
    massAtCuts(row, c, ws, lanes, cut, active && open);
    let nlo = lo;
    let nhi = hi;
    for (let d = 1; d < 8; d++) {
      if (open && sums[d] >= target) nhi = min(nhi, ids[d]);
      if (open && sums[d] < target) nlo = max(nlo, ids[d]);
    }
    lo = nlo;
    hi = nhi;
  }
  ws.cutKey[cut.slot] = key;
  ws.cutId[cut.slot] = hi;
}

/**
 * Filters one row of V logits: returns the row max m and leaves the top-k cut in slot 0
 * and the top-p cut in slot 1 of ws's cuts. top_k = 0 or >= V and top_p >= 1 are off.
 * Every thread gets the same results.
 */
export function filterRow(row: Tensor<f32, ['V']>, c: Filter, ws: Workspace, active: boolean): f32 {
  let mx = -F32_MAX;
  if (active) {
    for (let v = localIndex; v < c.V; v += c.WG) mx = max(mx, row[v]);
  }
  const m = workgroupMax(ws.red, mx, c.WG);
  for (let s = 0; s < 2; s++) {
    ws.cutKey[s] = u32(0);
    ws.cutId[s] = c.V - 1;
  }
  if (c.top_k > 0 && c.top_k < c.V) rankCut(row, c, ws, { m, byMass: false, amount: f32(c.top_k), slot: 0 }, active);
  if (c.top_p < 1.0) rankCut(row, c, ws, { m, byMass: true, amount: c.top_p, slot: 1 }, active);
  return m;
}

/** Total weight of the filtered distribution of filterRow's cuts (every thread gets it). */
export function keptMass(row: Tensor<f32, ['V']>, c: Filter, ws: Workspace, m: f32, active: boolean): f32 {
  let s = 0.0;
  if (active) {
    for (let v = localIndex; v < c.V; v += c.WG) {
      const x = row[v];
      const k = rankKey(x);
      if (atOrAbove(k, v, ws.cutKey[1], ws.cutId[1]) && atOrAbove(k, v, ws.cutKey[0], ws.cutId[0])) s += weight(x, m, c.temperature);
    }
  }
  return workgroupSum(ws.red, s, c.WG);
}
