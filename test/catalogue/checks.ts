import type { CatalogueCase } from './types.js';

/**
 * Checks the frontend and verifier make instead of leaving them to the backends (issue 13):
 * barrier/subgroup/tile-op uniformity, literal ranges, constant division and shift
 * amounts, array sizes, const types, constraints that read runtime values, grid formulas,
 * nesting limits and the unroll budget. Each rejected case asserts the whole first line of
 * the message, `file:line:col` included, computed from a marker: the text where the error
 * must point. Each accepted case is the near miss of a rejected one, and must compile for
 * both targets (and run alike on all three backends where it has `run`).
 */

const HEAD = 'import { kernel, cdiv, f32, i32, u32, bf16, localIndex, localId, workgroupId, subgroupLane, shared, local, barrier, min, max, select, subgroupAdd, subgroupMax, subgroupShuffleXor, atomicAdd, fragment, mma, storeFragment, type Tensor, type Out } from \'../../../compiler/dsl/index.js\';';

interface Kernel {
  /** Config entries before `workgroup`, e.g. "tunables: { WG: [32] }, ". */
  readonly cfg?: string;
  readonly workgroup?: string;
  readonly grid?: string;
  /** Parameters before the context; default x (read) and y (written), both ['N']. */
  readonly params?: string;
  /** Context members after N. */
  readonly ctx?: string;
  /** The kernel body; `i` (this thread's element) is declared before it. */
  readonly body: string;
  /** Top-level code before the kernel (helpers). */
  readonly pre?: string;
}

const kernelName = (caseName: string) => caseName.replace(/-/g, '_');

function source(caseName: string, k: Kernel): string {
  const body = k.body.trim().split('\n').map((l) => `    ${l.trim()}`).join('\n');
  return `${HEAD}
${k.pre ?? ''}
export const ${kernelName(caseName)} = kernel(
  { doc: 'catalogue', ${k.cfg ?? ''}workgroup: ${k.workgroup ?? '() => [32]'}, grid: ${k.grid ?? '(c) => [cdiv(c.N, 32)]'} },
  (${k.params ?? "x: Tensor<f32, ['N']>, y: Out<f32, ['N']>"}, c: { N: i32${k.ctx ? `; ${k.ctx}` : ''} }) => {
    const i = workgroupId.x * 32 + localIndex;
${body}
  },
);
`;
}

/** `file:line:col` of the `nth` occurrence of `marker` in case `name`'s source. */
function locate(name: string, text: string, marker: string, nth = 1): string {
  let pos = -1;
  for (let n = 0; n < nth; n++) {
    pos = text.indexOf(marker, pos + 1);
    if (pos < 0) throw new Error(`checks.ts: case '${name}' has no occurrence ${nth} of marker '${marker}'`);
  }
  const before = text.slice(0, pos).split('\n');
  return `test/catalogue/cases/${name}.ts:${before.length}:${before[before.length - 1].length + 1}`;
}

type At = (marker: string, nth?: number) => string;

/**
 * A case that must fail: the message's first line is `<at marker>: error: [kernel k] <detail>`.
 * `detail` may name other places through `at`. `kernel: false` for file-level errors.
 */
function rejected(name: string, klass: string, k: Kernel | string, marker: string | readonly [string, number], detail: (at: At) => string, more: readonly string[] = [], kernel = true): CatalogueCase {
  const text = typeof k === 'string' ? k : source(name, k);
  const at: At = (m, nth) => locate(name, text, m, nth);
  const who = kernel ? `[kernel ${kernelName(name)}] ` : '';
  const where = typeof marker === 'string' ? at(marker) : at(marker[0], marker[1]);
  return { name, klass, source: text, error: [`${where}: error: ${who}${detail(at)}`, ...more] };
}

const X = [1, 2, 3, 4, 5, 6, 7, 8];
const ZERO = X.map(() => 0);

/** A case that must compile; with `f`, it runs on x = X, N = 8 and y must be f(x). */
function accepted(name: string, klass: string, k: Kernel | string, f?: (v: number, i: number) => number, scalars: Record<string, number> = {}): CatalogueCase {
  const text = typeof k === 'string' ? k : source(name, k);
  return {
    name, klass, source: text,
    ...(f ? { run: { kernel: kernelName(name), tensors: { x: X, y: ZERO }, scalars: { N: 8, ...scalars }, expect: { y: X.map(f) } } } : {}),
  };
}

const UNIFORMITY = 'uniformity';
const LITERAL = 'literal range';
const DIVISION = 'constant division';
const SHIFT = 'constant shift amount';
const SIZES = 'array sizes';
const CONSTS = 'const types';
const CONSTRAINTS = 'constraints that read runtime values';
const GRID = 'grid formulas';
const NESTING = 'nesting and size limits';

const nonUniform = (op: string, cond: string, cause: string) => `${op} in non-uniform control flow: the ${cond} depends on ${cause}, which differs between threads`;

/** One warp's 16x16 tile product staged in shared memory; `guard` wraps the mma. */
const tile = (name: string, open: string, close: string) => source(name, {
  params: "a: Tensor<bf16, ['N']>, y: Out<f32, ['N']>",
  body: `const As = shared(bf16, 256);
const Bs = shared(bf16, 256);
const Cs = shared(f32, 256);
for (let j = localIndex; j < 256; j += 32) {
As[j] = a[j];
Bs[j] = a[j];
}
barrier();
const acc = fragment();
${open}
mma(acc, As, 0, 16, Bs, 0, 16);
${close}
storeFragment(acc, Cs, 0, 16);
barrier();
for (let j = localIndex; j < 256; j += 32) {
y[j] = Cs[j];
}`,
});

/** 16 nested 2-trip loops around one add: once 2 MB of WGSL, now within the unroll budget. */
const nested = (depth: number) => {
  let body = 'acc += x[0];';
  for (let d = depth - 1; d >= 0; d--) body = `for (let j${d} = 0; j${d} < 2; j${d}++) {\n${body}\n}`;
  return body;
};

export const cases: CatalogueCase[] = [
  // Uniformity: every cause of non-uniform control flow, for each kind of collective.
  rejected('uniformity-barrier-if-local-index', UNIFORMITY, { body: 'if (localIndex < 16) {\nbarrier();\n}\ny[i] = x[i];' }, 'barrier();',
    (at) => nonUniform('barrier()', `if condition at ${at('localIndex < 16')}`, 'localIndex')),
  rejected('uniformity-barrier-loop-local-id', UNIFORMITY, { body: 'for (let j = localId.x; j < 40; j += 32) {\nbarrier();\n}\ny[i] = x[i];' }, 'barrier();',
    (at) => nonUniform('barrier()', `loop condition at ${at('j < 40')}`, 'localId.x')),
  rejected('uniformity-barrier-after-return', UNIFORMITY, { body: 'if (i >= c.N) {\nreturn;\n}\nbarrier();\ny[i] = x[i];' }, 'barrier();',
    (at) => `barrier() in non-uniform control flow: the return at ${at('return;')} is taken only by some threads, since the if condition at ${at('i >= c.N')} depends on localIndex, which differs between threads`),
  rejected('uniformity-barrier-after-break', UNIFORMITY, { body: 'for (let j = 0; j < 4; j++) {\nif (localIndex === j) {\nbreak;\n}\nbarrier();\n}\ny[i] = x[i];' }, 'barrier();',
    (at) => `barrier() in non-uniform control flow: the break at ${at('break;')} is taken only by some threads, since the if condition at ${at('localIndex === j')} depends on localIndex, which differs between threads`),
  rejected('uniformity-barrier-shared-load', UNIFORMITY, { body: 'const s = shared(f32, 32);\ns[localIndex] = x[i];\nbarrier();\nif (s[0] > 0.0) {\nbarrier();\n}\ny[i] = s[localIndex];' }, ['barrier();', 2],
    (at) => nonUniform('barrier()', `if condition at ${at('s[0] > 0.0')}`, `a load of shared array 's' at ${at('s[0]')}`), ['hint: every thread of the workgroup must reach it together']),
  rejected('uniformity-barrier-writable-tensor', UNIFORMITY, { body: 'if (y[0] > 0.0) {\nbarrier();\n}\ny[i] = x[i];' }, 'barrier();',
    (at) => nonUniform('barrier()', `if condition at ${at('y[0] > 0.0')}`, `a load of writable tensor 'y' at ${at('y[0]')}`)),
  rejected('uniformity-barrier-assigned-flag', UNIFORMITY, { body: 'let flag = 0;\nif (localIndex === 0) {\nflag = 1;\n}\nif (flag === 1) {\nbarrier();\n}\ny[i] = x[i];' }, 'barrier();',
    (at) => nonUniform('barrier()', `if condition at ${at('flag === 1')}`, `'flag' (assigned under the if condition at ${at('localIndex === 0')}, which depends on localIndex)`)),
  rejected('uniformity-barrier-atomic-result', UNIFORMITY, { params: "x: Tensor<f32, ['N']>, y: Out<f32, ['N']>, count: Out<i32, ['N']>", body: 'const old = atomicAdd(count, 0, 1);\nif (old === 0) {\nbarrier();\n}\ny[i] = x[i];' }, 'barrier();',
    (at) => nonUniform('barrier()', `if condition at ${at('old === 0')}`, `the result of atomicAdd at ${at('atomicAdd(count')}`)),
  rejected('uniformity-subgroup-add-divergent', UNIFORMITY, { body: 'if (localIndex < 5) {\ny[i] = subgroupAdd(x[i]);\n}' }, 'subgroupAdd(x[i])',
    (at) => nonUniform('subgroupAdd()', `if condition at ${at('localIndex < 5')}`, 'localIndex'), ['hint: every thread of the subgroup must reach it together']),
  rejected('uniformity-subgroup-max-lane-loop', UNIFORMITY, { body: 'let m = x[i];\nfor (let j = 0; j < subgroupLane; j++) {\nm = subgroupMax(m);\n}\ny[i] = m;' }, 'subgroupMax(m)',
    (at) => nonUniform('subgroupMax()', `loop condition at ${at('j < subgroupLane')}`, 'subgroupLane')),
  rejected('uniformity-shuffle-mask', UNIFORMITY, { body: 'y[i] = subgroupShuffleXor(x[i], localIndex & 1);' }, 'subgroupShuffleXor(x[i]',
    () => 'subgroupShuffleXor() lane mask must be the same in every thread: it depends on localIndex'),
  rejected('uniformity-mma-divergent', UNIFORMITY, tile('uniformity-mma-divergent', 'if (localIndex < 16) {', '}'), 'mma(acc',
    (at) => nonUniform('mma()', `if condition at ${at('localIndex < 16')}`, 'localIndex'), ['hint: all 32 threads of the warp must reach it together']),
  rejected('uniformity-store-fragment-after-return', UNIFORMITY,
    tile('uniformity-store-fragment-after-return', 'if (f32(a[localIndex]) > 0.0) {\nreturn;\n}', ''), 'storeFragment(',
    (at) => `storeFragment() in non-uniform control flow: the return at ${at('return;')} is taken only by some threads, since the if condition at ${at('f32(a[localIndex]) > 0.0')} depends on localIndex, which differs between threads`),
  // Near misses: uniform conditions (workgroupId, uniforms, tunables, read-only tensors, a
  // loop counter that only constants update, a variable made uniform again).
  accepted('uniformity-ok-tree-reduction', UNIFORMITY, {
    grid: '() => [1]',
    body: `const s = shared(f32, 32);
s[localIndex] = localIndex < c.N ? x[localIndex] : 0.0;
barrier();
for (let h = 16; h > 0; h = h / 2) {
if (localIndex < h) {
s[localIndex] = s[localIndex] + s[localIndex + h];
}
barrier();
}
if (workgroupId.x < c.N && x[0] > 0.0) {
barrier();
}
if (i < c.N) {
y[i] = s[0] + x[i];
}`,
  }, (v) => 36 + v),
  accepted('uniformity-ok-reassigned', UNIFORMITY, { cfg: 'tunables: { WG: [32] }, ', ctx: 'WG: i32', body: 'let v = localIndex;\nv = 0;\nif (v === 0 && c.WG > 16) {\nbarrier();\n}\nif (i < c.N) {\ny[i] = x[i] + f32(v);\n}' }, (v) => v),
  accepted('uniformity-ok-subgroup-top-level', UNIFORMITY, { body: 'const m = subgroupMax(x[i % 8]);\nif (i < c.N) {\ny[i] = m;\n}' }),

  // Literal ranges: a literal takes the type it meets, and must fit it.
  rejected('literal-i32-too-large', LITERAL, { body: 'const big = 2147483648;\nif (i < c.N) {\ny[i] = x[i] + f32(big);\n}' }, '2147483648',
    () => 'constant 2147483648 is out of range for i32 (-2147483648 to 2147483647)'),
  rejected('literal-u32-too-large', LITERAL, { body: 'const m: u32 = 4294967296;\nif (i < c.N) {\ny[i] = x[i] + f32(m);\n}' }, '4294967296',
    () => 'constant 4294967296 is out of range for u32 (0 to 4294967295)'),
  rejected('literal-i32-bit-pattern', LITERAL, { body: 'if (i < c.N) {\ny[i] = f32(i & 0xFFFFFFFF);\n}' }, '0xFFFFFFFF',
    () => 'constant 4294967295 is out of range for i32 (-2147483648 to 2147483647)', ['hint: for a bit pattern, make the other operand u32 or write u32(...)']),
  rejected('literal-folded-overflow', LITERAL, { body: 'const big = 2147483647 + 1;\nif (i < c.N) {\ny[i] = x[i] + f32(big);\n}' }, '2147483647 + 1',
    () => 'constant 2147483648 is out of range for i32 (-2147483648 to 2147483647)'),
  // The extremes meet runtime values, so they are rendered rather than folded away.
  accepted('literal-ok-extremes', LITERAL, { body: 'if (i < c.N) {\ny[i] = x[i] + f32(min(i, 2147483647)) + f32(max(i, -2147483648)) + f32(u32(i) & 4294967295) - 3.0 * f32(i);\n}' }, (v) => v),

  // Integer division and remainder by a constant zero: literal, through cdiv, and once a
  // const or an unrolled loop index makes the divisor zero.
  rejected('division-by-literal-zero', DIVISION, { body: 'if (i < c.N) {\ny[i] = f32(i / 0);\n}' }, 'i / 0', () => 'integer division by zero'),
  rejected('remainder-by-literal-zero', DIVISION, { body: 'if (i < c.N) {\ny[i] = f32(i % 0);\n}' }, 'i % 0', () => 'integer remainder by zero'),
  rejected('division-cdiv-by-zero', DIVISION, { body: 'if (i < c.N) {\ny[i] = f32(cdiv(i, 0));\n}' }, 'cdiv(i, 0)', () => 'integer division by zero'),
  rejected('division-by-const-zero', DIVISION, { cfg: 'consts: { D: 4 }, ', ctx: 'D: i32', body: 'if (i < c.N) {\ny[i] = f32(i / (c.D - 4));\n}' }, 'i / (c.D - 4)',
    () => 'integer division by zero once tunables and loop indices are constants'),
  rejected('remainder-by-unrolled-zero', DIVISION, { body: 'let s = 0;\nfor (let j = 0; j < 3; j++) {\ns += i % (2 - j * 2);\n}\nif (i < c.N) {\ny[i] = f32(s);\n}' }, 'i % (2 - j * 2)',
    () => 'integer remainder by zero once tunables and loop indices are constants'),
  // nvcc rejects a float division by a constant zero (warning #39-D under --Werror).
  rejected('division-float-by-literal-zero', DIVISION, { body: 'if (i < c.N) {\ny[i] = x[i] / 0.0;\n}' }, 'x[i] / 0.0', () => 'floating-point division by zero'),
  rejected('division-float-by-const-zero', DIVISION, { cfg: 'consts: { S: 0.0 }, ', ctx: 'S: f32', body: 'if (i < c.N) {\ny[i] = x[i] / c.S;\n}' }, 'x[i] / c.S',
    () => 'floating-point division by zero once tunables and loop indices are constants'),
  accepted('division-ok-constant-nan', DIVISION, { body: 'if (i < c.N) {\ny[i] = x[i] + select(0.0 / 0.0 !== 0.0 / 0.0, 1.0, 0.0);\n}' }, (v) => v + 1),
  accepted('division-ok-runtime-divisor', DIVISION, { body: 'if (i < c.N) {\ny[i] = f32(i / max(c.N, 1)) + x[i] / f32(c.N);\n}' }, (v) => v / 8),

  // Shifts: the amount must be 0..31 (WGSL rejects a constant one outside it, CUDA leaves it undefined).
  rejected('shift-by-32', SHIFT, { body: 'if (i < c.N) {\ny[i] = f32(i << 32);\n}' }, 'i << 32', () => 'shift by 32: the amount must be 0 to 31'),
  rejected('shift-by-negative', SHIFT, { body: 'if (i < c.N) {\ny[i] = f32(i >> -1);\n}' }, 'i >> -1', () => 'shift by -1: the amount must be 0 to 31'),
  rejected('shift-by-const', SHIFT, { cfg: 'consts: { S: 33 }, ', ctx: 'S: i32', body: 'if (i < c.N) {\ny[i] = f32(u32(i) << u32(c.S));\n}' }, 'u32(i) << u32(c.S)',
    () => 'shift by 33 once tunables and loop indices are constants: the amount must be 0 to 31'),
  rejected('shift-by-unrolled-index', SHIFT, { body: 'let bits: u32 = 0;\nfor (let j = 0; j < 40; j += 8) {\nbits = bits | (u32(i) << u32(j));\n}\nif (i < c.N) {\ny[i] = f32(bits);\n}' }, 'u32(i) << u32(j)',
    () => 'shift by 32 once tunables and loop indices are constants: the amount must be 0 to 31'),
  accepted('shift-ok-31', SHIFT, { body: 'if (i < c.N) {\ny[i] = f32((u32(i) << 31) >> 31) + f32(i >> 31) + f32(i << 0);\n}' }, (_, i) => (i & 1) + i),

  // Array sizes: positive, and local memory within what WGSL guarantees.
  rejected('shared-size-zero', SIZES, { body: 'const s = shared(f32, 0);\ny[i] = x[i];' }, '0);', () => 'shared array size must be positive, got 0'),
  rejected('local-size-negative', SIZES, { body: 'const t = local(f32, -4);\ny[i] = x[i];' }, '-4', () => 'local array size must be positive, got -4'),
  rejected('shared-size-zero-tunable', SIZES, { cfg: 'tunables: { T: [32] }, ', ctx: 'T: i32', body: 'const s = shared(f32, c.T - 32);\ns[0] = x[0];\ny[i] = x[i];' }, 's = shared',
    () => "shared array 's' has size 0 ('(T - 32)' with T=32); sizes must be positive"),
  rejected('local-over-8-kib', SIZES, { body: 'const t = local(f32, 2048);\nconst u = local(f32, 1);\nt[0] = x[0];\nu[0] = x[0];\nif (i < c.N) {\ny[i] = t[0] + u[0];\n}' }, 'u = local',
    () => 'local arrays and fragments need 8196 bytes per thread here, over the 8192 that WGSL guarantees'),
  accepted('local-ok-8-kib', SIZES, { body: 'const t = local(f32, 2048);\nfor (let j = 0; j < 2048; j++) {\nt[j] = f32(j);\n}\nif (i < c.N) {\ny[i] = x[i] + t[i];\n}' }, (v, i) => v + i),

  // Consts and tunables typed i32 hold i32 values.
  rejected('const-i32-fractional', CONSTS, { cfg: 'consts: { K: 1.5 }, ', ctx: 'K: i32', body: 'if (i < c.N) {\ny[i] = x[i] * f32(c.K);\n}' }, '1.5',
    () => "const 'K' is typed i32 but has the fractional value 1.5"),
  rejected('const-i32-out-of-range', CONSTS, { cfg: 'consts: { K: 3000000000 }, ', ctx: 'K: i32', body: 'y[i] = x[i];' }, '3000000000',
    () => "const 'K' = 3000000000 is out of range for i32 (-2147483648 to 2147483647)"),
  rejected('tunable-i32-out-of-range', CONSTS, { cfg: 'tunables: { T: [1, 4294967296] }, ', ctx: 'T: i32', body: 'y[i] = x[i] * f32(c.T);' }, '4294967296',
    () => "tunable 'T' = 4294967296 is out of range for i32 (-2147483648 to 2147483647)"),
  accepted('const-ok-f32-fraction', CONSTS, { cfg: 'consts: { K: 1.5, M: -3 }, ', ctx: 'K: f32; M: i32', body: 'if (i < c.N) {\ny[i] = x[i] * c.K + f32(c.M);\n}' }, (v) => v * 1.5 - 3),

  // Constraints are evaluated at compile time: shape symbols have no value there.
  rejected('constraint-reads-shape', CONSTRAINTS, { cfg: 'tunables: { WG: [32] }, constraints: (c) => [c.N % c.WG === 0], ', ctx: 'WG: i32', body: 'y[i] = x[i];' }, 'c.N % c.WG',
    () => "constraint reads runtime shape symbol 'N'", ['hint: constraints are checked when the kernel is compiled, before any shape is known']),
  rejected('constraint-divides-by-zero', CONSTRAINTS, { cfg: 'tunables: { WG: [32] }, constraints: (c) => [c.WG / (c.WG - 32) >= 0], ', ctx: 'WG: i32', body: 'y[i] = x[i];' }, 'kernel(',
    () => "constraint 'c.WG / (c.WG - 32) >= 0' divides by zero: '(WG - 32)' is 0 with WG=32"),

  // Grid and workgroup formulas.
  rejected('grid-cdiv-by-literal-zero', GRID, { grid: '(c) => [cdiv(c.N, 0)]', body: 'y[i] = x[i];' }, '0)]', () => 'size formula cdiv(a, 0) divides by zero'),
  rejected('workgroup-remainder-by-zero', GRID, { workgroup: '() => [64 % 0]', body: 'y[i] = x[i];' }, '0]', () => 'size formula a % 0 divides by zero'),
  rejected('grid-divides-by-zero-tunable', GRID, { cfg: 'tunables: { WG: [32] }, ', ctx: 'WG: i32', grid: '(c) => [c.N / (c.WG - 32)]', body: 'y[i] = x[i];' }, 'kernel(',
    () => "grid dimension x '(N / (WG - 32))' divides by zero: '(WG - 32)' is 0 with WG=32"),

  // Nesting and size: deep expressions and statements are rejected with a location before
  // anything recursive sees them; nested unrolling stays within its budget.
  rejected('nesting-expression-20000-terms', NESTING, { body: `const a = x[localIndex];\ny[localIndex] = ${Array(20000).fill('a').join(' + ')};` }, 'y[localIndex] = a',
    () => 'expression nested more than 64 levels deep; WGSL compilers reject deeper nesting', [], false),
  rejected('nesting-statements-40', NESTING, { body: `${'if (i < c.N) {\n'.repeat(40)}y[i] = x[i];\n${'}\n'.repeat(40)}` }, 'if (i < c.N)',
    () => 'statements nested more than 32 levels deep (ifs and loops); WGSL compilers reject deeper nesting', [], false),
  accepted('nesting-ok-60-terms', NESTING, { body: `const a = x[i % 8];\nif (i < c.N) {\ny[i] = ${Array(60).fill('a').join(' + ')};\n}` }, (v) => 60 * v),
  accepted('unroll-budget-16-nested-loops', NESTING, { workgroup: '() => [1]', grid: '() => [1]', body: `let acc = 0.0;\n${nested(16)}\ny[0] = acc;\nfor (let j = 1; j < c.N; j++) {\ny[j] = x[j];\n}` },
    (v, i) => (i === 0 ? 65536 : v)),
];
