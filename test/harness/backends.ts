import fs from 'node:fs';
import path from 'node:path';
import type { ManifestKernel } from '../../compiler/codegen/manifest.js';
import { REPO_ROOT } from '../../compiler/frontend/source.js';
import { lowerFile } from '../../compiler/frontend/index.js';
import { compileKernel, loadKernels } from '../../compiler/compile.js';
import type { Kernel } from '../../compiler/ir/nodes.js';
import { lowerForTarget } from '../../compiler/passes/pipeline.js';
import { interpret } from '../../compiler/interpret/interpret.js';
import type { TunableChoice } from '../../compiler/passes/specialise.js';
import type { HostArray, LaunchArgs } from '../../compiler/launch/args.js';
import { getGpu } from '../../backends/webgpu/device.js';
import { WebGpuRuntime } from '../../backends/webgpu/runtime.js';
import { CudaHostRunner } from '../../backends/cuda/hostRunner.js';

/** Where a kernel runs in tests: SwiftShader WebGPU, generated CUDA on the CPU emulator, the IR interpreter. */
export type Backend = 'webgpu' | 'cuda-emu' | 'interp';
/** All three unless MIMO_TEST_BACKENDS lists some (e.g. "webgpu,interp") for a quicker local run. */
export const BACKENDS: readonly Backend[] = process.env.MIMO_TEST_BACKENDS
  ? (process.env.MIMO_TEST_BACKENDS.split(',') as Backend[])
  : ['webgpu', 'cuda-emu', 'interp'];

type Manifest = { kernels: Record<string, ManifestKernel> };
const readManifest = (target: 'wgsl' | 'cuda'): Manifest => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'generated', target, 'manifest.json'), 'utf8')) as Manifest;

function readGenerated(target: 'wgsl' | 'cuda') {
  const manifest = readManifest(target);
  const dir = path.join(REPO_ROOT, 'generated', target);
  const sources = Object.fromEntries(Object.values(manifest.kernels).map((k) => [k.name, fs.readFileSync(path.join(dir, k.file), 'utf8')]));
  return { manifest, sources };
}

const byFile = new Map<string, Kernel[]>();
let opManifest: Manifest | undefined;
let all: Kernel[] | undefined;

/**
 * The IR of kernel `name` of ops/. Only its own file is lowered (the manifest names it), as a
 * whole ops/ load takes seconds; a kernel generated/ does not list yet is looked for in all of ops/.
 */
export function opKernel(name: string): Kernel {
  const source = (opManifest ??= readManifest('wgsl')).kernels[name]?.source;
  if (source && !byFile.has(source)) byFile.set(source, lowerFile(path.join(REPO_ROOT, source)));
  const found = (source ? byFile.get(source)! : (all ??= loadKernels())).find((k) => k.name === name);
  if (!found) throw new Error(`runKernel: no kernel named ${name} in ops/ (generated/wgsl/manifest.json ${source ? `says ${source}` : 'does not list it either'})`);
  return found;
}

type Runner = (args: LaunchArgs) => Promise<Record<string, HostArray>> | Record<string, HostArray>;
/** Per kernel (by identity) and backend+choice: a variant is compiled once per process. */
const fresh = new WeakMap<Kernel, Map<string, Runner>>();

function freshRunner(backend: Backend, k: Kernel, choice: TunableChoice): Runner {
  if (backend === 'interp') {
    const lowered = lowerForTarget(k, 'interp', choice);
    return (args) => {
      const tensors: Record<string, HostArray> = {};
      for (const [n, a] of Object.entries(args.tensors)) tensors[n] = a.slice();
      interpret(lowered, { tensors, scalars: { ...args.scalars } });
      return Object.fromEntries(k.tensors.filter((t) => t.access !== 'read').map((t) => [t.name, tensors[t.name]]));
    };
  }
  const c = compileKernel(k, backend === 'webgpu' ? 'wgsl' : 'cuda', choice);
  const module = { manifest: { kernels: { [k.name]: c.manifest } }, sources: { [k.name]: c.source } };
  if (backend === 'cuda-emu') {
    const cuda = new CudaHostRunner(module.manifest, module.sources);
    return (args) => cuda.run(k.name, args);
  }
  const rt = getGpu().then((gpu) => new WebGpuRuntime(gpu, module));
  return async (args) => (await rt).run(k.name, args);
}

/**
 * Compiles `k` for the backend now (not from generated/) with the tunables of `choice` and
 * runs it: for test fixtures and kernels that are not in ops/.
 */
export async function runFresh(backend: Backend, k: Kernel, args: LaunchArgs, choice: TunableChoice = {}): Promise<Record<string, HostArray>> {
  const key = `${backend} ${JSON.stringify(Object.entries(choice).sort())}`;
  let variants = fresh.get(k);
  if (!variants) fresh.set(k, (variants = new Map()));
  if (!variants.has(key)) variants.set(key, freshRunner(backend, k, choice));
  return variants.get(key)!(args);
}

let webgpu: Promise<WebGpuRuntime> | undefined;
let cuda: CudaHostRunner | undefined;

/**
 * Runs kernel `name` of ops/: webgpu and cuda-emu run the committed generated/ build, the
 * interpreter the IR. A tunable choice is compiled now, for that backend, on every backend.
 */
export async function runKernel(backend: Backend, name: string, args: LaunchArgs, choice: TunableChoice = {}): Promise<Record<string, HostArray>> {
  // MIMO_TEST_FRESH=1: compile ops/ now instead of reading generated/ (while kernels are being edited).
  if (backend === 'interp' || Object.keys(choice).length || process.env.MIMO_TEST_FRESH) return runFresh(backend, opKernel(name), args, choice);
  if (backend === 'webgpu') {
    webgpu ??= getGpu().then((gpu) => new WebGpuRuntime(gpu, readGenerated('wgsl')));
    return (await webgpu).run(name, args);
  }
  if (!cuda) {
    const g = readGenerated('cuda');
    cuda = new CudaHostRunner(g.manifest, g.sources);
  }
  return cuda.run(name, args);
}
