import { evalBin, evalCall } from '../ir/semantics.js';
import { formatLoc } from '../common/source-loc.js';
import { poisonShared } from './sharedPoison.js';
import { WARP, type MmaDType } from '../ir/nodes.js';
import { mmaWarp } from './mma.js';
import { resolveLdmatrix } from './ldmatrix.js';
import type { Gen } from './stmts.js';
import { WAIT_BARRIER, WAIT_NONE, WAIT_SUBGROUP, fail, type MmaLane, type Site, type Thread, type Val } from './state.js';

const RUNNABLE = 0, BLOCKED = 1, DONE = 2;

const where = (s: Site | undefined) =>
  s?.kind === 'subgroup' ? `subgroup_${s.op} at ${formatLoc(s.loc)}` : s?.kind === 'mma' || s?.kind === 'ldmatrix' ? `${s.kind === 'mma' ? 'mmaSync' : 'ldmatrix'} at ${formatLoc(s.loc)}` : `barrier at ${formatLoc(s?.loc)}`;
const tid = (t: Thread) => `(${t.lid.join(',')})`;

/**
 * Runs one workgroup whose body has collectives. Each thread is a generator; runnable
 * threads run in linear local index order until they finish or block at a barrier or
 * subgroup op. A subgroup op completes once every live lane of its subgroup waits at it;
 * a barrier once every thread of the workgroup waits at it (none may have returned).
 */
export function runCollective(body: Gen, threads: readonly Thread[], sgSize: number): void {
  const n = threads.length;
  const gens = threads.map((t) => body(t));
  const state = new Uint8Array(n);
  let done = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      if (state[i] !== RUNNABLE) continue;
      if (gens[i].next().done) {
        state[i] = DONE;
        threads[i].wait = WAIT_NONE;
        done++;
      } else state[i] = BLOCKED;
    }
    if (done === n) return;
    let progressed = false;
    for (let s0 = 0; s0 < n; s0 += sgSize) {
      if (resolveSubgroup(threads, state, s0, Math.min(n, s0 + sgSize))) progressed = true;
    }
    if (progressed) continue;
    releaseBarrier(threads, state, done);
  }
}

/** Completes the subgroup op that all live lanes of [s0, end) wait at, if they all do. */
function resolveSubgroup(threads: readonly Thread[], state: Uint8Array, s0: number, end: number): boolean {
  let site: Site | undefined;
  for (let i = s0; i < end; i++) {
    if (state[i] === DONE) continue;
    const t = threads[i];
    if (t.wait !== WAIT_SUBGROUP) return false;
    if (!site) site = t.site;
    else if (t.site !== site) {
      const first = threads.slice(s0, end).find((_, j) => state[s0 + j] !== DONE)!;
      fail(t, t.site?.loc, `subgroup lanes diverged: lane ${t.lane} is at ${where(t.site)} while lane ${first.lane} is at ${where(site)} (subgroup ops must be in subgroup-uniform control flow)`);
    }
  }
  if (!site) return false;
  if (site.kind === 'mma') return resolveMma(threads, state, s0, end, site);
  if (site.kind === 'ldmatrix') {
    resolveLdmatrix(threads, (i) => state[i] === DONE, s0, end, site);
    for (let i = s0; i < end; i++) state[i] = RUNNABLE;
    return true;
  }
  const type = site.type!;
  const lanes: Thread[] = [];
  for (let i = s0; i < end; i++) if (state[i] !== DONE) lanes.push(threads[i]);
  if (site.op === 'shuffleXor') {
    for (const t of lanes) {
      const src = s0 + (t.lane ^ t.sgMask);
      if (!(src >= s0 && src < end) || state[src] === DONE) {
        fail(t, site.loc, `subgroup_shuffleXor: lane ${t.lane} reads lane ${t.lane ^ t.sgMask} (mask ${t.sgMask}), which ${src >= s0 && src < end ? 'has returned' : 'does not exist in this subgroup'}`);
      }
      t.sgResult = threads[src].sgValue;
    }
  } else {
    let acc: Val = lanes[0].sgValue;
    for (let j = 1; j < lanes.length; j++) {
      const v = lanes[j].sgValue;
      acc = site.op === 'add' ? evalBin('+', type, acc, v) : evalCall('max', type, [acc as number, v as number]);
    }
    for (const t of lanes) t.sgResult = acc;
  }
  for (let i = s0; i < end; i++) {
    if (state[i] === DONE) continue;
    state[i] = RUNNABLE;
    threads[i].wait = WAIT_NONE;
  }
  return true;
}

/** mma.sync needs every lane of a full 32-lane warp: none may have returned (as on the device). */
function resolveMma(threads: readonly Thread[], state: Uint8Array, s0: number, end: number, site: Site): boolean {
  const t0 = threads[s0];
  if (t0.run.sgSize !== WARP || end - s0 !== WARP) {
    fail(t0, site.loc, `mmaSync needs warps of ${WARP} lanes: this launch has subgroups of ${t0.run.sgSize} and ${end - s0} threads in this one`);
  }
  const lanes: MmaLane[] = [];
  for (let i = s0; i < end; i++) {
    if (state[i] === DONE) fail(t0, site.loc, `mmaSync needs all ${WARP} lanes of the warp, but lane ${threads[i].lane} has returned`);
    lanes.push(threads[i].mma!);
  }
  mmaWarp(site.type as MmaDType, lanes);
  for (let i = s0; i < end; i++) {
    state[i] = RUNNABLE;
    threads[i].wait = WAIT_NONE;
  }
  return true;
}

/** Releases a barrier that every thread waits at, or reports why it cannot complete. */
function releaseBarrier(threads: readonly Thread[], state: Uint8Array, done: number): void {
  const n = threads.length;
  let at = 0;
  let first: Thread | undefined;
  let other: Thread | undefined;
  for (let i = 0; i < n; i++) {
    const t = threads[i];
    if (state[i] === BLOCKED && t.wait === WAIT_BARRIER) {
      at++;
      first ??= t;
    } else other ??= t;
  }
  if (!first) {
    // Only subgroup ops wait, none can complete: some lanes of a subgroup sit at a barrier.
    const t = threads.find((_, i) => state[i] === BLOCKED)!;
    return fail(t, t.site?.loc, `${where(t.site)} cannot complete: other lanes of its subgroup have not reached it`);
  }
  if (at < n) {
    const i = threads.indexOf(other!);
    const why = state[i] === DONE
      ? `${done} returned without reaching it, first thread ${tid(other!)}`
      : `thread ${tid(other!)} waits at ${where(other!.site)}${done ? `; ${done} returned` : ''}`;
    return fail(first, first.site?.loc, `barrier reached by only ${at} of ${n} threads (${why}): barriers must be in workgroup-uniform control flow`);
  }
  for (const t of threads) {
    if (t.site !== first.site) {
      return fail(t, t.site?.loc, `threads wait at different barriers: thread ${tid(first)} at ${formatLoc(first.site?.loc)}, thread ${tid(t)} at ${formatLoc(t.site?.loc)}`);
    }
  }
  for (let i = 0; i < n; i++) {
    state[i] = RUNNABLE;
    threads[i].wait = WAIT_NONE;
  }
  if (first.site?.poison) poisonShared(first.run.kernel, first.wg, first.site.poison, first.site.loc);
}
