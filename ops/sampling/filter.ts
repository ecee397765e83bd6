import {
  exp, f32, i32, local, localIndex, max, min, u32, F32_MAX, type Local, type Shared, type Tensor,
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

/** exp((x - m) / T): the token's unnormalised probability at temperature T (the row max weighs 1). */
export function weight(x: f32, m: f32, temperature: f32): f32 {
  return exp((x - m) / temperature);
}

/** Whether a token (key, id) ranks at or above the cut (cutKey, cutId). */
export function atOrAbove(key: u32, id: i32, cutKey: u32, cutId: i32): boolean {
  return key > cutKey || (key === cutKey && id <= cutId);
}

/** The token's weight in the filtered distribution (0 outside both cuts, or when it is `exclude`). */
export function keptWeight(x: f32, id: i32, m: f32, temperature: f32, cutKey: Local<u32>, cutId: Local<i32>, exclude: i32): f32 {
  const key = rankKey(x);
  const kept = atOrAbove(key, id, cutKey[0], cutId[0]) && atOrAbove(key, id, cutKey[1], cutId[1]) && id !== exclude;
  return kept ? weight(x, m, temperature) : 0.0;
}

/**
 * Sum over the row of the tokens at or above (key, id): each counts 1, or with `byMass`
 * its weight if the top-k cut keeps it. Every thread gets the sum.
 */
export function massAtOrAbove(
  logits: Tensor<f32, readonly string[]>, row: i32, V: i32, key: u32, id: i32, m: f32, temperature: f32, byMass: boolean,
  cutKey: Local<u32>, cutId: Local<i32>, active: boolean, red: Shared<f32>, WG: i32,
): f32 {
  let s = 0.0;
  if (active) {
    for (let v = localIndex; v < V; v += WG) {
      const x = logits[row + v];
      const k = rankKey(x);
      if (atOrAbove(k, v, key, id)) {
        if (!byMass) s += 1.0;
        else if (atOrAbove(k, v, cutKey[0], cutId[0])) s += weight(x, m, temperature);
      }
    }
  }
  return workgroupSum(red, s, WG);
}

/**
 * The weights of the tokens at or above each of 8 cuts (keys[d], ids[d]) in one pass
 * over the row, into sums[d] (every thread gets them): one pass answers seven bisection
 * questions. A token weighs 1, or with `byMass` its weight if the top-k cut keeps it.
 */
function massAtCuts(
  logits: Tensor<f32, readonly string[]>, row: i32, V: i32, m: f32, temperature: f32, byMass: boolean,
  keys: Local<u32>, ids: Local<i32>, sums: Local<f32>, cutKey: Local<u32>, cutId: Local<i32>, active: boolean, red: Shared<f32>, WG: i32,
): void {
  for (let d = 0; d < 8; d++) sums[d] = 0.0;
  if (active) {
    for (let v = localIndex; v < V; v += WG) {
      const x = logits[row + v];
      const k = rankKey(x);
      const w = !byMass ? 1.0 : atOrAbove(k, v, cutKey[0], cutId[0]) ? weight(x, m, temperature) : 0.0;
      for (let d = 0; d < 8; d++) sums[d] += atOrAbove(k, v, keys[d], ids[d]) ? w : 0.0;
    }
  }
  workgroupSumLanes(red, sums, WG);
}

/**
 * Finds the cut (see the module comment) into cutKey[slot], cutId[slot]: the target is
 * `amount` tokens, or with `byMass` the fraction `amount` of the top-k mass. The key is
 * built 3 bits a pass (2 in the first), the tie ids are narrowed 8-fold a pass.
 */
function rankCut(
  logits: Tensor<f32, readonly string[]>, row: i32, V: i32, m: f32, temperature: f32, byMass: boolean, amount: f32, slot: i32,
  cutKey: Local<u32>, cutId: Local<i32>, active: boolean, red: Shared<f32>, WG: i32,
): void {
  const keys = local(u32, 8);
  const ids = local(i32, 8);
  const sums = local(f32, 8);
  let key = u32(0);
  let target = amount;
  for (let sh = 30; sh >= 0; sh -= 3) {
    // Lane d asks F(key + d << sh); shifts that overflow (d >= 4 at sh = 30) are not candidates.
    for (let d = 0; d < 8; d++) {
      keys[d] = key + (u32(d) << u32(sh));
      ids[d] = V - 1;
    }
    massAtCuts(logits, row, V, m, temperature, byMass, keys, ids, sums, cutKey, cutId, active, red, WG);
    // The first pass's lane 0 is F(0), the whole (top-k) mass: the same sum, bit for bit, as every later F.
    if (sh === 30 && byMass) target = amount * sums[0];
    let next = key;
    for (let d = 1; d < 8; d++) {
      if ((u32(d) << u32(sh)) >> u32(sh) === u32(d) && sums[d] >= target) next = keys[d];
    }
    key = next;
  }
  let first = V;
  let last = -1;
  if (active) {
    for (let v = localIndex; v < V; v += WG) {
      if (rankKey(logits[row + v]) === key) {
        first = min(first, v);
        last = v;
      }
    }
  }
  // Invariants: weight(at or above (key, lo)) < target <= weight(at or above (key, hi)).
  let lo = i32(-workgroupMax(red, -f32(first), WG)) - 1;
  let hi = i32(workgroupMax(red, f32(last), WG));
  for (let span = 1; span < V; span *= 8) {
    const open = hi - lo > 1;
    for (let d = 0; d < 8; d++) {
      keys[d] = key;
      ids[d] = lo + ((hi - lo) * d + 7) / 8;
    }
    massAtCuts(logits, row, V, m, temperature, byMass, keys, ids, sums, cutKey, cutId, active && open, red, WG);
    let nlo = lo;
    let nhi = hi;
    for (let d = 1; d < 8; d++) {
      if (open && sums[d] >= target) nhi = min(nhi, ids[d]);
      if (open && sums[d] < target) nlo = max(nlo, ids[d]);
    }
    lo = nlo;
    hi = nhi;
  }
  cutKey[slot] = key;
  cutId[slot] = hi;
}

/**
 * Filters row `row` (V logits): returns the row max m and leaves the top-k cut in slot 0
 * and the top-p cut in slot 1 of cutKey/cutId. topK = 0 or >= V and topP >= 1 are off.
 * Every thread gets the same results.
 */
export function filterRow(
  logits: Tensor<f32, readonly string[]>, row: i32, V: i32, temperature: f32, topK: i32, topP: f32,
  cutKey: Local<u32>, cutId: Local<i32>, active: boolean, red: Shared<f32>, WG: i32,
): f32 {
  let mx = -F32_MAX;
  if (active) {
    for (let v = localIndex; v < V; v += WG) mx = max(mx, logits[row + v]);
  }
  const m = workgroupMax(red, mx, WG);
  for (let s = 0; s < 2; s++) {
    cutKey[s] = u32(0);
    cutId[s] = V - 1;
  }
  if (topK > 0 && topK < V) rankCut(logits, row, V, m, temperature, false, f32(topK), 0, cutKey, cutId, active, red, WG);
  if (topP < 1.0) rankCut(logits, row, V, m, temperature, true, topP, 1, cutKey, cutId, active, red, WG);
  return m;
}

/** Total weight of the filtered distribution of filterRow's cuts (every thread gets it). */
export function keptMass(
  logits: Tensor<f32, readonly string[]>, row: i32, V: i32, m: f32, temperature: f32,
  cutKey: Local<u32>, cutId: Local<i32>, active: boolean, red: Shared<f32>, WG: i32,
): f32 {
  return massAtOrAbove(logits, row, V, cutKey[1], cutId[1], m, temperature, true, cutKey, cutId, active, red, WG);
}
