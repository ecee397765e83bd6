import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { byteLevelTokenizerFiles, loadTokenizer, type LoadedTokenizer } from '../model/tokenizer.js';

/**
 * The byte-level tokenizer mimo-init writes, loaded through @huggingface/tokenizers: ids
 * are exactly the UTF-8 bytes (the reference is TextEncoder), specials are single ids,
 * decode inverts encode on any text, and the chat template renders ChatML.
 */
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-tok-'));
const write = (dir: string, vocab: number, withConfig = true) => {
  const d = path.join(tmp, dir);
  fs.mkdirSync(d, { recursive: true });
  const { tokenizer, tokenizerConfig } = byteLevelTokenizerFiles(vocab);
  fs.writeFileSync(path.join(d, 'tokenizer.json'), JSON.stringify(tokenizer));
  if (withConfig) fs.writeFileSync(path.join(d, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  return d;
};
let tok: LoadedTokenizer;
test.before(async () => {
  tok = await loadTokenizer(write('tiny', 300));
});

const TEXTS = ['Hello, world!', 'é', '漢字', '😀 👩‍👩‍👧', ' leading and trailing  ', 'tabs\tand\nnewlines\r\n', "it's 'quoted' 123", '', '\u0000\u007f\u00a0\u00ad', 'ÿ\u0100'];

test('encode = the UTF-8 bytes; decode inverts it (ASCII, accents, CJK, emoji, controls)', () => {
  for (const s of TEXTS) {
    const ids = tok.encode(s);
    assert.equal(ids, Array.from(new TextEncoder().encode(s)), JSON.stringify(s));
    assert.is(tok.decode(ids), s, JSON.stringify(s));
  }
  // Every byte on its own is a token of its own.
  assert.equal(tok.encode('é'), [0xc3, 0xa9]);
  assert.equal(tok.encode('😀'), [0xf0, 0x9f, 0x98, 0x80]);
});

test('specials are single ids, in text and out', () => {
  assert.is(tok.tokenToId('<|im_start|>'), 256);
  assert.is(tok.tokenToId('<|endoftext|>'), 257);
  assert.is(tok.tokenToId('<|im_end|>'), 258);
  const s = '<|im_start|>user\nhé<|im_end|><|endoftext|>';
  const ids = tok.encode(s);
  assert.equal(ids, [256, ...new TextEncoder().encode('user\nhé'), 258, 257]);
  assert.is(tok.decode(ids), s);
  // A partial special is just bytes.
  assert.equal(tok.encode('<|im_'), Array.from(new TextEncoder().encode('<|im_')));
});

test('reserved ids above the specials decode (the model may emit any id < vocab); ids past it are refused', () => {
  assert.is(tok.decode([104, 299, 105]), 'h<|reserved_299|>i');
  assert.throws(() => tok.decode([300]), /cannot decode id 300 \(at position 0\); the tokenizer has 300 tokens/);
  assert.throws(() => tok.decode([1, -1]), /cannot decode id -1 \(at position 1\)/);
  assert.throws(() => tok.decode([2.5]), /cannot decode id 2\.5/);
});

test('chat template renders ChatML with the generation prompt; encodes to the specials', () => {
  const text = tok.applyChatTemplate!([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi 漢字' }]);
  assert.is(text, '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi 漢字<|im_end|>\n<|im_start|>assistant\n');
  assert.is(tok.encode(text).filter((i) => i >= 256).length, 5);
  assert.is(tok.applyChatTemplate!([{ role: 'user', content: 'x' }], { addGenerationPrompt: false }), '<|im_start|>user\nx<|im_end|>\n');
});

test('the real vocabulary (152576) loads; without tokenizer_config.json there is no chat template', async () => {
  const big = await loadTokenizer(write('real', 152576, false));
  assert.is(big.decode([152575]), '<|reserved_152575|>');
  assert.equal(big.encode('ok'), [111, 107]);
  assert.is(big.applyChatTemplate, undefined);
});

test('errors name the file and what is wrong', async () => {
  assert.throws(() => byteLevelTokenizerFiles(258), /vocab_size must be an integer >= 259 \(256 bytes \+ 3 specials\), got 258/);
  const none = path.join(tmp, 'none');
  fs.mkdirSync(none);
  await loadTokenizer(none).then(() => assert.unreachable('loaded'), (e) => assert.match(e.message, `${path.join(none, 'tokenizer.json')}: missing`));
  fs.writeFileSync(path.join(none, 'tokenizer.json'), '{"model": ');
  await loadTokenizer(none).then(() => assert.unreachable('loaded'), (e) => assert.match(e.message, `${path.join(none, 'tokenizer.json')}: `));
  const d = write('badcfg', 300);
  fs.writeFileSync(path.join(d, 'tokenizer_config.json'), JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'x' }] }));
  await loadTokenizer(d).then(() => assert.unreachable('loaded'), (e) => assert.match(e.message, /tokenizer_config\.json: 'chat_template' must be a string or a list with a \{name: "default", template\} entry/));
});

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
test.run();
