import type { Expr, Kernel, Stmt } from '../ir/nodes.js';
import type { SourceLoc } from '../common/source-loc.js';
import { formatLoc } from '../common/source-loc.js';
import { CompileError, CompileErrors } from '../common/errors.js';

/**
 * Uniformity analysis, after WGSL's rules (spec §"Uniformity Analysis"): `barrier()`,
 * subgroup ops and the warp tile ops must be reached by every thread of the workgroup
 * (resp. warp) together. WGSL rejects a barrier in non-uniform control flow; CUDA compiles
 * it and deadlocks or returns garbage, and a subgroup op there gives each backend its own
 * answer. So the compiler rejects both, naming the condition that makes the flow non-uniform.
 *
 * Values that differ between threads: localId, localIndex, subgroupLane, loads of shared
 * memory and of writable tensors (another thread may have written them), atomic and
 * subgroup results, and every value computed from those or assigned under non-uniform
 * control flow. Control flow is non-uniform inside an if or loop whose condition is such a
 * value, after a `break`/`continue` only some threads take (until the loop ends), and after
 * a `return` only some threads take (until the kernel ends). Variables are tracked per
 * program point (an assignment of a uniform value makes a variable uniform again); loops
 * are iterated to a fixed point.
 *
 * Runs on the specialised, constant-folded IR, so `if (c.WG > 32)` on a tunable is uniform.
 */
export function checkUniformity(k: Kernel): void {
  const a = new Analysis(k);
  const env: Env = new Map();
  a.block(k.body, env, undefined);
  const errors = [...a.errors.values()];
  if (errors.length === 1) throw errors[0];
  if (errors.length) throw new CompileErrors(errors);
}

/** Why a value differs between threads, in words ("localIndex", "a load of shared array 's'"). */
type Cause = string;
/**
 * Why control flow is non-uniform at a point: the condition or divergent exit, in words, as
 * a sentence (`text`) and as a phrase for a variable assigned under it (`brief`).
 */
interface Flow { readonly text: string; readonly brief: string }
/** Variables (and local arrays, as `local:name`) that hold non-uniform values, with the cause. */
type Env = Map<string, Cause>;
interface Loop { exit: Flow | undefined; breaks: Env[] }

const condition = (what: string, at: SourceLoc | undefined, cause: Cause): Flow => ({
  text: `the ${what} at ${formatLoc(at)} depends on ${cause}, which differs between threads`,
  brief: `the ${what} at ${formatLoc(at)}, which depends on ${cause}`,
});
const exitOf = (what: string, at: SourceLoc | undefined, inner: Flow): Flow => ({
  text: `the ${what} at ${formatLoc(at)} is taken only by some threads, since ${inner.text}`,
  brief: `the ${what} at ${formatLoc(at)}, which only some threads take`,
});

const COLLECTIVE: Partial<Record<Stmt['k'], (s: Stmt) => { name: string; scope: 'workgroup' | 'subgroup' | 'warp' }>> = {
  barrier: () => ({ name: 'barrier()', scope: 'workgroup' }),
  subgroup: (s) => ({ name: `${({ add: 'subgroupAdd', max: 'subgroupMax', shuffleXor: 'subgroupShuffleXor' } as const)[(s as Extract<Stmt, { k: 'subgroup' }>).op]}()`, scope: 'subgroup' }),
  mma: (s) => ({ name: `${(s as Extract<Stmt, { k: 'mma' }>).bLayout === 'nk' ? 'mmaTransposedB' : 'mma'}()`, scope: 'warp' }),
  fragmentStore: () => ({ name: 'storeFragment()', scope: 'warp' }),
  fragmentAccumulate: () => ({ name: 'accumulateScaled()', scope: 'warp' }),
  mmaFragment: () => ({ name: 'mmaFragment()', scope: 'warp' }),
  blockMma: (s) => ({ name: `${(s as Extract<Stmt, { k: 'blockMma' }>).bLayout === 'nk' ? 'blockMmaTransposedB' : 'blockMma'}()`, scope: 'workgroup' }),
  blockStore: () => ({ name: 'storeBlock()', scope: 'workgroup' }),
  blockAccumulate: () => ({ name: 'accumulateBlockScaled()', scope: 'workgroup' }),
  tileCopy: () => ({ name: 'copyTile()', scope: 'workgroup' }),
  pipelined: () => ({ name: 'pipelined()', scope: 'workgroup' }),
};

class Analysis {
  /** One error per collective statement, as first found (the most direct cause: later loop iterations see derived ones). */
  readonly errors = new Map<Stmt, CompileError>();
  private readonly loops: Loop[] = [];
  private readonly loopCache = new Map<Stmt, Map<string, { env: Env; returned: Flow | undefined }>>();
  /** Set once a return only some threads take has run: the rest of the kernel is non-uniform. */
  private returned: Flow | undefined;
  private readonly readOnly: ReadonlySet<string>;

  constructor(private readonly k: Kernel) {
    this.readOnly = new Set(k.tensors.filter((t) => t.access === 'read').map((t) => t.name));
  }

  /** Analyses `list` entered under `flow` (undefined: uniform); updates `env` in place. */
  block(list: readonly Stmt[], env: Env, flow: Flow | undefined): void {
    for (const s of list) this.stmt(s, env, flow);
  }

  /** The flow a statement runs under: its conditions, then divergent exits seen so far. */
  private effective(flow: Flow | undefined): Flow | undefined {
    if (flow) return flow;
    for (let i = this.loops.length - 1; i >= 0; i--) if (this.loops[i].exit) return this.loops[i].exit;
    return this.returned;
  }

  private stmt(s: Stmt, env: Env, outer: Flow | undefined): void {
    const flow = this.effective(outer);
    const collective = COLLECTIVE[s.k]?.(s);
    if (collective) this.collective(s, collective, flow, env);
    switch (s.k) {
      // A let is scoped to the flow it is declared in, so only its value matters; an
      // assignment under non-uniform flow leaves threads with different values after it.
      case 'let': this.set(env, s.name, this.value(s.init, env), undefined); break;
      case 'assign': this.set(env, s.name, this.value(s.value, env), flow); break;
      case 'store':
        if (s.space === 'local') this.weak(env, `local:${s.buf}`, this.value(s.value, env) ?? this.value(s.index, env), flow);
        break;
      case 'atomic': if (s.result) env.set(s.result, `the result of atomic${s.op === 'add' ? 'Add' : 'Max'} at ${formatLoc(s.loc)}`); break;
      case 'subgroup': env.set(s.result, `the result of ${collective!.name} at ${formatLoc(s.loc)}`); break;
      case 'if': {
        const c = this.value(s.cond, env);
        const inner = flow ?? (c ? condition('if condition', s.cond.loc ?? s.loc, c) : undefined);
        const other = new Map(env);
        this.block(s.then, env, inner);
        this.block(s.else, other, inner);
        join(env, other);
        break;
      }
      case 'for': this.loop(s, env, flow); break;
      // Its bounds are uniform (checked above), so is its counter; one pass over the body suffices.
      case 'pipelined': {
        const inner = new Map(env);
        this.block(s.body, inner, flow);
        join(env, inner);
        break;
      }
      case 'break': case 'continue': case 'return': {
        if (!flow) break;
        const exit = exitOf(s.k, s.loc, flow);
        if (s.k === 'return') this.returned ??= exit;
        else {
          const loop = this.loops[this.loops.length - 1];
          loop.exit ??= exit;
          if (s.k === 'break') loop.breaks.push(new Map(env));
        }
        break;
      }
      default: break;
    }
  }

  private loop(s: Extract<Stmt, { k: 'for' }>, env: Env, flow: Flow | undefined): void {
    this.block(s.init, env, flow);
    // Each iteration of an outer loop re-enters its inner loops: analysing them afresh each
    // time would be exponential in the nesting depth, and the same entry state gives the same result.
    const key = `${[...env.keys()].sort().join(',')}|${flow?.text ?? ''}|${this.returned?.text ?? ''}`;
    const cache = this.loopCache.get(s) ?? new Map<string, { env: Env; returned: Flow | undefined }>();
    this.loopCache.set(s, cache);
    const hit = cache.get(key);
    if (hit) {
      replace(env, hit.env);
      this.returned = hit.returned;
      return;
    }
    const loop: Loop = { exit: undefined, breaks: [] };
    this.loops.push(loop);
    const entry = new Map(env);
    let head = new Map(entry);
    for (;;) {
      const before = { head: new Map(head), exit: loop.exit, returned: this.returned };
      const body = new Map(head);
      const c = this.value(s.cond, body);
      const inner = this.effective(flow) ?? (c ? condition('loop condition', s.cond.loc ?? s.loc, c) : undefined);
      this.block(s.body, body, inner);
      this.block(s.update, body, inner);
      head = new Map(entry);
      join(head, body);
      join(head, before.head);
      if (sameEnv(head, before.head) && loop.exit === before.exit && this.returned === before.returned) break;
    }
    this.loops.pop();
    replace(env, head);
    for (const b of loop.breaks) join(env, b);
    cache.set(key, { env: new Map(env), returned: this.returned });
  }

  private collective(s: Stmt, c: { name: string; scope: 'workgroup' | 'subgroup' | 'warp' }, flow: Flow | undefined, env: Env): void {
    const who = c.scope === 'workgroup' ? 'every thread of the workgroup' : c.scope === 'subgroup' ? 'every thread of the subgroup' : 'all 32 threads of the warp';
    if (this.errors.has(s)) return;
    if (flow) {
      this.errors.set(s, new CompileError(
        `${c.name} in non-uniform control flow: ${flow.text}`, s.loc, undefined,
        `${who} must reach it together; move it out of the branch or loop, or make the condition depend only on workgroupId, uniforms and constants`, this.k.name));
      return;
    }
    const mask = s.k === 'subgroup' && s.laneMask ? this.value(s.laneMask, env) : undefined;
    if (mask) this.errors.set(s, new CompileError(`${c.name} lane mask must be the same in every thread: it depends on ${mask}`, s.loc, undefined, 'use a constant or uniform mask', this.k.name));
    const args = s.k === 'tileCopy' ? [s.r0, s.c0, s.rows, s.cols, s.srcOffset, s.dstOffset] : s.k === 'pipelined' ? [s.start, s.end, s.step] : [];
    const why = args.map((a) => this.value(a, env)).find((x) => x);
    if (why) this.errors.set(s, new CompileError(`${c.name} arguments must be the same in every thread of the workgroup: one depends on ${why}`, s.loc, undefined, 'derive tile coordinates and loop bounds from workgroupId, uniforms and constants', this.k.name));
  }

  private set(env: Env, name: string, cause: Cause | undefined, flow: Flow | undefined): void {
    const c = cause ?? (flow ? `'${name}' (assigned under ${flow.brief})` : undefined);
    if (c) env.set(name, c);
    else env.delete(name);
  }

  private weak(env: Env, name: string, cause: Cause | undefined, flow: Flow | undefined): void {
    if (env.has(name)) return;
    const c = cause ?? (flow ? `local array '${name.slice(6)}' (written under ${flow.brief})` : undefined);
    if (c) env.set(name, c);
  }

  /** Why `e` may differ between threads, or undefined when it is uniform. */
  value(e: Expr, env: Env): Cause | undefined {
    switch (e.k) {
      case 'const': case 'uniform': case 'sym': return undefined;
      case 'builtin':
        if (e.name === 'localId') return `localId.${'xyz'[e.axis]}`;
        return e.name === 'localIndex' || e.name === 'subgroupLane' ? e.name : undefined;
      case 'var': return env.get(e.name);
      case 'fragmentCoord': return `a fragment ${e.axis} coordinate at ${formatLoc(e.loc)}`;
      case 'load': case 'loadWord':
        if (e.space === 'shared') return `a load of shared array '${e.buf}' at ${formatLoc(e.loc)}`;
        if (e.space === 'global' && !this.readOnly.has(e.buf)) return `a load of writable tensor '${e.buf}' at ${formatLoc(e.loc)}`;
        return (e.space === 'local' ? env.get(`local:${e.buf}`) : undefined) ?? this.value(e.index, env);
      case 'bin': return this.value(e.a, env) ?? this.value(e.b, env);
      case 'un': case 'cast': case 'bitcast': return this.value(e.a, env);
      case 'select': return this.value(e.cond, env) ?? this.value(e.a, env) ?? this.value(e.b, env);
      case 'call': {
        for (const x of e.args) {
          const c = this.value(x, env);
          if (c) return c;
        }
        return undefined;
      }
    }
  }
}

function join(into: Env, other: Env): void {
  for (const [n, c] of other) if (!into.has(n)) into.set(n, c);
}

function replace(env: Env, by: Env): void {
  env.clear();
  for (const [n, c] of by) env.set(n, c);
}

function sameEnv(a: Env, b: Env): boolean {
  if (a.size !== b.size) return false;
  for (const n of a.keys()) if (!b.has(n)) return false;
  return true;
}
