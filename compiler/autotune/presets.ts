import type { Kernel } from '../ir/nodes.js';
import type { DType } from '../ir/types.js';
import { packArray, type NarrowType } from '../ir/numerics.js';
import { HOST_ARRAY, type HostArray } from '../launch/args.js';
import { elementCount, evalSize } from '../ir/size.js';

export type PresetName = 'tiny' | 'mimo-v2-flash';

/**
 * The shapes each kernel runs at under a preset (Triton's autotune key is the shape;
 * ours is its power-of-two bucket). `tiny` fits a software GPU in minutes;
 * `mimo-v2-flash` is what the model runs (prefill and decode shapes), for real GPUs.
 */
export const PRESETS: Record<string, Record<PresetName, readonly Record<string, number>[]>> = {
  swiglu: { tiny: [{ N: 4 * 2048 }], 'mimo-v2-flash': [{ N: 4096 * 2048 }, { N: 8 * 16384 }] },
  rmsnorm: { tiny: [{ T: 4, D: 4096 }], 'mimo-v2-flash': [{ T: 4096, D: 4096 }, { T: 8, D: 4096 }] },
  softmax: { tiny: [{ R: 8, N: 1024 }], 'mimo-v2-flash': [{ R: 4096, N: 4096 }] },
  gemm_f32: { tiny: [{ M: 128, N: 128, K: 128 }], 'mimo-v2-flash': [{ M: 4096, N: 4096, K: 4096 }, { M: 8, N: 4096, K: 4096 }] },
  gemm_bf16: { tiny: [{ M: 128, N: 128, K: 128 }], 'mimo-v2-flash': [{ M: 4096, N: 4096, K: 4096 }, { M: 8, N: 4096, K: 4096 }] },
};

/** A kernel the autotuner cannot make inputs for. */
export class InputsError extends Error {}

/** Deterministic values in [-1, 1): random, not all ones (which flatters some kernels). */
function randomValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Inputs for one launch: floats random, outputs zero. Kernels whose integer inputs are
 * indices (offsets, positions) need their own builder and are listed in INPUTS.
 */
export function buildInputs(k: Kernel, dims: Readonly<Record<string, number>>): Record<string, HostArray> {
  const custom = INPUTS[k.name];
  if (custom) return custom(dims);
  const out: Record<string, HostArray> = {};
  k.tensors.forEach((t, i) => {
    const n = evalSize(elementCount(t.shape), { ...k.consts, ...dims });
    if (t.access !== 'read') out[t.name] = HOST_ARRAY[t.dtype as Exclude<DType, 'bool'>].create(n);
    else if (t.dtype === 'f32') out[t.name] = randomValues(n, 17 + i);
    else if (t.dtype === 'i32' || t.dtype === 'u32') throw new InputsError(`kernel ${k.name}: integer input '${t.name}' has no input builder (INPUTS in compiler/autotune/presets.ts); the autotuner fills only float inputs with random values`);
    else out[t.name] = packArray(t.dtype as NarrowType, randomValues(n, 17 + i));
  });
  return out;
}

export const INPUTS: Record<string, (dims: Readonly<Record<string, number>>) => Record<string, HostArray>> = {};
