import path from 'node:path';
import type { Kernel } from './ir/nodes.js';
import { loadKernelFiles } from './files.js';
import { generatedFiles, loadKernels, type EmitTarget } from './compile.js';
import type { ManifestKernel } from './codegen/manifest.js';
import type { TuningFile } from './tuning/dbFile.js';

export interface CompileOptions {
  /** Default: both. */
  readonly targets?: readonly EmitTarget[];
  /** CUDA architecture recorded in the manifest (default sm_80). */
  readonly arch?: 'sm_80' | 'sm_90a';
  /** mimo-autotune databases; each applies to the target its device runs. */
  readonly tuning?: readonly TuningFile[];
  /** Only kernels whose name satisfies this (e.g. a picomatch matcher). */
  readonly filter?: (kernelName: string) => boolean;
}

export interface CompileResult {
  /** Every kernel found, as written (IR before target lowering). */
  readonly kernels: readonly Kernel[];
  /** Per target: each kernel's source and manifest entry, by kernel name (tuned variants included). */
  readonly targets: Readonly<Partial<Record<EmitTarget, { readonly manifest: { readonly kernels: Readonly<Record<string, ManifestKernel>> } & Record<string, unknown>; readonly sources: Readonly<Record<string, string>> }>>>;
  /** The output tree as `mimo-compile --out` writes it: relative path -> file content. */
  readonly files: ReadonlyMap<string, string>;
}

/**
 * Compiles kernel files (paths; a build tool expands its own globs) for WGSL and/or CUDA,
 * in memory. Throws CompileErrors (every error of a file, each with file:line:col) when a
 * kernel does not compile, and a CompileError when two files declare the same kernel name.
 * With no files, the package's own ops.
 */
export function compileFiles(files: readonly string[], opts: CompileOptions = {}): CompileResult {
  const all = files.length ? loadKernelFiles(files.map((f) => path.resolve(f))) : loadKernels();
  const kernels = opts.filter ? all.filter((k) => opts.filter!(k.name)) : all;
  const targets = opts.targets ?? ['wgsl', 'cuda'];
  const out = generatedFiles(kernels, targets, opts.arch ?? 'sm_80', opts.tuning ?? []);
  const byTarget: Partial<Record<EmitTarget, { manifest: { kernels: Record<string, ManifestKernel> } & Record<string, unknown>; sources: Record<string, string> }>> = {};
  for (const t of targets) {
    const manifest = JSON.parse(out.get(`${t}/manifest.json`)!) as { kernels: Record<string, ManifestKernel> } & Record<string, unknown>;
    const sources = Object.fromEntries(Object.values(manifest.kernels).map((m) => [m.name, out.get(`${t}/${m.file}`)!]));
    byTarget[t] = { manifest, sources };
  }
  return { kernels, targets: byTarget, files: out };
}
