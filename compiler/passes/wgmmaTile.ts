import type { BlockRef, Expr, Kernel, SharedArray, Stmt } from '../ir/nodes.js';
import type { TargetCaps } from '../common/target.js';
import { BYTES } from '../ir/types.js';
import { forEachStmt, mapStmts } from '../ir/walk.js';
import { evalSize } from '../ir/size.js';
import { bin, i32, localIndex } from '../ir/build.js';
import { renameLocals } from './unroll.js';

type BlockMma = Extract<Stmt, { k: 'blockMma' }>;
type RowBytes = 32 | 64 | 128;

/**
 * The sm_90a path of block MMAs (CUDA only, before passes/blockTile.ts): for an eligible
 * kernel the body becomes an archSwitch of two copies, `other` unchanged (mma.sync on sm_80 /
 * sm_89, and nvcc's host pass) and `sm90a` rewritten for wgmma (mimo_wgmma.cuh):
 *  - the operand tiles are stored in the canonical K-major swizzled layout (copyTile `swizzle`:
 *    128B, 64B or 32B after the tile's row length), their arrays 1024-byte aligned; bf16 B stored
 *    [K][cols] (blockMma) is read MN-major (imm-trans-b): rows of k, 128-byte column blocks when
 *    cols * 2 > 128 (copyTile stores those one after another, the descriptor's LBO apart);
 *  - each run of consecutive blockMmas is one wgmma.fence, then per 32-byte K step (of A) one
 *    wgmma m64nN (N = the accumulator's cols) per warpgroup (warpgroup g: rows 64g..64g+63),
 *    one commit and wait_group 0, so the accumulators are read and the tiles rewritten only after;
 *  - the accumulators take wgmma's fragment layout, warps stacked 16 rows each over all columns
 *    (blockAcc `warps` {WR: rows/16, WC: 1, WM: 16, WN: cols}), so blockTile.ts lowers every other
 *    block op of the branch unchanged;
 *  - fence.proxy.async before every barrier (addProxyFences, after the copies are lowered):
 *    cp.async and plain stores are generic-proxy writes, which wgmma (async proxy) sees only then.
 * Not eligible: the kernel is returned as it is, and MIMO_DEBUG=wgmma prints why (eligible: the plan).
 */
export function splitForWgmma(k: Kernel, caps: TargetCaps): Kernel {
  if (caps.name !== 'cuda') return k;
  const mmas: BlockMma[] = [];
  forEachStmt(k.body, (s) => {
    if (s.k === 'blockMma') mmas.push(s);
  });
  if (!mmas.length) return k;
  const plan = eligibility(k, mmas);
  const debug = process.env.MIMO_DEBUG?.split(',').includes('wgmma');
  if (typeof plan === 'string') {
    if (debug) console.error(`[kernel ${k.name}] no sm_90a wgmma path: ${plan}`);
    return k;
  }
  if (debug) console.error(`[kernel ${k.name}] sm_90a wgmma path: ${plan.dtype} m64n${plan.cols}, ${plan.rows / 64} warpgroup(s), B ${mmas.some((m) => m.bLayout === 'kn') ? 'MN-major' : 'K-major'}`);
  const sm90a = mapLists(mapStmts(k.body, (e) => e, (s): Stmt | Stmt[] => {
    if (s.k === 'blockAcc') return { ...s, warps: { WR: plan.rows / 16, WC: 1, WM: 16, WN: plan.cols } };
    if (s.k === 'tileCopy' && plan.rowBytes.has(s.dst)) return { ...s, swizzle: plan.rowBytes.get(s.dst)! };
    if (s.k === 'blockMma') return wgmmaSteps(s, plan);
    return s;
  }), mergeGroups);
  const shared = k.shared.map((a): SharedArray => (plan.rowBytes.has(a.name) ? { ...a, align: Math.max(a.align ?? 16, 1024) } : a));
  return { ...k, shared, body: [{ k: 'archSwitch', sm90a, other: k.body, loc: k.loc }] };
}

/**
 * Lowers each branch of the archSwitch splitForWgmma made as a kernel of its own (block tile
 * lowering names accumulators and temporaries per kernel), then renames the sm90a branch's
 * declarations: passes that work by name (constant propagation, dead code, local array sizes)
 * must not mistake one branch's variable for the other's.
 */
export function perArchBranch(k: Kernel, f: (k: Kernel) => Kernel): Kernel {
  const [s] = k.body;
  if (k.body.length !== 1 || s.k !== 'archSwitch') return f(k);
  const tag = (n: string) => n + SM90A_SUFFIX;
  const sm90a = mapStmts(renameLocals(f({ ...k, body: s.sm90a }).body, SM90A_SUFFIX), (e) => e, (x): Stmt => {
    if (x.k === 'wgmma') return { ...x, acc: tag(x.acc) };
    if (x.k === 'wgmmaSync' && x.accs) return { ...x, accs: x.accs.map(tag) };
    return x;
  });
  return { ...k, body: [{ ...s, sm90a, other: f({ ...k, body: s.other }).body }] };
}
/** The '.' keeps it apart from every DSL identifier (codegen/naming.ts). */
const SM90A_SUFFIX = '.sm90a';

/** fence.proxy.async before every barrier of the sm90a branches (once the copies are lowered). */
export function addProxyFences(k: Kernel): Kernel {
  const fence = (list: readonly Stmt[]): Stmt[] => mapStmts(list, (e) => e, (s) => (s.k === 'barrier' ? [{ k: 'wgmmaSync', op: 'proxyFence', loc: s.loc }, s] : s));
  return { ...k, body: mapStmts(k.body, (e) => e, (s) => (s.k === 'archSwitch' ? { ...s, sm90a: fence(s.sm90a) } : s)) };
}

interface Plan {
  readonly rows: number;
  readonly cols: number;
  readonly dtype: 'bf16' | 'fp8e4m3';
  /** Swizzle span in bytes of every operand array: its row length, or 128 for longer MN-major rows. */
  readonly rowBytes: ReadonlyMap<string, RowBytes>;
  /** Row length in bytes of every operand array. */
  readonly fullRow: ReadonlyMap<string, number>;
}

const num = (e: Expr): number | undefined => (e.k === 'const' && typeof e.value === 'number' ? e.value : undefined);
const WGMMA_N = new Set([8, 16, 32, 64, 128, 256]);

/** The plan, or why the kernel keeps mma.sync on sm_90a too. */
function eligibility(k: Kernel, mmas: readonly BlockMma[]): Plan | string {
  const threads = k.workgroup.reduce((p, w) => p * evalSize(w, {}), 1);
  const sharedOf = new Map(k.shared.map((s) => [s.name, s]));
  const accs = new Map<string, { rows?: number; cols?: number }>();
  forEachStmt(k.body, (s) => {
    if (s.k === 'blockAcc') accs.set(s.name, { rows: num(s.rows), cols: num(s.cols) });
  });
  const shapes = new Set([...accs.values()].map((a) => `${a.rows}x${a.cols}`));
  if (shapes.size !== 1) return `block accumulators of several shapes (${[...shapes].join(', ')})`;
  const { rows, cols } = [...accs.values()][0];
  if (rows === undefined || cols === undefined) return 'accumulator size is not a compile-time constant';
  if (rows % 64) return `accumulator rows ${rows} is not a multiple of 64 (one warpgroup's wgmma covers 64)`;
  if (threads !== 2 * rows) return `workgroup of ${threads} threads, expected 128 per 64 accumulator rows = ${2 * rows}`;
  if (!WGMMA_N.has(cols)) return `accumulator cols ${cols} is not a wgmma N (8, 16, 32, 64, 128 or 256)`;

  const rowBytes = new Map<string, RowBytes>();
  const mnMajor = new Set<string>();
  const fullRow = new Map<string, number>();
  let dtype: 'bf16' | 'fp8e4m3' | undefined;
  // A [R][K] and K-major B [R][K]: rows of 32, 64 or 128 bytes; MN-major B [K][R]: K rows of 32, 64, 128 or a multiple of 128 bytes.
  const operand = (r: BlockRef, what: string, R: number, K?: number): string | undefined => {
    const t = sharedOf.get(r.buf)!.dtype;
    if (t !== 'bf16' && t !== 'fp8e4m3') return `${what} '${r.buf}' is ${t}: wgmma here takes bf16 or fp8e4m3`;
    if (dtype && dtype !== t) return `operands of two types (${dtype}, ${t})`;
    dtype = t;
    const [offset, stride, rs, cs] = [r.offset, r.stride, r.rows, r.cols].map(num);
    const [wantRows, wantCols] = K === undefined ? [R, stride] : [K, R];
    if (offset === undefined || stride === undefined || rs !== wantRows || cs !== stride || cs !== wantCols) return `${what} '${r.buf}' is not a whole-row constant tile of ${wantRows} rows${K === undefined ? '' : ` x ${R}`} (offset ${offset}, stride ${stride}, ${rs} x ${cs})`;
    const bytes = stride * BYTES[t];
    const span = K === undefined || bytes <= 128 ? bytes : 128;
    if ((span !== 32 && span !== 64 && span !== 128) || bytes % span) return `${what} '${r.buf}' rows are ${bytes} bytes: the swizzled layouts take 32, 64 or 128${K === undefined ? ` (e.g. BK = ${128 / BYTES[t]})` : ' or a multiple of 128'}`;
    if ((offset * BYTES[t]) % (8 * span)) return `${what} '${r.buf}' starts at byte ${offset * BYTES[t]}, not a multiple of ${8 * span} (an 8-row swizzle atom)`;
    if (fullRow.has(r.buf) && fullRow.get(r.buf) !== bytes) return `'${r.buf}' is read with rows of ${fullRow.get(r.buf)} and ${bytes} bytes`;
    rowBytes.set(r.buf, span);
    fullRow.set(r.buf, bytes);
    return undefined;
  };
  for (const m of mmas) {
    const aK = num(m.a.stride);
    if (m.bLayout === 'kn' && sharedOf.get(m.b.buf)!.dtype === 'fp8e4m3') return `blockMma with fp8e4m3 B stored [K][cols]: wgmma reads B MN-major for bf16 only (fp8 takes K-major, blockMmaTransposedB)`;
    const why = operand(m.a, 'A', rows) ?? operand(m.b, 'B', cols, m.bLayout === 'kn' ? aK : undefined);
    if (why) return why;
    if (m.bLayout === 'kn') mnMajor.add(m.b.buf);
    else if (mnMajor.has(m.b.buf)) return `'${m.b.buf}' is read as B both [K][cols] and [cols][K]`;
  }
  // The operand arrays hold only what copyTile wrote, read only by these MMAs: nothing else knows the swizzle.
  let misuse: string | undefined;
  forEachStmt(k.body, (s) => {
    if (misuse) return;
    for (const [name, R] of rowBytes) {
      const size = BYTES[sharedOf.get(name)!.dtype];
      const row = fullRow.get(name)!;
      if (s.k === 'tileCopy' && s.dst === name) {
        const [off, tr, tc] = [s.dstOffset, s.tileRows, s.tileCols].map(num);
        if (tc === undefined || tc * size !== row || tr === undefined || tr % 8 || off === undefined || (off * size) % (8 * R)) misuse = `copyTile into '${name}' is not whole ${row}-byte rows in 8-row groups at a constant aligned offset`;
      } else if (s.k !== 'blockMma' && mentions(s, name)) {
        misuse = `'${name}' is used by a '${s.k}' statement, not only by copyTile and blockMma`;
      }
    }
  });
  if (misuse) return misuse;
  for (const [name, R] of rowBytes) {
    const a = sharedOf.get(name)!;
    if ((evalSize(a.size, k.consts) * BYTES[a.dtype]) % (8 * R)) return `shared '${name}' is not a whole number of 8-row swizzle atoms (multi-buffered copies would shift the pattern)`;
  }
  return { rows, cols, dtype: dtype!, rowBytes, fullRow };
}

/** Whether statement `s` itself (not its nested statements) names `name`. */
function mentions(s: Stmt, name: string): boolean {
  const own = s.k === 'if' ? [s.cond] : s.k === 'for' ? [s.cond] : s.k === 'pipelined' ? [s.start, s.end, s.step, s.stages] : s.k === 'archSwitch' ? [] : s.k === 'blockMap' ? [s.acc, s.inputs, s.params, s.result] : [s];
  return JSON.stringify(own).includes(`"${name}"`);
}

/**
 * One blockMma: per 32-byte K step of A one wgmma per warpgroup, inside a fence ... commit, wait
 * group. MN-major B: a K step is 16 k rows further, its column blocks (tile rows x 128 bytes) LBO apart.
 */
function wgmmaSteps(s: BlockMma, p: Plan): Stmt[] {
  const size = BYTES[p.dtype];
  const R = p.rowBytes.get(s.a.buf)!;
  const K = R / size;
  const RB = p.rowBytes.get(s.b.buf)!;
  const mnLbo = s.bLayout === 'kn' ? K * RB : undefined;
  // Warpgroup g computes rows 64g..64g+63: A starts 64 rows further.
  const aBase = bin('+', s.a.offset, bin('*', bin('/', localIndex, i32(128)), i32(64 * K)));
  const steps: Stmt[] = [];
  for (let j = 0; j < R / 32; j++) {
    const k0 = (j * 32) / size;
    steps.push({
      k: 'wgmma', dtype: p.dtype, n: p.cols, acc: s.acc, loc: s.loc,
      a: { buf: s.a.buf, index: bin('+', aBase, i32(k0)), rowBytes: R },
      b: mnLbo === undefined ? { buf: s.b.buf, index: bin('+', s.b.offset, i32(k0)), rowBytes: RB } : { buf: s.b.buf, index: bin('+', s.b.offset, i32((k0 * RB) / size)), rowBytes: RB, mnLbo },
    });
  }
  return [{ k: 'wgmmaSync', op: 'fence', loc: s.loc }, ...steps, { k: 'wgmmaSync', op: 'commit', loc: s.loc }, { k: 'wgmmaSync', op: 'wait', accs: [s.acc], loc: s.loc }];
}

/**
 * Consecutive blockMmas (gate and up) share one group: the `commit, wait` before a fence go,
 * across lets that read no accumulator (view offsets), and the later wait covers both.
 */
function mergeGroups(list: readonly Stmt[]): Stmt[] {
  const out: Stmt[] = [];
  let carried: string[] = [];
  const isSync = (s: Stmt | undefined, op: string) => s?.k === 'wgmmaSync' && s.op === op;
  for (const s of list) {
    let n = out.length;
    while (n > 0 && out[n - 1].k === 'let' && !JSON.stringify(out[n - 1]).includes('"space":"local"')) n--;
    if (isSync(s, 'fence') && isSync(out[n - 1], 'wait') && isSync(out[n - 2], 'commit')) {
      carried.push(...((out[n - 1] as Extract<Stmt, { k: 'wgmmaSync' }>).accs ?? []));
      out.splice(n - 2, 2);
    } else if (isSync(s, 'wait') && carried.length) {
      out.push({ ...(s as Extract<Stmt, { k: 'wgmmaSync' }>), accs: [...carried, ...((s as Extract<Stmt, { k: 'wgmmaSync' }>).accs ?? [])] });
      carried = [];
    } else {
      out.push(s);
    }
  }
  return out;
}

/** Applies `f` to every statement list, innermost first. */
function mapLists(body: readonly Stmt[], f: (list: readonly Stmt[]) => Stmt[]): Stmt[] {
  return f(mapStmts(body, (e) => e, (s): Stmt => {
    switch (s.k) {
      case 'if': return { ...s, then: f(s.then), else: f(s.else) };
      case 'for': return { ...s, body: f(s.body) };
      case 'pipelined': return { ...s, body: f(s.body) };
      default: return s;
    }
  }));
}
