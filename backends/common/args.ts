import type { DType } from '../../compiler/ir/types.js';
import type { SizeExpr } from '../../compiler/ir/nodes.js';
import { evalSize } from '../../compiler/ir/size.js';

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

/** What launch checking needs of a kernel: a manifest entry, or a Kernel's IR (the interpreter). */
export interface LaunchSignature {
  readonly name: string;
  readonly bindings: readonly { readonly name: string; readonly dtype: DType; readonly shape: readonly string[] }[];
  readonly scalars: readonly { readonly name: string; readonly dtype: DType; readonly isDim: boolean }[];
  readonly gridExpr: readonly SizeExpr[];
}

/**
 * Validates a launch against the manifest: every scalar present and of its type, every
 * tensor of the declared dtype and of exactly the element count its shape gives.
 * Returns the scalar environment (shape symbols included) and the grid.
 */
export function checkLaunch(m: LaunchSignature, args: LaunchArgs, tensorLength?: (name: string) => number | undefined): { env: Record<string, number>; grid: [number, number, number] } {
  const env: Record<string, number> = {};
  for (const s of m.scalars) {
    const v = args.scalars[s.name];
    if (v === undefined) throw new KernelArgError(m.name, s.name, `missing ${s.isDim ? 'shape symbol' : 'scalar'} (${s.dtype})`);
    if (typeof v !== 'number' || Number.isNaN(v)) throw new KernelArgError(m.name, s.name, `expected a number, got ${String(v)}`);
    if ((s.dtype === 'i32' || s.dtype === 'u32') && !Number.isInteger(v)) throw new KernelArgError(m.name, s.name, `expected an integer ${s.dtype}, got ${v}`);
    if (s.isDim && (v < 0 || v > 2 ** 31 - 1)) throw new KernelArgError(m.name, s.name, `shape symbol must be in [0, 2^31), got ${v}`);
    env[s.name] = v;
  }
  for (const name of Object.keys(args.scalars)) {
    if (!m.scalars.some((s) => s.name === name)) throw new KernelArgError(m.name, name, `unknown scalar (expected: ${m.scalars.map((s) => s.name).join(', ')})`);
  }
  for (const b of m.bindings) {
    const want = b.shape.reduce((p, d) => p * env[d], 1);
    const shape = `${b.dtype}[${b.shape.map((d) => `${d}=${env[d]}`).join(', ')}]`;
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
  const grid = m.gridExpr.map((g) => evalSize(g, env)) as [number, number, number];
  return { env, grid };
}
