import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { lowerText } from '../compiler/frontend/index.js';
import { CompileErrors } from '../compiler/common/errors.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';

/**
 * Malformed kernels, each a small realistic kernel with exactly one mistake. For each we
 * check that the frontend reports a CompileErrors (a crash is a failure), that the FIRST
 * error points at the offending construct (line and column computed from `marker`, a
 * substring that occurs once in the source and starts where the error must point), that
 * its detail says what is wrong, and that the rendered message carries file:line:col.
 *
 * Sources are strings compiled by lowerText under a virtual path in test/fixtures/malformed/
 * (nothing is written there, so `tsc -p` never sees these deliberately broken kernels).
 */

const DSL = `import { kernel, cdiv, exp, f32, bf16, i32, localId, localIndex, workgroupId, shared, barrier, type Tensor, type Out } from '../../../compiler/dsl/index.js';`;

const indent = (body: string, n: number) => body.trim().split('\n').map((l) => ' '.repeat(n) + l.trim()).join('\n');

/** Elementwise bf16 kernel in the style of ops/swiglu.ts; `body` runs for in-range i. */
const elementwise = (body: string, pre = '') => `${DSL}
${pre}
/** Scales a bf16 vector by a bf16 weight; also keeps an f32 copy. */
export const scaleRows = kernel(
  {
    doc: 'y = x * w elementwise; bf16 in/out, f32 math',
    tunables: { BLOCK: [256, 128] },
    workgroup: (c) => [c.BLOCK],
    grid: (c) => [cdiv(c.N, c.BLOCK)],
  },
  (x: Tensor<bf16, ['N']>, w: Tensor<bf16, ['N']>, y: Out<bf16, ['N']>, acc: Out<f32, ['N']>, c: { N: i32; BLOCK: i32 }) => {
    const i = workgroupId.x * c.BLOCK + localId.x;
    if (i < c.N) {
${indent(body, 6)}
    }
  },
);
`;

/** A valid body for `elementwise`. */
const SCALE_BODY = `
  const v = f32(x[i]) * f32(w[i]);
  y[i] = bf16(v);
  acc[i] = v;`;

/** Row-sum reduction in the style of ops/rmsnorm.ts: one workgroup per row, shared-memory tree. */
const rowSum = (body: string) => `${DSL}

/** out[t] = sum_d x[t, d], f32 accumulation. */
export const rowSum = kernel(
  {
    doc: 'out[t] = sum over d of x[t, d]',
    tunables: { WG: [128, 64, 256] },
    constraints: (c) => [c.WG % 32 === 0],
    workgroup: (c) => [c.WG],
    grid: (c) => [c.T],
  },
  (x: Tensor<bf16, ['T', 'D']>, out: Out<f32, ['T']>, c: { T: i32; D: i32; WG: i32 }) => {
${indent(body, 4)}
  },
);
`;

/** A valid body for `rowSum`; cases below change one thing in it. */
const ROW_SUM_BODY = `
  const row = x[workgroupId.x];
  const scratch = shared(f32, c.WG);
  let sum = 0.0;
  for (let d = localIndex; d < c.D; d += c.WG) {
    sum += f32(row[d]);
  }
  scratch[localIndex] = sum;
  barrier();
  for (let s = c.WG / 2; s > 0; s = s / 2) {
    if (localIndex < s) {
      scratch[localIndex] = scratch[localIndex] + scratch[localIndex + s];
    }
    barrier();
  }
  if (localIndex === 0) {
    out[workgroupId.x] = scratch[0];
  }`;

/** One warp's 16x16 tile product with a per-row scaled promotion, in the style of ops/moe/fp8_tiles.ts. */
const tile = (body: string) => `${DSL.replace(' type Tensor', ' fragment, mma, mmaTransposedB, accumulateScaled, storeFragment, type Tensor')}

/** out = (A·Bᵀ) * rowScale * s[16] for one 16x16 tile. */
export const tile16 = kernel(
  { doc: 'one warp, one 16x16 tile', workgroup: () => [32], grid: () => [1] },
  (a: Tensor<bf16, ['N']>, s: Tensor<f32, ['R']>, out: Out<f32, ['M']>, c: { N: i32; R: i32; M: i32 }) => {
${indent(body, 4)}
  },
);
`;

/** A valid body for `tile`. */
const TILE_BODY = `
  const As = shared(bf16, 256);
  const Bs = shared(bf16, 256);
  const Rs = shared(f32, 16);
  const Cs = shared(f32, 256);
  for (let i = localIndex; i < 256; i += 32) {
    As[i] = a[i];
    Bs[i] = a[i];
  }
  if (localIndex < 16) {
    Rs[localIndex] = s[localIndex];
  }
  barrier();
  const acc = fragment();
  const part = fragment();
  mmaTransposedB(part, As, 0, 16, Bs, 0, 16);
  accumulateScaled(acc, part, Rs, 0, s[16]);
  storeFragment(acc, Cs, 0, 16);
  barrier();
  for (let i = localIndex; i < 256; i += 32) {
    out[i] = Cs[i];
  }`;

/** `text` with `from` replaced once (and it must occur), so a case changes exactly what it says. */
function edit(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`fixture edit: '${from}' not found`);
  return text.replace(from, to);
}

interface Case {
  name: string;
  source: string;
  /** Occurs exactly once in `source`; the first error must point at its first character. */
  marker: string;
  detail: RegExp;
  hint?: RegExp;
}

const cases: Case[] = [
  {
    name: 'mma operands of different types',
    source: tile(edit(edit(TILE_BODY, 'const Bs = shared(bf16, 256);', 'const Bs = shared(f32, 256);'), 'Bs[i] = a[i];', 'Bs[i] = f32(a[i]);')),
    marker: 'mmaTransposedB(part',
    detail: /mmaTransposedB operands differ in dtype: a is bf16, b is f32/,
  },
  {
    name: 'row scales in a bf16 shared array',
    source: tile(edit(edit(TILE_BODY, 'const Rs = shared(f32, 16);', 'const Rs = shared(bf16, 16);'), 'Rs[localIndex] = s[localIndex];', 'Rs[localIndex] = bf16(s[localIndex]);')),
    marker: 'Rs, 0, s[16]',
    detail: /accumulateScaled reads row scales from an f32 shared array/,
  },
  {
    name: 'a fragment accumulated into itself',
    source: tile(edit(TILE_BODY, 'accumulateScaled(acc, part,', 'accumulateScaled(acc, acc,')),
    marker: 'acc, Rs, 0',
    detail: /accumulateScaled needs two different fragments/,
  },
  {
    name: 'bf16 block scale without a cast',
    source: tile(edit(TILE_BODY, 'accumulateScaled(acc, part, Rs, 0, s[16]);', 'accumulateScaled(acc, part, Rs, 0, a[16]);')),
    marker: 'a[16]);',
    detail: /accumulateScaled scale: expected f32, got bf16/,
  },
  {
    name: 'bf16 + f32 without a cast',
    source: elementwise('acc[i] = f32(x[i]) + w[i];'),
    marker: 'f32(x[i]) + w[i]',
    detail: /cannot mix f32 and bf16 in '\+' without a cast/,
    hint: /cast.*f32\(/,
  },
  {
    name: 'arithmetic directly on bf16 loads',
    source: elementwise('y[i] = bf16(x[i] * w[i]);'),
    marker: 'x[i] * w[i]',
    detail: /bf16 is a storage type and has no arithmetic \('\*'\)/,
    hint: /f32\(/,
  },
  {
    name: 'f32 expression stored into a bf16 tensor',
    source: elementwise('y[i] = f32(x[i]) * f32(w[i]);'),
    marker: 'f32(x[i]) * f32(w[i])',
    detail: /store to 'y': expected bf16, got f32/,
    hint: /bf16\(/,
  },
  {
    name: 'write to a read-only Tensor',
    source: elementwise('x[i] = bf16(f32(w[i]) * 2.0);'),
    marker: 'x[i] =',
    detail: /tensor 'x' is read-only/,
    hint: /Out</,
  },
  {
    name: 'shared array sized by a runtime shape symbol',
    source: rowSum(edit(ROW_SUM_BODY, 'shared(f32, c.WG)', 'shared(f32, c.D)')),
    marker: 'c.D)',
    detail: /shared array size must be a compile-time constant.*runtime value 'D'/,
  },
  {
    name: 'closure inside a kernel',
    source: elementwise('const mul = (a: f32, b: f32) => a * b;\ny[i] = bf16(f32(x[i]) * f32(w[i]));'),
    marker: '(a: f32, b: f32) =>',
    detail: /closures are not supported/,
  },
  {
    name: 'recursion through a helper',
    source: elementwise(
      'acc[i] = f32(x[i]) * f32(powi(2.0, 3));',
      'function powi(b: f32, n: i32): f32 {\n  let r = 1.0;\n  if (n > 0) {\n    r = b * powi(b, n - 1);\n  }\n  return r;\n}\n',
    ),
    marker: 'powi(b, n - 1)',
    detail: /recursion is not supported.*powi -> powi/,
  },
  {
    name: 'string literal',
    source: elementwise(`const mode = 'fast';\n${SCALE_BODY}`),
    marker: `'fast'`,
    detail: /strings are not supported/,
  },
  {
    name: 'new Float32Array (dynamic allocation)',
    source: elementwise(`const tmp = new Float32Array(4);\n${SCALE_BODY}`),
    marker: 'new Float32Array(4)',
    detail: /dynamic allocation is not supported/,
    hint: /local\(dtype, N\)/,
  },
  {
    name: 'array literal (dynamic allocation)',
    source: elementwise('const taps = [0.25, 0.5, 0.25];\nacc[i] = f32(x[i]);'),
    marker: '[0.25, 0.5, 0.25]',
    detail: /dynamic allocation is not supported/,
  },
  {
    name: 'capturing a module-level const',
    source: elementwise('y[i] = bf16(f32(x[i]) * GAIN);', 'const GAIN = 0.5;\n'),
    marker: 'GAIN);',
    detail: /'GAIN' is not defined inside the kernel/,
    hint: /context/,
  },
  {
    name: 'early return inside a helper',
    source: elementwise(
      'acc[i] = relu(f32(x[i]));',
      'function relu(v: f32): f32 {\n  if (v < 0.0) {\n    return 0.0;\n  }\n  return v;\n}\n',
    ),
    marker: 'return 0.0;',
    detail: /early return in helper 'relu'/,
  },
  {
    name: 'float literal used as an index',
    source: elementwise('acc[i] = f32(x[i]) * f32(w[0.0]);'),
    marker: '0.0]',
    detail: /index must be an integer, got a float literal/,
  },
  {
    name: 'f32 value used as an index',
    source: elementwise('const half = f32(i) * 0.5;\nacc[i] = f32(x[half]);'),
    marker: 'half]',
    detail: /index must be an integer, got f32/,
  },
  {
    name: 'loose equality ==',
    source: rowSum(edit(ROW_SUM_BODY, 'localIndex === 0', 'localIndex == 0')),
    marker: 'localIndex == 0',
    detail: /loose equality is not supported/,
    hint: /===/,
  },
  {
    name: 'destructuring a let',
    source: elementwise(`let { x: lx, y: ly } = localId;\n${SCALE_BODY}`),
    marker: '{ x: lx, y: ly }',
    detail: /destructuring is not supported/,
  },
  {
    name: 'do-while loop',
    source: elementwise('let k = 0;\nlet s = 0.0;\ndo {\n  s += f32(x[i]);\n  k += 1;\n} while (k < 4);\nacc[i] = s;'),
    marker: 'do {',
    detail: /do-while is not supported/,
    hint: /while \(|for \(/,
  },
  {
    name: 'break outside a loop',
    source: elementwise(`if (f32(x[i]) < 0.0) {\n  break;\n}\n${SCALE_BODY}`),
    marker: 'break;',
    detail: /break outside a loop/,
  },
  {
    name: 'unknown context member c.Q',
    source: elementwise('acc[i] = f32(x[i]) * f32(c.Q);'),
    marker: 'c.Q',
    detail: /'Q' is not a member of the kernel context/,
  },
  {
    name: 'tunable missing from the context type',
    source: edit(rowSum(ROW_SUM_BODY), 'c: { T: i32; D: i32; WG: i32 }', 'c: { T: i32; D: i32 }'),
    marker: '{ T: i32; D: i32 }',
    detail: /tunable 'WG' is missing from the context type/,
    hint: /WG: i32/,
  },
  {
    name: 'kernel not exported',
    source: edit(rowSum(ROW_SUM_BODY), 'export const rowSum', 'const rowSum'),
    marker: 'rowSum = kernel',
    detail: /kernel 'rowSum' is not exported/,
  },
  {
    name: 'Math.exp instead of the DSL exp',
    source: elementwise('acc[i] = Math.exp(f32(x[i]));'),
    marker: 'Math.exp(',
    detail: /call of 'Math\.exp' is not supported/,
  },
  {
    name: "'as f32' instead of a cast",
    source: elementwise('acc[i] = x[i] as f32;'),
    marker: 'x[i] as f32',
    detail: /type assertions do not convert values/,
    hint: /f32\(x\)/,
  },
  {
    name: 'assigning to a const',
    source: elementwise('const v = f32(x[i]);\nv *= f32(w[i]);\nacc[i] = v;'),
    marker: 'v *=',
    detail: /cannot assign to const 'v'/,
    hint: /let/,
  },
  {
    name: 'misspelled local variable',
    source: rowSum(edit(ROW_SUM_BODY, 'scratch[localIndex] = sum;', 'scratch[localIndex] = summ;')),
    marker: 'summ;',
    detail: /'summ' is not defined/,
  },
  {
    name: 'helper called with a tensor of the wrong dtype',
    source: elementwise(
      'copyAt(x, y, i);',
      "function copyAt(src: Tensor<f32, ['N']>, dst: Out<f32, ['N']>, j: i32): void {\n  dst[j] = src[j];\n}\n",
    ),
    marker: 'x, y, i);',
    detail: /argument 'src' of copyAt must hold f32, 'x' holds bf16/,
  },
  {
    name: 'i32 and f32 mixed in arithmetic',
    source: elementwise('acc[i] = f32(x[i]) * i;'),
    marker: 'f32(x[i]) * i',
    detail: /cannot mix f32 and i32 in '\*' without a cast/,
  },
];

/** 1-based line and column of the first character of `marker`, which must occur exactly once. */
function markerLoc(source: string, marker: string): { line: number; col: number; offset: number } {
  const offset = source.indexOf(marker);
  assert.ok(offset >= 0, `marker '${marker}' not in the fixture`);
  assert.is(source.indexOf(marker, offset + 1), -1, `marker '${marker}' occurs more than once`);
  const before = source.slice(0, offset);
  return { line: before.split('\n').length, col: offset - before.lastIndexOf('\n'), offset };
}

const slug = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
const fixturePath = (name: string) => `test/fixtures/malformed/${slug(name)}.ts`;

/** Compiles `source`; returns the CompileErrors it must throw. Anything else fails the test. */
function compileErrors(file: string, source: string): CompileErrors {
  let thrown: unknown;
  try {
    lowerText(path.join(REPO_ROOT, file), source);
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) assert.unreachable('the malformed kernel compiled without errors');
  if (!(thrown instanceof CompileErrors)) {
    assert.unreachable(`the frontend crashed instead of reporting a CompileError:\n${(thrown as Error)?.stack ?? String(thrown)}`);
  }
  return thrown as CompileErrors;
}

/** Regressions: each of these was once miscompiled or misreported. */
const regressions: Case[] = [
  {
    // A helper must not see its caller's locals: its GAIN is the module-level one, which a
    // kernel cannot capture, not the caller's local GAIN.
    name: 'helper reads a module-level const that the caller shadows',
    source: elementwise(
      'const GAIN = 0.5;\nacc[i] = amplify(f32(x[i])) + GAIN;',
      'const GAIN = 2.0;\nfunction amplify(v: f32): f32 {\n  return v * GAIN;\n}\n',
    ),
    marker: 'GAIN;\n}',
    detail: /'GAIN' is not defined inside the kernel/,
  },
  {
    // Buffer arguments are checked at the call, not where the helper uses them.
    name: 'read-only tensor passed to a helper Out parameter',
    source: elementwise('zeroAt(x, i);', "function zeroAt(dst: Out<bf16, ['N']>, j: i32): void {\n  dst[j] = bf16(0.0);\n}\n"),
    marker: 'x, i);',
    detail: /read-only/,
  },
  {
    // Syntax errors are reported alone, before lowering can misread the broken tree.
    name: 'syntax error: empty element access',
    source: elementwise('y[i] = x[];'),
    marker: '];',
    detail: /^TypeScript: An element access expression should take an argument/,
  },
  {
    // Used to become the constant `false` silently.
    name: 'value of a void helper used',
    source: elementwise('const r = zeroAt(y, i);\nacc[i] = r;', "function zeroAt(dst: Out<bf16, ['N']>, j: i32): void {\n  dst[j] = bf16(0.0);\n  return;\n}\n"),
    marker: 'zeroAt(y, i);',
    detail: /helper 'zeroAt' returns no value/,
  },
  {
    // Used to be ignored: the file compiled to no kernels at all.
    name: 'kernel as a default export',
    source: elementwise(SCALE_BODY).replace('export const scaleRows = kernel(', 'export default kernel('),
    marker: 'kernel(\n',
    detail: /a kernel must be declared as `export const name = kernel\(\.\.\.\)`/,
  },
];

const test = suite('frontend errors');

for (const c of [...cases, ...regressions]) {
  test(c.name, () => {
    const file = fixturePath(c.name);
    const want = markerLoc(c.source, c.marker);
    const errs = compileErrors(file, c.source);
    assert.ok(errs.errors.length > 0, 'CompileErrors without errors');
    const first = errs.errors[0];
    const ctx = `\n--- reported:\n${errs.message}`;
    assert.match(first.detail, c.detail, `detail${ctx}`);
    assert.equal({ file: first.loc?.file, line: first.loc?.line, col: first.loc?.col }, { file, line: want.line, col: want.col }, `location${ctx}`);
    const where = `${file}:${want.line}:${want.col}`;
    assert.ok(first.message.startsWith(`${where}: error: `), `message starts with ${where}${ctx}`);
    assert.ok(errs.message.includes(where), `aggregate message includes ${where}`);
    // The snippet is the reported construct's text, so it must start where the marker does.
    assert.ok(first.snippet !== undefined && c.source.startsWith(first.snippet, want.offset), `snippet '${first.snippet}' is not at the marker${ctx}`);
    if (c.hint) assert.match(first.hint ?? '', c.hint, `hint${ctx}`);
  });
}

test('at least 16 malformed cases, with distinct fixture names', () => {
  assert.ok(cases.length >= 16);
  assert.is(new Set(cases.map((c) => slug(c.name))).size, cases.length);
});

test('valid kernels in the same style compile without errors (the harness is sound)', () => {
  const kernels = [
    ...lowerText(path.join(REPO_ROOT, fixturePath('valid elementwise')), elementwise(SCALE_BODY)),
    ...lowerText(path.join(REPO_ROOT, fixturePath('valid row sum')), rowSum(ROW_SUM_BODY)),
    ...lowerText(path.join(REPO_ROOT, fixturePath('valid tile')), tile(TILE_BODY)),
  ];
  assert.equal(kernels.map((k) => k.name), ['scaleRows', 'rowSum', 'tile16']);
  assert.equal(kernels[1].shared.map((s) => s.size), [{ k: 'sym', name: 'WG' }]);
  assert.ok(kernels.every((k) => k.body.length > 0));
});

test('a 5,000-statement kernel lowers in linear time, with exact locations to its end', () => {
  // Locations were computed from the start of the file for every node: this took 27 s.
  // What remains is mostly TypeScript's own checking (about 2 s here, alone on the machine);
  // the bound leaves room for a loaded CI machine and still fails a quadratic frontend.
  const n = 5000;
  const lines = Array.from({ length: n }, (_, j) => `      acc = acc + f32(x[${j % 7}]) * 2.0;`);
  const source = elementwise(`let acc = 0.0;\n${lines.map((l) => l.trim()).join('\n')}\nacc = acc + f32(w[i]);`);
  const t0 = performance.now();
  const [k] = lowerText(path.join(REPO_ROOT, fixturePath('five thousand statements')), source);
  const ms = performance.now() - t0;
  assert.ok(ms < 12000, `lowering took ${ms.toFixed(0)} ms`);
  const last = source.split('\n').findIndex((l) => l.includes('acc = acc + f32(w[i]);'));
  const guard = k.body.find((s) => s.k === 'if');
  const final = guard?.k === 'if' ? guard.then.filter((s) => s.k === 'assign').at(-1) : undefined;
  assert.equal(final?.loc, { file: fixturePath('five thousand statements'), line: last + 1, col: 7 });
});

test('the bf16/f32 mix error renders kernel, detail, snippet and a cast hint', () => {
  const file = fixturePath('bf16 mix hint');
  const source = elementwise('const s = f32(x[i]) + w[i];\nacc[i] = s;');
  const { line, col } = markerLoc(source, 'f32(x[i]) + w[i]');
  const [first] = compileErrors(file, source).errors;
  assert.is(first.kernel, 'scaleRows');
  assert.match(first.hint ?? '', /cast/i);
  assert.match(first.hint ?? '', /f32\(|bf16\(/);
  const lines = first.message.split('\n');
  assert.match(lines[0], new RegExp(`^${file.replace(/[.]/g, '\\.')}:${line}:${col}: error: \\[kernel scaleRows\\] cannot mix f32 and bf16`));
  assert.is(lines[1].trim(), 'f32(x[i]) + w[i]');
  assert.match(lines[2], /^ {2}hint: .*cast/);
});

test.run();
