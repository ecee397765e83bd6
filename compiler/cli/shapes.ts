/**
 * Shapes to tune at, from the command line (`--shape T=4,D=4096`) or a JSON file
 * (`--shapes FILE.json`: `[{"T": 4, "D": 4096}, ...]`), and which kernel each fits.
 */
import fs from 'node:fs';
import type { Kernel } from '../ir/nodes.js';
import { UsageError } from './args.js';

export type Shape = Readonly<Record<string, number>>;

/** Uniform values are i32: a size past it cannot be launched. */
const MAX_SIZE = 2 ** 31 - 1;

/** Names and numbers only here; whether a value suits its kernel (a size >= 1) is checked per kernel. */
function checkValue(where: string, sym: string, v: unknown, text: string): number {
  if (!/^[A-Za-z_]\w*$/.test(sym)) throw new UsageError(`${where}: '${sym}' is not a scalar name (got '${text}')`);
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new UsageError(`${where}: ${sym} must be a number (got '${text}')`);
  return v;
}

/** `T=4,D=4096` -> { T: 4, D: 4096 }. */
export function parseShape(text: string): Shape {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([^=\s]*)\s*=\s*(.*?)\s*$/.exec(part);
    if (!m) throw new UsageError(`--shape must be SYM=N,... e.g. T=4,D=4096 (got '${text}')`);
    const [, sym, value] = m;
    if (Object.hasOwn(out, sym)) throw new UsageError(`--shape: ${sym} is given twice (got '${text}')`);
    out[sym] = checkValue('--shape', sym, value.trim() === '' ? NaN : Number(value), value);
  }
  return out;
}

export function readShapes(file: string): Shape[] {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : e instanceof SyntaxError ? 'not valid JSON' : `cannot read it (${code ?? (e as Error).message})`;
    throw new UsageError(`--shapes ${file}: ${why}`);
  }
  if (!Array.isArray(raw) || !raw.length) throw new UsageError(`--shapes ${file}: expected a non-empty array of {"SYM": N} objects`);
  return raw.map((s, i) => {
    if (typeof s !== 'object' || s === null || Array.isArray(s) || !Object.keys(s).length) throw new UsageError(`--shapes ${file}: entry ${i} must be an object like {"T": 4, "D": 4096} (got ${JSON.stringify(s)})`);
    return Object.fromEntries(Object.entries(s as Record<string, unknown>).map(([sym, v]) => [sym, checkValue(`--shapes ${file}: entry ${i}`, sym, v, JSON.stringify(v))]));
  });
}

/**
 * Each kernel with the shapes that give all of its scalars (shape symbols and runtime
 * scalars alike: the launch needs every one). A shape that fits no kernel, or a kernel
 * that no shape fits, is a usage error: the user meant something else.
 */
export function shapesFor(kernels: readonly Kernel[], shapes: readonly Shape[]): { k: Kernel; shapes: Shape[] }[] {
  const need = (k: Kernel) => k.scalars.map((s) => s.name);
  const fits = (k: Kernel, s: Shape) => need(k).every((n) => Object.hasOwn(s, n));
  for (const s of shapes) {
    if (!kernels.some((k) => fits(k, s))) {
      const text = Object.entries(s).map(([n, v]) => `${n}=${v}`).join(',');
      throw new UsageError(`shape ${text} gives all the scalars of no selected kernel (${kernels.map((k) => `${k.name} needs ${need(k).join(',')}`).join('; ')})`);
    }
  }
  return kernels.map((k) => {
    const mine = shapes.filter((s) => fits(k, s)).map((s) => Object.fromEntries(need(k).map((n) => [n, s[n]])));
    for (const s of mine) {
      for (const d of k.scalars.filter((x) => x.isDim)) {
        const v = s[d.name];
        if (!Number.isInteger(v) || v < 1 || v > MAX_SIZE) throw new UsageError(`kernel ${k.name}: shape symbol ${d.name} must be an integer in [1, ${MAX_SIZE}] (got ${v})`);
      }
    }
    if (!mine.length) throw new UsageError(`kernel ${k.name} needs a shape with ${need(k).join(', ')}; no --shape gives them all (use --ops to tune only some kernels)`);
    return { k, shapes: mine };
  });
}
