import type { DType } from '../ir/types.js';
import { initialisedBy, type KernelBase, type Precondition, type SizeExpr } from '../ir/nodes.js';
import { elementCount, evalSize, sizeSymbols, sizeToString } from '../ir/size.js';

/** Host arrays, one per dtype: narrow floats travel as their bit patterns. */
export type HostArray = Float32Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;
export const HOST_ARRAY: Record<Exclude<DType, 'bool'>, { name: string; create: (n: number) => HostArray }> = {
  f32: { name: 'Float32Array', create: (n) => new Float32Array(n) },
  i32: { name: 'Int32Array', create: (n) => new Int32Array(n) },
  u32: { name: 'Uint32Array', create: (n) => new Uint32Array(n) },
  bf16: { name: 'Uint16Array', create: (n) => new Uint16Array(n) },
  f16: { name: 'Uint16Array', create: (n) => new Uint16Array(n) },
  fp8e4m3: { name: 'Uint8Array', create: (n) => new Uint8Array(n) },
  fp8e5m2: { name: 'Uint8Array', create: (n) => new Uint8Array(n) },
};

export interface LaunchArgs {
  readonly tensors: Readonly<Record<string, HostArray>>;
  readonly scalars: Readonly<Record<string, number>>;
}

export class KernelArgError extends Error {
  constructor(readonly kernel: string, readonly argument: string, readonly detail: string) {
    super(`[kernel ${kernel}] argument '${argument}': ${detail}`);
    this.name = 'KernelArgError';
  }
}

/** `undefined`, `null`, `array`, `string '3'`, `Float32Array`: what a caller passed, for messages. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  if (typeof v === 'string') return `string '${v}'`;
  return `${typeof v} ${String(v)}`;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The outer shape of a launch's arguments: `{ tensors: {...}, scalars: {...} }`, both
 * plain objects. checkLaunch (args.ts) reads their fields, so a caller from plain
 * JavaScript that omits one gets a KernelArgError naming it rather than a TypeError.
 */
export function checkArgShape(kernel: string, args: unknown): asserts args is LaunchArgs {
  if (!isRecord(args)) throw new KernelArgError(kernel, 'args', `expected { tensors, scalars }, got ${describeValue(args)}`);
  for (const field of ['tensors', 'scalars'] as const) {
    if (!isRecord(args[field])) throw new KernelArgError(kernel, field, `expected an object of named ${field}, got ${describeValue(args[field])}`);
  }
}

/**
 * A launch that would run but compute something wrong: a broken precondition, a grid that
 * evaluates to a negative or fractional size or past the device's limits. Names the kernel,
 * the rule (`constraint`: precondition text or grid formula) and the values it was given.
 */
export class KernelLaunchError extends Error {
  constructor(readonly kernel: string, readonly constraint: string, readonly values: Readonly<Record<string, number>>, detail: string) {
    super(`[kernel ${kernel}] ${detail}`);
    this.name = 'KernelLaunchError';
  }
}

/** What launch checking needs of a kernel: a manifest entry, or a Kernel's IR (signatureOf). */
export interface LaunchSignature {
  readonly name: string;
  readonly bindings: readonly { readonly name: string; readonly dtype: DType; readonly shapeExpr: readonly SizeExpr[]; readonly initialisedBy?: 'kernel' | 'caller' }[];
  readonly scalars: readonly { readonly name: string; readonly dtype: DType; readonly isDim: boolean }[];
  readonly gridExpr: readonly SizeExpr[];
  /** Absent: none declared (a hand-written signature). */
  readonly requires?: readonly Precondition[];
  /** Compile-time values the preconditions may name: fixed consts and the chosen tunables. */
  readonly consts?: Readonly<Record<string, number>>;
  readonly tunables?: Readonly<Record<string, number>>;
}

/** The signature of a (specialised) IR kernel, for the interpreter. */
export const signatureOf = (k: KernelBase): LaunchSignature => ({
  name: k.name,
  bindings: k.tensors.map((t) => ({ ...t, shapeExpr: t.shape, initialisedBy: initialisedBy(t) })),
  scalars: k.scalars,
  gridExpr: k.grid,
  requires: k.requires,
  consts: k.consts,
});

export interface LaunchLimits {
  /** Most workgroups per grid dimension (WebGPU maxComputeWorkgroupsPerDimension; CUDA 2^31-1, 65535, 65535). */
  readonly maxGrid?: readonly [number, number, number];
}

/** CUDA's gridDim limits (x, y, z), which the generated launchers enforce too. */
export const CUDA_MAX_GRID = [2 ** 31 - 1, 65535, 65535] as const;

const F32_MAX = 3.4028234663852886e38;
const INT_RANGE: Partial<Record<DType, readonly [number, number]>> = { i32: [-(2 ** 31), 2 ** 31 - 1], u32: [0, 2 ** 32 - 1] };
/** Tensors are indexed with i32 arithmetic in every backend. */
const MAX_ELEMENTS = 2 ** 31 - 1;

/** A scalar as its dtype holds it, or why it cannot be: a wrapped or rounded-to-infinity value is refused, never passed on. */
function checkScalar(kernel: string, s: LaunchSignature['scalars'][number], v: unknown): number {
  if (v === undefined) throw new KernelArgError(kernel, s.name, `missing ${s.isDim ? 'shape symbol' : 'scalar'} (${s.dtype})`);
  if (typeof v !== 'number' || Number.isNaN(v)) throw new KernelArgError(kernel, s.name, `expected a number (${s.dtype}), got ${String(v)}`);
  const range = INT_RANGE[s.dtype];
  if (range) {
    if (!Number.isInteger(v)) throw new KernelArgError(kernel, s.name, `expected an integer ${s.dtype}, got ${v}`);
    if (v < range[0] || v > range[1]) throw new KernelArgError(kernel, s.name, `expected ${s.dtype === 'i32' ? 'an' : 'a'} ${s.dtype} in [${range[0]}, ${range[1]}], got ${v}`);
    if (s.isDim && v < 0) throw new KernelArgError(kernel, s.name, `shape symbol must be >= 0, got ${v}`);
  } else if (!Number.isFinite(v) || Math.abs(v) > F32_MAX) {
    throw new KernelArgError(kernel, s.name, `expected a finite ${s.dtype} (|x| <= ${F32_MAX}), got ${v}`);
  }
  return v;
}

/** In order of appearance, as the formula reads. */
const valuesOf = (names: Iterable<string>, env: Readonly<Record<string, number>>): Record<string, number> =>
  Object.fromEntries([...names].map((n) => [n, env[n]]));
const listValues = (v: Readonly<Record<string, number>>) => Object.entries(v).map(([n, x]) => `${n}=${x}`).join(', ');

const HOLDS: Record<Precondition['rel'], (a: number, b: number) => boolean> = {
  '<': (a, b) => a < b, '<=': (a, b) => a <= b, '>': (a, b) => a > b, '>=': (a, b) => a >= b, '==': (a, b) => a === b, '!=': (a, b) => a !== b,
};

/** Refuses the first precondition the launch breaks, with both sides' values. */
export function checkPreconditions(m: LaunchSignature, env: Readonly<Record<string, number>>): void {
  for (const p of m.requires ?? []) {
    const a = evalSize(p.lhs, env);
    const b = evalSize(p.rhs, env);
    if (HOLDS[p.rel](a, b)) continue;
    const values = valuesOf(sizeSymbols(p.rhs, sizeSymbols(p.lhs)), env);
    const need = p.lhs.k === 'sym' ? `needs ${p.lhs.name} ${p.rel} ${b}` : `${sizeToString(p.lhs)} = ${a}, needs ${p.rel} ${b}`;
    throw new KernelLaunchError(m.name, p.text, values, `precondition ${p.text} failed: ${listValues(values)} (${need})`);
  }
}

/**
 * The grid, each component a whole number of workgroups within the limits. An empty grid
 * (a zero component: no tokens, no rows) is a no-op and is accepted only when every output
 * the kernel would have written in full is empty too; otherwise it would come back unwritten.
 */
function checkGrid(m: LaunchSignature, env: Readonly<Record<string, number>>, limits: LaunchLimits): [number, number, number] {
  const grid = m.gridExpr.map((g) => evalSize(g, env)) as [number, number, number];
  const fail = (i: number, detail: string): never => {
    const f = sizeToString(m.gridExpr[i]);
    const values = valuesOf(sizeSymbols(m.gridExpr[i]), env);
    throw new KernelLaunchError(m.name, f, values, `grid ${'xyz'[i]} = ${f} = ${grid[i]}${Object.keys(values).length ? ` (${listValues(values)})` : ''}: ${detail}`);
  };
  grid.forEach((g, i) => {
    if (!Number.isInteger(g) || g < 0) fail(i, 'expected a whole number of workgroups >= 0');
    const max = limits.maxGrid?.[i];
    if (max !== undefined && g > max) fail(i, `exceeds this device's limit of ${max} workgroups`);
  });
  const empty = grid.findIndex((g) => g === 0);
  if (empty >= 0) {
    for (const b of m.bindings) {
      const n = evalSize(elementCount(b.shapeExpr), env);
      if (b.initialisedBy === 'kernel' && n > 0) fail(empty, `an empty grid would leave output '${b.name}' (${n} elements) unwritten`);
    }
  }
  return grid;
}

/** `bf16[T=4, HQ=2, 192]`, `f32[T=4, cdiv(K, 128)=3]`: each dimension with its value. */
function describeShape(b: LaunchSignature['bindings'][number], env: Readonly<Record<string, number>>): string {
  const dims = b.shapeExpr.map((d) => (d.k === 'num' ? String(d.v) : `${sizeToString(d)}=${evalSize(d, env)}`));
  return `${b.dtype}[${dims.join(', ')}]`;
}

/**
 * Validates a launch against the manifest before anything is dispatched: its outer shape
 * (`{ tensors, scalars }`, from plain JavaScript too), every scalar
 * present and in its dtype's range, every tensor of the declared dtype and of exactly
 * the element count its shape gives, every precondition met, the grid whole and within
 * `limits`. Returns the scalar environment (shape symbols included) and the grid.
 */
export function checkLaunch(m: LaunchSignature, args: unknown, tensorLength?: (name: string) => number | undefined, limits: LaunchLimits = {}): { env: Record<string, number>; grid: [number, number, number] } {
  checkArgShape(m.name, args);
  const env: Record<string, number> = {};
  for (const s of m.scalars) env[s.name] = checkScalar(m.name, s, args.scalars[s.name]);
  for (const name of Object.keys(args.scalars)) {
    if (!m.scalars.some((s) => s.name === name)) throw new KernelArgError(m.name, name, `unknown scalar (expected: ${m.scalars.map((s) => s.name).join(', ')})`);
  }
  const full = { ...m.consts, ...m.tunables, ...env };
  for (const b of m.bindings) {
    const want = evalSize(elementCount(b.shapeExpr), full);
    const shape = describeShape(b, full);
    if (want > MAX_ELEMENTS) throw new KernelArgError(m.name, b.name, `${shape} = ${want} elements is more than i32 indexing reaches (${MAX_ELEMENTS})`);
    const external = tensorLength?.(b.name);
    if (external !== undefined) {
      if (external < want) throw new KernelArgError(m.name, b.name, `expected ${shape} = ${want} elements, the buffer holds ${external}`);
      continue;
    }
    const a = args.tensors[b.name];
    const host = HOST_ARRAY[b.dtype as Exclude<DType, 'bool'>];
    if (!a) throw new KernelArgError(m.name, b.name, `missing tensor, expected ${shape} = ${want} elements as ${host.name}`);
    if (a.constructor.name !== host.name) throw new KernelArgError(m.name, b.name, `expected dtype ${b.dtype} (${host.name}), got ${a.constructor.name}`);
    if (a.length !== want) throw new KernelArgError(m.name, b.name, `expected shape ${shape} = ${want} elements, got ${a.length}`);
  }
  for (const name of Object.keys(args.tensors)) {
    if (!m.bindings.some((b) => b.name === name)) throw new KernelArgError(m.name, name, `unknown tensor (expected: ${m.bindings.map((b) => b.name).join(', ')})`);
  }
  checkPreconditions(m, full);
  return { env, grid: checkGrid(m, full, limits) };
}
