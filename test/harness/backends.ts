import fs from 'node:fs';
import path from 'node:path';
import type { ManifestKernel } from '../../compiler/codegen/manifest.js';
import { REPO_ROOT } from '../../compiler/frontend/source.js';
import { compileKernel, loadKernels } from '../../compiler/compile.js';
import type { Kernel } from '../../compiler/ir/nodes.js';
import { lowerForTarget } from '../../compiler/pipeline.js';
import { interpret } from '../../compiler/interpret/interpret.js';
import type { TunableChoice } from '../../compiler/passes/specialise.js';
import type { HostArray, LaunchArgs } from '../../backends/common/args.js';
import { getGpu } from '../../backends/webgpu/device.js';
import { WebGpuRuntime } from '../../backends/webgpu/runtime.js';
import { CudaHostRunner } from '../../backends/cuda/hostRunner.js';

/** Where a kernel runs in tests: SwiftShader WebGPU, generated CUDA on the CPU emulator, the IR interpreter. */
export type Backend = 'webgpu' | 'cuda-emu' | 'interp';
/** All three unless MIMO_TEST_BACKENDS lists some (e.g. "webgpu,interp") for a quicker local run. */
export const BACKENDS: readonly Backend[] = process.env.MIMO_TEST_BACKENDS
  ? (process.env.MIMO_TEST_BACKENDS.split(',') as Backend[])
  : ['webgpu', 'cuda-emu', 'interp'];

function readGenerated(target: 'wgsl' | 'cuda') {
  const dir = path.join(REPO_ROOT, 'generated', target);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { kernels: Record<string, ManifestKernel> };
  const sources = Object.fromEntries(Object.values(manifest.kernels).map((k) => [k.name, fs.readFileSync(path.join(dir, k.file), 'utf8')]));
  return { manifest, sources };
}

let webgpu: Promise<WebGpuRuntime> | undefined;
let cuda: CudaHostRunner | undefined;
const kernels = new Map<string, ReturnType<typeof loadKernels>[number]>();

/**
 * Compiles `k` for the backend now (not from generated/) and runs it: for test fixtures
 * and non-default tunables.
 */
export async function runFresh(backend: Backend, k: Kernel, args: LaunchArgs, choice: TunableChoice = {}): Promise<Record<string, HostArray>> {
  if (backend === 'interp') return runInterp(k, args, choice);
  const c = compileKernel(k, backend === 'webgpu' ? 'wgsl' : 'cuda', choice);
  const module = { manifest: { kernels: { [k.name]: c.manifest } }, sources: { [k.name]: c.source } };
  if (backend === 'webgpu') return new WebGpuRuntime(await getGpu(), module).run(k.name, args);
  return new CudaHostRunner(module.manifest, module.sources).run(k.name, args);
}

function runInterp(k: Kernel, args: LaunchArgs, choice: TunableChoice): Record<string, HostArray> {
  const tensors: Record<string, HostArray> = {};
  for (const [n, a] of Object.entries(args.tensors)) tensors[n] = a.slice();
  interpret(lowerForTarget(k, 'interp', choice), { tensors, scalars: { ...args.scalars } });
  return Object.fromEntries(k.tensors.filter((t) => t.access !== 'read').map((t) => [t.name, tensors[t.name]]));
}

/** Runs the committed generated/ kernels (webgpu, cuda-emu) or the interpreter on the ops' IR. */
export async function runKernel(backend: Backend, name: string, args: LaunchArgs, choice: TunableChoice = {}): Promise<Record<string, HostArray>> {
  if (backend === 'webgpu') {
    webgpu ??= getGpu().then((gpu) => new WebGpuRuntime(gpu, readGenerated('wgsl')));
    return (await webgpu).run(name, args);
  }
  if (backend === 'cuda-emu') {
    if (!cuda) {
      const g = readGenerated('cuda');
      cuda = new CudaHostRunner(g.manifest, g.sources);
    }
    return cuda.run(name, args);
  }
  if (!kernels.size) for (const k of loadKernels()) kernels.set(k.name, k);
  const k = kernels.get(name);
  if (!k) throw new Error(`unknown kernel ${name}`);
  return runInterp(k, args, choice);
}
