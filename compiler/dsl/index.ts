/**
 * The kernel DSL as TypeScript sees it. Nothing here runs: kernels are read by the
 * compiler's frontend (compiler/frontend) and never executed as JavaScript. These
 * declarations exist so that kernels type-check in an editor and so that misuse
 * (storing an f32 into a bf16 tensor, writing a read-only tensor) is already a
 * TypeScript error before our own compiler reports it with file:line:col.
 */

declare const dtypeBrand: unique symbol;
/** A scalar of a given dtype. The brand is optional so numeric literals are assignable. */
type Scalar<Name extends string> = number & { readonly [dtypeBrand]?: Name };

export type f32 = Scalar<'f32'>;
export type f16 = Scalar<'f16'>;
export type bf16 = Scalar<'bf16'>;
export type fp8e4m3 = Scalar<'fp8e4m3'>;
export type fp8e5m2 = Scalar<'fp8e5m2'>;
export type i32 = Scalar<'i32'>;
export type u32 = Scalar<'u32'>;
export type bool = boolean;
export type DslScalar = f32 | f16 | bf16 | fp8e4m3 | fp8e5m2 | i32 | u32;

/**
 * One dimension of a tensor's shape: a number literal (`192`), or a string naming a shape
 * symbol (`'T'`: a runtime i32 the caller gives), a const, or a formula of them
 * (`'cdiv(K, 128)'`, `'B + 1'`) that the runtime checks at launch.
 */
export type Dim = string | number;
export type Shape = readonly Dim[];
/** What `x[i]` gives: an element of a 1-D tensor, a view of the remaining dimensions otherwise. */
type Indexed<E, S extends Shape, View> = S extends readonly [Dim, Dim, ...Dim[]] ? View : E;
type Rest<S extends Shape> = S extends readonly [Dim, ...infer R extends Shape] ? R : S;

/**
 * A read-only tensor in global memory; `S` names its dimensions, outermost first. Index
 * it by dimension (`q[t][h][d]`, row-major: the compiler computes the offset), or through
 * `.flat[i]` as one array of all its elements. A helper parameter typed with a shape tuple
 * takes a tensor or view of that rank; one typed `Shape` takes it flat.
 */
export interface Tensor<E extends DslScalar, S extends Shape> {
  readonly [index: number]: Indexed<E, S, Tensor<E, Rest<S>>>;
  readonly flat: Tensor<E, [Dim]>;
  readonly __shape?: S;
}
/** A tensor the kernel writes, every element of it (and may read back): the caller need not initialise it. */
export interface Out<E extends DslScalar, S extends Shape> {
  [index: number]: Indexed<E, S, Out<E, Rest<S>>>;
  readonly flat: Out<E, [Dim]>;
  readonly __shape?: S;
  readonly __writable?: true;
}
/**
 * A tensor the kernel updates in place (a KV cache, the valid rows of a masked layout):
 * the elements it does not write keep the caller's values, so the caller initialises it.
 * Kernel parameters only; helpers take it as Out.
 */
export interface InOut<E extends DslScalar, S extends Shape> extends Out<E, S> {
  readonly __inPlace?: true;
}
/**
 * A workgroup (CUDA: block) shared array, `shared(f32, BQ, 192)`: sizes are compile-time
 * constants; indexed per dimension like a tensor (`Qs[r][d]`), or `.flat[i]`.
 */
export interface Shared<E extends DslScalar, S extends readonly number[] = [number]> {
  [index: number]: Indexed<E, S, Shared<E, Rest<S> & readonly number[]>>;
  readonly flat: Shared<E>;
  readonly __shared?: true;
}
/** A per-thread array (registers when its indices fold to constants), `local(f32, BQ)`. */
export interface Local<E extends DslScalar, S extends readonly number[] = [number]> {
  [index: number]: Indexed<E, S, Local<E, Rest<S> & readonly number[]>>;
  readonly flat: Local<E>;
  readonly __local?: true;
}
/** A 16x16 f32 accumulator tile owned by one warp of 32 threads; its per-thread layout is the compiler's. */
export interface Fragment {
  readonly __fragment?: true;
}

type ScalarCtor<T> = { (x: number | boolean): T; readonly dtype: string };
const never = (): never => {
  throw new Error('mimo-kc DSL functions are compiled, not executed');
};
const ctor = <T>(dtype: string): ScalarCtor<T> => Object.assign(never, { dtype }) as unknown as ScalarCtor<T>;

/** Explicit casts: the only way to change a value's dtype. */
export const f32 = ctor<f32>('f32');
export const f16 = ctor<f16>('f16');
export const bf16 = ctor<bf16>('bf16');
export const fp8e4m3 = ctor<fp8e4m3>('fp8e4m3');
export const fp8e5m2 = ctor<fp8e5m2>('fp8e5m2');
export const i32 = ctor<i32>('i32');
export const u32 = ctor<u32>('u32');
/** Reinterpret the bits of a 32-bit value as another 32-bit type. */
export declare function bitcast<T extends f32 | i32 | u32>(to: ScalarCtor<T>, x: number): T;

interface Axis3 { readonly x: i32; readonly y: i32; readonly z: i32 }
/** Thread position inside its workgroup (CUDA threadIdx). */
export declare const localId: Axis3;
/** Workgroup position in the grid (CUDA blockIdx). */
export declare const workgroupId: Axis3;
/** Number of workgroups in the grid (CUDA gridDim). */
export declare const numWorkgroups: Axis3;
/** Linear thread index inside the workgroup. */
export declare const localIndex: i32;
/** Lane inside the subgroup (CUDA warp) and the subgroup width. */
export declare const subgroupLane: i32;
export declare const subgroupSize: i32;

/** A shared array of the given dimensions (one or more compile-time sizes). */
export declare function shared<E extends DslScalar, S extends number[]>(dtype: ScalarCtor<E>, ...dims: S): Shared<E, S>;
/** A per-thread array of the given dimensions (one or more compile-time sizes). */
export declare function local<E extends DslScalar, S extends number[]>(dtype: ScalarCtor<E>, ...dims: S): Local<E, S>;
/** Waits for every thread of the workgroup; shared-memory writes before it are visible after it. */
export declare function barrier(): void;

export declare function exp<T extends number>(x: T): T;
export declare function exp2<T extends number>(x: T): T;
export declare function log<T extends number>(x: T): T;
export declare function sqrt<T extends number>(x: T): T;
export declare function rsqrt<T extends number>(x: T): T;
export declare function tanh<T extends number>(x: T): T;
export declare function abs<T extends number>(x: T): T;
export declare function floor<T extends number>(x: T): T;
export declare function max<T extends number>(a: T, b: T): T;
export declare function min<T extends number>(a: T, b: T): T;
export declare function fma<T extends number>(a: T, b: T, c: T): T;
export declare function select<T extends number | boolean>(cond: boolean, ifTrue: T, ifFalse: T): T;
/** Largest finite f32, for the identity of max-reductions. */
export declare const F32_MAX: f32;
/** log2(e), to write exp(x) as exp2(x * LOG2E) where a scale can absorb it (an online softmax). */
export declare const LOG2E: f32;

export declare function subgroupAdd<T extends number>(x: T): T;
export declare function subgroupMax<T extends number>(x: T): T;
export declare function subgroupShuffleXor<T extends number>(x: T, laneMask: number): T;

export declare function atomicAdd(buf: Out<i32 | u32, [Dim]> | Shared<i32 | u32>, index: number, value: number): number;
export declare function atomicMax(buf: Out<i32 | u32, [Dim]> | Shared<i32 | u32>, index: number, value: number): number;

/** A zeroed 16x16 f32 accumulator for the calling warp. */
export declare function fragment(): Fragment;
/** Operand types of mma: 16-bit and fp8 operands use tensor cores on CUDA. */
export type MmaOperand = bf16 | f16 | f32 | fp8e4m3 | fp8e5m2;
/**
 * acc += A(16xK) * B(Kx16), A and B read from shared arrays (row-major, element offsets
 * and row strides given); K = 16, or 32 for fp8 operands (PTX m16n8k16 / m16n8k32). Every
 * thread of the 32-thread warp must call it with the same arguments. Products are exact
 * and accumulate in f32.
 */
export declare function mma(
  acc: Fragment,
  a: Shared<MmaOperand>, aOffset: number, aStride: number,
  b: Shared<MmaOperand>, bOffset: number, bStride: number,
): void;
/**
 * mma with B stored transposed: B[k][n] = b[bOffset + n*bStride + k]. This is how a
 * PyTorch [N, K] weight tile lies when staged as read, and tensor cores load it along K.
 */
export declare function mmaTransposedB(
  acc: Fragment,
  a: Shared<MmaOperand>, aOffset: number, aStride: number,
  b: Shared<MmaOperand>, bOffset: number, bStride: number,
): void;
/**
 * acc[r][c] += part[r][c] * rowScale[rowOffset + r] * scale for the 16x16 tile: applies
 * per-row and per-block scales to a partial product (FP8 block-scaled GEMM promotion).
 */
export declare function accumulateScaled(acc: Fragment, part: Fragment, rowScale: Shared<f32>, rowOffset: number, scale: number): void;
/** Writes the 16x16 accumulator to a shared array at offset with a row stride. */
export declare function storeFragment(acc: Fragment, dst: Shared<f32>, offset: number, stride: number): void;

/**
 * Flash-attention fragment ops (FlashAttention-2's online softmax in registers). A RowVector
 * holds one f32 per row of a fragment's 16 rows, each thread the rows its fragment elements
 * lie in; inside a fragmentMap/rowMap callback `m[row]` reads m at the callback's row (the
 * only way to index one). Like mma, these are warp-collective where they reduce or multiply.
 */
export interface RowVector {
  readonly __rowVector?: true;
  /** Only as m[row], row the enclosing fragmentMap/rowMap callback's parameter. */
  readonly [row: number]: f32;
}
/** The 16x16 tile as a bf16/f16 A operand of mmaFragment, in registers (no shared memory). */
export interface OperandFragment {
  readonly __operandFragment?: true;
}
/**
 * acc[row][col] = f(acc[row][col], row, col) for every element; row and col are the tile
 * coordinates (0..15). The callback (an arrow function with an expression body) is inlined
 * per element and may read uniforms, locals and row vectors (`m[row]`):
 * `fragmentMap(s, (x, row, col) => (r0 + row >= c0 + col ? x * scale : -F32_MAX))`.
 */
export declare function fragmentMap(acc: Fragment, f: (x: f32, row: i32, col: i32) => f32): void;
/** A row vector with every row set to init. */
export declare function rowVector(init: number): RowVector;
/** m[row] = f(m[row], row) for every row; other row vectors are read as v[row]. */
export declare function rowMap(m: RowVector, f: (x: f32, row: i32) => f32): void;
/** The maximum of each row of acc (NaN if the row has one, as f32 max is; -inf rows stay -inf). */
export declare function fragmentRowMax(acc: Fragment): RowVector;
/** The sum of each row of acc. */
export declare function fragmentRowSum(acc: Fragment): RowVector;
/** acc rounded to nearest-even bf16 or f16 as an A operand (P of O += P·V). */
export declare function toOperand(acc: Fragment, dtype: typeof bf16 | typeof f16): OperandFragment;
/**
 * acc += a·B, a from registers (toOperand), B 16x16 k-major in shared memory:
 * B[k][n] = b[bOffset + k*bStride + n] (a row-major V tile [keys][dv]), b of a's dtype. On
 * CUDA an aligned B (offset and stride multiples of 8) is read with ldmatrix.trans.
 */
export declare function mmaFragment(acc: Fragment, a: OperandFragment, b: Shared<bf16 | f16>, bOffset: number, bStride: number): void;

/**
 * dst[r][c] = src[at.r0 + r][at.c0 + c] for the whole dst tile, 0 where at.r0 + r >= at.rows or
 * at.c0 + c >= at.cols (so any matrix shape works). src is a 2-D tensor or view of the same
 * element type. Workgroup-collective: every thread calls it with the same arguments, and dst is
 * complete for the calling thread when it returns (barrier() before other threads read it).
 * CUDA moves 16-byte chunks with cp.async where the row stride and c0 allow; WGSL whole words.
 */
export declare function copyTile<E extends DslScalar>(dst: Shared<E, [number, number]>, src: Tensor<E, [Dim, Dim]>, at: { r0: i32; c0: i32; rows: i32; cols: i32 }): void;
/**
 * copyTile from rows of a 3-D src with a fixed middle index: dst[r][c] = src[at.r0 + r][at.mid][at.c0 + c]
 * (one KV head of k[S][HKV][D]), zero where at.r0 + r >= at.rows or at.c0 + c >= at.cols.
 */
export declare function copyTile<E extends DslScalar>(dst: Shared<E, [number, number]>, src: Tensor<E, [Dim, Dim, Dim]>, at: { r0: i32; mid: i32; c0: i32; rows: i32; cols: i32 }): void;
/**
 * `for (const k of pipelined(start, end, step, stages)) { copyTile(...); ...; compute }`: the
 * loop k = start, start + step, ... < end whose body begins with copyTiles. It behaves as that
 * plain loop with a barrier after the copies and one at the end of the body (write neither).
 * stages (compile-time, >= 1; a tunable is fine) is how many tiles CUDA keeps in flight: each
 * copyTile destination gets that many buffers, and the copies of iteration i + stages - 1 run
 * while iteration i computes. Other targets run the plain loop.
 */
export declare function pipelined(start: number, end: number, step: number, stages: number): Iterable<i32>;

/**
 * A rows x cols f32 accumulator of the whole workgroup (block tile ops), zeroed; rows and
 * cols are compile-time multiples of 16. Which thread holds which element is the compiler's
 * choice per target (CUDA: warp tiles of mma.sync fragments; elsewhere: a register micro-tile
 * per thread). The block ops are workgroup-collective: every thread calls them alike.
 */
export interface BlockAccumulator {
  readonly __blockAccumulator?: true;
}
export declare function blockAccumulator(rows: number, cols: number): BlockAccumulator;
/**
 * acc += a·b for 2-D shared arrays or views: a [rows][K], b [K][cols], K a compile-time
 * multiple of the MMA depth (16; 32 for fp8). Products are exact and accumulate in f32.
 */
export declare function blockMma(acc: BlockAccumulator, a: Shared<MmaOperand, [number, number]>, b: Shared<MmaOperand, [number, number]>): void;
/** blockMma with b stored [cols][K] (a PyTorch [N, K] weight tile as staged). */
export declare function blockMmaTransposedB(acc: BlockAccumulator, a: Shared<MmaOperand, [number, number]>, b: Shared<MmaOperand, [number, number]>): void;
/** dst[r][c] = acc[r][c]; dst is [rows][cols]. */
export declare function storeBlock(acc: BlockAccumulator, dst: Shared<f32, [number, number]>): void;
/**
 * acc[r][c] += part[r][c] * rowScale[r] * scale (DeepGEMM promotion); rowScale has `rows`
 * entries, as [rows] or as [rows][1] (a copyTile destination, e.g. staged in a pipelined loop).
 */
export declare function accumulateBlockScaled(acc: BlockAccumulator, part: BlockAccumulator, rowScale: Shared<f32> | Shared<f32, [number, 1]>, scale: number): void;
/**
 * The register epilogue: out[at.r0 + r][at.c0 + c] = acc[r][c] where at.r0 + r < at.rows and
 * at.c0 + c < at.cols (rounded to nearest-even for a bf16 out), each thread storing the
 * elements it holds; no shared tile, no barrier. out is a 2-D f32 or bf16 tensor or view.
 */
export declare function storeBlockGlobal(acc: BlockAccumulator, out: Out<f32 | bf16, [Dim, Dim]>, at: { r0: i32; c0: i32; rows: i32; cols: i32 }): void;
/** acc[r][c] = f(acc[r][c]) for every element; f is an arrow function with an expression body, inlined per element. */
export declare function blockMap(acc: BlockAccumulator, f: (x: f32) => f32): void;
/** acc[r][c] = f(acc[r][c], other[r][c]) for two accumulators of one shape: `blockMap2(gate, up, (g, u) => silu(g) * u)`. */
export declare function blockMap2(acc: BlockAccumulator, other: BlockAccumulator, f: (x: f32, y: f32) => f32): void;

/** Candidate values of a tile size; the first is the default. */
export type TunableValues = readonly number[];
/**
 * A tunable's candidates per target, each list's first value that target's default: WebGPU's
 * tiles must fit 16 KiB of workgroup memory and 256 invocations, CUDA's 163 KiB (sm_80's
 * opt-in maximum; arrays never live together share bytes) and 1024 threads. Every target must be listed; mimo-compile emits each target's default, each
 * manifest lists that target's candidates, and mimo-autotune searches them.
 */
export interface TunableValuesPerTarget { readonly webgpu: TunableValues; readonly cuda: TunableValues }

/** Size expressions over shape symbols, tunables and constants (integer arithmetic). */
export declare function cdiv(a: number, b: number): number;

export interface KernelConfig<C> {
  /** What the kernel computes, for the manifest and --help listings. */
  readonly doc?: string;
  /**
   * Compile-time tile sizes and their candidates (first = default): one list for every
   * target (`WG: [64, 32, 128]`) or one per target (`BM: { webgpu: [64, 32], cuda: [128, 64] }`).
   */
  readonly tunables?: { readonly [name: string]: TunableValues | TunableValuesPerTarget };
  /**
   * Legality rules for tunable combinations, as boolean expressions, on every target; each
   * target's defaults must satisfy them (a compile error otherwise).
   */
  readonly constraints?: (c: C) => readonly boolean[];
  /**
   * Launch preconditions, checked before every dispatch: comparisons (<, <=, >, >=, ===,
   * !==) of size formulas over shape symbols, runtime scalars and consts, joined by &&.
   * Declare what a launch must satisfy to give a right answer (`c.R >= c.WINDOW - 1 + c.NQ`).
   * A size that follows from others is a formula in the tensor's shape (`'cdiv(K, 128)'`), not
   * a symbol with a precondition.
   */
  readonly requires?: (c: C) => readonly boolean[];
  /** Fixed compile-time constants. */
  readonly consts?: { readonly [name: string]: number };
  /** Threads per workgroup (1 to 3 dims). */
  readonly workgroup: (c: C) => readonly number[];
  /** Workgroups to launch (1 to 3 dims), as formulas of shape symbols and constants. */
  readonly grid: (c: C) => readonly number[];
  /**
   * CUDA: workgroups per SM the registers must leave room for (`__launch_bounds__`'s second
   * argument, so ptxas caps registers at 65536 / (threads * minBlocksPerSM)). For a kernel
   * whose register choice by ptxas spills; other kernels leave it to ptxas.
   */
  readonly minBlocksPerSM?: number;
}

export interface KernelDecl {
  readonly __kernel?: true;
}

/**
 * Declares a kernel. The last parameter of `body` is the context object: shape symbols
 * and runtime scalars (become uniforms), tunables and consts (become compile-time constants).
 */
export function kernel<P extends unknown[], C>(config: KernelConfig<C>, body: (...args: [...P, C]) => void): KernelDecl {
  void config;
  void body;
  return {};
}
