import type { Kernel, TensorParam } from '../ir/nodes.js';
import { isLowered, type LoweredKernel } from '../ir/lowered.js';
import { finalise } from '../passes/finalise.js';
import { INTERP_CAPS } from '../common/target.js';
import { CompileError } from '../common/errors.js';
import { evalSize } from '../ir/size.js';
import { normalise } from '../ir/semantics.js';
import { InterpretError } from './errors.js';
import { Ctx, childScope } from './exprs.js';
import { runCollective } from './schedule.js';
import { Thread, makeShared, type HostArray, type RunState, type Val, type WgState } from './state.js';
import { compileBlock, type Compiled } from './stmts.js';
import { pickArchBranch, type InterpArch } from './archBranch.js';

export { InterpretError } from './errors.js';
export type { ThreadId } from './errors.js';
export type { HostArray } from './state.js';
import { KernelArgError, checkLaunch, signatureOf } from '../launch/args.js';

/**
 * Interpret mode: runs a lowered kernel on the host, thread by thread, with the IR's own
 * semantics (ir/semantics.ts), checking every memory access. Like TRITON_INTERPRET=1: slow
 * but exact, and faults name the source line, the kernel and the thread.
 */
export interface InterpretArgs {
  readonly tensors: Readonly<Record<string, HostArray>>;
  readonly scalars: Readonly<Record<string, number>>;
}
export interface InterpretOptions {
  /** Lanes per subgroup (consecutive linear local indices); default 32. */
  readonly subgroupSize?: number;
  /**
   * Loop iterations the launch may run over all its threads before it is stopped as a
   * likely infinite loop; default 1e9, two to three minutes at the interpreter's 6-8M
   * iterations/s, far beyond any test's launch.
   */
  readonly maxSteps?: number;
  /** The branch of per-architecture code (IR archSwitch) to run; default 'other', as every CUDA arch below sm_90a. */
  readonly arch?: InterpArch;
}

interface Program {
  readonly body: Compiled;
  readonly nslots: number;
}

const programs = new WeakMap<LoweredKernel, Program>();
const finalised = new WeakMap<Kernel, LoweredKernel>();

/** Compiles a kernel's body into closures once (cached per Kernel object). */
function compile(k: LoweredKernel): Program {
  let p = programs.get(k);
  if (!p) {
    const cx = new Ctx(k);
    const body = compileBlock(cx, k.body, childScope());
    p = { body, nslots: cx.nslots };
    programs.set(k, p);
  }
  return p;
}

const dims3 = (xs: readonly number[]): [number, number, number] => [xs[0] ?? 1, xs[1] ?? 1, xs[2] ?? 1];

/**
 * Runs a lowered kernel over its whole grid: `lowerForTarget(kernel, target, choice)` for
 * target 'interp', 'wgsl' (packed tensors, storePacked) or 'cuda' (mma.sync fragments);
 * lowered.ts's interpretFor does both steps. Tensors are host arrays (narrow floats as
 * bit patterns, never packed words); outputs are written in place.
 */
export function interpret(kernel: Kernel | LoweredKernel, args: InterpretArgs, opts: InterpretOptions = {}): void {
  const argError = (name: string, detail: string): never => {
    throw new InterpretError(kernel.name, `argument '${name}': ${detail}`, kernel.loc);
  };
  if (opts.arch !== undefined && opts.arch !== 'sm90a' && opts.arch !== 'other') argError('arch', `must be 'sm90a' or 'other', got ${String(opts.arch)}`);
  const k = pickArchBranch(asLowered(kernel, argError), opts.arch ?? 'other');
  const prog = compile(k);
  const sgSize = opts.subgroupSize ?? 32;
  if (!(Number.isInteger(sgSize) && sgSize >= 1)) argError('subgroupSize', `must be a positive integer, got ${sgSize}`);
  const maxSteps = opts.maxSteps ?? 1e9;
  if (!(Number.isInteger(maxSteps) && maxSteps >= 0)) argError('maxSteps', `must be a non-negative integer, got ${maxSteps}`);
  const { env, uniforms, tensors } = checkArgs(k, args, argError);

  const [WX, WY, WZ] = k.workgroup;
  const grid = dims3(k.grid.map((g) => evalSize(g, env)));
  grid.forEach((g, i) => {
    if (!(Number.isInteger(g) && g >= 0)) argError('grid', `dimension ${'xyz'[i]} evaluates to ${g}`);
  });
  // Packed tensors run as their u32 words; the caller's arrays stay element arrays.
  const bound = tensors.map((a, i) => (k.tensors[i].packed ? packWords(k.tensors[i], a) : a));
  const elements = tensors.map((a) => a.length);
  const run: RunState = { kernel: k, tensors: bound, elements, uniforms, grid, sgSize, steps: { left: maxSteps, max: maxSteps } };
  const nthreads = WX * WY * WZ;

  for (let gz = 0; gz < grid[2]; gz++) {
    for (let gy = 0; gy < grid[1]; gy++) {
      for (let gx = 0; gx < grid[0]; gx++) {
        const state: WgState = { id: [gx, gy, gz], shared: k.shared.map((s) => makeShared(s.dtype, s.size)) };
        if (!prog.body.gen) {
          // No collectives: threads run one after another, reusing one environment.
          const body = prog.body.run;
          const t = new Thread(prog.nslots, state, run);
          for (let li = 0; li < nthreads; li++) {
            setIds(t, li, WX, WY, sgSize);
            body(t);
          }
        } else {
          const threads: Thread[] = [];
          for (let li = 0; li < nthreads; li++) {
            const t = new Thread(prog.nslots, state, run);
            setIds(t, li, WX, WY, sgSize);
            threads.push(t);
          }
          runCollective(prog.body.run, threads, sgSize);
        }
      }
    }
  }
  k.tensors.forEach((p, i) => {
    if (p.packed && p.access !== 'read') unpackWords(p, bound[i] as Uint32Array, tensors[i]);
  });
}

function setIds(t: Thread, li: number, WX: number, WY: number, sgSize: number): void {
  t.li = li;
  t.lid[0] = li % WX;
  t.lid[1] = Math.floor(li / WX) % WY;
  t.lid[2] = Math.floor(li / (WX * WY));
  t.lane = li % sgSize;
}

type ArgError = (name: string, detail: string) => never;

/**
 * A frontend kernel whose sizes are already constants runs as it is (tests of small
 * kernels); one with tunable sizes must go through the pipeline first.
 */
function asLowered(k: Kernel | LoweredKernel, argError: ArgError): LoweredKernel {
  if (isLowered(k)) return k;
  let x = finalised.get(k);
  if (!x) {
    try {
      x = finalise(k, INTERP_CAPS);
    } catch (e) {
      if (e instanceof CompileError) argError('kernel', `${e.detail}: interpret lowerForTarget(kernel, 'interp', choice), not the frontend IR`);
      throw e;
    }
    finalised.set(k, x);
  }
  return x;
}

/** The launch checks every backend shares (launch/args.ts), as InterpretErrors. */
function checkArgs(k: LoweredKernel, args: InterpretArgs, argError: ArgError): { env: Record<string, number>; uniforms: Val[]; tensors: HostArray[] } {
  let env: Record<string, number>;
  try {
    ({ env } = checkLaunch(signatureOf(k), args));
  } catch (e) {
    if (e instanceof KernelArgError) argError(e.argument, e.detail);
    throw e;
  }
  const uniforms = k.scalars.map((s): Val => normalise(s.dtype, env[s.name]));
  return { env: { ...k.consts, ...env }, uniforms, tensors: k.tensors.map((t) => args.tensors[t.name]) };
}

/** Elements per u32 word of a packed tensor (WGSL legalisation: 16-bit types 2, fp8 4). */
const perWord = (p: TensorParam): number => (p.dtype === 'bf16' || p.dtype === 'f16' ? 2 : 4);

/**
 * The manifest's packing rule (codegen/manifest.ts packing()): element i is bits
 * w*(i%n) .. w*(i%n)+w-1 of word floor(i/n), w = 32/n; a last partial word is zero-padded.
 */
function packWords(p: TensorParam, host: HostArray): Uint32Array {
  const n = perWord(p), w = 32 / n;
  const words = new Uint32Array(Math.ceil(host.length / n));
  for (let i = 0; i < host.length; i++) words[Math.floor(i / n)] |= host[i] << (w * (i % n));
  return words;
}

function unpackWords(p: TensorParam, words: Uint32Array, host: HostArray): void {
  const n = perWord(p), w = 32 / n, mask = (1 << w) - 1;
  for (let i = 0; i < host.length; i++) host[i] = (words[Math.floor(i / n)] >>> (w * (i % n))) & mask;
}
