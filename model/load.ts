/**
 * From a checkpoint directory to a Model on a device: open (headers only), validate every
 * tensor name, shape and dtype, upload the weights with a progress bar, and load the
 * tokenizer when the directory has one.
 */
import { getGpu } from '../backends/webgpu/device.js';
import { WebGpuRuntime, type WgslModule } from '../backends/webgpu/runtime.js';
import * as wgsl from '../generated/wgsl/kernels.js';
import { Model } from './generate.js';
import { uploadWeights } from './gpu/weights.js';
import { loadTokenizer, type LoadedTokenizer } from './tokenizer.js';
import { openCheckpoint, validateCheckpoint } from './weights/checkpoint.js';
import { createProgress } from './weights/progress.js';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The runtime over generated/wgsl on this process's device. */
export async function modelRuntime(): Promise<WebGpuRuntime> {
  return new WebGpuRuntime(await getGpu(), wgsl as unknown as WgslModule);
}

export interface LoadedModel {
  readonly model: Model;
  readonly tokenizer?: LoadedTokenizer;
  readonly hasMtp: boolean;
}

export async function loadCheckpointModel(dir: string, opts: { mtp?: boolean; progress?: boolean } = {}): Promise<LoadedModel> {
  const ck = await openCheckpoint(dir);
  try {
    const { hasMtp } = validateCheckpoint(ck);
    if (opts.mtp && !hasMtp) throw new Error(`${dir}: the checkpoint has no model.mtp.* layers (transformers' save_pretrained drops them); run without --mtp`);
    const rt = await modelRuntime();
    const cfg = ck.config;
    const mtpLayers = opts.mtp ? cfg.mtpLayers : 0;
    const total = [...ck.tensors.entries()].filter(([n]) => mtpLayers || !n.startsWith('model.mtp.')).reduce((a, [, t]) => a + t.end - t.begin, 0);
    const progress = opts.progress ? createProgress({ total, label: 'weights' }) : undefined;
    const weights = await uploadWeights(rt, ck, cfg, mtpLayers, progress);
    progress?.done();
    const tokenizer = existsSync(path.join(dir, 'tokenizer.json')) ? await loadTokenizer(dir) : undefined;
    return { model: new Model(rt, cfg, weights), tokenizer, hasMtp };
  } finally {
    await ck.close();
  }
}
