/**
 * Seeded random checkpoints for any config, as dequantised float64 tensors (every tensor
 * of checkpointShapes). Scales keep the residual stream O(1) over the layers and the
 * logits a few units apart, so property tests see sharp, non-degenerate outputs: Linear
 * weights of std 1/sqrt(fan_in), embeddings of std 1, norms 1 ± 0.1, sinks in [-1, 1),
 * router biases in [-0.05, 0.05).
 */
import type { MimoConfig } from '../../../model/config.js';
import { uniform } from '../prng.js';
import type { WeightFn } from './blocks.js';
import { checkpointShapes } from './shapes.js';

const SQRT3 = Math.sqrt(3);

function scaled(seed: number, n: number, std: number): Float64Array {
  return uniform(seed, n, -SQRT3 * std, SQRT3 * std);
}

export function randomWeights(cfg: MimoConfig, seed: number): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  let i = 0;
  for (const [name, shape] of checkpointShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const s = seed * 7919 + i++;
    if (name === 'model.embed_tokens.weight') out.set(name, scaled(s, n, 1));
    else if (name.endsWith('norm.weight')) out.set(name, uniform(s, n, 0.9, 1.1));
    else if (name.endsWith('attention_sink_bias')) out.set(name, uniform(s, n, -1, 1));
    else if (name.endsWith('e_score_correction_bias')) out.set(name, uniform(s, n, -0.05, 0.05));
    else out.set(name, scaled(s, n, (name === 'lm_head.weight' ? 2 : 1) / Math.sqrt(shape[1])));
  }
  return out;
}

/** A WeightFn over a map; a missing tensor is an error naming it. */
export function weightFn(map: ReadonlyMap<string, Float64Array>): WeightFn {
  return (name) => {
    const t = map.get(name);
    if (!t) throw new Error(`weights: no tensor '${name}' (have ${map.size})`);
    return t;
  };
}
