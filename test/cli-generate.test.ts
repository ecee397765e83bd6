/**
 * mimo-generate as a user runs it (spawned): --json carries the documented keys, the MTP
 * oracle hook reports accepted length 4 and ceil(new / 4) target passes, and bad usage is
 * one line on stderr with exit code 2 (no stack trace). (Seeded sampling's
 * reproducibility is checked in-process, model-forward.test.ts.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-cli-'));
const ckpt = path.join(tmp, 'tiny');
const cli = (bin: string, args: string[]) => spawnSync(process.execPath, [`bin/${bin}.js`, ...args], { encoding: 'utf8', timeout: 300_000 });

test.before(() => {
  const r = cli('mimo-init', ['--preset', 'tiny', '--out', ckpt, '--seed', '1']);
  assert.is(r.status, 0, r.stderr);
});

test('--json with --mtp-oracle: tokens, text, rates, accepted_length 4, target_passes ceil(12 / 4)', () => {
  // A prompt whose greedy continuation does not reach eos (257) within 12 tokens.
  const r = cli('mimo-generate', ['--model', ckpt, '--tokens', '72,105,33,10', '--max-new', '12', '--mtp-oracle', '--json']);
  assert.is(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { tokens: number[]; text: string; prefill_tok_s: number; decode_tok_s: number; accepted_length: number; target_passes: number };
  assert.is(o.tokens.length, 12);
  assert.type(o.text, 'string');
  assert.ok(o.prefill_tok_s > 0 && o.decode_tok_s > 0);
  assert.is(o.accepted_length, 4);
  assert.is(o.target_passes, 3);
});

const usage: [string[], RegExp][] = [
  [['--prompt', 'x'], /give exactly one of --preset NAME or --model DIR/],
  [['--model', 'm', '--prompt', 'x', '--top-p', '1.5'], /--top-p must be in \(0, 1\] \(got '1.5'\)/],
  [['--model', 'm', '--tokens', '1,,2'], /--tokens must be comma-separated token ids/],
  [['--model', 'm', '--prompt', 'x', '--mtp-oracle', '--temperature', '0.5'], /--mtp-oracle .* needs --temperature 0/],
  [['--model', 'm', '--prompt', 'x', '--frobnicate'], /unknown option '--frobnicate'/],
];
for (const [args, message] of usage) {
  test(`usage error, exit 2, one line: ${args.join(' ')}`, () => {
    const r = cli('mimo-generate', args);
    assert.is(r.status, 2);
    const first = r.stderr.split('\n')[0];
    assert.match(first, /^mimo-generate: /);
    assert.match(first, message);
    assert.not.match(r.stderr, /\n\s+at /);
  });
}

test('a token outside the vocabulary is refused naming it (exit 1)', () => {
  const r = cli('mimo-generate', ['--model', ckpt, '--tokens', '1,300', '--max-new', '1']);
  assert.is(r.status, 1);
  assert.match(r.stderr, /token 300 at index 1 is not an id of this model's vocabulary \[0, 300\)/);
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
