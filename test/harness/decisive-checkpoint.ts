/**
 * Tiny mimo-init checkpoints for comparisons with the float64 reference, with decisive
 * routing: e_score_correction_bias[e] = 2e, so every token takes the two highest-numbered
 * experts (with continuous weights). With random weights some token always sits on a
 * near-tie between two experts that bf16 (or FP8) activations may flip, and one flip moves
 * its logits by units; the grouped GEMMs, permutation and combine still run on every token,
 * and routing itself is checked against transformers (model-forward.test.ts).
 */
import path from 'node:path';
import { PRESET_JSON } from '../../model/presets.js';
import { openCheckpoint } from '../../model/weights/checkpoint.js';
import { checkpointConfigJson, writeRandomCheckpoint } from '../../model/weights/init.js';
import { writeSafetensors, type TensorToWrite } from '../../model/weights/safetensors-write.js';
import type { WeightFn } from './model-reference.js';

/** Writes a tiny checkpoint with decisive routing into `dir`. */
export async function decisiveCheckpoint(dir: string, fp8: boolean, mtp: boolean, seed = 5): Promise<string> {
  await writeRandomCheckpoint(dir, checkpointConfigJson(PRESET_JSON.tiny, 'preset tiny', fp8), 'preset tiny', { fp8, mtp, seed });
  const ck = await openCheckpoint(dir);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, t] of ck.tensors) {
    let data = await ck.read(name);
    if (name.endsWith('e_score_correction_bias')) data = new Uint8Array(Float32Array.from({ length: t.shape[0] }, (_, e) => 2 * e).buffer);
    tensors[name] = { dtype: t.dtype, shape: [...t.shape], data };
  }
  await ck.close();
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors, {});
  return dir;
}

/** Every tensor of a checkpoint as float64, FP8 weights dequantised (e4m3 value x weight_scale_inv of its 128x128 block). */
export async function dequantised(dir: string): Promise<WeightFn> {
  const ck = await openCheckpoint(dir);
  const out = new Map<string, Float64Array>();
  for (const [name, t] of ck.tensors) {
    if (name.endsWith('.weight_scale_inv')) continue;
    const v = Float64Array.from(await ck.readAsF32(name));
    const scaleName = name.replace(/\.weight$/, '.weight_scale_inv');
    if (t.dtype === 'F8_E4M3' && ck.tensors.has(scaleName)) {
      const s = await ck.readAsF32(scaleName);
      const [N, K] = t.shape;
      const KB = Math.ceil(K / 128);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) v[n * K + k] *= s[Math.floor(n / 128) * KB + Math.floor(k / 128)];
    }
    out.set(name, v);
  }
  await ck.close();
  return (name) => {
    const v = out.get(name);
    if (!v) throw new Error(`no tensor ${name}`);
    return v;
  };
}
