/**
 * `mimo-compile --ops` writes a few kernels into a folder that may hold others: the files
 * that describe the whole folder (manifests, the CUDA header and CMakeLists.txt) must then
 * list the old kernels and the new ones. The WGSL module embeds every source, which only a
 * full run has, so an --ops run leaves it as it is.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ManifestKernel } from '../codegen/manifest.js';
import { cmakeLists, kernelsHeader, launcherSignatureIn } from '../codegen/cuda/library.js';
import type { CudaArch } from '../codegen/cuda/arch.js';
import { UsageError } from './args.js';

interface Manifest {
  readonly arch?: CudaArch;
  readonly kernels: Record<string, ManifestKernel>;
}

/** Rewrites `files` (this run's output) in place into what `out` should hold afterwards. */
export function mergePartial(files: Map<string, string>, out: string): void {
  for (const [rel, text] of files) {
    if (!rel.endsWith('manifest.json')) continue;
    const p = path.join(out, rel);
    if (!fs.existsSync(p)) continue;
    const old = JSON.parse(fs.readFileSync(p, 'utf8')) as Manifest;
    const fresh = JSON.parse(text) as Manifest;
    // The old sources carry their architecture's guards (codegen/cuda/arch.ts): one folder, one arch.
    if (old.arch !== undefined && fresh.arch !== undefined && old.arch !== fresh.arch) {
      throw new UsageError(`--arch ${fresh.arch}: ${p} was generated with --arch ${old.arch}; an --ops run adds to that folder, so use --arch ${old.arch} or regenerate every kernel`);
    }
    files.set(rel, JSON.stringify({ ...fresh, kernels: { ...old.kernels, ...fresh.kernels } }, null, 2) + '\n');
  }
  if (files.has('cuda/manifest.json')) mergeCudaLibrary(files, out);
  files.delete('wgsl/kernels.js');
  files.delete('wgsl/kernels.d.ts');
}

/** The header and CMakeLists.txt from the merged manifest; earlier kernels' launchers are read from their .cu. */
function mergeCudaLibrary(files: Map<string, string>, out: string): void {
  const manifest = JSON.parse(files.get('cuda/manifest.json')!) as Manifest;
  const library = Object.values(manifest.kernels).map((m) => {
    const rel = `cuda/${m.file}`;
    const p = path.join(out, rel);
    const source = files.get(rel) ?? (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : undefined);
    if (source === undefined) throw new UsageError(`--out ${out}: cuda/manifest.json lists kernel ${m.name} in ${m.file}, which is missing; regenerate every kernel (no --ops)`);
    return { doc: m.doc || m.name, signature: launcherSignatureIn(source, m.launcher!, p), file: m.file };
  });
  files.set('cuda/mimo_kernels.h', kernelsHeader(library));
  files.set('cuda/CMakeLists.txt', cmakeLists(library.map((l) => l.file), manifest.arch ?? 'sm_80'));
}
