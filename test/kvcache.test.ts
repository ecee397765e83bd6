/**
 * The KV-cache manager's contract (model/kvcache.ts): ring sizing, several sequences with
 * their own lengths, truncation only backwards, and named errors for capacity overflow and
 * bad sequence ids. (That truncation restores exactly what later queries see is shown end
 * to end in mtp.test.ts: after speculative runs the visible caches equal plain decoding's
 * bit for bit.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KvCache, KvCacheError } from '../model/kvcache.js';
import { modelRuntime } from '../model/load.js';
import { presetConfig } from '../model/presets.js';

const rt = await modelRuntime();
const cfg = presetConfig('tiny');
const throwsKv = (f: () => unknown, message: RegExp) => {
  try {
    f();
    assert.unreachable('no error');
  } catch (e) {
    assert.instance(e, KvCacheError);
    assert.match((e as Error).message, message);
  }
};

test('layout: global layers keep every position, SWA and MTP layers window + slack ring slots', () => {
  const kv = new KvCache(rt, cfg, { sequences: 3, maxContext: 99, mtpLayers: 3 });
  assert.is(kv.R, 128 + 4);
  assert.is(kv.SMAX, 100, 'rounded up to even: a sequence slice is a 256-byte-aligned view');
  assert.equal(kv.layers.map((l) => l.kind), ['global', 'swa', 'swa', 'swa', 'swa', 'global']);
  assert.is(kv.layers[0].k.length, 3 * 100 * 1 * 192);
  assert.is(kv.layers[1].v.length, 3 * 132 * 2 * 128);
  assert.is(kv.mtp.length, 3);
  assert.is(kv.mtp[2].k.length, 3 * 132 * 2 * 192);
  const view = kv.view(kv.layers[0].k, 2);
  assert.is(view.offset! % 256, 0);
  assert.is(view.length, 100 * 192);
  kv.destroy();
});

test('sequences have their own lengths per stream; truncation goes back only', () => {
  const kv = new KvCache(rt, cfg, { sequences: 2, maxContext: 40, mtpLayers: 1 });
  const a = kv.allocate(), b = kv.allocate();
  assert.equal([a, b], [0, 1]);
  kv.advance(a, 30);
  kv.advance(b, 7);
  kv.advance(a, 4, 1);
  assert.equal([kv.length(a), kv.length(b), kv.length(a, 1), kv.length(b, 1)], [30, 7, 4, 0]);
  kv.truncate(a, 26);
  assert.is(kv.length(a), 26);
  throwsKv(() => kv.truncate(b, 8), /cannot truncate sequence 1 \(stream 0\) from 7 to 8/);
  kv.release(a);
  assert.is(kv.allocate(), 0, 'a released slot is reused, empty');
  assert.is(kv.length(0), 0);
  kv.destroy();
});

test('capacity overflow, bad sequence ids and bad sizes are named errors', () => {
  const kv = new KvCache(rt, cfg, { sequences: 2, maxContext: 40 });
  const a = kv.allocate();
  kv.advance(a, 38);
  throwsKv(() => kv.advance(a, 3), /sequence 0 would hold 41 positions, capacity is 40/);
  throwsKv(() => kv.length(1), /no sequence 1 \(live: 0\)/);
  throwsKv(() => kv.advance(-1, 1), /no sequence -1/);
  throwsKv(() => kv.length(a, 2), /no stream 2/);
  kv.allocate();
  throwsKv(() => kv.allocate(), /all 2 sequence slots are in use/);
  throwsKv(() => new KvCache(rt, cfg, { sequences: 0, maxContext: 8 }), /sequences must be a positive integer, got 0/);
  throwsKv(() => new KvCache(rt, cfg, { sequences: 1, maxContext: 4096 }), /maxContext 4096 exceeds the model's max_position_embeddings 2048/);
  kv.destroy();
});

test.run();
