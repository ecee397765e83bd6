/**
 * The CLIs' error contract, shared by the compiler's and the model's tools: a usage
 * error is one line on stderr naming the flag, exit 2; an expected failure (a compile
 * error, a refused config, an unreadable file) prints its message, exit 1; anything
 * else is reported as an internal error, one line, exit 1. Stack traces only with
 * MIMO_DEBUG=1.
 */
import fs from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CompileError, CompileErrors } from '../common/errors.js';
import { KernelArgError } from '../launch/args.js';

/** The command line is wrong: exit 2. */
export class UsageError extends Error {}

/** An expected failure the user can act on (not a bug): its message, exit 1. */
export class CliError extends Error {}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * node:util parseArgs, with every way a command line can be wrong (unknown option,
 * missing value, a value given to a boolean, an argument where none is taken) turned
 * into a UsageError naming the flag. The tokens are checked here rather than by
 * parseArgs' own strict mode, whose messages span lines and vary across Node versions.
 */
export function parseCliArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  const options = config.options ?? {};
  const loose = parseArgs({ ...config, strict: false, allowPositionals: true, tokens: true });
  for (const t of loose.tokens ?? []) {
    if (t.kind === 'positional') {
      if (!config.allowPositionals) throw new UsageError(`unexpected argument '${t.value}': this command takes options only`);
      continue;
    }
    if (t.kind !== 'option') continue;
    const opt = Object.hasOwn(options, t.name) ? options[t.name] : undefined;
    if (!opt) throw new UsageError(`unknown option '${t.rawName}'`);
    if (opt.type === 'boolean' && t.value !== undefined) throw new UsageError(`${t.rawName} takes no value (got '${t.rawName}=${t.value}')`);
    if (opt.type === 'string' && t.rawName.startsWith('--no-') && t.value === undefined) throw new UsageError(`unknown option '${t.rawName}'`);
    if (opt.type === 'string' && t.value === undefined) throw new UsageError(`${t.rawName} needs a value`);
    // What parseArgs took as the value is the next flag: the user forgot the value.
    if (opt.type === 'string' && !t.inlineValue && t.value!.startsWith('-') && t.value!.length > 1) {
      throw new UsageError(`${t.rawName} needs a value (got the option '${t.value}'; write ${t.rawName}=${t.value} if that is the value)`);
    }
  }
  try {
    return parseArgs(config);
  } catch (e) {
    // A case the token check above does not know: still one line, still exit 2.
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
}

/** A whole number from a flag's text in [min, max], or a UsageError naming the flag. */
export function intFlag(flag: string, text: string | undefined, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  // Digits only: Number() would also take '', '0x10' and '1e3'.
  if (!/^\s*[+-]?\d+\s*$/.test(text) || v < min) throw new UsageError(`--${flag} must be an integer >= ${min} (got '${text}')`);
  if (v > max) throw new UsageError(`--${flag} must be at most ${max} (got '${text}')`);
  return v;
}

/** A number from a flag's text, or a UsageError naming the flag and the allowed range. */
export function numFlag(flag: string, text: string | undefined, fallback: number, ok: (v: number) => boolean, range: string): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || !ok(v)) throw new UsageError(`--${flag} must be ${range} (got '${text}')`);
  return v;
}

/** One of a fixed set of words ("--target must be wgsl, cuda or all (got 'metal')"). */
export function choiceFlag<T extends string>(flag: string, text: string | undefined, allowed: readonly T[], fallback: T): T {
  if (text === undefined) return fallback;
  if (!allowed.includes(text as T)) throw new UsageError(`--${flag} must be ${orList(allowed)} (got '${text}')`);
  return text as T;
}

const orList = (xs: readonly string[]): string => (xs.length < 2 ? xs.join('') : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`);

/** A path that must exist, as a file or a folder as `kind` says; the error names the flag. */
export function existingPath(flag: string, text: string, kind: 'file' | 'folder' = 'file'): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(text);
  } catch {
    throw new UsageError(`--${flag} ${text}: no such ${kind}`);
  }
  if (kind === 'file' && !st.isFile()) throw new UsageError(`--${flag} ${text}: not a file`);
  if (kind === 'folder' && !st.isDirectory()) throw new UsageError(`--${flag} ${text}: not a folder`);
  return text;
}

/** Errors every tool reports by message alone: the compiler's, launch arguments', the CLI's own. */
const KNOWN: readonly ErrorClass[] = [CliError, CompileError, CompileErrors, KernelArgError];

/** A file system failure (ENOENT, EACCES, ENOSPC, ...) is the environment's, not a bug. */
const isSystemError = (e: unknown): boolean => e instanceof Error && typeof (e as NodeJS.ErrnoException).syscall === 'string';

/**
 * Runs a CLI's main and maps what it throws to the contract above. `known` adds the
 * tool's own expected error classes (a config or checkpoint error, say).
 */
export async function runCli(name: string, main: (argv: string[]) => Promise<number | void> | number | void, known: readonly ErrorClass[] = []): Promise<void> {
  try {
    process.exitCode = (await main(process.argv.slice(2))) ?? 0;
  } catch (e) {
    process.exitCode = reportError(name, e, known);
  }
}

/** Prints `e` for the user and returns the exit code. */
export function reportError(name: string, e: unknown, known: readonly ErrorClass[] = []): number {
  const err = e instanceof Error ? e : new Error(String(e));
  const debug = process.env.MIMO_DEBUG === '1';
  if (debug) console.error(err.stack);
  if (err instanceof UsageError) {
    console.error(`${name}: ${oneLine(err.message)} (${name} --help lists the options)`);
    return 2;
  }
  // A compile error starts with file:line:col, as compilers print them, so editors can jump to it.
  if (err instanceof CompileError || err instanceof CompileErrors) {
    console.error(err.message);
    return 1;
  }
  if ([...KNOWN, ...known].some((c) => err instanceof c) || isSystemError(err)) {
    console.error(`${name}: ${err.message}`);
    return 1;
  }
  console.error(`${name}: internal error: ${oneLine(err.message)}${debug ? '' : ' (set MIMO_DEBUG=1 for the stack)'}`);
  return 1;
}

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ').trim();
