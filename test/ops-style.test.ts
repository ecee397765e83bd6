import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { Node, Project } from 'ts-morph';
import { loadKernels, opFiles } from '../compiler/compile.js';
import { PACKAGE_ROOT } from '../compiler/common/package-root.js';
import type { Expr, Stmt } from '../compiler/ir/nodes.js';
import { forEachExpr, forEachStmt } from '../compiler/ir/walk.js';
import { sizeToString } from '../compiler/ir/size.js';

/**
 * The kernels in ops/ read like the math (issue 12): few parameters, no derived size passed
 * as a shape symbol, no index flattened by hand where a tensor has named dimensions. Each
 * rule is checked on the source or the frontend IR, so a kernel that regresses fails here.
 */
const kernels = loadKernels();
const files = (() => {
  const p = new Project({ skipAddingFilesFromTsConfig: true, compilerOptions: { allowJs: false } });
  const dir = path.join(PACKAGE_ROOT, 'ops');
  p.addSourceFilesAtPaths(path.join(dir, '**/*.ts'));
  return p.getSourceFiles();
})();

test('no function in ops/ takes more than 8 parameters (kernel bodies: one per tensor binding plus the context)', () => {
  const over: string[] = [];
  for (const sf of files) {
    for (const f of sf.getDescendants()) {
      if (!(Node.isFunctionDeclaration(f) || Node.isArrowFunction(f) || Node.isFunctionExpression(f))) continue;
      const n = f.getParameters().length;
      const isKernelBody = Node.isCallExpression(f.getParent()) && f.getParent()!.getText().startsWith('kernel(');
      if (n > 8 && !(isKernelBody && n <= 9)) over.push(`${path.relative(PACKAGE_ROOT, sf.getFilePath())}:${f.getStartLineNumber()} ${Node.isFunctionDeclaration(f) ? f.getName() : 'kernel body'} (${n})`);
    }
  }
  assert.equal(over, [], `functions with more than 8 parameters:\n${over.join('\n')}`);
  assert.ok(opFiles().length >= 20, 'the rule saw the op files');
});

test('no kernel takes a derived size as a shape symbol: a formula dimension states it', () => {
  const derived = kernels.flatMap((k) => {
    const dims = new Set(k.scalars.filter((s) => s.isDim).map((s) => s.name));
    return k.requires.filter((r) => r.rel === '==' && r.lhs.k === 'sym' && dims.has(r.lhs.name)).map((r) => `${k.name}: ${r.text}`);
  });
  assert.equal(derived, []);
});

/**
 * Where `.flat` reads clearer than the dimensions: the MoE routing scans slots s = t*TOPK + j
 * in chunks of 256 consecutive slots, across token boundaries (ops/moe/permute.ts).
 */
const FLAT_BY_DESIGN = new Map([
  ['moe_count', ['ids']],
  ['moe_place_contiguous', ['ids', 'slotRow']],
  ['moe_place_masked', ['ids', 'slotRow']],
]);

test('every access to a tensor with named dimensions indexes each dimension (q[t][h][d], not a flat offset)', () => {
  const flat: string[] = [];
  for (const k of kernels) {
    const allowed = new Set(FLAT_BY_DESIGN.get(k.name) ?? []);
    const rank = new Map(k.tensors.filter((t) => !allowed.has(t.name)).map((t) => [t.name, t.shape.length]));
    const check = (what: string, buf: string, bounds: readonly unknown[] | undefined, loc: Expr['loc']) => {
      const r = rank.get(buf) ?? 0;
      if (r >= 2 && bounds?.length !== r) flat.push(`${k.name}: ${what} of ${buf}[${k.tensors.find((t) => t.name === buf)!.shape.map(sizeToString).join(', ')}] at ${loc?.file}:${loc?.line}`);
    };
    forEachExpr(k.body, (e) => {
      if (e.k === 'load' && e.space === 'global') check('load', e.buf, e.bounds, e.loc);
    });
    forEachStmt(k.body, (s: Stmt) => {
      if (s.k === 'store' && s.space === 'global') check('store', s.buf, s.bounds, s.loc);
    });
  }
  assert.equal(flat, [], `flat accesses to multi-dimensional tensors:\n${flat.join('\n')}`);
});

test.run();
