import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BF16, decode, E4M3, E5M2, encode, F16, type MiniFloat } from '../compiler/ir/numerics.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { presetConfig } from '../model/presets.js';
import { openCheckpoint, validateCheckpoint } from '../model/weights/checkpoint.js';
import { tableEncoder } from '../model/weights/fast-encode.js';
import { MAX_SHARD_BYTES, planShards } from '../model/weights/init.js';
import { expectedTensors } from '../model/weights/names.js';
import { createProgress } from '../model/weights/progress.js';
import { DTYPE_SIZE } from '../model/weights/safetensors.js';
import { prng } from './harness/prng.js';

/**
 * mimo-init end to end through its CLI (bin/mimo-init.js): the tiny preset in BF16 and FP8
 * validates, is byte-deterministic per seed, and its FP8 weights are the BF16 weights of
 * the same seed block-quantised (checked against a float64 re-derivation of the recipe);
 * the real preset's shard plan without writing it; usage errors; the progress bar; and
 * the fast bulk encoder against numerics.encode.
 */
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-init-'));
const cli = (...args: string[]) => spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/mimo-init.js'), ...args], { encoding: 'utf8' });
const init = (dir: string, ...args: string[]) => {
  const r = cli('--preset', 'tiny', '--out', path.join(tmp, dir), ...args);
  assert.is(r.status, 0, r.stderr);
  return { dir: path.join(tmp, dir), stdout: r.stdout };
};
const readWeights = (dir: string) => fs.readFileSync(path.join(dir, 'model.safetensors'));

const bf16 = init('bf16', '--seed', '7');
const fp8 = init('fp8', '--seed', '7', '--dtype', 'fp8');

test('bf16 and fp8 tiny checkpoints validate; one summary line; the files a loader needs', async () => {
  assert.match(bf16.stdout, /^mimo-init: wrote .*bf16 \(preset tiny, bf16, 6 layers \+ 3 MTP, seed 7\): 218 tensors, [\d.]+ MB in model\.safetensors\n$/);
  for (const { dir } of [bf16, fp8]) {
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) assert.ok(fs.existsSync(path.join(dir, f)), f);
    const c = await openCheckpoint(dir);
    assert.equal(validateCheckpoint(c), { hasMtp: true });
    await c.close();
  }
  const cfg = JSON.parse(fs.readFileSync(path.join(fp8.dir, 'config.json'), 'utf8'));
  assert.is(cfg.quantization_config.quant_method, 'fp8');
  assert.ok(!('quantization_config' in JSON.parse(fs.readFileSync(path.join(bf16.dir, 'config.json'), 'utf8'))));
  assert.equal(JSON.parse(fs.readFileSync(path.join(bf16.dir, 'generation_config.json'), 'utf8')).eos_token_id, [257, 258]);
});

test('deterministic for a seed, different for another', () => {
  const again = init('bf16-again', '--seed', '7');
  assert.ok(readWeights(again.dir).equals(readWeights(bf16.dir)), 'same seed, same bytes');
  const other = init('bf16-other', '--seed', '8');
  assert.ok(!readWeights(other.dir).equals(readWeights(bf16.dir)), 'another seed differs');
});

test('FP8 weights are the same-seed BF16 weights quantised per 128x128 block', async () => {
  const b = await openCheckpoint(bf16.dir);
  const q = await openCheckpoint(fp8.dir);
  let checked = 0;
  let worstRel = 0;
  const bad: string[] = [];
  for (const t of q.tensors.values()) {
    if (t.dtype !== 'F8_E4M3') {
      if (!t.name.endsWith('_scale_inv')) assert.equal(await q.read(t.name), await b.read(t.name), `${t.name} is not quantised and identical`);
      continue;
    }
    const [N, K] = t.shape;
    const w = await b.readAsF32(t.name);
    const codes = await q.read(t.name);
    const scales = await q.readAsF32(t.name.replace(/weight$/, 'weight_scale_inv'));
    const KB = Math.ceil(K / 128);
    for (let bn = 0; bn < Math.ceil(N / 128); bn++) {
      for (let bk = 0; bk < KB; bk++) {
        let amax = 0;
        for (let n = bn * 128; n < Math.min(N, bn * 128 + 128); n++) for (let k = bk * 128; k < Math.min(K, bk * 128 + 128); k++) amax = Math.max(amax, Math.abs(w[n * K + k]));
        const s = Math.fround(Math.max(amax, Math.fround(1e-4)) / 448);
        assert.is(scales[bn * KB + bk], s, `${t.name} block [${bn}, ${bk}] scale`);
        for (let n = bn * 128; n < Math.min(N, bn * 128 + 128); n++) {
          for (let k = bk * 128; k < Math.min(K, bk * 128 + 128); k++) {
            const ref = w[n * K + k];
            const err = Math.abs(decode(E4M3, codes[n * K + k]) * s - ref);
            // Half an e4m3 step: 2^-4 relative for normals, 2^-10 * s absolute in the subnormal range.
            if (!(err <= Math.max(2 ** -4 * Math.abs(ref), 2 ** -10 * s) * (1 + 1e-6))) bad.push(`${t.name}[${n}, ${k}]: ${ref} -> err ${err}`);
            worstRel = Math.max(worstRel, err / Math.abs(ref || 1));
            checked++;
          }
        }
      }
    }
  }
  assert.equal(bad.slice(0, 5), [], `${bad.length} weights off by more than half an e4m3 step`);
  assert.ok(checked > 4_000_000, `${checked} weights checked`);
  assert.ok(worstRel > 2 ** -6, `quantisation is visible (worst relative error ${worstRel})`);
  await b.close();
  await q.close();
});

test('--no-mtp leaves model.mtp.* out; the loader reports hasMtp false', async () => {
  const { dir } = init('nomtp', '--no-mtp', '--dtype', 'fp8');
  const c = await openCheckpoint(dir);
  assert.ok(![...c.tensors.keys()].some((n) => n.startsWith('model.mtp.')));
  assert.equal(validateCheckpoint(c), { hasMtp: false });
  await c.close();
});

test('the real preset plans into <= 2 GB shards holding 309B parameters (nothing written)', () => {
  const cfg = presetConfig('mimo-v2-flash');
  const tensors = expectedTensors(cfg, { fp8: true, mtp: true });
  const shards = planShards(tensors);
  const bytes = (t: (typeof tensors)[number]) => t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[t.dtype];
  assert.ok(shards.every((s) => s.bytes <= MAX_SHARD_BYTES && s.bytes === s.tensors.reduce((a, t) => a + bytes(t), 0)));
  assert.is(shards.flatMap((s) => s.tensors).length, tensors.length);
  assert.ok(shards[0].file === `model-00001-of-${String(shards.length).padStart(5, '0')}.safetensors`, shards[0].file);
  // ../shared/mimo-v2-flash.md: ~309B total (our count 308.8B with MTP, 0.33B per MTP block).
  const params = tensors.filter((t) => t.kind !== 'block_scale').reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  assert.ok(Math.abs(params / 308.8e9 - 1) < 0.01, `${params} parameters`);
  for (const s of shards) {
    const names = new Set(s.tensors.map((t) => t.name));
    for (const n of names) if (n.endsWith('_scale_inv')) assert.ok(names.has(n.replace(/_scale_inv$/, '')), `${n} shares its weight's shard`);
  }
  assert.ok(shards.length > 140 && shards.length < 200, `${shards.length} shards`);
});

test('usage errors exit 2 with one line naming the flag; other failures exit 1', () => {
  const cases: [string[], RegExp][] = [
    [['--out', tmp], /exactly one of --preset NAME or --config FILE/],
    [['--preset', 'huge', '--out', tmp], /--preset must be one of mimo-v2-flash, tiny \(got 'huge'\)/],
    [['--preset', 'tiny', '--out', tmp, '--dtype', 'fp16'], /--dtype must be bf16 or fp8 \(got 'fp16'\)/],
    [['--preset', 'tiny', '--out', tmp, '--seed=-3'], /--seed must be an integer >= 0 \(got '-3'\)/],
    [['--preset', 'tiny', '--out', tmp, '--seed', '1.5'], /--seed must be an integer >= 0 \(got '1\.5'\)/],
    [['--preset', 'tiny'], /--out DIR is required/],
    [['--preset', 'tiny', '--out', tmp, '--bogus'], /unknown option '--bogus'/],
    [['--config', path.join(tmp, 'none.json'), '--out', tmp], /--config .*none\.json: no such file/],
  ];
  for (const [args, want] of cases) {
    const r = cli(...args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.match(lines[0], want);
    assert.ok(lines[0].startsWith('mimo-init: ') && lines.length === 1 && lines[0].endsWith(' (mimo-init --help lists the options)'), r.stderr);
  }
  const bad = path.join(tmp, 'bad.json');
  fs.writeFileSync(bad, JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(bf16.dir, 'config.json'), 'utf8')), n_routed_experts: 1 }));
  const r = cli('--config', bad, '--out', path.join(tmp, 'never'));
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^mimo-init: ${bad.replace(/[.]/g, '\\.')}: 'num_experts_per_tok' = 2 exceeds n_routed_experts = 1\n$`));
  assert.ok(!fs.existsSync(path.join(tmp, 'never')), 'nothing written for a refused config');
  const help = cli('--help');
  assert.is(help.status, 0);
  assert.match(help.stdout, /--dtype bf16\|fp8/);
});

test('progress bar: \\r-redrawn bytes and MB/s on a TTY or when forced, silent otherwise', () => {
  let t = 0;
  const out: string[] = [];
  const p = createProgress({ total: 4e6, label: 'upload', stream: { isTTY: false, write: (s) => out.push(s) }, force: true, now: () => t });
  t = 1000;
  p.tick(1e6);
  t = 1050;
  p.tick(1e6); // within the redraw interval: no new line drawn
  t = 2000;
  p.tick(2e6);
  p.done();
  assert.equal(out, [
    '\rupload [######..................] 1.0/4.0 MB 1.0 MB/s',
    '\rupload [########################] 4.0/4.0 MB 2.0 MB/s',
    '\rupload [########################] 4.0/4.0 MB 2.0 MB/s',
    '\n',
  ]);
  assert.is(p.bytesDone, 4e6);
  assert.throws(() => p.tick(1), /tick\(\) after done\(\)/);
  const quiet: string[] = [];
  const q = createProgress({ total: 10, stream: { isTTY: false, write: (s) => quiet.push(s) } });
  q.tick(10);
  q.done();
  assert.equal(quiet, []);
  assert.throws(() => createProgress({ total: 10, force: true, stream: { write: () => 0 } }).tick(-1), /tick\(bytes\) needs a byte count >= 0, got -1/);
});

test('tableEncoder gives numerics.encode bits on every code, every midpoint and random f32', () => {
  const r = prng(11);
  for (const fmt of [BF16, F16, E4M3, E5M2] as MiniFloat[]) {
    const fast = tableEncoder(fmt);
    const xs: number[] = [0, -0, NaN, Infinity, -Infinity, fmt.max, -fmt.max, fmt.max * 1.01, 3.4e38];
    const codes = 1 << (fmt.ebits + fmt.mbits + 1);
    for (let c = 0; c < codes; c++) {
      const v = decode(fmt, c);
      const next = decode(fmt, c + 1);
      xs.push(v);
      if (Number.isFinite(v) && Number.isFinite(next)) xs.push(Math.fround((v + next) / 2), Math.fround(v + (next - v) * 0.499), Math.fround(v + (next - v) * 0.501));
    }
    for (let i = 0; i < 20000; i++) xs.push(Math.fround((r() - 0.5) * 2 ** (80 * r() - 40)));
    for (const x of xs) {
      const want = encode(fmt, x);
      if (fast(x) !== want) assert.unreachable(`${JSON.stringify(fmt)}: x=${x}: got 0x${fast(x).toString(16)}, want 0x${want.toString(16)}`);
    }
  }
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
