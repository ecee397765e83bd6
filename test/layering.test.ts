import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT } from '../compiler/common/package-root.js';
import { buildGraph, findCycles, importsOf, rankViolations, sourceFiles, type ImportEdge, type ImportGraph, type Layer } from './layering/graph.js';

/**
 * The compiler, runtimes and model import each other in one direction only: a module
 * imports its own layer and lower ranks, never a higher rank or another layer of its
 * own rank (except among the tools on top). Type-only imports count like any other: a
 * type from a higher layer is a dependency on it all the same, and `import type` makes
 * no cycle safe to reason about. Runtimes must not load the TypeScript compiler.
 */

const LAYERS: readonly Layer[] = [
  { name: 'dsl', rank: 0, prefixes: ['compiler/dsl/'] },
  { name: 'common', rank: 0, prefixes: ['compiler/common/'] },
  { name: 'version', rank: 0, prefixes: ['compiler/version.ts'] },
  { name: 'ir', rank: 1, prefixes: ['compiler/ir/'] },
  { name: 'frontend', rank: 2, prefixes: ['compiler/frontend/'] },
  { name: 'passes', rank: 2, prefixes: ['compiler/passes/'] },
  { name: 'launch', rank: 2, prefixes: ['compiler/launch/'] },
  { name: 'codegen', rank: 3, prefixes: ['compiler/codegen/'] },
  { name: 'interpret', rank: 3, prefixes: ['compiler/interpret/'] },
  { name: 'tuning', rank: 3, prefixes: ['compiler/tuning/'] },
  { name: 'driver', rank: 4, prefixes: ['compiler/compile.ts', 'compiler/api.ts', 'compiler/files.ts', 'compiler/index.ts'] },
  { name: 'backends', rank: 5, prefixes: ['backends/'] },
  { name: 'autotune', rank: 6, prefixes: ['compiler/autotune/'] },
  { name: 'cli', rank: 6, prefixes: ['compiler/cli/'] },
  { name: 'report', rank: 6, prefixes: ['compiler/report/'] },
  { name: 'model', rank: 6, prefixes: ['model/'] },
];
const TOOLS_RANK = 6;

/** What the runtimes' users import; none may load ts-morph or typescript. */
const RUNTIME_ENTRIES = ['backends/webgpu/index.ts', 'backends/webgpu/runtime.ts', 'backends/cuda/hostRunner.ts', 'backends/cuda/emu-runtime.ts', 'backends/cuda/runtime.ts'];

const { graph, missing } = buildGraph(PACKAGE_ROOT, sourceFiles(PACKAGE_ROOT, ['compiler', 'backends', 'model']));

const test = suite('layering');

test('every relative import names a file that exists', () => {
  assert.equal(missing, []);
});

test('the repository has no import cycle', () => {
  assert.equal(findCycles(graph).map((c) => c.join(' -> ')), []);
});

test('no module imports a higher layer or a sideways one', () => {
  assert.equal(rankViolations(graph, LAYERS, [TOOLS_RANK]), []);
});

test('the scan sees the imports it must (so an empty graph cannot pass)', () => {
  const edges = [...graph.values()].flat();
  const has = (from: string, to: string) => edges.some((e) => e.from === from && e.to === to);
  assert.ok(graph.size > 100, `only ${graph.size} files scanned`);
  assert.ok(has('compiler/compile.ts', 'compiler/passes/pipeline.ts'));
  assert.ok(has('backends/webgpu/runtime.ts', 'compiler/launch/args.ts'));
});

test('importsOf: static, re-export, side-effect, dynamic and type-only imports', () => {
  const src = [
    "import fs from 'node:fs';",
    "import { a, type B } from './a.js';",
    "import type { C } from './c.js';",
    'import {\n  type D,\n  type E,\n} from "./d.js";',
    "export { f } from '../f.js';",
    "export * from './g.js';",
    "import './side.js';",
    "const h = await import('./h.js');",
  ].join('\n');
  assert.equal(importsOf(src), [
    { spec: './a.js', typeOnly: false },
    { spec: './c.js', typeOnly: true },
    { spec: './d.js', typeOnly: true },
    { spec: '../f.js', typeOnly: false },
    { spec: './g.js', typeOnly: false },
    { spec: './side.js', typeOnly: false },
    { spec: './h.js', typeOnly: false },
  ]);
});

const synthetic = (edges: [string, string][]): ImportGraph => {
  const g = new Map<string, ImportEdge[]>();
  for (const [from, to] of edges) {
    g.set(from, [...(g.get(from) ?? []), { from, to, typeOnly: false }]);
    if (!g.has(to)) g.set(to, []);
  }
  return g;
};

test('findCycles reports each cycle with its path, and nothing for a DAG', () => {
  const g = synthetic([['a.ts', 'b.ts'], ['b.ts', 'c.ts'], ['c.ts', 'a.ts'], ['c.ts', 'd.ts'], ['d.ts', 'd.ts'], ['e.ts', 'a.ts']]);
  assert.equal(findCycles(g).map((c) => c.join(' -> ')).sort(), ['a.ts -> b.ts -> c.ts -> a.ts', 'd.ts -> d.ts']);
  assert.equal(findCycles(synthetic([['a.ts', 'b.ts'], ['a.ts', 'c.ts'], ['b.ts', 'c.ts']])), []);
});

test('rankViolations names both files and ranks of a back-edge and a sideways edge', () => {
  const layers: Layer[] = [
    { name: 'low', rank: 0, prefixes: ['low/'] },
    { name: 'mid1', rank: 1, prefixes: ['mid1/'] },
    { name: 'mid2', rank: 1, prefixes: ['mid2/'] },
    { name: 'top', rank: 2, prefixes: ['top/'] },
  ];
  const g = synthetic([['top/t.ts', 'low/l.ts'], ['low/l.ts', 'top/t.ts'], ['mid1/m.ts', 'mid2/n.ts'], ['mid1/m.ts', 'mid1/o.ts'], ['stray/s.ts', 'low/l.ts']]);
  assert.equal(rankViolations(g, layers), [
    'low/l.ts (low, rank 0) imports top/t.ts (top, rank 2)',
    'mid1/m.ts (mid1, rank 1) imports mid2/n.ts (mid2, rank 1)',
    'stray/s.ts: in no layer; give its folder a rank in test/layering.test.ts',
  ]);
  assert.equal(rankViolations(synthetic([['mid1/m.ts', 'mid2/n.ts']]), layers, [1]), []);
});

test('the runtime entry points load neither ts-morph nor typescript (and the probe sees the frontend load them)', () => {
  const probe = 'compiler/frontend/source.ts';
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(PACKAGE_ROOT, 'test/layering/report-loads.ts'), ...[...RUNTIME_ENTRIES, probe].map((m) => path.join(PACKAGE_ROOT, m))], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.is(r.status, 0, `report-loads failed: ${r.stderr}`);
  const added = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, string[]>;
  for (const m of RUNTIME_ENTRIES) assert.equal(added[path.join(PACKAGE_ROOT, m)], [], `${m} loads the TypeScript compiler`);
  assert.ok(added[path.join(PACKAGE_ROOT, probe)].some((f) => f.includes('ts-morph')), `${probe} should load ts-morph; the probe cannot see it`);
});

test.run();
