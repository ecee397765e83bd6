import { KernelArgError, type LaunchArgs } from './args.js';

/** `undefined`, `null`, `array`, `string '3'`, `Float32Array`: what a caller passed, for messages. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  if (typeof v === 'string') return `string '${v}'`;
  return `${typeof v} ${String(v)}`;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The outer shape of a launch's arguments: `{ tensors: {...}, scalars: {...} }`, both
 * plain objects. checkLaunch (args.ts) reads their fields, so a caller from plain
 * JavaScript that omits one gets a KernelArgError naming it rather than a TypeError.
 */
export function checkArgShape(kernel: string, args: unknown): asserts args is LaunchArgs {
  if (!isRecord(args)) throw new KernelArgError(kernel, 'args', `expected { tensors, scalars }, got ${describeValue(args)}`);
  for (const field of ['tensors', 'scalars'] as const) {
    if (!isRecord(args[field])) throw new KernelArgError(kernel, field, `expected an object of named ${field}, got ${describeValue(args[field])}`);
  }
}
