import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decode, FORMATS } from '../compiler/ir/numerics.js';
import { PRESET_JSON, presetConfig } from '../model/presets.js';
import { openCheckpoint, validateCheckpoint, type Checkpoint } from '../model/weights/checkpoint.js';
import { writeRandomCheckpoint } from '../model/weights/init.js';
import { expectedTensors } from '../model/weights/names.js';
import { DTYPE_SIZE, nodeFileIo, SafetensorsFile, type Dtype, type FileIo } from '../model/weights/safetensors.js';
import { writeSafetensors, type TensorToWrite } from '../model/weights/safetensors-write.js';
import { prng } from './harness/prng.js';

/**
 * The safetensors reader/writer and the checkpoint loader/validator. The file layout is
 * checked against bytes the test assembles itself (not only writer -> reader), laziness
 * with a spy on every positioned read, and each refusal by the words of its message:
 * the file, the tensor, expected and actual.
 */
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-weights-'));
let fileNo = 0;
const tmpFile = () => path.join(tmp, `f${fileNo++}.safetensors`);
const randomBytes = (n: number, seed: number) => {
  const r = prng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
};

/** A safetensors file from a raw header object and data area, independent of writeSafetensors. */
function rawFile(header: unknown, data: Uint8Array, headerText = JSON.stringify(header)): string {
  const h = Buffer.from(headerText);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const p = tmpFile();
  fs.writeFileSync(p, Buffer.concat([len, h, data]));
  return p;
}

async function rejects(p: Promise<unknown>, ...parts: string[]): Promise<string> {
  try {
    await p;
  } catch (e) {
    const msg = (e as Error).message;
    for (const part of parts) assert.ok(msg.includes(part), `message ${JSON.stringify(msg)} lacks ${JSON.stringify(part)}`);
    return msg;
  }
  assert.unreachable(`expected a rejection mentioning ${parts.join(', ')}`);
  return '';
}

test('writer -> reader round trip on every dtype, odd and empty shapes, metadata', async () => {
  const shapes: number[][] = [[3, 5], [7], [], [2, 0, 3], [1, 1, 13]];
  const tensors: Record<string, TensorToWrite> = {};
  Object.keys(DTYPE_SIZE).forEach((dtype, i) => {
    const shape = shapes[i % shapes.length];
    const n = shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[dtype as Dtype];
    tensors[`t.${dtype.toLowerCase()}.${i}`] = { dtype: dtype as Dtype, shape, data: randomBytes(n, i) };
  });
  const p = tmpFile();
  await writeSafetensors(p, tensors, { format: 'pt', note: 'é' });
  const f = await SafetensorsFile.open(p);
  assert.equal(f.metadata, { format: 'pt', note: 'é' });
  assert.is(f.tensors.size, Object.keys(tensors).length);
  for (const [name, t] of Object.entries(tensors)) {
    const info = f.info(name);
    assert.is(info.dtype, t.dtype, name);
    assert.equal(info.shape, t.shape, name);
    assert.equal(await f.read(name), t.data as Uint8Array, name);
  }
  await f.close();

  // The layout itself, parsed here by hand: space padding to 8, sorted names, contiguous offsets.
  const bytes = fs.readFileSync(p);
  const n = Number(bytes.readBigUInt64LE(0));
  assert.is(n % 8, 0, 'header length is a multiple of 8');
  const text = bytes.subarray(8, 8 + n).toString('utf8');
  assert.ok(/^\{.*\} *$/.test(text) && text.trimEnd().length > n - 8, 'header is JSON then fewer than 8 spaces');
  const header = JSON.parse(text);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  assert.equal(names, [...names].sort(), 'tensors in sorted order');
  let end = 0;
  for (const k of names) {
    assert.is(header[k].data_offsets[0], end, `${k} starts where the previous ended`);
    end = header[k].data_offsets[1];
  }
  assert.is(bytes.length, 8 + n + end, 'file = length + header + data, nothing else');
  const short = tmpFile();
  await rejects(writeSafetensors(short, { a: { dtype: 'U8', shape: [1], data: new Uint8Array(1) }, w: { dtype: 'BF16', shape: [2, 3], data: () => new Uint8Array(10) } }), short, "tensor 'w' has 10 bytes, shape [2, 3] of BF16 needs 12");
  assert.ok(!fs.existsSync(short), 'no half-written file left');
  await rejects(writeSafetensors(tmpFile(), { __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }), "'__metadata__' is reserved");
});

test('reads a hand-assembled file, decoding BF16/F16/F8/F32 as numerics.decode does', async () => {
  const values = [1, -2.5, 0.15625, 0, -0.001953125];
  const bf16 = Uint16Array.from(values, (v) => new Uint32Array(new Float32Array([v]).buffer)[0] >>> 16);
  const f32 = new Float32Array(values);
  const e4m3 = Uint8Array.from([0x38, 0xc4, 0x7e, 0x01, 0x80]); // 1, -3, 448, 2^-9, -0
  const f16 = Uint16Array.from([0x3c00, 0xc100, 0x7bff, 0x0001, 0x8000]); // 1, -2.5, 65504, 2^-24, -0
  const parts = [new Uint8Array(bf16.buffer), new Uint8Array(f32.buffer), e4m3, new Uint8Array(f16.buffer)];
  const [a, b, c] = [10, 30, 35];
  const p = rawFile({
    __metadata__: { format: 'pt' },
    x_f32: { dtype: 'F32', shape: [5], data_offsets: [a, b] },
    x_bf16: { dtype: 'BF16', shape: [5, 1], data_offsets: [0, a] },
    x_f16: { dtype: 'F16', shape: [1, 5], data_offsets: [c, c + 10] },
    x_e4m3: { dtype: 'F8_E4M3', shape: [5], data_offsets: [b, c] },
  }, Buffer.concat(parts));
  const dir = path.join(tmp, 'handmade');
  fs.mkdirSync(dir);
  fs.renameSync(p, path.join(dir, 'model.safetensors'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(PRESET_JSON.tiny));
  const ck = await openCheckpoint(dir);
  assert.equal(Array.from(await ck.readAsF32('x_bf16')), values);
  assert.equal(Array.from(await ck.readAsF32('x_f32')), values);
  assert.equal(Array.from(await ck.readAsF32('x_e4m3')), [1, -3, 448, 2 ** -9, -0]);
  assert.equal(Array.from(await ck.readAsF32('x_f16')), [1, -2.5, 65504, 2 ** -24, -0]);
  assert.ok(Object.is((await ck.readAsF32('x_e4m3'))[4], decode(FORMATS.fp8e4m3, 0x80)), 'sign of zero kept');
  await ck.close();
});

test('lazy: opening reads only the header; a tensor read touches only its bytes', async () => {
  const MB = 1 << 20;
  const p = tmpFile();
  const tensors = { a: randomBytes(MB, 1), b: randomBytes(MB + 6, 2), c: randomBytes(MB, 3) };
  await writeSafetensors(p, Object.fromEntries(Object.entries(tensors).map(([k, d]) => [k, { dtype: 'U8' as Dtype, shape: [d.length], data: d }])));
  const reads: [number, number][] = [];
  const spy: FileIo = {
    async open(file) {
      const inner = await nodeFileIo.open(file);
      return { size: inner.size, close: inner.close, read: (into, pos) => (reads.push([pos, into.length]), inner.read(into, pos)) };
    },
  };
  const f = await SafetensorsFile.open(p, spy);
  const headerLen = Number(fs.readFileSync(p).readBigUInt64LE(0));
  assert.equal(reads, [[0, 8], [8, headerLen]], 'open = length + header');
  reads.length = 0;
  assert.equal(await f.read('b'), tensors.b);
  const b = f.info('b');
  assert.equal(reads, [[b.begin, MB + 6]], 'one read, exactly the tensor');
  assert.is(b.begin, 8 + headerLen + MB);
  await f.close();
});

test('corrupt files: each refusal names the file, the tensor and expected vs actual', async () => {
  const t = (o: object) => ({ dtype: 'F32', shape: [2], data_offsets: [0, 8], ...o });
  const d8 = new Uint8Array(8);
  let p = rawFile(null, d8, '{"x": {"dtype": "F32", "shape": [2], ');
  await rejects(SafetensorsFile.open(p), p, 'header is not valid JSON');
  // A header length past the end of the file.
  p = tmpFile();
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(500n);
  fs.writeFileSync(p, Buffer.concat([len, Buffer.from('{}')]));
  await rejects(SafetensorsFile.open(p), p, 'header length 500 runs past the end of the 10-byte file');
  len.writeBigUInt64LE(1n << 40n);
  fs.writeFileSync(p, Buffer.concat([len, Buffer.from('{}')]));
  await rejects(SafetensorsFile.open(p), p, `header length ${2 ** 40}`, 'limit');
  fs.writeFileSync(p, Buffer.from([1, 2, 3]));
  await rejects(SafetensorsFile.open(p), p, 'is 3 bytes');
  await rejects(SafetensorsFile.open(rawFile({ x: t({ dtype: 'F12' }) }, d8)), "tensor 'x'", 'unknown dtype "F12"', 'F8_E4M3');
  await rejects(SafetensorsFile.open(rawFile({ x: t({ data_offsets: [8, 0] }) }, d8)), "tensor 'x'", '[8, 0] are out of order');
  await rejects(SafetensorsFile.open(rawFile({ x: t({ shape: [3] }) }, d8)), "tensor 'x'", 'mis-sized', 'hold 8 bytes', 'shape [3] of F32 needs 12');
  await rejects(SafetensorsFile.open(rawFile({ x: t({ shape: [-1] }) }, d8)), "tensor 'x'", 'shape must be a list of non-negative integers, got [-1]');
  await rejects(SafetensorsFile.open(rawFile({ x: t({}), y: t({ data_offsets: [4, 12] }) }, new Uint8Array(12))), "tensor 'y'", "overlap 'x'", 'ends at 8');
  await rejects(SafetensorsFile.open(rawFile({ y: t({ data_offsets: [4, 12] }) }, new Uint8Array(12))), "tensor 'y'", 'start at 4, expected 0');
  await rejects(SafetensorsFile.open(rawFile({ x: t({}) }, new Uint8Array(9))), 'data area has 9 bytes but the tensors cover only 8');
  await rejects(SafetensorsFile.open(rawFile({ __metadata__: { n: 1 } }, new Uint8Array(0))), '__metadata__.n must be a string, got 1');
  // Truncated: a real file with its last bytes cut off.
  p = tmpFile();
  await writeSafetensors(p, { a: { dtype: 'BF16', shape: [4, 4], data: new Uint8Array(32) }, z: { dtype: 'I64', shape: [3], data: new Uint8Array(24) } });
  fs.truncateSync(p, fs.statSync(p).size - 5);
  await rejects(SafetensorsFile.open(p), p, "tensor 'z'", 'truncated', 'data area has 51 bytes, the tensors need 56');
});

const tinyDir = path.join(tmp, 'tiny');
const writeTiny = (dir: string, opts: { fp8?: boolean; mtp?: boolean; maxShardBytes?: number } = {}) =>
  writeRandomCheckpoint(dir, PRESET_JSON.tiny, 'preset tiny', { fp8: false, mtp: true, seed: 5, ...opts });
const withCheckpoint = async <T>(dir: string, f: (c: Checkpoint) => Promise<T> | T): Promise<T> => {
  const c = await openCheckpoint(dir);
  try {
    return await f(c);
  } finally {
    await c.close();
  }
};

test('a mimo-init checkpoint validates; without MTP tensors hasMtp is false unless MTP is required', async () => {
  await writeTiny(tinyDir);
  await withCheckpoint(tinyDir, (c) => {
    assert.equal(validateCheckpoint(c), { hasMtp: true });
    assert.is(c.tensors.size, expectedTensors(c.config, { fp8: false, mtp: true }).length);
  });
  const noMtp = path.join(tmp, 'tiny-nomtp');
  await writeTiny(noMtp, { mtp: false });
  await withCheckpoint(noMtp, (c) => {
    assert.equal(validateCheckpoint(c), { hasMtp: false });
    assert.throws(() => validateCheckpoint(c, { allowMissingMtp: false }), /missing tensor 'model\.mtp\.layers\.0\.enorm\.weight' \(expected \[256\] BF16\)/);
  });
});

test('sharded checkpoints: the index maps names to files; the same bytes as one file', async () => {
  const dir = path.join(tmp, 'tiny-sharded');
  const res = await writeTiny(dir, { maxShardBytes: 3_000_000 });
  assert.ok(res.shards.length >= 6, `${res.shards.length} shards`);
  assert.ok(fs.existsSync(path.join(dir, 'model.safetensors.index.json')) && !fs.existsSync(path.join(dir, 'model.safetensors')));
  await withCheckpoint(dir, async (sharded) => {
    assert.equal(validateCheckpoint(sharded), { hasMtp: true });
    assert.is(new Set([...sharded.tensors.values()].map((t) => t.file)).size, res.shards.length);
    await withCheckpoint(tinyDir, async (single) => {
      for (const name of ['model.embed_tokens.weight', 'model.layers.3.mlp.experts.7.down_proj.weight', 'model.mtp.layers.2.final_layernorm.weight']) {
        assert.equal(await sharded.read(name), await single.read(name), name);
      }
    });
  });
  // The index claims a tensor its file lacks; then a file that is not there.
  const indexPath = path.join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  const victim = 'model.layers.2.self_attn.q_proj.weight';
  const file = index.weight_map[victim];
  const other = res.shards.find((s) => s.file !== file)!.file;
  fs.writeFileSync(indexPath, JSON.stringify({ ...index, weight_map: { ...index.weight_map, [victim]: other } }));
  await rejects(openCheckpoint(dir), path.join(dir, file), `'${victim}'`, `assigns to ${other}`);
  fs.writeFileSync(indexPath, JSON.stringify({ ...index, weight_map: { ...index.weight_map, 'extra.weight': other } }));
  await rejects(openCheckpoint(dir), path.join(dir, other), "lacks tensor 'extra.weight'");
  fs.writeFileSync(indexPath, JSON.stringify({ ...index, weight_map: { ...index.weight_map, [victim]: 'model-gone.safetensors' } }));
  await rejects(openCheckpoint(dir), indexPath, 'lists model-gone.safetensors, which does not exist');
});

test('validation lists every problem: missing, unexpected, wrong shape, wrong dtype', async () => {
  const dir = path.join(tmp, 'tiny-broken');
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(tinyDir, 'config.json'), path.join(dir, 'config.json'));
  const tensors: Record<string, TensorToWrite> = {};
  for (const e of expectedTensors(presetConfig('tiny'), { fp8: false, mtp: true })) {
    tensors[e.name] = { dtype: e.dtype, shape: e.shape, data: new Uint8Array(e.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[e.dtype]) };
  }
  delete tensors['model.layers.4.post_attention_layernorm.weight'];
  tensors['model.layers.4.mlp.shared_experts.up_proj.weight'] = { dtype: 'BF16', shape: [2, 2], data: new Uint8Array(8) };
  tensors['model.layers.0.mlp.down_proj.weight'] = { dtype: 'BF16', shape: [256, 319], data: new Uint8Array(256 * 319 * 2) };
  tensors['model.layers.1.self_attn.k_proj.weight'] = { dtype: 'F8_E4M3', shape: [384, 256], data: new Uint8Array(384 * 256) };
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  const c = await openCheckpoint(dir);
  try {
    validateCheckpoint(c);
    assert.unreachable('validation passed');
  } catch (e) {
    const err = e as Error & { problems?: string[] };
    // In expected-tensor order, then the unexpected ones.
    assert.equal(err.problems, [
      "tensor 'model.layers.0.mlp.down_proj.weight' in model.safetensors: wrong shape: expected [256, 320], got [256, 319]",
      "tensor 'model.layers.1.self_attn.k_proj.weight' in model.safetensors: wrong dtype: expected BF16, got F8_E4M3",
      "missing tensor 'model.layers.4.post_attention_layernorm.weight' (expected [256] BF16)",
      "unexpected tensor 'model.layers.4.mlp.shared_experts.up_proj.weight' in model.safetensors ([2, 2] BF16; not part of this config (BF16))",
    ]);
    assert.ok(err.message.startsWith(`${dir}: 4 problem(s)`) && !err.message.includes('\n'), err.message);
  } finally {
    await c.close();
  }
});

test('config.json refusals come through openCheckpoint naming its path and the key', async () => {
  const dir = path.join(tmp, 'tiny-badcfg');
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(tinyDir, 'model.safetensors'), path.join(dir, 'model.safetensors'));
  const cfgPath = path.join(dir, 'config.json');
  const cases: [Record<string, unknown>, string][] = [
    [{ num_key_value_heads: 3 }, "'num_key_value_heads' = 3 does not divide num_attention_heads = 4"],
    [{ hybrid_layer_pattern: [0, 1, 1, 1, 0] }, "'hybrid_layer_pattern' has 5 entries, expected num_hidden_layers = 6"],
    [{ scoring_func: 'softmax' }, `'scoring_func' is "softmax"; supported: "sigmoid"`],
  ];
  for (const [patch, words] of cases) {
    fs.writeFileSync(cfgPath, JSON.stringify({ ...PRESET_JSON.tiny, ...patch }));
    await rejects(openCheckpoint(dir), cfgPath, words);
  }
  fs.writeFileSync(cfgPath, '{"vocab_size": 300,');
  await rejects(openCheckpoint(dir), cfgPath, 'not valid JSON');
  fs.rmSync(cfgPath);
  await rejects(openCheckpoint(dir), cfgPath, 'missing');
  await rejects(openCheckpoint(path.join(tmp, 'nowhere')), path.join(tmp, 'nowhere'), 'does not exist', 'never downloads');
  const empty = path.join(tmp, 'tiny-noweights');
  fs.mkdirSync(empty);
  fs.writeFileSync(path.join(empty, 'config.json'), JSON.stringify(PRESET_JSON.tiny));
  await rejects(openCheckpoint(empty), empty, 'has neither model.safetensors nor model.safetensors.index.json');
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
