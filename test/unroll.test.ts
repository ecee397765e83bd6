import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import { lowerFile } from '../compiler/frontend/index.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { lowerForTarget } from '../compiler/passes/pipeline.js';
import { forEachExpr, forEachStmt } from '../compiler/ir/walk.js';
import type { LoweredKernel } from '../compiler/ir/lowered.js';
import type { TargetName } from '../compiler/common/target.js';
import { opKernel } from './harness/backends.js';

/**
 * Which loops each target unrolls (passes/unroll.ts). CUDA unrolls every small constant
 * loop; WGSL and the interpreter only those whose index reaches a register (a local-array
 * index or an inner loop's bounds), so that their shaders stay small: the portable MMA's k
 * steps and lane rounds stay loops. Either way a register tile must end with constant
 * local-array indices, or it would live in memory.
 */

const tiles = lowerFile(path.join(REPO_ROOT, 'test/fixtures/kernels/tiles.ts'));
const tile = (name: string) => tiles.find((k) => k.name === name)!;

/** Loops left over the portable mma's k steps (passes/tileOps.ts names their index mma.N_k). */
function mmaLoops(k: LoweredKernel): number {
  let n = 0;
  forEachStmt(k.body, (s) => {
    if (s.k === 'for' && s.init.some((x) => x.k === 'let' && /^mma\..*_k$/.test(x.name))) n++;
  });
  return n;
}

/** Local-array accesses whose index is not a constant. */
function dynamicLocalIndices(k: LoweredKernel): number {
  let n = 0;
  forEachStmt(k.body, (s) => {
    if (s.k === 'store' && s.space === 'local' && s.index.k !== 'const') n++;
  });
  forEachExpr(k.body, (e) => {
    if (e.k === 'load' && e.space === 'local' && e.index.k !== 'const') n++;
  });
  return n;
}

const t = suite('loop unrolling per target');

t('the portable mma k loop (tile_f32: 16 steps) stays a loop on WGSL and the interpreter, and is unrolled on CUDA', () => {
  for (const target of ['wgsl', 'interp'] as TargetName[]) {
    const n = mmaLoops(lowerForTarget(tile('tile_f32'), target));
    assert.ok(n >= 2, `${target}: ${n} mma k loops left`);
  }
  assert.is(mmaLoops(lowerForTarget(tile('tile_f32'), 'cuda')), 0, 'cuda keeps mma k loops');
});

t('mmaFragment on WGSL: one loop over the 4 lane rounds, shuffles inside it (flash prefill)', () => {
  const k = lowerForTarget(opKernel('swa_prefill'), 'wgsl');
  let roundLoops = 0;
  forEachStmt(k.body, (s) => {
    if (s.k !== 'for') return;
    let shuffles = 0;
    forEachStmt(s.body, (x) => { if (x.k === 'subgroup' && x.op === 'shuffleXor') shuffles++; });
    if (shuffles === 8) roundLoops++;
  });
  assert.is(roundLoops, 8, 'one 4-round loop per output fragment (HEAD_V / 16 = 8)');
});

t('register tiles keep constant local-array indices on every target (gemm_f32 micro-tiles, flash fragments)', () => {
  for (const name of ['gemm_f32', 'gemm_bf16', 'swa_prefill', 'global_decode_partial', 'moe_gate_up_bf16']) {
    for (const target of ['wgsl', 'cuda', 'interp'] as TargetName[]) {
      assert.is(dynamicLocalIndices(lowerForTarget(opKernel(name), target)), 0, `${name} on ${target}`);
    }
  }
});

t.run();
