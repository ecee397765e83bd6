import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BLOCKS_PER_SM, MAX_SPLITS, MIN_KEYS, decodeSplits } from '../model/gpu/decode-splits.js';

/**
 * The host's split-K choice for global_decode_partial (model/gpu/decode-splits.ts), against
 * the rule worked by hand: workgroups = B * HKV * cdiv(G * NQ, 16) * P.
 */
const t = suite('decode splits');
const flash = { HQ: 64, HKV: 4 };

t('MiMo-V2-Flash batch 16 at 32K on an H200: 9 splits, 576 workgroups (>= 4 per SM of 132)', () => {
  const P = decodeSplits({ B: 16, ...flash, NQ: 1, maxLen: 32768 }, 132);
  assert.is(P, 9);
  assert.ok(16 * 4 * P >= 132 * BLOCKS_PER_SM && 16 * 4 * (P - 1) < 132 * BLOCKS_PER_SM);
});

t('one sequence: enough splits to fill the GPU, capped at MAX_SPLITS', () => {
  assert.is(decodeSplits({ B: 1, ...flash, NQ: 1, maxLen: 262144 }, 132), Math.min(MAX_SPLITS, Math.ceil(528 / 4)));
  assert.is(decodeSplits({ B: 1, ...flash, NQ: 1, maxLen: 262144 }, 16), 16);
});

t('short contexts: every split keeps at least MIN_KEYS keys, and there is always one', () => {
  assert.is(decodeSplits({ B: 1, ...flash, NQ: 1, maxLen: 3 * MIN_KEYS + 5 }, 132), 3);
  assert.is(decodeSplits({ B: 1, ...flash, NQ: 1, maxLen: 10 }, 132), 1);
  assert.is(decodeSplits({ B: 1, ...flash, NQ: 1, maxLen: 0 }, 132), 1);
});

t('MTP verify (NQ = 4): 64 packed rows are 4 row tiles, so fewer splits fill the GPU', () => {
  assert.is(decodeSplits({ B: 16, ...flash, NQ: 4, maxLen: 32768 }, 132), 3);
  assert.is(decodeSplits({ B: 16, ...flash, NQ: 4, maxLen: 32768, BR: 64 }, 132), 9);
});

t('a big batch needs no split', () => {
  assert.is(decodeSplits({ B: 256, ...flash, NQ: 1, maxLen: 32768 }, 132), 1);
});

t('bad shapes are errors that name the argument', () => {
  assert.throws(() => decodeSplits({ B: 0, ...flash, NQ: 1, maxLen: 10 }), /decodeSplits: B must be a positive integer, got 0/);
  assert.throws(() => decodeSplits({ B: 1, ...flash, NQ: 1, maxLen: -1 }), /maxLen must be a non-negative integer, got -1/);
  assert.throws(() => decodeSplits({ B: 1, ...flash, NQ: 1, maxLen: 10 }, 0), /sms must be a positive integer, got 0/);
});

t.run();
