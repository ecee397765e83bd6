/**
 * The model CLIs' error contract: a usage error prints one line and exits 2; any other
 * expected failure (a bad checkpoint, a config it refuses) prints one line and exits 1;
 * no stack traces unless MIMO_DEBUG=1.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

/** node:util parseArgs, with its errors (unknown flag, missing value) as UsageErrors. */
export function parseCliArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    // Some of node's parseArgs messages span lines; a usage error is one line.
    throw new UsageError((e as Error).message.replace(/\s*\n\s*/g, ' '));
  }
}

/** A whole number from a flag's text, or a UsageError naming the flag. */
export function intFlag(flag: string, text: string | undefined, fallback: number, min = 0): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw new UsageError(`--${flag} must be an integer >= ${min} (got '${text}')`);
  return v;
}

/** A number from a flag's text, or a UsageError naming the flag and the allowed range. */
export function numFlag(flag: string, text: string | undefined, fallback: number, ok: (v: number) => boolean, range: string): number {
  if (text === undefined) return fallback;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || !ok(v)) throw new UsageError(`--${flag} must be ${range} (got '${text}')`);
  return v;
}

export async function runCli(name: string, main: (argv: string[]) => Promise<number | void>): Promise<void> {
  try {
    process.exitCode = (await main(process.argv.slice(2))) ?? 0;
  } catch (e) {
    const err = e as Error;
    if (process.env.MIMO_DEBUG === '1') console.error(err.stack);
    if (e instanceof UsageError) {
      console.error(`${name}: ${err.message}\n(${name} --help lists the options)`);
      process.exitCode = 2;
    } else {
      console.error(`${name}: ${err.message}`);
      process.exitCode = 1;
    }
  }
}
