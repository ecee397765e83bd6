import { cdiv } from '../../ops/moe/shapes.js';

/**
 * How many splits P global_decode_partial cuts each sequence's keys into (flash-decoding
 * split-K; decode_merge combines them). The kernel launches B * HKV * rowTiles * P
 * workgroups (rowTiles = cdiv(G * NQ, BR): the packed query rows of one KV head); with one
 * split per (sequence, KV head) a batch-16 step fills 64 of an H200's 132 SMs. The rule:
 *  - enough workgroups for BLOCKS_PER_SM per SM, so that several tiles' loads are in
 *    flight on every SM (the CUDA tile takes 37 KiB of shared memory: 6 fit per SM);
 *  - but every split at least MIN_KEYS keys (a few 64-key tiles), so that the partial
 *    states and the merge stay small next to the K/V bytes;
 *  - and at most MAX_SPLITS, which bounds decode_merge's loop and the partial buffers.
 * `sms` is the GPU's SM count (CUDA: the device's multiProcessorCount); a runtime that
 * cannot tell (WebGPU) passes nothing and gets an H200's.
 */
export const DEFAULT_SMS = 132;
export const BLOCKS_PER_SM = 4;
export const MIN_KEYS = 256;
export const MAX_SPLITS = 64;

export interface DecodeShape {
  /** Sequences in the step (cache slots). */
  readonly B: number;
  readonly HQ: number;
  readonly HKV: number;
  /** New tokens per sequence (1, or up to 4 in an MTP verify step). */
  readonly NQ: number;
  /** The longest sequence's keys. */
  readonly maxLen: number;
  /** Packed rows per workgroup (global_decode_partial's BR; 16 on every target by default). */
  readonly BR?: number;
}

export function decodeSplits(s: DecodeShape, sms: number = DEFAULT_SMS): number {
  for (const [name, v] of Object.entries({ B: s.B, HQ: s.HQ, HKV: s.HKV, NQ: s.NQ, sms, BR: s.BR ?? 16 })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`decodeSplits: ${name} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(s.maxLen) || s.maxLen < 0) throw new Error(`decodeSplits: maxLen must be a non-negative integer, got ${s.maxLen}`);
  const rowTiles = cdiv((s.HQ / s.HKV) * s.NQ, s.BR ?? 16);
  const forOccupancy = cdiv(sms * BLOCKS_PER_SM, s.B * s.HKV * rowTiles);
  const forLength = Math.max(1, Math.floor(s.maxLen / MIN_KEYS));
  return Math.min(MAX_SPLITS, forOccupancy, forLength);
}
