/**
 * Text <-> token ids for a checkpoint directory: tokenizer.json through
 * @huggingface/tokenizers (pure JS), the chat template of tokenizer_config.json through
 * @huggingface/jinja. Also builds the byte-level tokenizer mimo-init writes for random
 * checkpoints: ids 0..255 are the bytes (GPT-2 byte-to-unicode alphabet, a BPE with no
 * merges, so any UTF-8 text round-trips), then the chat specials, then reserved ids up to
 * the model's vocabulary so every id the model can emit decodes to something.
 */
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

export interface LoadedTokenizer {
  /** Ids of the text; special-token strings in it (e.g. `<|im_start|>`) become their ids. */
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  tokenToId(token: string): number | undefined;
  /** The chat template rendered to text (encode it next); absent when the checkpoint has none. */
  applyChatTemplate?(messages: readonly ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string;
}

export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

export const SPECIAL_TOKENS = { '<|im_start|>': 256, '<|endoftext|>': 257, '<|im_end|>': 258 } as const;
export const BYTE_TOKENIZER_MIN_VOCAB = 259;

/** Qwen-style ChatML, which the specials above are named for. */
const CHAT_TEMPLATE =
  "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** GPT-2's reversible byte -> printable character map (what ByteLevel pre-tokenizers apply). */
function byteAlphabet(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  return Array.from({ length: 256 }, (_, b) => String.fromCharCode(printable(b) ? b : next++));
}

/** tokenizer.json and tokenizer_config.json of the byte-level tokenizer, for a model vocabulary of `vocabSize`. */
export function byteLevelTokenizerFiles(vocabSize: number): { tokenizer: object; tokenizerConfig: object } {
  if (!Number.isInteger(vocabSize) || vocabSize < BYTE_TOKENIZER_MIN_VOCAB) {
    throw new TokenizerError(`byte-level tokenizer: vocab_size must be an integer >= ${BYTE_TOKENIZER_MIN_VOCAB} (256 bytes + 3 specials), got ${vocabSize}`);
  }
  const vocab: Record<string, number> = {};
  byteAlphabet().forEach((c, b) => (vocab[c] = b));
  for (const [tok, id] of Object.entries(SPECIAL_TOKENS)) vocab[tok] = id;
  // Never produced by encode (no merges reach them); they exist so decode is total.
  for (let id = BYTE_TOKENIZER_MIN_VOCAB; id < vocabSize; id++) vocab[`<|reserved_${id}|>`] = id;
  const added = Object.entries(SPECIAL_TOKENS).map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  return {
    tokenizer: {
      version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: null,
      pre_tokenizer: byteLevel, post_processor: null, decoder: byteLevel,
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
    },
    tokenizerConfig: {
      tokenizer_class: 'PreTrainedTokenizerFast', bos_token: null, eos_token: '<|endoftext|>', pad_token: '<|endoftext|>',
      clean_up_tokenization_spaces: false, model_max_length: 262144, chat_template: CHAT_TEMPLATE,
      added_tokens_decoder: Object.fromEntries(added.map(({ id, ...rest }) => [String(id), rest])),
    },
  };
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  try {
    const v = JSON.parse(await fsp.readFile(file, 'utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('must be a JSON object');
    return v;
  } catch (e) {
    throw new TokenizerError(`${file}: ${(e as Error).message}`);
  }
}

/** A special token's text from tokenizer_config.json, which has it as a string or as {content}. */
const tokenText = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string' ? (v as { content: string }).content : undefined);

/** The template text: a string, or the entry named "default" of a list of {name, template}. */
function chatTemplateOf(config: Record<string, unknown>, file: string): string | undefined {
  const t = config.chat_template;
  if (t === undefined || t === null) return undefined;
  if (typeof t === 'string') return t;
  const named = Array.isArray(t) ? t.find((x) => x?.name === 'default')?.template : undefined;
  if (typeof named !== 'string') throw new TokenizerError(`${file}: 'chat_template' must be a string or a list with a {name: "default", template} entry`);
  return named;
}

export async function loadTokenizer(dir: string): Promise<LoadedTokenizer> {
  const tokFile = path.join(dir, 'tokenizer.json');
  if (!existsSync(tokFile)) throw new TokenizerError(`${tokFile}: missing (text prompts need the checkpoint's tokenizer.json)`);
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const config = existsSync(cfgFile) ? await readJson(cfgFile) : {};
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(await readJson(tokFile), config);
  } catch (e) {
    throw new TokenizerError(`${tokFile}: ${(e as Error).message}`);
  }
  const size = tok.get_vocab(true).size;
  const template = chatTemplateOf(config, cfgFile);
  const compiled = template === undefined ? undefined : new Template(template);
  return {
    encode: (text) => tok.encode(text).ids,
    decode(ids) {
      const bad = ids.findIndex((id) => !Number.isInteger(id) || id < 0 || tok.id_to_token(id) === undefined);
      if (bad >= 0) throw new TokenizerError(`${tokFile}: cannot decode id ${ids[bad]} (at position ${bad}); the tokenizer has ${size} tokens`);
      // The package refuses an empty list; an empty generation is just empty text.
      return ids.length === 0 ? '' : tok.decode([...ids]);
    },
    tokenToId: (token) => tok.token_to_id(token),
    applyChatTemplate: compiled && ((messages, opts = {}) => compiled.render({
      messages, add_generation_prompt: opts.addGenerationPrompt ?? true,
      bos_token: tokenText(config.bos_token) ?? '', eos_token: tokenText(config.eos_token) ?? '',
    })),
  };
}
