import type { Kernel, SizeExpr } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import { BYTES } from '../ir/types.js';
import { sizeToString } from '../ir/size.js';
import { bindingLayout, type UniformField } from './layout.js';
import { kernelSymbol, launcherSymbol } from './cuda/emitCuda.js';

/**
 * What a consumer needs to run one generated kernel without our runtime: bindings, the
 * uniform layout, workgroup size and the dispatch grid as formulas of shape symbols.
 */
export interface ManifestBinding {
  readonly binding: number;
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly string[];
  readonly access: 'read' | 'write' | 'readwrite';
  /** WGSL only: narrow elements packed little-endian into u32 words (elements per word). */
  readonly packedPerWord?: number;
}
export interface ManifestKernel {
  readonly name: string;
  readonly doc: string;
  readonly source: string;
  readonly file: string;
  readonly irHash: string;
  readonly tunables: Readonly<Record<string, number>>;
  readonly tunableSpace: Readonly<Record<string, readonly number[]>>;
  readonly workgroupSize: readonly [number, number, number];
  /** Workgroups per dimension, e.g. "cdiv(N, 32)"; `gridExpr` is the same as a tree. */
  readonly grid: readonly string[];
  readonly gridExpr: readonly SizeExpr[];
  readonly sharedBytes: number;
  readonly bindings: readonly ManifestBinding[];
  /** Runtime scalars: shape symbols (isDim) and user scalars, in launcher argument order. */
  readonly scalars: readonly { readonly name: string; readonly dtype: DType; readonly isDim: boolean }[];
  /** WGSL: the single uniform struct holding the scalars. */
  readonly uniform?: { readonly binding: number; readonly size: number; readonly fields: readonly UniformField[] };
  readonly entryPoint?: string;
  /**
   * Tuned alternatives (mimo-compile --tuning): another manifest kernel to launch when
   * every shape symbol, rounded up to a power of two, equals one of `buckets`.
   */
  readonly variants?: readonly { readonly kernel: string; readonly tunables: Readonly<Record<string, number>>; readonly buckets: readonly Readonly<Record<string, number>>[] }[];
  /** CUDA: the extern "C" launcher and the __global__ kernel. */
  readonly launcher?: string;
  readonly kernelSymbol?: string;
}

export function manifestEntry(k: Kernel, target: 'wgsl' | 'cuda', file: string, irHash: string, tunableSpace: Kernel['tunables']): ManifestKernel {
  const wg = [...k.workgroup.map((w) => (w.k === 'num' ? w.v : 1)), 1, 1].slice(0, 3) as [number, number, number];
  const grid = [...k.grid, { k: 'num', v: 1 } as SizeExpr, { k: 'num', v: 1 } as SizeExpr].slice(0, 3);
  const layout = bindingLayout(k);
  const chosen = Object.fromEntries(tunableSpace.map((t) => [t.name, k.consts[t.name]]));
  const sharedBytes = k.shared.reduce((a, s) => a + (s.size.k === 'num' ? s.size.v : 0) * (target === 'wgsl' ? 4 : BYTES[s.dtype]), 0);
  const base = {
    name: k.name, doc: k.doc, source: k.file, file, irHash,
    tunables: chosen,
    tunableSpace: Object.fromEntries(tunableSpace.map((t) => [t.name, t.values])),
    workgroupSize: wg,
    grid: grid.map(sizeToString),
    gridExpr: grid,
    sharedBytes,
    bindings: k.tensors.map((t, i) => ({
      binding: layout.tensors[i].binding, name: t.name, dtype: t.dtype, shape: t.shape, access: t.access,
      ...(t.packed ? { packedPerWord: 4 / BYTES[t.dtype] } : {}),
    })),
    scalars: k.scalars.map((s) => ({ name: s.name, dtype: s.dtype, isDim: s.isDim })),
  };
  if (target === 'wgsl') return { ...base, entryPoint: 'main', ...(layout.uniform ? { uniform: layout.uniform } : {}) };
  return { ...base, launcher: launcherSymbol(k), kernelSymbol: kernelSymbol(k) };
}
