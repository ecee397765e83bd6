import type { Kernel } from '../ir/nodes.js';
import { evalSize } from '../ir/size.js';
import { normalise } from '../ir/semantics.js';
import { InterpretError } from './errors.js';
import { Ctx, childScope } from './exprs.js';
import { runCollective } from './schedule.js';
import { Thread, makeShared, type HostArray, type RunState, type Val, type WgState } from './state.js';
import { compileBlock, type Compiled } from './stmts.js';

export { InterpretError } from './errors.js';
export type { ThreadId } from './errors.js';
export type { HostArray } from './state.js';
import { KernelArgError, checkLaunch, signatureOf } from '../../backends/common/args.js';

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
}

interface Program {
  readonly body: Compiled;
  readonly nslots: number;
}

const programs = new WeakMap<Kernel, Program>();

/** Compiles a kernel's body into closures once (cached per Kernel object). */
function compile(k: Kernel): Program {
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
 * Runs a kernel lowered with `lowerForTarget(kernel, 'interp', choice)` over its whole grid.
 * Tensors are host arrays (narrow floats as bit patterns); outputs are written in place.
 */
export function interpret(k: Kernel, args: InterpretArgs, opts: InterpretOptions = {}): void {
  const prog = compile(k);
  const sgSize = opts.subgroupSize ?? 32;
  const argError = (name: string, detail: string): never => {
    throw new InterpretError(k.name, `argument '${name}': ${detail}`, k.loc);
  };
  if (!(Number.isInteger(sgSize) && sgSize >= 1)) argError('subgroupSize', `must be a positive integer, got ${sgSize}`);
  const maxSteps = opts.maxSteps ?? 1e9;
  if (!(Number.isInteger(maxSteps) && maxSteps >= 0)) argError('maxSteps', `must be a non-negative integer, got ${maxSteps}`);
  const { env, uniforms, tensors } = checkArgs(k, args, argError);

  const wg = k.workgroup.map((w, i) => (w.k === 'num' ? w.v : argError('workgroup', `size ${'xyz'[i]} is not a constant: interpret lowerForTarget(kernel, 'interp')`)));
  const [WX, WY, WZ] = dims3(wg);
  const grid = dims3(k.grid.map((g) => evalSize(g, env)));
  grid.forEach((g, i) => {
    if (!(Number.isInteger(g) && g >= 0)) argError('grid', `dimension ${'xyz'[i]} evaluates to ${g}`);
  });
  const sharedSizes = k.shared.map((s) => (s.size.k === 'num' ? s.size.v : argError(s.name, 'shared array size is not a constant')));
  const run: RunState = { kernel: k, tensors, uniforms, grid, sgSize, steps: { left: maxSteps, max: maxSteps } };
  const nthreads = WX * WY * WZ;

  for (let gz = 0; gz < grid[2]; gz++) {
    for (let gy = 0; gy < grid[1]; gy++) {
      for (let gx = 0; gx < grid[0]; gx++) {
        const state: WgState = { id: [gx, gy, gz], shared: k.shared.map((s, i) => makeShared(s.dtype, sharedSizes[i])) };
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
}

function setIds(t: Thread, li: number, WX: number, WY: number, sgSize: number): void {
  t.li = li;
  t.lid[0] = li % WX;
  t.lid[1] = Math.floor(li / WX) % WY;
  t.lid[2] = Math.floor(li / (WX * WY));
  t.lane = li % sgSize;
}

type ArgError = (name: string, detail: string) => never;

/** The launch checks every backend shares (backends/common/args.ts), as InterpretErrors. */
function checkArgs(k: Kernel, args: InterpretArgs, argError: ArgError): { env: Record<string, number>; uniforms: Val[]; tensors: HostArray[] } {
  for (const p of k.tensors) {
    if (p.packed) argError(p.name, `tensor is packed into u32 words (WGSL lowering): interpret lowerForTarget(kernel, 'interp')`);
  }
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
