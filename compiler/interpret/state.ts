import type { KernelBase } from '../ir/nodes.js';
import type { LoweredKernel } from '../ir/lowered.js';
import type { DType } from '../ir/types.js';
import type { SourceLoc } from '../common/source-loc.js';
import { FORMATS, decode, type NarrowType } from '../ir/numerics.js';
import { InterpretError, type ThreadId } from './errors.js';

/**
 * Run-time state of the interpreter: what compiled closures read and write. Values follow
 * semantics.ts: numbers (storage types held as the f32 number they represent) and booleans.
 */
export type Val = number | boolean;
export type HostArray = Float32Array | Int32Array | Uint32Array | Uint16Array | Uint8Array;
/** In-program arrays (shared, local): narrow floats are held as their (exact) f32 values. */
export type MemArray = Float32Array | Int32Array | Uint32Array | Uint8Array;

/** Loop iterations a launch may still run, over all its threads (InterpretOptions.maxSteps). */
export interface StepBudget {
  left: number;
  readonly max: number;
}

/** Per launch: bound tensors and uniforms, by the kernel's parameter order. */
export interface RunState {
  readonly kernel: LoweredKernel;
  /** Packed tensors (WGSL lowering) are their u32 words here. */
  readonly tensors: readonly HostArray[];
  /** Element count of each tensor: a packed tensor's last word may hold fewer than a full word's. */
  readonly elements: readonly number[];
  readonly uniforms: readonly Val[];
  readonly grid: readonly [number, number, number];
  readonly sgSize: number;
  readonly steps: StepBudget;
}

/** One shared array of one workgroup; `init[i]` is 1 once element i has been written. */
export interface SharedMem {
  readonly data: MemArray;
  readonly init: Uint8Array;
}

export interface WgState {
  readonly id: [number, number, number];
  readonly shared: SharedMem[];
  /** Arrays past their live range, and the barrier where it ended (interpret/sharedPoison.ts). */
  poisoned?: Map<string, SourceLoc | undefined>;
}

/** What a blocked thread waits at. */
export const WAIT_NONE = 0, WAIT_BARRIER = 1, WAIT_SUBGROUP = 2;

/** A collective statement of the program (barrier, subgroup op, warp mma), compared by identity. */
export interface Site {
  readonly kind: 'barrier' | 'subgroup' | 'mma' | 'ldmatrix';
  readonly op?: 'add' | 'max' | 'shuffleXor';
  /** Subgroup ops: the value type; mma: the operand type. */
  readonly type?: DType;
  readonly loc?: SourceLoc;
  /** Barriers: shared arrays (indices) whose live range ends here (interpret/sharedPoison.ts). */
  readonly poison?: readonly number[];
}

/** One lane's part of a warp-collective mmaSync (interpret/mma.ts). */
export interface MmaLane {
  /** a[0..3], b[0..1] as deposited by the lane. */
  readonly regs: Uint32Array;
  /** c on entry, d on return. */
  readonly acc: Float32Array;
}

/** One invocation: its variable slots, ids and, while blocked, what it waits at. */
export class Thread {
  /** Variable and local-array slots, resolved at compile time. */
  v: unknown[];
  readonly lid: [number, number, number] = [0, 0, 0];
  li = 0;
  lane = 0;
  wait = WAIT_NONE;
  site: Site | undefined = undefined;
  sgValue: Val = 0;
  sgMask = 0;
  sgResult: Val = 0;
  /** Waiting at an mma: a[0..3], b[0..1] and the 4 accumulators (d once the warp completes it). */
  mma: MmaLane | undefined = undefined;
  /** After an ldmatrix: the row index each lane of the warp gave (interpret/ldmatrix.ts). */
  warpValues: Int32Array | undefined = undefined;
  /** The launch's budget (run.steps), one dereference closer for the loops that count it. */
  readonly steps: StepBudget;

  constructor(
    nslots: number,
    public wg: WgState,
    public run: RunState,
  ) {
    this.v = new Array(nslots).fill(0);
    this.steps = run.steps;
  }

  id(): ThreadId {
    return { workgroup: [...this.wg.id], local: [...this.lid] };
  }
}

/** Raises an InterpretError at `loc` for thread `t`. */
export function fail(t: Thread | undefined, loc: SourceLoc | undefined, detail: string, kernel?: KernelBase): never {
  const k = kernel ?? t!.run.kernel;
  throw new InterpretError(k.name, detail, loc, t?.id());
}

/**
 * Stops a launch whose loops ran its whole step budget: without recursion only a loop can
 * run forever, so counting iterations bounds every launch.
 */
export function outOfSteps(t: Thread, loc: SourceLoc | undefined): never {
  return fail(t, loc, `interpreter stopped after ${t.run.steps.max} steps (an infinite loop?); InterpretOptions.maxSteps sets the budget`);
}

/** Zero-initialised in-program array of `type`. */
export function makeArray(type: DType, n: number): MemArray {
  switch (type) {
    case 'i32': return new Int32Array(n);
    case 'u32': return new Uint32Array(n);
    case 'bool': return new Uint8Array(n);
    default: return new Float32Array(n);
  }
}

/** Fresh shared array: floats poisoned with NaN, and every element marked unwritten. */
export function makeShared(type: DType, n: number): SharedMem {
  const data = makeArray(type, n);
  if (data instanceof Float32Array) data.fill(NaN);
  return { data, init: new Uint8Array(n) };
}

const tables = new Map<NarrowType, Float64Array>();
/** Value of every bit pattern of a narrow format (numerics.decode, tabulated once). */
export function decodeTable(t: NarrowType): Float64Array {
  let tab = tables.get(t);
  if (!tab) {
    const n = t === 'bf16' || t === 'f16' ? 1 << 16 : 1 << 8;
    tab = new Float64Array(n);
    for (let b = 0; b < n; b++) tab[b] = decode(FORMATS[t], b);
    tables.set(t, tab);
  }
  return tab;
}
