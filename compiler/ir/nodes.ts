import type { DType } from './types.js';
import type { SourceLoc } from '../common/source-loc.js';

/**
 * Integer size formulas over shape symbols, tunables and constants: tensor shapes,
 * launch grids, workgroup sizes, shared-array sizes. Kept apart from kernel
 * expressions because they are evaluated on the host (and in manifest consumers).
 */
export type SizeExpr =
  | { readonly k: 'num'; readonly v: number }
  | { readonly k: 'sym'; readonly name: string }
  | { readonly k: 'op'; readonly op: SizeOp; readonly a: SizeExpr; readonly b: SizeExpr };
export type SizeOp = '+' | '-' | '*' | '/' | '%' | 'cdiv' | 'min' | 'max';

export type BinOp =
  | '+' | '-' | '*' | '/' | '%'
  | '<' | '<=' | '>' | '>=' | '==' | '!='
  | '&&' | '||'
  | '&' | '|' | '^' | '<<' | '>>';
export type UnOp = '-' | '!' | '~';

/** Pure math intrinsics plus the bit-level helpers that legalisation passes introduce. */
export type MathFn =
  | 'exp' | 'exp2' | 'log' | 'sqrt' | 'rsqrt' | 'tanh' | 'abs' | 'floor' | 'max' | 'min' | 'fma'
  /** f32 -> f32 rounded to the storage type's precision (RNE; fp8 saturates to finite). */
  | 'round_bf16' | 'round_f16' | 'round_fp8e4m3' | 'round_fp8e5m2'
  /** (word: u32, shift: u32) -> f32 value of the packed element at that bit offset. */
  | 'unpack_bf16' | 'unpack_f16' | 'unpack_fp8e4m3' | 'unpack_fp8e5m2'
  /** f32 (already rounded) -> u32 bit pattern of the storage type in the low bits. */
  | 'bits_bf16' | 'bits_f16' | 'bits_fp8e4m3' | 'bits_fp8e5m2'
  /** (lo, hi: bf16|f16) -> u32 holding both 16-bit patterns, lo in the low half (tensor-core operands). */
  | 'pack2'
  /** (b0..b3: one fp8 type) -> u32 holding the four 8-bit patterns, b0 in the lowest byte. */
  | 'pack4';

export type Space = 'global' | 'shared' | 'local';
export type Builtin = 'localId' | 'workgroupId' | 'numWorkgroups' | 'localIndex' | 'subgroupLane' | 'subgroupSize';

interface Typed { readonly type: DType; readonly loc?: SourceLoc }
export type Expr =
  | (Typed & { readonly k: 'const'; readonly value: number | boolean })
  | (Typed & { readonly k: 'var'; readonly name: string })
  | (Typed & { readonly k: 'uniform'; readonly name: string })
  /** A compile-time symbol (tunable or const), replaced by a constant when the kernel is specialised. */
  | (Typed & { readonly k: 'sym'; readonly name: string })
  | (Typed & { readonly k: 'builtin'; readonly name: Builtin; readonly axis: 0 | 1 | 2 })
  | (Typed & { readonly k: 'bin'; readonly op: BinOp; readonly a: Expr; readonly b: Expr })
  | (Typed & { readonly k: 'un'; readonly op: UnOp; readonly a: Expr })
  | (Typed & { readonly k: 'call'; readonly fn: MathFn; readonly args: readonly Expr[] })
  | (Typed & { readonly k: 'cast'; readonly a: Expr })
  | (Typed & { readonly k: 'bitcast'; readonly a: Expr })
  | (Typed & { readonly k: 'select'; readonly cond: Expr; readonly a: Expr; readonly b: Expr })
  | (Typed & { readonly k: 'load'; readonly space: Space; readonly buf: string; readonly index: Expr; readonly bounds?: readonly IndexBound[] })
  /**
   * The 32-bit word holding buf[index], buf[index+1], ... (two 16-bit or four 8-bit elements,
   * the lowest index in the low bits) as one u32; index is provably a multiple of that count.
   */
  | (Typed & { readonly k: 'loadWord'; readonly space: Space; readonly buf: string; readonly index: Expr })
  /**
   * The tile row or column (0..15, i32) of element `elem` (0..7) of this thread's accumulator
   * fragment (dsl fragmentMap/rowMap): which one depends on the layout, so passes/tileOps.ts
   * replaces it; nothing after that pass sees it.
   */
  | (Typed & { readonly k: 'fragmentCoord'; readonly axis: 'row' | 'col'; readonly elem: number });

/**
 * One index of a multi-dimensional access (`q[t][h][d]`) and the extent of its dimension.
 * The flat index already encodes the access; the interpreter checks each 0 <= index < extent,
 * so an index that overflows into the next row is caught even where the flat one is in range.
 * Emitters ignore it.
 */
export interface IndexBound { readonly index: Expr; readonly extent: Expr; readonly dim: string }

interface Located { readonly loc?: SourceLoc }
export type Stmt =
  | (Located & { readonly k: 'let'; readonly name: string; readonly type: DType; readonly init: Expr; readonly mutable: boolean })
  | (Located & { readonly k: 'assign'; readonly name: string; readonly value: Expr })
  | (Located & { readonly k: 'store'; readonly space: Space; readonly buf: string; readonly index: Expr; readonly value: Expr; readonly bounds?: readonly IndexBound[] })
  /** Store of a packed sub-word element: clears `width` bits at `shift` of word `word`, ORs in `bits`. */
  | (Located & { readonly k: 'storePacked'; readonly buf: string; readonly word: Expr; readonly shift: Expr; readonly width: 8 | 16; readonly bits: Expr })
  | (Located & { readonly k: 'if'; readonly cond: Expr; readonly then: readonly Stmt[]; readonly else: readonly Stmt[] })
  | (Located & { readonly k: 'for'; readonly init: readonly Stmt[]; readonly cond: Expr; readonly update: readonly Stmt[]; readonly body: readonly Stmt[] })
  | (Located & { readonly k: 'break' })
  | (Located & { readonly k: 'continue' })
  | (Located & { readonly k: 'return' })
  | (Located & { readonly k: 'barrier' })
  | (Located & { readonly k: 'localArray'; readonly name: string; readonly type: DType; readonly size: SizeExpr })
  | (Located & { readonly k: 'atomic'; readonly op: 'add' | 'max'; readonly space: Space; readonly buf: string; readonly index: Expr; readonly value: Expr; readonly result?: string })
  | (Located & { readonly k: 'subgroup'; readonly op: 'add' | 'max' | 'shuffleXor'; readonly result: string; readonly type: DType; readonly value: Expr; readonly laneMask?: Expr })
  /** Warp-level tile ops (see dsl `fragment`/`mma`/`storeFragment`); legalised per target before rendering. */
  | (Located & { readonly k: 'fragment'; readonly name: string })
  /** acc += A * B, A 16 x depth row-major; B depth x 16, stored k-major ('kn') or n-major ('nk', i.e. Bᵀ row-major). */
  | (Located & { readonly k: 'mma'; readonly acc: string; readonly a: TileRef; readonly b: TileRef; readonly bLayout: 'kn' | 'nk' })
  | (Located & { readonly k: 'fragmentStore'; readonly acc: string; readonly dst: TileRef })
  /** acc[r][c] += part[r][c] * shared rowScale[rowOffset + r] * scale (FP8 block-scale promotion). */
  | (Located & { readonly k: 'fragmentAccumulate'; readonly acc: string; readonly part: string; readonly rowScale: string; readonly rowOffset: Expr; readonly scale: Expr })
  /** name = acc rounded (RNE) to a 16-bit A operand in registers (dsl toOperand); its layout is the mma lowering's. */
  | (Located & { readonly k: 'fragmentOperand'; readonly name: string; readonly acc: string; readonly dtype: 'bf16' | 'f16' })
  /** acc += A * B with A the register operand `a` (fragmentOperand) and B as in 'mma' ('kn' only). */
  | (Located & { readonly k: 'mmaFragment'; readonly acc: string; readonly a: string; readonly dtype: 'bf16' | 'f16'; readonly b: TileRef })
  /**
   * One tensor-core step (CUDA legalisation output): acc[accBase..accBase+3] += A-fragment
   * (a: 4 packed u32) * B-fragment (b: 2 packed u32), PTX ISA layouts; m16n8k16 for 16-bit
   * dtypes, m16n8k32 for fp8.
   */
  | (Located & { readonly k: 'mmaSync'; readonly dtype: MmaDType; readonly acc: string; readonly accBase: number; readonly a: readonly Expr[]; readonly b: readonly Expr[] })
  /**
   * Block tile ops (dsl blockAccumulator/blockMma/storeBlock/accumulateBlockScaled): a rows x cols
   * f32 accumulator spread over the whole workgroup; passes/blockTile.ts distributes it per target.
   */
  /** `warps`: the tensor-core warp grid to use instead of blockLayout.ts's choice (passes/wgmmaTile.ts: wgmma's accumulator layout). */
  | (Located & { readonly k: 'blockAcc'; readonly name: string; readonly rows: Expr; readonly cols: Expr; readonly warps?: { readonly WR: number; readonly WC: number; readonly WM: number; readonly WN: number } })
  /** acc += a * b, a [rows][K]; b [K][cols] ('kn') or [cols][K] ('nk'). */
  | (Located & { readonly k: 'blockMma'; readonly acc: string; readonly a: BlockRef; readonly b: BlockRef; readonly bLayout: 'kn' | 'nk' })
  | (Located & { readonly k: 'blockStore'; readonly acc: string; readonly dst: BlockRef })
  /** acc[r][c] += part[r][c] * shared rowScale[r] * scale. */
  | (Located & { readonly k: 'blockAccumulate'; readonly acc: string; readonly part: string; readonly rowScale: string; readonly scale: Expr })
  /**
   * dsl storeBlockGlobal: out[offset + (r0 + r) * stride + c0 + c] = acc[r][c] (cast to out's
   * dtype) where r0 + r < rows and c0 + c < cols; out a global tensor, offset/stride its view's.
   */
  | (Located & { readonly k: 'blockStoreGlobal'; readonly acc: string; readonly out: string; readonly offset: Expr; readonly stride: Expr; readonly r0: Expr; readonly c0: Expr; readonly rows: Expr; readonly cols: Expr })
  /**
   * dsl blockMap/blockMap2: per element, params[i] = inputs[i][r][c] (inputs[0] = acc), then
   * body (the inlined callback, ending in `let result`), then acc[r][c] = result.
   */
  | (Located & { readonly k: 'blockMap'; readonly acc: string; readonly inputs: readonly string[]; readonly params: readonly string[]; readonly body: readonly Stmt[]; readonly result: string })
  /**
   * Warp-collective ldmatrix (PTX ISA, .m8n8 .b16, CUDA legalisation output): lane l gives
   * rowIndex, the element index of the 16-byte row (l % 8) of matrix l / 8 (16-byte aligned);
   * results[j] receives matrix j's row l / 4, 32 bits at byte 4 * (l % 4) (`trans`: the
   * transposed matrix's, i.e. the 16-bit elements at column l / 4 of rows 2 * (l % 4) and one more).
   */
  | (Located & { readonly k: 'ldmatrix'; readonly count: 1 | 2 | 4; readonly trans: boolean; readonly buf: string; readonly rowIndex: Expr; readonly results: readonly string[] })
  /**
   * dsl copyTile: dst[r][c] = src[r0 + r][c0 + c] inside (rows, cols), else 0, for the whole
   * tileRows x tileCols shared tile at element dstOffset; the source is a row-major matrix view
   * at element srcOffset with row stride srcStride. Workgroup-collective; passes/copyTile.ts
   * lowers it per target. `async` (set by software pipelining): CUDA issues the copies and leaves
   * commit and wait to the pipeline. `swizzle` (sm_90a wgmma operands, passes/wgmmaTile.ts): each
   * element's byte offset in dst goes through wgmmaSwizzle with rows of that many bytes; a tile
   * with longer rows (MN-major B) is stored as column blocks of `swizzle` bytes, each tileRows rows.
   */
  | (Located & { readonly k: 'tileCopy'; readonly dst: string; readonly dstOffset: Expr; readonly tileRows: Expr; readonly tileCols: Expr; readonly src: string; readonly srcOffset: Expr; readonly srcStride: Expr; readonly r0: Expr; readonly c0: Expr; readonly rows: Expr; readonly cols: Expr; readonly async?: boolean; readonly swizzle?: 32 | 64 | 128 })
  /**
   * CUDA cp.async.cg (copyTile lowering): 16 bytes to shared dst[dstIndex..] (16-byte aligned)
   * from global src[srcIndex..], of which the first srcBytes (0..16) are read and the rest
   * zero-filled. Completes only at the asyncWait that retires its group.
   */
  | (Located & { readonly k: 'asyncCopy'; readonly dst: string; readonly dstIndex: Expr; readonly src: string; readonly srcIndex: Expr; readonly srcBytes: Expr })
  /** cp.async.commit_group: the calling thread's copies issued since the last commit form a group. */
  | (Located & { readonly k: 'asyncCommit' })
  /** cp.async.wait_group: waits until at most `pending` of the calling thread's committed groups are incomplete. */
  | (Located & { readonly k: 'asyncWait'; readonly pending: number })
  /**
   * dsl pipelined: for (index = start; index < end; index += step) body, the body's leading
   * copyTiles followed by a barrier and the body by another (the author writes neither).
   * `stages` (compile-time) buffers per copyTile destination where the target overlaps copies
   * with compute (CUDA); passes/softwarePipeline.ts lowers it.
   */
  | (Located & { readonly k: 'pipelined'; readonly index: string; readonly start: Expr; readonly end: Expr; readonly step: Expr; readonly stages: Expr; readonly body: readonly Stmt[] })
  /**
   * Per-architecture code (passes/wgmmaTile.ts): CUDA renders `#if MIMO_SM90A_PATH` sm90a
   * `#else` other `#endif` (mimo_prelude.cuh: nvcc's sm_90a device pass, or the emulator with
   * MIMO_EMU_SM90A); the interpreter runs one (InterpretOptions.arch). WGSL never sees it.
   */
  | (Located & { readonly k: 'archSwitch'; readonly sm90a: readonly Stmt[]; readonly other: readonly Stmt[] })
  /**
   * One warpgroup's wgmma.mma_async (sm_90a, mimo_wgmma.cuh): acc[0..n/2) += A(64 x 32 bytes of K)
   * * B(n x 32 bytes of K)ᵀ, both K-major in shared memory in the canonical swizzled layout whose
   * rows are `rowBytes` long (swizzle 128B / 64B / 32B), or B (bf16) MN-major (WgmmaOperand.mnLbo);
   * the accumulator layout is wgmma's.
   */
  | (Located & { readonly k: 'wgmma'; readonly dtype: 'bf16' | 'fp8e4m3'; readonly n: number; readonly acc: string; readonly a: WgmmaOperand; readonly b: WgmmaOperand })
  /**
   * The wgmma ordering ops: fence.proxy.async (generic-proxy shared writes visible to wgmma,
   * before a barrier), wgmma.fence (before the first wgmma touching the accumulators),
   * commit_group, wait_group 0 (then `accs` may be read and the operand tiles rewritten).
   */
  | (Located & { readonly k: 'wgmmaSync'; readonly op: 'proxyFence' | 'fence' | 'commit' | 'wait'; readonly accs?: readonly string[] });

/**
 * A wgmma operand: shared `buf` from element `index` (the tile's row 0 at this k step's byte
 * offset, before swizzling; the tile starts on a multiple of 8 * rowBytes), rows rowBytes apart.
 * `mnLbo` set: MN-major (B stored [K][N], imm-trans-b): rows are k, each rowBytes of columns,
 * and the next rowBytes of columns start mnLbo bytes further (the descriptor's LBO).
 */
export interface WgmmaOperand { readonly buf: string; readonly index: Expr; readonly rowBytes: 32 | 64 | 128; readonly mnLbo?: number }

/** The byte swizzle of a K-major wgmma tile of `rowBytes`-byte rows (PTX ISA canonical layouts): 16-byte chunk bits XOR the row bits. */
export const wgmmaSwizzle = (byte: number, rowBytes: 32 | 64 | 128): number => byte ^ (((byte >> 7) & (rowBytes / 16 - 1)) << 4);

/** A 2-D shared operand of a block tile op: element offset of [0][0], row stride, extents. */
export interface BlockRef { readonly buf: string; readonly offset: Expr; readonly stride: Expr; readonly rows: Expr; readonly cols: Expr }

export type MmaDType = 'bf16' | 'f16' | 'fp8e4m3' | 'fp8e5m2';

/** A shared array operand of a tile op: element offset and row stride. */
export interface TileRef { readonly buf: string; readonly offset: Expr; readonly stride: Expr }

/**
 * As declared: 'read' (Tensor), 'write' (Out: the kernel writes every element, so the
 * caller need not initialise it), 'readwrite' (InOut: updated in place, the elements the
 * kernel does not write keep the caller's values).
 */
export type Access = 'read' | 'write' | 'readwrite';
export interface TensorParam {
  readonly name: string;
  readonly dtype: DType;
  /**
   * Row-major dimensions, outermost first: shape symbols (runtime i32 uniforms), literals,
   * consts, or formulas of them (`cdiv(K, 128)`); specialisation folds the compile-time ones.
   */
  readonly shape: readonly SizeExpr[];
  readonly access: Access;
  /** Set by WGSL legalisation: elements packed several to a u32 word. */
  readonly packed?: boolean;
}
/** A runtime scalar: a shape symbol (i32) or a user scalar argument. Lives in the uniform block. */
export interface ScalarParam { readonly name: string; readonly dtype: DType; readonly isDim: boolean }
/** `align`: bytes its start must be aligned to where a pass needs more than 16 (swizzled tiles: 128, 1024). */
export interface SharedArray { readonly name: string; readonly dtype: DType; readonly size: SizeExpr; readonly loc?: SourceLoc; readonly align?: number }
/**
 * A tunable's candidates, default first. `values` hold for every target unless `perTarget`
 * gives each emitted target its own list (DSL `{ webgpu: [...], cuda: [...] }`); `values` is
 * then WebGPU's, the portable list the interpreter runs too. ir/tunables.ts picks a target's.
 */
export interface Tunable { readonly name: string; readonly values: readonly number[]; readonly perTarget?: Readonly<Record<'wgsl' | 'cuda', readonly number[]>> }

/** Who gives a writable tensor its initial content: the kernel (Out) or the caller (InOut). */
export const initialisedBy = (t: Pick<TensorParam, 'access'>): 'kernel' | 'caller' | undefined =>
  t.access === 'read' ? undefined : t.access === 'write' ? 'kernel' : 'caller';

export type Relation = '<' | '<=' | '>' | '>=' | '==' | '!=';
/**
 * A launch precondition (`requires`): lhs rel rhs over shape symbols, runtime scalars and
 * consts, checked on the host before every dispatch. A launch that breaks one would run
 * and give a wrong answer without an error (a ring buffer too small for the window, a
 * scale-tensor size that disagrees with the tensor it scales).
 */
export interface Precondition { readonly text: string; readonly rel: Relation; readonly lhs: SizeExpr; readonly rhs: SizeExpr }

/** What every phase of a kernel has: its signature, launch contract and body. */
export interface KernelBase {
  readonly name: string;
  readonly doc: string;
  readonly file: string;
  readonly loc?: SourceLoc;
  readonly tensors: readonly TensorParam[];
  readonly scalars: readonly ScalarParam[];
  readonly tunables: readonly Tunable[];
  /** Boolean size formulas that every legal tunable choice satisfies (encoded as a != 0). */
  readonly constraints: readonly { readonly expr: SizeExpr; readonly text: string }[];
  readonly requires: readonly Precondition[];
  /** Compile-time constants: fixed consts plus, after specialisation, the chosen tunables. */
  readonly consts: Readonly<Record<string, number>>;
  /** Workgroups to launch: formulas of the runtime shape symbols (the host evaluates them). */
  readonly grid: readonly SizeExpr[];
  /** CUDA occupancy hint (dsl KernelConfig.minBlocksPerSM). */
  readonly minBlocksPerSM?: number;
  readonly body: readonly Stmt[];
}

/**
 * A kernel as the frontend and the passes see it: workgroup and shared sizes may still name
 * tunables and consts. A target renders its LoweredKernel (ir/lowered.ts) instead.
 */
export interface Kernel extends KernelBase {
  readonly workgroup: readonly SizeExpr[];
  readonly shared: readonly SharedArray[];
}

export const WARP = 32;
export const FRAG_DIM = 16;
/** K depth of one mma: 16 (as PTX m16n8k16), 32 for 8-bit operands (as m16n8k32). */
export const mmaDepth = (dtype: DType): number => (dtype === 'fp8e4m3' || dtype === 'fp8e5m2' ? 32 : 16);
