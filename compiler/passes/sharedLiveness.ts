import type { Stmt } from '../ir/nodes.js';
import type { LoweredKernel } from '../ir/lowered.js';

/** A statement's place in program order, `pre` before and `post` after its children, and the if-branches it sits in. */
export interface Span {
  readonly pre: number;
  post: number;
  readonly branches: readonly string[];
  /** An outermost loop: what decides whether a barrier in its body separates uses before or after it. */
  readonly loop?: LoopFacts;
  /** Barriers: the statement (the interpreter's poison mode finds it by identity). */
  readonly stmt?: Stmt;
}

interface LoopFacts {
  /** `pre` of the first and the last barrier directly in the body (in no branch). */
  head?: number;
  tail?: number;
  /** A break or continue anywhere in the body: the tail barrier may be skipped on the way out. */
  jumps: boolean;
  /** Arrays its condition, init or update name: they run before the head and after the tail barrier. */
  readonly header: ReadonlySet<string>;
}

/** First and last use of an array; a use inside a loop stands for the whole outermost loop. */
export interface LiveRange {
  readonly name: string;
  readonly first: Span;
  readonly last: Span;
  /** `pre` of the earliest use inside `first` and `post` of the latest inside `last`. */
  readonly firstUse: number;
  readonly lastUse: number;
  /** Barriers outside every loop, which all threads reach in program order. */
  readonly barriers: readonly Span[];
}

const NESTED = ['then', 'else', 'init', 'update', 'body', 'sm90a', 'other'] as const;
/** Alternatives rather than repetitions: an if's branches, an archSwitch's (only one is compiled). */
const BRANCHES: readonly string[] = ['then', 'else', 'sm90a', 'other'];

/**
 * Live range of every shared array over the structured IR. A use inside a loop stands for the
 * whole (outermost) loop, since a later iteration may read what an earlier one wrote. An
 * array cp.async writes stays live up to the `cp.async.wait_group 0` that lands its copies
 * (a wait for fewer pending groups is not counted) or, without one, to the end of the kernel.
 */
export function sharedLiveRanges(k: Pick<LoweredKernel, 'shared' | 'body'>): Map<string, LiveRange> {
  const names = new Set(k.shared.map((s) => s.name));
  const uses = new Map<string, { at: Span; raw: Span }[]>();
  const use = (name: string, at: Span, raw: Span) => (uses.get(name) ?? uses.set(name, []).get(name)!).push({ at, raw });
  const barriers: Span[] = [];
  let clock = 0;
  let ifs = 0;
  // `inFlight`: arrays with cp.async copies issued and not yet waited for, on the paths so far.
  const visit = (stmts: readonly Stmt[], branches: readonly string[], loop: Span | undefined, inFlight: Set<string>) => {
    for (const s of stmts) {
      const bodies = NESTED.filter((f) => !BRANCHES.includes(f) && Array.isArray(field(s, f)));
      const isLoop = s.k !== 'if' && s.k !== 'archSwitch' && bodies.length > 0;
      const span: Span = { pre: clock++, post: -1, branches, ...(isLoop && !loop ? { loop: loopFacts(s, names) } : {}), ...(s.k === 'barrier' ? { stmt: s } : {}) };
      const at = loop ?? span;
      for (const name of arraysNamed(s, names)) use(name, at, span);
      if (s.k === 'asyncCopy' && names.has(s.dst)) inFlight.add(s.dst);
      if (s.k === 'asyncWait' && s.pending === 0) {
        for (const name of inFlight) use(name, at, span);
        inFlight.clear();
      }
      if (s.k === 'barrier') {
        if (!loop) barriers.push(span);
        else if (loop.loop && stmts === field(loopStmt.get(loop)!, 'body')) {
          loop.loop.head ??= span.pre;
          loop.loop.tail = span.pre;
        }
      }
      if (s.k === 'if' || s.k === 'archSwitch') {
        const id = ifs++;
        const other = new Set(inFlight);
        visit(s.k === 'if' ? s.then : s.sm90a, [...branches, `${id}:then`], loop, inFlight);
        visit(s.k === 'if' ? s.else : s.other, [...branches, `${id}:else`], loop, other);
        for (const name of other) inFlight.add(name);
      } else if (isLoop) {
        // Every statement with a body repeats it (for, pipelined, and whatever loops come):
        // after it, copies in flight are those of zero iterations or of the last one.
        const before = [...inFlight];
        if (!loop) loopStmt.set(span, s);
        for (const f of bodies) visit(field(s, f) as Stmt[], branches, loop ?? span, inFlight);
        for (const name of before) inFlight.add(name);
      }
      span.post = clock++;
    }
  };
  const loopStmt = new Map<Span, Stmt>();
  const inFlight = new Set<string>();
  visit(k.body, [], undefined, inFlight);
  const end: Span = { pre: clock, post: clock + 1, branches: [] };
  for (const name of inFlight) use(name, end, end);
  const whole: Span = { pre: -1, post: clock + 1, branches: [] };
  const out = new Map<string, LiveRange>();
  for (const { name } of k.shared) {
    const list = uses.get(name);
    // Nothing references it (unusedArrays.ts drops such arrays): keep it apart from everything.
    if (!list) {
      out.set(name, { name, first: whole, last: whole, firstUse: whole.pre, lastUse: whole.post, barriers });
      continue;
    }
    const first = list.reduce((a, b) => (b.at.pre < a.at.pre ? b : a)).at;
    const last = list.reduce((a, b) => (b.at.post > a.at.post ? b : a)).at;
    const firstUse = Math.min(...list.filter((u) => u.at === first).map((u) => u.raw.pre));
    const lastUse = Math.max(...list.filter((u) => u.at === last).map((u) => u.raw.post));
    out.set(name, { name, first, last, firstUse, lastUse, barriers });
  }
  return out;
}

/** `a` is dead before `b` starts, or the other way round, with a barrier every thread reaches in between. */
export function disjointInTime(a: LiveRange, b: LiveRange): boolean {
  return separated(a, b) || separated(b, a);
}

function separated(before: LiveRange, after: LiveRange): boolean {
  const [x, y] = [before.last, after.first];
  if (!(x.post < y.pre)) return false;
  // A barrier between the two, in no branch that the uses on either side are not in.
  const between = before.barriers.some((bar) => bar.pre > x.post && bar.post < y.pre && bar.branches.every((br) => x.branches.includes(br) && y.branches.includes(br)));
  // The last barrier of the loop holding the last use, after it in the body, reached on every way out
  // (a GEMM's K loop ends with one before the epilogue tile is written) ...
  const tail = x.loop?.tail !== undefined && !x.loop.jumps && !x.loop.header.has(before.name) && before.lastUse < x.loop.tail;
  // ... or the first barrier of the loop holding the first use, before it in the body.
  const head = y.loop?.head !== undefined && !y.loop.header.has(after.name) && after.firstUse > y.loop.head;
  return between || tail || head;
}

function loopFacts(s: Stmt, names: ReadonlySet<string>): LoopFacts {
  const header = arraysNamed(s, names);
  let jumps = false;
  const deep = (stmts: readonly Stmt[], inHeader: boolean) => {
    for (const x of stmts) {
      if (x.k === 'break' || x.k === 'continue') jumps = true;
      if (inHeader) for (const n of arraysNamed(x, names)) header.add(n);
      for (const f of NESTED) if (Array.isArray(field(x, f))) deep(field(x, f) as Stmt[], inHeader);
    }
  };
  deep((field(s, 'init') as Stmt[] | undefined) ?? [], true);
  deep((field(s, 'update') as Stmt[] | undefined) ?? [], true);
  deep((field(s, 'body') as Stmt[] | undefined) ?? [], false);
  return { jumps, header };
}

const field = (s: Stmt, f: string): unknown => (s as unknown as Record<string, unknown>)[f];

/**
 * Shared arrays a statement names outside its nested bodies: any string field, in any
 * operand (loads, tile refs, mma operands, copies). Reading every field rather than a list
 * per statement kind keeps a new kind safe: at worst a name that is not an array reference
 * lengthens a live range.
 */
function arraysNamed(s: Stmt, names: ReadonlySet<string>): Set<string> {
  const found = new Set<string>();
  const scan = (v: unknown): void => {
    if (typeof v === 'string') {
      if (names.has(v)) found.add(v);
    } else if (Array.isArray(v)) v.forEach(scan);
    else if (v && typeof v === 'object') for (const x of Object.values(v)) scan(x);
  };
  // `init` is a for's statements but a let's expression: only statement lists are nested bodies.
  for (const [key, v] of Object.entries(s)) if (key !== 'loc' && !((NESTED as readonly string[]).includes(key) && Array.isArray(v))) scan(v);
  return found;
}
