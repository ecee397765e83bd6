/**
 * What the cases of examples/run-all-ops.mts are made of. A Case runs one generated kernel
 * on one backend and judges every output it owns against a host reference (float64 math,
 * or exact integer/bit results), with the tolerance of its family stated in its module.
 */
import { unpackArray } from '../../compiler/ir/numerics.js';
import type { HostArray, LaunchArgs } from '../../compiler/launch/args.js';
import { runKernel, type Backend } from '../../test/harness/backends.js';
import { closeStats, type Tolerance } from '../../test/harness/close.js';
import { fp8Diff } from '../../test/harness/moe-reference.js';

export type Outputs = Record<string, HostArray>;

/** One compared output: pass or fail, how much of its allowance it used (≤ 1 passes), and what to print. */
export interface Verdict {
  readonly ok: boolean;
  readonly score: number;
  readonly text: string;
}

export interface Case {
  /** The manifest name of the kernel this case covers. */
  readonly kernel: string;
  readonly shape: string;
  /** Runs the kernel (the timed part) on one backend. */
  run(backend: Backend): Promise<Outputs>;
  /** A verdict per compared output. */
  check(out: Outputs, backend: Backend): Record<string, Verdict>;
}

/** A case of one launch with fixed arguments (built on first use and shared by both backends). */
export function launch(kernel: string, shape: string, args: () => LaunchArgs, check: Case['check']): Case {
  const built = once(args);
  return { kernel, shape, run: (backend) => runKernel(backend, kernel, built()), check };
}

/**
 * A case whose arguments depend on the backend (the contiguous MoE layout's ALIGN is one value
 * per target), each backend's built on first use.
 */
export function launchOn(kernel: string, shape: string, args: (backend: Backend) => LaunchArgs, check: Case['check']): Case {
  const built = perBackend(args);
  return { kernel, shape, run: (backend) => runKernel(backend, kernel, built(backend)), check };
}

/** f per backend, computed once for each, on first use. */
export function perBackend<T>(f: (backend: Backend) => T): (backend: Backend) => T {
  const done = new Map<Backend, T>();
  return (backend) => {
    if (!done.has(backend)) done.set(backend, f(backend));
    return done.get(backend)!;
  };
}

/** Computes once, on first use. */
export function once<T>(f: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) [value, done] = [f(), true];
    return value;
  };
}

/** A bf16 (Uint16Array) or f32 output as floats. */
export const floats = (a: HostArray): Float32Array => (a instanceof Uint16Array ? unpackArray('bf16', a) : (a as Float32Array));

/** Elementwise |got - want| <= atol + rtol*|want| (numpy's allclose). */
export function close(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance): Verdict {
  if (got.length !== want.length) return { ok: false, score: Infinity, text: `length ${got.length}, want ${want.length}` };
  const s = closeStats(got, want, tol);
  const ok = s.bad === 0;
  return { ok, score: s.worstRatio, text: `max|err| ${s.worst.toExponential(2)} (rtol=${tol.rtol} atol=${tol.atol})${ok ? '' : `, ${s.bad}/${want.length} outside, first [${s.first}]: ${got[s.first]} vs ${want[s.first]}`}` };
}

/** Identical values (Object.is: +0 and -0 differ, NaN matches NaN): integer results, bit patterns, casts. */
export function exact(got: ArrayLike<number>, want: ArrayLike<number>): Verdict {
  if (got.length !== want.length) return { ok: false, score: Infinity, text: `length ${got.length}, want ${want.length}` };
  let bad = 0;
  let first = -1;
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i]) && bad++ === 0) first = i;
  }
  return bad ? { ok: false, score: Infinity, text: `${bad}/${want.length} differ, first [${first}]: ${got[first]} vs ${want[first]}` } : { ok: true, score: 0, text: `exact (${want.length} values)` };
}

/** DeepGEMM's FP8 measure 1 - 2Σxy/Σ(x²+y²) below `limit`. */
export function similar(got: ArrayLike<number>, want: ArrayLike<number>, limit: number): Verdict {
  const d = fp8Diff(got, want);
  return { ok: d < limit, score: d / limit, text: `1-sim ${d.toExponential(2)} (< ${limit})` };
}

/** A verdict from a harness checker that returns the first problem it found (or none). */
export function judged(error: string | undefined, text: string): Verdict {
  return error ? { ok: false, score: Infinity, text: error } : { ok: true, score: 0, text };
}
