import type { DType } from '../../compiler/ir/types.js';
import type { ManifestKernel } from '../../compiler/codegen/manifest.js';
import type { HostArray } from '../../compiler/launch/args.js';

/**
 * Launch arguments typed from a manifest entry. With the literal manifest type that
 * kernels.d.ts declares, a wrong kernel name, a missing or unknown tensor or scalar, or
 * a Float32Array for a bf16 binding is a type error; with a plain ManifestKernel (a
 * manifest read from JSON at run time) they relax to string-keyed records, checked at
 * launch instead.
 */
export interface WgslModule {
  readonly manifest: { readonly kernels: Readonly<Record<string, ManifestKernel>> };
  readonly sources: Readonly<Record<string, string>>;
}

export type KernelName<M extends WgslModule> = keyof M['manifest']['kernels'] & string;
export type EntryOf<M extends WgslModule, K extends KernelName<M>> = M['manifest']['kernels'][K];

/** The host array a dtype travels as (narrow floats as their bit patterns). */
export type HostArrayOf<D extends DType> = D extends 'f32' ? Float32Array : D extends 'i32' ? Int32Array : D extends 'u32' ? Uint32Array
  : D extends 'bf16' | 'f16' ? Uint16Array : D extends 'fp8e4m3' | 'fp8e5m2' ? Uint8Array : HostArray;

type Binding<E extends ManifestKernel> = E['bindings'][number];
export type TensorsOf<E extends ManifestKernel, T = never> = { readonly [B in Binding<E> as B['name']]: [T] extends [never] ? HostArrayOf<B['dtype']> : T };
export type ScalarsOf<E extends ManifestKernel> = { readonly [S in E['scalars'][number] as S['name']]: number };
/** What a launch writes back: every binding that is not read-only. */
export type OutputsOf<E extends ManifestKernel> = { [B in Binding<E> as B['access'] extends 'read' ? never : B['name']]: HostArrayOf<B['dtype']> };
export interface RunArgsOf<E extends ManifestKernel> {
  readonly tensors: TensorsOf<E>;
  readonly scalars: ScalarsOf<E>;
}
