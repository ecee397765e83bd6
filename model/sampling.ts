/**
 * Token choice on the device (ops/sampling/): only token ids (and, when asked, the top-K
 * log-probabilities) come back to the host, never a row of logits. Greedy ties break to
 * the lower token id; temperature / top-k / top-p draws come from a counter-based
 * generator keyed by (seed, step, row), so a run is reproducible.
 */
import type { DeviceTensor } from '../backends/common/kernel-runtime.js';
import type { Recorder } from './gpu/recorder.js';

export interface SamplingParams {
  /** 0 = greedy. */
  readonly temperature: number;
  /** 0 = off. */
  readonly topK: number;
  /** 1 = off. */
  readonly topP: number;
  readonly seed: number;
  /** Top-K log-probabilities per generated token (0 = none). */
  readonly logprobs: number;
}

export const GREEDY: SamplingParams = { temperature: 0, topK: 0, topP: 1, seed: 0, logprobs: 0 };

export class SamplingError extends Error {}

export function checkSampling(p: SamplingParams, vocab: number): void {
  if (!(p.temperature >= 0) || !Number.isFinite(p.temperature)) throw new SamplingError(`temperature must be a finite number >= 0, got ${p.temperature}`);
  if (!Number.isInteger(p.topK) || p.topK < 0) throw new SamplingError(`top-k must be an integer >= 0, got ${p.topK}`);
  if (!(p.topP > 0 && p.topP <= 1)) throw new SamplingError(`top-p must be in (0, 1], got ${p.topP}`);
  if (!Number.isInteger(p.seed) || p.seed < 0 || p.seed > 0xffffffff) throw new SamplingError(`seed must be an integer in [0, 2^32), got ${p.seed}`);
  if (!Number.isInteger(p.logprobs) || p.logprobs < 0 || p.logprobs > Math.min(20, vocab)) throw new SamplingError(`logprobs must be an integer in [0, ${Math.min(20, vocab)}], got ${p.logprobs}`);
}

export interface SampleRecord {
  readonly ids: DeviceTensor;
  readonly top?: { ids: DeviceTensor; logprobs: DeviceTensor; chosen: DeviceTensor };
}

/** Records the choice of one token per logits row (B rows of V); `step` keys the random draws. */
export async function recordSample(r: Recorder, role: string, logits: DeviceTensor, B: number, V: number, p: SamplingParams, step: number): Promise<SampleRecord> {
  const ids = r.tensor(`${role}.ids`, 'i32', B);
  if (p.temperature === 0) {
    await r.launch('sample_greedy', { logits, ids }, { B, V });
  } else {
    await r.launch('sample_token', { logits, ids }, { B, V, temperature: p.temperature, top_k: p.topK, top_p: p.topP, seed: p.seed, step });
  }
  if (!p.logprobs) return { ids };
  const K = p.logprobs;
  const top = { ids: r.tensor(`${role}.topIds`, 'i32', B * K), logprobs: r.tensor(`${role}.topLp`, 'f32', B * K), chosen: r.tensor(`${role}.chosenLp`, 'f32', B) };
  await r.launch('sample_logprobs', { logits, chosen: ids, ids: top.ids, logprobs: top.logprobs, chosen_logprob: top.chosen }, { B, V, K });
  return { ids, top };
}
