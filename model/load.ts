/**
 * From a checkpoint directory to a Model on a device: open (headers only), validate every
 * tensor name, shape and dtype, upload the weights with a progress bar, and load the
 * tokenizer when the directory has one. The backend is a flag: WebGPU (generated/wgsl),
 * the CUDA CPU emulator or a CUDA GPU (generated/cuda).
 */
import { getGpu } from '../backends/webgpu/device.js';
import { WebGpuRuntime } from '../backends/webgpu/runtime.js';
import { CudaEmuRuntime } from '../backends/cuda/emu-runtime.js';
import type { BackendName, KernelRuntime } from '../backends/common/kernel-runtime.js';
import * as wgsl from '#generated/wgsl/kernels.js';
import { Model } from './generate.js';
import { uploadWeights } from './gpu/weights.js';
import { loadTokenizer, type LoadedTokenizer } from './tokenizer.js';
import { CheckpointError, openCheckpoint, validateCheckpoint } from './weights/checkpoint.js';
import { createProgress } from './weights/progress.js';
import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The runtime over the generated kernels for `backend` (default WebGPU on this process's
 * device); the caller closes it (a no-op for WebGPU, whose device is shared).
 */
export async function modelRuntime(backend: BackendName = 'webgpu'): Promise<KernelRuntime> {
  if (backend === 'webgpu') return new WebGpuRuntime(await getGpu(), wgsl);
  if (backend === 'cuda-emu') return CudaEmuRuntime.open();
  // Loaded on demand: the native runtime's addon is only needed, and only loads, when asked for.
  if (backend === 'cuda') return (await import('../backends/cuda/runtime.js')).openCuda();
  throw new Error(`unknown backend '${String(backend)}' (expected webgpu, cuda-emu or cuda)`);
}

export interface LoadedModel {
  readonly model: Model;
  readonly tokenizer?: LoadedTokenizer;
  readonly hasMtp: boolean;
}

export interface LoadOptions {
  readonly mtp?: boolean;
  readonly progress?: boolean;
  /** Default webgpu. */
  readonly backend?: BackendName;
}

export async function loadCheckpointModel(dir: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const ck = await openCheckpoint(dir);
  try {
    const { hasMtp } = validateCheckpoint(ck);
    if (opts.mtp && !hasMtp) throw new CheckpointError(`${dir}: the checkpoint has no model.mtp.* layers (transformers' save_pretrained drops them); run without --mtp`);
    const rt = await modelRuntime(opts.backend);
    try {
      const cfg = ck.config;
      const mtpLayers = opts.mtp ? cfg.mtpLayers : 0;
      const total = [...ck.tensors.entries()].filter(([n]) => mtpLayers || !n.startsWith('model.mtp.')).reduce((a, [, t]) => a + t.end - t.begin, 0);
      const progress = opts.progress ? createProgress({ total, label: 'weights' }) : undefined;
      const weights = await uploadWeights(rt, ck, cfg, mtpLayers, progress);
      progress?.done();
      const tokenizer = existsSync(path.join(dir, 'tokenizer.json')) ? await loadTokenizer(dir) : undefined;
      return { model: new Model(rt, cfg, weights), tokenizer, hasMtp };
    } catch (e) {
      rt.close();
      throw e;
    }
  } finally {
    await ck.close();
  }
}
