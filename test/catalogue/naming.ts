import type { CatalogueCase } from './types.js';

/**
 * Hostile names (issue 13): identifiers that WGSL, CUDA C++, the C library's macros or our
 * own generated code reserve or already use, names that collide once renamed, kernel
 * names no file system or linker takes. Every accepted case runs on the three backends;
 * `expect` is computed here in plain JS. compiler/codegen/naming.ts is what they test.
 */

const IMPORTS = 'kernel, cdiv, exp, f32, i32, u32, max, min, localIndex, workgroupId, shared, local, barrier, subgroupMax, F32_MAX, type Tensor, type Out';
const HEAD = `import { ${IMPORTS} } from '../../../compiler/dsl/index.js';`;

interface Kernel {
  readonly name?: string;
  /** Parameters before the context; default x (read) and y (written), both ['N']. */
  readonly params?: string;
  /** Context members after N. */
  readonly ctx?: string;
  /** Statements run for in-range i. */
  readonly body: string;
}

const kernelText = (k: Kernel) => `export const ${k.name ?? 'k'} = kernel(
  { doc: 'catalogue', workgroup: () => [32], grid: (c) => [cdiv(c.N, 32)] },
  (${k.params ?? "x: Tensor<f32, ['N']>, y: Out<f32, ['N']>"}, c: { N: i32${k.ctx ? `; ${k.ctx}` : ''} }) => {
    const i = workgroupId.x * 32 + localIndex;
    if (i < c.N) {
      ${k.body.trim().split('\n').map((l) => l.trim()).join('\n      ')}
    }
  },
);`;

/** A case file: the DSL import, optional top-level helpers, then the kernels. */
const file = (kernels: readonly Kernel[], pre = '') => [HEAD, pre, ...kernels.map(kernelText)].filter(Boolean).join('\n') + '\n';

const X = [1, 2, 3, 4, 5, 6, 7, 8];
const ZERO = X.map(() => 0);
const X32 = Array.from({ length: 32 }, (_, j) => j + 1);
const ZERO32 = X32.map(() => 0);
/** One elementwise kernel `k` over x, expected to write f(x) to y. */
function elementwise(name: string, klass: string, body: string, f: (v: number) => number, extra: Partial<Kernel> = {}, pre = ''): CatalogueCase {
  return {
    name, klass, source: file([{ body, ...extra }], pre),
    run: { kernel: extra.name ?? 'k', tensors: { x: X, y: ZERO }, scalars: { N: 8 }, expect: { y: X.map(f) } },
  };
}

const RESERVED = 'reserved identifiers';
const COLLISION = 'collisions after renaming';
const KERNEL = 'kernel and file names';
const NAN = 'non-finite inputs (max/min semantics)';

const LONG_NAME = `k${'very_long_kernel_name_'.repeat(13)}end`.slice(0, 301);

export const cases: CatalogueCase[] = [
  // Locals: each reserved class of each target. Every value depends on x, so constant
  // propagation cannot remove the declaration whose spelling is under test.
  elementwise('naming-local-dollar', RESERVED, 'const $t = x[i] * 2.0;\nconst $ = $t + 1.0;\ny[i] = $;', (v) => v * 2 + 1),
  elementwise('naming-local-underscore', RESERVED, 'const _ = x[i] + 1.0;\nconst __tmp = _ * 3.0;\nconst ___ = __tmp - 1.0;\ny[i] = ___;', (v) => (v + 1) * 3 - 1),
  elementwise('naming-local-c-macros', RESERVED, 'const NULL = x[i];\nconst INFINITY = NULL + 1.0;\nconst NAN = INFINITY * 2.0;\nconst EOF = NAN - NULL;\ny[i] = EOF;', (v) => v + 2),
  elementwise('naming-local-lowercase-macros', RESERVED, 'const assert = x[i];\nconst stdin = assert + 1.0;\nconst errno = stdin * 2.0;\nconst major = errno - assert;\nconst minor = major + 1.0;\nconst unix = minor * 2.0;\nconst offsetof = unix - stdin;\ny[i] = offsetof;', (v) => 2 * (v + 3) - (v + 1)),
  elementwise('naming-local-macro-families', RESERVED, 'const FLT_MAX = x[i];\nconst INT32_MAX = FLT_MAX + 1.0;\nconst M_PI = INT32_MAX * 2.0;\nconst EXIT_SUCCESS = M_PI - FLT_MAX;\nconst cudaStreamDefault = EXIT_SUCCESS + 1.0;\ny[i] = cudaStreamDefault;', (v) => v + 3),
  elementwise('naming-local-cuda-keywords', RESERVED, 'const __global__ = x[i];\nconst __shared__ = __global__ + 2.0;\nconst __syncthreads = __global__ * __shared__;\ny[i] = __syncthreads;', (v) => v * (v + 2)),
  elementwise('naming-local-cuda-builtins', RESERVED, 'const threadIdx = x[i];\nconst blockIdx = threadIdx + 1.0;\nconst warpSize = blockIdx * 2.0;\nconst dim3 = warpSize - threadIdx;\nconst uint3 = dim3 + f32(localIndex - localIndex);\ny[i] = uint3;', (v) => v + 2),
  elementwise('naming-local-cpp-keywords', RESERVED, 'const float = x[i];\nconst int = float + 1.0;\nconst unsigned = int * 2.0;\nconst auto = unsigned - float;\nconst template = auto + 1.0;\nconst typename = template * 2.0;\nconst char = typename - float;\nconst long = char + 1.0;\ny[i] = long;', (v) => 2 * (v + 3) - v + 1),
  elementwise('naming-local-wgsl-keywords', RESERVED, 'let loop = x[i];\nconst fn = loop + 1.0;\nconst override = fn * 2.0;\nconst continuing = override - loop;\nconst alias = continuing + 1.0;\nconst enable = alias * 2.0;\nconst diagnostic = enable - loop;\nloop = diagnostic;\ny[i] = loop;', (v) => 2 * (v + 3) - v),
  elementwise('naming-local-wgsl-predeclared', RESERVED, 'const vec4f = x[i];\nconst array = vec4f + 1.0;\nconst mat2x2 = array * 2.0;\nconst atomic = mat2x2 - vec4f;\nconst select = atomic + 1.0;\nconst bitcast = select * 2.0;\nconst ptr = bitcast - vec4f;\ny[i] = ptr + f32(bitcast_(i));', (v) => v + 6 + (v - 1), {},
    'function bitcast_(i: i32): i32 {\n  const exp2 = i + 0;\n  return exp2;\n}'),
  elementwise('naming-local-generated-names', RESERVED, 'const params = x[i];\nconst Params = params + 1.0;\nconst lid = params * Params;\nconst wid = lid - params;\nconst lidx = wid + 1.0;\nconst main = lidx - Params;\nconst stream = main * 2.0;\nconst grid_x = stream + 1.0;\nconst argv = grid_x - main;\nconst mimo_w = argv + 1.0;\nconst mimo_f32_bits = mimo_w - params;\ny[i] = mimo_f32_bits;', (v) => v * v - v + 2 - v),
  elementwise('naming-local-math-functions', RESERVED, 'const fmaxf = x[i];\nconst expf = fmaxf - x[i];\nconst inverseSqrt = max(fmaxf, expf) + exp(expf);\nconst sqrtf = min(inverseSqrt, 100.0);\ny[i] = sqrtf;', (v) => v + 1),
  elementwise('naming-local-unicode', RESERVED, 'const π = x[i];\nconst ñ = π + 2.0;\nconst 变量 = π * ñ;\ny[i] = 变量;', (v) => v * (v + 2)),
  // Collisions: names that only meet after renaming, or a pass's names meeting a user's.
  elementwise('naming-collision-loop', COLLISION, 'let loop = x[i];\n{\nconst loop_ = loop * 2.0;\nloop = loop_ + 1.0;\n}\ny[i] = loop;', (v) => v * 2 + 1),
  elementwise('naming-collision-float', COLLISION, 'let float = x[i];\n{\nconst float_ = float * 3.0;\nfloat = float_ - 1.0;\n}\ny[i] = float;', (v) => v * 3 - 1),
  elementwise('naming-collision-counter', COLLISION, 'const NULL = x[i];\nconst NULL_1 = x[i] * 10.0;\nconst NULL_ = x[i] * 100.0;\ny[i] = NULL + NULL_1 + NULL_;', (v) => v * 111),
  elementwise('naming-collision-underscores', COLLISION, 'const __a = x[i];\nconst _a = x[i] * 10.0;\nconst a = x[i] * 100.0;\nconst a_ = x[i] * 1000.0;\ny[i] = __a + _a + a + a_;', (v) => v * 1111),
  elementwise('naming-collision-dollar', COLLISION, 'const $a = x[i];\nconst Sa = x[i] * 10.0;\nconst S$a = x[i] * 100.0;\ny[i] = $a + Sa + S$a;', (v) => v * 111),
  elementwise('naming-collision-unicode', COLLISION, 'const π = x[i];\nconst u3c0 = x[i] * 10.0;\nconst vu3c0 = x[i] * 100.0;\ny[i] = π + u3c0 + vu3c0;', (v) => v * 111),
  elementwise('naming-collision-unrolled', COLLISION, 'let acc = 0.0;\nfor (let j = 0; j < 2; j += 1) {\nconst t = x[i] + f32(j);\nacc += t;\n}\nconst t_u0 = x[i] * 100.0;\nconst t_u1 = x[i] * 1000.0;\ny[i] = acc + t_u0 + t_u1;', (v) => 2 * v + 1 + 1100 * v),
  // The grid is a runtime formula, so WebGPU's large-grid folding adds its wg.linear.
  elementwise('naming-collision-folded-grid', COLLISION, 'const wg_linear = x[i] * 100.0;\nconst wg_linear_1 = x[i] * 1000.0;\ny[i] = x[i] + wg_linear + wg_linear_1;', (v) => v * 1101),
  elementwise('naming-collision-helper', COLLISION, 'const twice_loop = x[i] * 100.0;\nconst twice_result = x[i] * 1000.0;\ny[i] = twice(x[i], 1.0) + twice_loop + twice_result;', (v) => 2 * v + 1 + 1100 * v, {},
    'function twice(loop: f32, NULL: f32): f32 {\n  const __r = loop * 2.0 + NULL;\n  return __r;\n}'),
  elementwise('naming-helper-reserved-names', RESERVED, 'y[i] = $h(x[i], x[i] + 1.0);', (v) => v * (v + 1) + 1, {},
    'function $h(_: f32, float: f32): f32 {\n  const $ = _ * float;\n  return $ + 1.0;\n}'),
  // Tensors, scalars, shape symbols, shared and local arrays.
  {
    name: 'naming-tensor-reserved', klass: RESERVED,
    source: file([{ params: "float: Tensor<f32, ['N']>, Params: Tensor<f32, ['N']>, stream: Out<f32, ['N']>, grid_x: Out<f32, ['N']>", body: 'stream[i] = float[i] + Params[i];\ngrid_x[i] = float[i] * Params[i];' }]),
    run: { kernel: 'k', tensors: { float: X, Params: X.map((v) => 10 * v), stream: ZERO, grid_x: ZERO }, scalars: { N: 8 }, expect: { stream: X.map((v) => 11 * v), grid_x: X.map((v) => 10 * v * v) } },
  },
  {
    name: 'naming-tensor-generated-names', klass: RESERVED,
    source: file([{ params: "params: Tensor<f32, ['N']>, main: Tensor<i32, ['N']>, argv: Out<f32, ['N']>, mimo_w: Out<i32, ['N']>", body: 'argv[i] = params[i] * 2.0;\nmimo_w[i] = main[i] + 1;' }]),
    run: { kernel: 'k', tensors: { params: X, main: X, argv: ZERO, mimo_w: ZERO }, dtypes: { main: 'i32', mimo_w: 'i32' }, scalars: { N: 8 }, expect: { argv: X.map((v) => 2 * v), mimo_w: X.map((v) => v + 1) } },
  },
  {
    name: 'naming-tensor-underscore-unicode', klass: RESERVED,
    source: file([{ params: "__x: Tensor<f32, ['N']>, $y: Tensor<f32, ['N']>, ñ: Out<f32, ['N']>", body: 'ñ[i] = __x[i] - $y[i];' }]),
    run: { kernel: 'k', tensors: { __x: X, $y: X.map((v) => v / 2), ñ: ZERO }, scalars: { N: 8 }, expect: { ñ: X.map((v) => v / 2) } },
  },
  {
    name: 'naming-tensor-like-shape-symbol', klass: RESERVED,
    source: file([{ params: "N: Tensor<f32, ['N']>, y: Out<f32, ['N']>", body: 'y[i] = N[i] + f32(c.N);' }]),
    run: { kernel: 'k', tensors: { N: X, y: ZERO }, scalars: { N: 8 }, expect: { y: X.map((v) => v + 8) } },
  },
  {
    name: 'naming-scalar-reserved', klass: RESERVED,
    source: file([{ ctx: 'loop: f32; argv: i32; float: f32; NULL: u32; stream: f32', body: 'y[i] = x[i] * c.loop + f32(c.argv) + c.float + f32(c.NULL) + c.stream;' }]),
    run: { kernel: 'k', tensors: { x: X, y: ZERO }, scalars: { N: 8, loop: 2, argv: 10, float: 100, NULL: 1000, stream: 10000 }, expect: { y: X.map((v) => 2 * v + 11110) } },
  },
  {
    name: 'naming-shape-symbol-reserved', klass: RESERVED,
    source: `${HEAD}
export const k = kernel(
  { doc: 'catalogue', workgroup: () => [32], grid: (c) => [cdiv(c.loop, 32)] },
  (x: Tensor<f32, ['loop']>, y: Out<f32, ['loop']>, c: { loop: i32; Params: f32 }) => {
    const i = workgroupId.x * 32 + localIndex;
    if (i < c.loop) {
      y[i] = x[i] + c.Params;
    }
  },
);
`,
    run: { kernel: 'k', tensors: { x: X, y: ZERO }, scalars: { loop: 8, Params: 0.5 }, expect: { y: X.map((v) => v + 0.5) } },
  },
  {
    name: 'naming-shared-reserved', klass: RESERVED,
    source: `${HEAD}
export const k = kernel(
  { doc: 'catalogue', workgroup: () => [32], grid: () => [1] },
  (x: Tensor<f32, ['N']>, y: Out<f32, ['N']>, c: { N: i32 }) => {
    const float = shared(f32, 32);
    const __s = shared(f32, 32);
    float[localIndex] = x[localIndex];
    __s[localIndex] = 1.0;
    barrier();
    const loop = local(f32, 2);
    loop[0] = float[localIndex ^ 1];
    loop[1] = __s[localIndex];
    y[localIndex] = loop[0] + loop[1] + f32(c.N - 32);
  },
);
`,
    run: { kernel: 'k', tensors: { x: X32, y: ZERO32 }, scalars: { N: 32 }, expect: { y: X32.map((_, j) => X32[j ^ 1] + 1) } },
  },
  // An unused shared array fails nvcc --Werror and g++ -Werror unless it is dropped.
  elementwise('naming-shared-unused', 'unused declarations', 'const unused = shared(f32, 64);\nconst scratch = local(f32, 4);\nscratch[0] = 1.0;\ny[i] = x[i] + 1.0;', (v) => v + 1),
  // Kernel names: reserved, prelude and sibling symbols, too long for a file, not ASCII.
  elementwise('naming-kernel-reserved', KERNEL, 'y[i] = x[i] + 1.0;', (v) => v + 1, { name: 'float' }),
  elementwise('naming-kernel-prelude', KERNEL, 'y[i] = x[i] + 2.0;', (v) => v + 2, { name: 'pack2' }),
  elementwise('naming-kernel-emulator-namespace', KERNEL, 'y[i] = x[i] + 3.0;', (v) => v + 3, { name: 'emu' }),
  {
    name: 'naming-kernel-sibling-symbols', klass: KERNEL,
    source: file([{ name: 'x', body: 'y[i] = x[i] + 1.0;' }, { name: 'x_kernel', body: 'y[i] = x[i] + 2.0;' }].map((k) => ({ ...k, params: "xs: Tensor<f32, ['N']>, y: Out<f32, ['N']>", body: k.body.replace('x[i]', 'xs[i]') }))),
    run: { kernel: 'x_kernel', tensors: { xs: X, y: ZERO }, scalars: { N: 8 }, expect: { y: X.map((v) => v + 2) } },
  },
  elementwise('naming-kernel-long', KERNEL, 'y[i] = x[i] * 3.0;', (v) => v * 3, { name: LONG_NAME }),
  elementwise('naming-kernel-unicode', KERNEL, 'y[i] = x[i] * 4.0;', (v) => v * 4, { name: 'ядро_π' }),
  {
    name: 'naming-kernel-underscore-dollar', klass: KERNEL,
    source: file([{ name: '__k', body: 'y[i] = x[i] + 1.0;' }, { name: '$k', body: 'y[i] = x[i] + 2.0;' }, { name: 'k_', body: 'y[i] = x[i] + 3.0;' }]),
    run: { kernel: '$k', tensors: { x: X, y: ZERO }, scalars: { N: 8 }, expect: { y: X.map((v) => v + 2) } },
  },
  // A local that hides the DSL function it then calls is the user's error, reported where the call is.
  {
    name: 'naming-shadowed-dsl-function', klass: RESERVED,
    source: file([{ body: 'const exp = x[i];\ny[i] = exp(exp);' }]),
    error: ['test/catalogue/cases/naming-shadowed-dsl-function.ts:8:14', "call of 'exp' is not supported in kernels"],
  },
  // NaN and infinity: max/min propagate NaN on every backend, so softmax of a row holding
  // NaN or +Inf is all NaN (the IEEE answer), not SwiftShader's mostly-zero row.
  {
    name: 'nan-max-min', klass: NAN,
    source: file([{ params: "a: Tensor<f32, ['N']>, b: Tensor<f32, ['N']>, hi: Out<f32, ['N']>, lo: Out<f32, ['N']>", body: 'hi[i] = max(a[i], b[i]);\nlo[i] = min(a[i], b[i]);' }]),
    run: {
      kernel: 'k', scalars: { N: 8 },
      tensors: { a: [NaN, 1, NaN, Infinity, -Infinity, 2, NaN, -1], b: [1, NaN, NaN, 3, 0, -Infinity, Infinity, -2], hi: ZERO, lo: ZERO },
      expect: { hi: [NaN, NaN, NaN, Infinity, 0, 2, NaN, -1], lo: [NaN, NaN, NaN, 3, -Infinity, -Infinity, NaN, -2] },
    },
  },
  {
    name: 'nan-softmax', klass: NAN,
    source: `${HEAD}
export const softmax = kernel(
  { doc: 'ops/softmax.ts with WG = 32', workgroup: () => [32], grid: (c) => [c.R] },
  (x: Tensor<f32, ['R', 'N']>, y: Out<f32, ['R', 'N']>, c: { R: i32; N: i32 }) => {
    const xr = x[workgroupId.x];
    const yr = y[workgroupId.x];
    const scratch = shared(f32, 32);
    let m = -F32_MAX;
    for (let i = localIndex; i < c.N; i += 32) m = max(m, xr[i]);
    scratch[localIndex] = m;
    barrier();
    for (let s = 16; s > 0; s = s >> 1) {
      if (localIndex < s) scratch[localIndex] = max(scratch[localIndex], scratch[localIndex + s]);
      barrier();
    }
    const rowMax = scratch[0];
    barrier();
    let sum = 0.0;
    for (let i = localIndex; i < c.N; i += 32) sum += exp(xr[i] - rowMax);
    scratch[localIndex] = sum;
    barrier();
    for (let s = 16; s > 0; s = s >> 1) {
      if (localIndex < s) scratch[localIndex] = scratch[localIndex] + scratch[localIndex + s];
      barrier();
    }
    const inv = 1.0 / scratch[0];
    for (let i = localIndex; i < c.N; i += 32) yr[i] = exp(xr[i] - rowMax) * inv;
  },
);
`,
    run: {
      kernel: 'softmax', scalars: { R: 3, N: 4 },
      tensors: { x: [1, 2, NaN, 4, 1, Infinity, 2, 3, -Infinity, NaN, 0, 1], y: Array(12).fill(0) },
      expect: { y: Array(12).fill(NaN) },
    },
  },
  {
    name: 'nan-subgroup-max', klass: NAN,
    // A NaN in every fourth lane, so that every subgroup (4 to 64 lanes) holds one.
    source: `${HEAD}
export const k = kernel(
  { doc: 'catalogue', workgroup: () => [32], grid: () => [1] },
  (x: Tensor<f32, ['N']>, y: Out<f32, ['N']>, c: { N: i32 }) => {
    y[localIndex] = subgroupMax(x[localIndex]) + f32(c.N - 32);
  },
);
`,
    run: { kernel: 'k', tensors: { x: X32.map((v, j) => (j % 4 === 0 ? NaN : v)), y: ZERO32 }, scalars: { N: 32 }, expect: { y: X32.map(() => NaN) } },
  },
];
