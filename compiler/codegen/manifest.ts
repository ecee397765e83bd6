import { initialisedBy, type Kernel, type Precondition, type SizeExpr, type TensorParam } from '../ir/nodes.js';
import type { LoweredKernel } from '../ir/lowered.js';
import type { DType } from '../ir/types.js';
import { BYTES } from '../ir/types.js';
import { elementCount, sizeToString } from '../ir/size.js';
import { forEachExpr, forEachStmt } from '../ir/walk.js';
import { bindingLayout, type UniformField } from './layout.js';
import { kernelSymbol, launcherSymbol } from './cuda/emitCuda.js';
import { dynamicSharedBytes } from './cuda/sharedArena.js';
import { valuesFor } from '../ir/tunables.js';

/**
 * What a consumer needs to run one generated kernel without our runtime: bindings, the
 * uniform layout, workgroup size, the dispatch grid as formulas of shape symbols, and the
 * preconditions a launch must meet. README.md (`mimo-compile`) documents every field.
 */
export interface ManifestBinding {
  readonly binding: number;
  readonly name: string;
  readonly dtype: DType;
  /**
   * Dimensions, outermost first, as formulas of shape symbols: `T`, `192`, `cdiv(K, 128)`
   * (compile-time consts folded in); `shapeExpr` is the same as trees. A launch gives the
   * shape symbols as scalars; every dimension is then known.
   */
  readonly shape: readonly string[];
  readonly shapeExpr: readonly SizeExpr[];
  /** Always 'row-major': the last dimension is contiguous, no padding or strides. */
  readonly layout: 'row-major';
  /**
   * What the generated code does with the buffer: 'readwrite' when it reads back what it
   * writes, updates in place, or stores packed elements (WGSL: read-modify-write of u32 words).
   */
  readonly access: 'read' | 'write' | 'readwrite';
  /**
   * Writable bindings: 'kernel' when the kernel writes every element (no initialisation
   * needed), 'caller' when it updates some in place and the others keep their values.
   */
  readonly initialisedBy?: 'kernel' | 'caller';
  /** Buffer size in bytes as a formula of shape symbols (`bytesExpr`: the tree). */
  readonly bytes: string;
  readonly bytesExpr: SizeExpr;
  /** WGSL only: narrow elements packed into u32 words, and where element i lies in its word. */
  readonly packing?: { readonly perWord: number; readonly order: string };
}
/** A tuned alternative measured on one device. */
export interface ManifestVariant {
  readonly kernel: string;
  readonly tunables: Readonly<Record<string, number>>;
  /** Shape buckets (see ManifestKernel.bucketRule) this variant won. */
  readonly buckets: readonly Readonly<Record<string, number>>[];
  /** Fingerprint of the device it was measured on (tuning/<fingerprint>.json); apply it there only. */
  readonly device: string;
}
export interface ManifestKernel {
  readonly name: string;
  readonly doc: string;
  readonly source: string;
  readonly file: string;
  readonly irHash: string;
  readonly tunables: Readonly<Record<string, number>>;
  readonly tunableSpace: Readonly<Record<string, readonly number[]>>;
  /** Values of the fixed compile-time constants (window, scales, eps, group sizes); tunables are in `tunables`. */
  readonly consts: Readonly<Record<string, number>>;
  /**
   * Launch preconditions: lhs rel rhs over scalars, consts and tunables; a launch that
   * breaks one runs but gives a wrong answer, so runtimes refuse it before dispatch.
   */
  readonly requires: readonly Precondition[];
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
   * Tuned alternatives (mimo-compile --tuning): another manifest kernel to launch on the
   * variant's device when the launch's bucket (`bucketRule`) equals one of its `buckets`.
   */
  readonly variants?: readonly ManifestVariant[];
  readonly bucketRule?: string;
  /** CUDA: the extern "C" launcher and the __global__ kernel. */
  readonly launcher?: string;
  readonly kernelSymbol?: string;
  /**
   * CUDA: bytes of dynamic shared memory a launch of `kernelSymbol` passes (the whole arena
   * past 48 KiB, after cudaFuncSetAttribute(MaxDynamicSharedMemorySize); else 0).
   */
  readonly dynamicSharedBytes?: number;
}

export function manifestEntry(k: LoweredKernel, target: 'wgsl' | 'cuda', file: string, irHash: string, tunableSpace: Kernel['tunables']): ManifestKernel {
  const grid = [...k.grid, { k: 'num', v: 1 } as SizeExpr, { k: 'num', v: 1 } as SizeExpr].slice(0, 3);
  const layout = bindingLayout(k);
  const chosen = Object.fromEntries(tunableSpace.map((t) => [t.name, k.consts[t.name]]));
  const base = {
    name: k.name, doc: k.doc, source: k.file, file, irHash,
    tunables: chosen,
    // This target's candidates only: another target's tiles may not even fit here.
    tunableSpace: Object.fromEntries(tunableSpace.map((t) => [t.name, valuesFor(t, target)])),
    workgroupSize: k.workgroup,
    grid: grid.map(sizeToString),
    gridExpr: grid,
    sharedBytes: k.facts.sharedBytes,
    consts: Object.fromEntries(Object.entries(k.consts).filter(([n]) => !(n in chosen))),
    requires: k.requires,
    bindings: k.tensors.map((t, i): ManifestBinding => {
      const bytes = bufferBytes(t, target);
      const init = initialisedBy(t);
      return {
        binding: layout.tensors[i].binding, name: t.name, dtype: t.dtype, shape: t.shape.map(sizeToString), shapeExpr: t.shape, layout: 'row-major',
        access: t.access === 'write' && readsBack(k, t.name) ? 'readwrite' : t.access,
        ...(init ? { initialisedBy: init } : {}),
        bytes: sizeToString(bytes), bytesExpr: bytes,
        ...(t.packed ? { packing: packing(4 / BYTES[t.dtype]) } : {}),
      };
    }),
    scalars: k.scalars.map((s) => ({ name: s.name, dtype: s.dtype, isDim: s.isDim })),
  };
  if (target === 'wgsl') return { ...base, entryPoint: 'main', ...(layout.uniform ? { uniform: layout.uniform } : {}) };
  return { ...base, launcher: launcherSymbol(k), kernelSymbol: kernelSymbol(k), dynamicSharedBytes: dynamicSharedBytes(k) };
}

/** Whether the lowered code loads from a buffer it writes (read-back, atomics, packed read-modify-write). */
function readsBack(k: LoweredKernel, buf: string): boolean {
  let found = false;
  forEachExpr(k.body, (e) => {
    if ((e.k === 'load' || e.k === 'loadWord') && e.buf === buf) found = true;
  });
  forEachStmt(k.body, (s) => {
    if ((s.k === 'atomic' || s.k === 'storePacked') && s.buf === buf) found = true;
  });
  return found;
}

/** Element count times element size; WGSL binds whole u32 words and never 0 bytes. */
function bufferBytes(t: TensorParam, target: 'wgsl' | 'cuda'): SizeExpr {
  const elems = elementCount(t.shape);
  const num = (v: number): SizeExpr => ({ k: 'num', v });
  if (target === 'cuda') return { k: 'op', op: '*', a: elems, b: num(BYTES[t.dtype]) };
  const words: SizeExpr = BYTES[t.dtype] === 4 ? elems : { k: 'op', op: 'cdiv', a: { k: 'op', op: '*', a: elems, b: num(BYTES[t.dtype]) }, b: num(4) };
  return { k: 'op', op: '*', a: { k: 'op', op: 'max', a: words, b: num(1) }, b: num(4) };
}

function packing(perWord: number): { perWord: number; order: string } {
  const bits = 32 / perWord;
  return { perWord, order: `little-endian: element i is bits ${bits}*(i%${perWord}) .. ${bits}*(i%${perWord})+${bits - 1} of u32 word floor(i/${perWord})` };
}
