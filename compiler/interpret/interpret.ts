import type { Kernel } from '../ir/nodes.js';
import { evalSize } from '../ir/size.js';
import { normalise } from '../ir/semantics.js';
import { InterpretError } from './errors.js';
import { Ctx, childScope } from './exprs.js';
import { runCollective } from './schedule.js';
import { HOST_CLASS, Thread, makeShared, type HostArray, type RunState, type Val, type WgState } from './state.js';
import { compileBlock, type Compiled } from './stmts.js';

export { InterpretError } from './errors.js';
export type { ThreadId } from './errors.js';
export type { HostArray } from './state.js';

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
  const { env, uniforms } = checkScalars(k, args, argError);
  const tensors = checkTensors(k, args, env, argError);

  const wg = k.workgroup.map((w, i) => (w.k === 'num' ? w.v : argError('workgroup', `size ${'xyz'[i]} is not a constant: interpret lowerForTarget(kernel, 'interp')`)));
  const [WX, WY, WZ] = dims3(wg);
  const grid = dims3(k.grid.map((g) => evalSize(g, env)));
  grid.forEach((g, i) => {
    if (!(Number.isInteger(g) && g >= 0)) argError('grid', `dimension ${'xyz'[i]} evaluates to ${g}`);
  });
  const sharedSizes = k.shared.map((s) => (s.size.k === 'num' ? s.size.v : argError(s.name, 'shared array size is not a constant')));
  const run: RunState = { kernel: k, tensors, uniforms, grid, sgSize };
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

function checkScalars(k: Kernel, args: InterpretArgs, argError: ArgError): { env: Record<string, number>; uniforms: Val[] } {
  const env: Record<string, number> = { ...k.consts };
  const uniforms: Val[] = [];
  for (const s of k.scalars) {
    const v = args.scalars?.[s.name];
    const what = s.isDim ? 'shape symbol' : 'scalar';
    if (v === undefined) argError(s.name, `missing ${what} (${s.dtype})`);
    if (typeof v !== 'number' || Number.isNaN(v)) argError(s.name, `expected a number, got ${String(v)}`);
    if ((s.dtype === 'i32' || s.dtype === 'u32') && !Number.isInteger(v)) argError(s.name, `expected an integer ${s.dtype}, got ${v}`);
    if (s.isDim && !(v >= 0 && v <= 2 ** 31 - 1)) argError(s.name, `shape symbol must be in [0, 2^31), got ${v}`);
    env[s.name] = v;
    uniforms.push(s.dtype === 'bool' ? v !== 0 : normalise(s.dtype, v));
  }
  for (const name of Object.keys(args.scalars ?? {})) {
    if (!k.scalars.some((s) => s.name === name)) argError(name, `unknown scalar (expected: ${k.scalars.map((s) => s.name).join(', ') || 'none'})`);
  }
  return { env, uniforms };
}

function checkTensors(k: Kernel, args: InterpretArgs, env: Record<string, number>, argError: ArgError): HostArray[] {
  const out: HostArray[] = [];
  for (const p of k.tensors) {
    if (p.packed) argError(p.name, `tensor is packed into u32 words (WGSL lowering): interpret lowerForTarget(kernel, 'interp')`);
    const want = p.shape.reduce((n, d) => n * env[d], 1);
    const shape = `${p.dtype}[${p.shape.map((d) => `${d}=${env[d]}`).join(', ')}]`;
    const classes = HOST_CLASS[p.dtype];
    const a = args.tensors?.[p.name];
    if (!a) argError(p.name, `missing tensor, expected ${shape} = ${want} elements as ${classes.join(' or ')}`);
    const cls = (a as object).constructor?.name;
    if (!classes.includes(cls)) argError(p.name, `expected dtype ${p.dtype} as ${classes.join(' or ')}, got ${cls}`);
    if (a.length !== want) argError(p.name, `expected shape ${shape} = ${want} elements, got ${a.length}`);
    out.push(a);
  }
  for (const name of Object.keys(args.tensors ?? {})) {
    if (!k.tensors.some((t) => t.name === name)) argError(name, `unknown tensor (expected: ${k.tensors.map((t) => t.name).join(', ') || 'none'})`);
  }
  return out;
}
