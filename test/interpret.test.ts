import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Expr, Kernel, Stmt } from '../compiler/ir/nodes.js';
import type { LoweredKernel } from '../compiler/ir/lowered.js';
import type { DType } from '../compiler/ir/types.js';
import { lowerText } from '../compiler/frontend/index.js';
import { loadKernels } from '../compiler/compile.js';
import { lowerForTarget } from '../compiler/passes/pipeline.js';
import type { TunableChoice } from '../compiler/passes/specialise.js';
import { InterpretError, interpret } from '../compiler/interpret/interpret.js';
import { evalCall } from '../compiler/ir/semantics.js';

/**
 * Interpret mode's own semantics and the faults it must report: out-of-bounds, divergent
 * barrier, unwritten shared memory, division by zero, bad arguments. (The ops against
 * float64 references run in the interpreter in ops.test.ts, like on every backend.)
 */

import { uniform as rand } from './harness/prng.js';
import { assertClose as close } from './harness/close.js';

const kernels = new Map<string, Kernel>(loadKernels().map((k) => [k.name, k]));
const lower = (name: string, choice: TunableChoice = {}): LoweredKernel => lowerForTarget(kernels.get(name)!, 'interp', choice);

const FIXTURE = 'test/interpret-fixture.ts';
const SRC = `import {
  kernel, barrier, cdiv, localIndex, localId, workgroupId, shared, subgroupAdd, subgroupMax, subgroupShuffleXor, subgroupLane, atomicAdd,
  f32, type i32, type Out, type Tensor,
} from '../compiler/dsl/index.js';

export const shift = kernel(
  { workgroup: () => [64], grid: (c) => [cdiv(c.N, 64)] },
  (x: Tensor<f32, ['N']>, y: Out<f32, ['N']>, c: { N: i32 }) => {
    const i = workgroupId.x * 64 + localId.x;
    if (i < c.N) {
      y[i] = x[i + 1];
    }
  },
);

export const divergent = kernel(
  { workgroup: () => [64], grid: () => [1] },
  (y: Out<f32, ['N']>, c: { N: i32 }) => {
    if (localIndex < 10) {
      barrier();
    }
    y[localIndex] = 1.0;
  },
);

export const unwritten = kernel(
  { workgroup: () => [64], grid: () => [1] },
  (y: Out<f32, ['N']>, c: { N: i32 }) => {
    const s = shared(f32, 64);
    if (localIndex < 32) {
      s[localIndex] = 2.0;
    }
    barrier();
    y[localIndex] = s[localIndex];
  },
);

export const perWorkgroup = kernel(
  { workgroup: () => [4], grid: () => [2] },
  (y: Out<f32, ['N']>, c: { N: i32 }) => {
    const s = shared(f32, 4);
    if (workgroupId.x === 0) {
      s[localIndex] = 1.0;
    }
    barrier();
    y[workgroupId.x * 4 + localIndex] = s[localIndex];
  },
);

export const divide = kernel(
  { workgroup: () => [8], grid: () => [1] },
  (y: Out<i32, ['N']>, c: { N: i32 }) => {
    y[localIndex] = 100 / (localIndex - 3);
  },
);

export const sg = kernel(
  { workgroup: () => [48], grid: () => [2] },
  (x: Tensor<f32, ['N']>, sum: Out<f32, ['N']>, mx: Out<f32, ['N']>, sh: Out<f32, ['N']>, lane: Out<i32, ['N']>, c: { N: i32 }) => {
    const i = workgroupId.x * 48 + localIndex;
    const v = x[i];
    sum[i] = subgroupAdd(v);
    mx[i] = subgroupMax(v);
    sh[i] = subgroupShuffleXor(v, 1);
    lane[i] = subgroupLane;
  },
);

export const hist = kernel(
  { workgroup: () => [32], grid: (c) => [cdiv(c.N, 32)] },
  (x: Tensor<i32, ['N']>, bins: Out<i32, ['B']>, old: Out<i32, ['N']>, c: { N: i32; B: i32 }) => {
    const i = workgroupId.x * 32 + localIndex;
    if (i < c.N) {
      old[i] = atomicAdd(bins, x[i], 1);
    }
  },
);

export const partial = kernel(
  { workgroup: () => [32], grid: () => [1] },
  (y: Out<f32, ['N']>, c: { N: i32 }) => {
    if (subgroupLane >= 20) {
      return;
    }
    y[localIndex] = subgroupAdd(1.0);
  },
);

export const twoBarriers = kernel(
  { workgroup: () => [4], grid: () => [1] },
  (y: Out<f32, ['N']>, c: { N: i32 }) => {
    if (localIndex < 2) {
      barrier();
    } else {
      barrier();
    }
    y[localIndex] = 1.0;
  },
);

export const loops = kernel(
  { workgroup: () => [4], grid: () => [1] },
  (y: Out<i32, ['N']>, c: { N: i32 }) => {
    let acc = 0;
    for (let j = 0; j < 100; j++) {
      if (j % 3 === 0) {
        continue;
      }
      if (j > 20 + localIndex) {
        break;
      }
      acc += j;
    }
    y[localIndex] = acc;
    if (localIndex === 2) {
      return;
    }
    y[localIndex] = acc + 1000;
  },
);
`;
const fixture = new Map(lowerText(FIXTURE, SRC).map((k) => [k.name, lowerForTarget(k, 'interp')]));
const fx = (name: string) => fixture.get(name)!;
/** 1-based line and column of the first occurrence of `text` in the fixture. */
function locOf(text: string): string {
  const lines = SRC.split('\n');
  const line = lines.findIndex((l) => l.includes(text));
  return `${FIXTURE}:${line + 1}:${lines[line].indexOf(text) + 1}`;
}

function throws(f: () => void, parts: (string | RegExp)[]): InterpretError {
  try {
    f();
  } catch (e) {
    assert.instance(e, InterpretError, String(e));
    const msg = (e as Error).message;
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(msg.includes(p), `message lacks '${p}':\n  ${msg}`);
      else assert.match(msg, p);
    }
    return e as InterpretError;
  }
  assert.unreachable('no error was raised');
  throw new Error('unreachable');
}

const sem = suite('interpret: semantics and fault reports');

sem('out-of-bounds load names file:line:col, kernel, buffer, index, length, thread', () => {
  const e = throws(() => interpret(fx('shift'), { tensors: { x: new Float32Array(100), y: new Float32Array(100) }, scalars: { N: 100 } }), [
    `${locOf('x[i + 1]')}: [kernel shift] out-of-bounds load of 'x' at index 100 (length 100), workgroup (1,0,0) thread (35,0,0)`,
  ]);
  assert.equal(e.thread, { workgroup: [1, 0, 0], local: [35, 0, 0] });
  assert.is(e.kernel, 'shift');
  assert.is(e.loc?.file, FIXTURE);
});

sem('a barrier reached by some threads only is reported', () => {
  throws(() => interpret(fx('divergent'), { tensors: { y: new Float32Array(64) }, scalars: { N: 64 } }), [
    `${locOf('barrier();')}: [kernel divergent]`, 'barrier reached by only 10 of 64 threads (54 returned without reaching it, first thread (10,0,0))',
  ]);
});

sem('reading shared memory no thread wrote is reported (f32)', () => {
  throws(() => interpret(fx('unwritten'), { tensors: { y: new Float32Array(64) }, scalars: { N: 64 } }), [
    `${locOf('s[localIndex];')}: [kernel unwritten]`, "read of shared 's' at index 32 before any thread", 'workgroup (0,0,0) thread (32,0,0)',
  ]);
});

sem('shared memory is fresh per workgroup', () => {
  throws(() => interpret(fx('perWorkgroup'), { tensors: { y: new Float32Array(8) }, scalars: { N: 8 } }), [
    "read of shared 's' at index 0", 'workgroup (1,0,0) thread (0,0,0)',
  ]);
});

sem('integer division by zero is reported where it happens', () => {
  throws(() => interpret(fx('divide'), { tensors: { y: new Int32Array(8) }, scalars: { N: 8 } }), [
    `${locOf('100 / (localIndex - 3)')}: [kernel divide] integer division by zero, workgroup (0,0,0) thread (3,0,0)`,
  ]);
});

sem('subgroup add/max/shuffleXor over consecutive lanes, partial last subgroup', () => {
  for (const size of [32, 16, 8]) {
    const n = 96;
    const x = Float32Array.from(rand(size, n, -4, 4));
    const out = { sum: new Float32Array(n), mx: new Float32Array(n), sh: new Float32Array(n), lane: new Int32Array(n) };
    interpret(fx('sg'), { tensors: { x, ...out }, scalars: { N: n } }, { subgroupSize: size });
    for (let i = 0; i < n; i++) {
      const li = i % 48;
      const s0 = i - (li % size);
      const end = Math.min(s0 + size, i - li + 48);
      let sum = 0, mx = -Infinity;
      for (let j = s0; j < end; j++) {
        sum += x[j];
        mx = Math.max(mx, x[j]);
      }
      assert.is(out.lane[i], li % size, `lane of ${i}`);
      close([out.sum[i]], [sum], { rtol: 1e-5, atol: 1e-5 }, `subgroupAdd size ${size} [${i}]`);
      assert.is(out.mx[i], mx, `subgroupMax size ${size} [${i}]`);
      assert.is(out.sh[i], x[s0 + ((i - s0) ^ 1)], `subgroupShuffleXor size ${size} [${i}]`);
    }
  }
});

sem('subgroup ops combine the live lanes only (returned lanes drop out)', () => {
  const y = new Float32Array(32);
  interpret(fx('partial'), { tensors: { y }, scalars: { N: 32 } });
  assert.equal(Array.from(y), [...Array(20).fill(20), ...Array(12).fill(0)]);
});

sem('threads waiting at different barriers are reported', () => {
  throws(() => interpret(fx('twoBarriers'), { tensors: { y: new Float32Array(4) }, scalars: { N: 4 } }), [
    '[kernel twoBarriers] threads wait at different barriers', 'thread (0,0,0)', 'thread (2,0,0)',
  ]);
});

sem('atomicAdd is a read-modify-write returning the old value (threads in order)', () => {
  const N = 70, B = 5;
  const x = Int32Array.from({ length: N }, (_, i) => (i * 7) % B);
  const bins = new Int32Array(B);
  const old = new Int32Array(N);
  interpret(fx('hist'), { tensors: { x, bins, old }, scalars: { N, B } });
  const want = new Int32Array(B);
  for (let i = 0; i < N; i++) assert.is(old[i], want[x[i]]++, `old[${i}]`);
  assert.equal(Array.from(bins), Array.from(want));
});

sem('for with continue and break, early return', () => {
  const y = new Int32Array(4);
  interpret(fx('loops'), { tensors: { y }, scalars: { N: 4 } });
  for (let li = 0; li < 4; li++) {
    let acc = 0;
    for (let j = 1; j <= 20 + li; j++) if (j % 3 !== 0) acc += j;
    assert.is(y[li], li === 2 ? acc : acc + 1000, `thread ${li}`);
  }
});

sem('bad arguments name the kernel, the argument, expected and actual', () => {
  const k = lower('rmsnorm');
  const good = () => ({ x: new Uint16Array(6), w: new Uint16Array(3), y: new Uint16Array(6) });
  throws(() => interpret(k, { tensors: good(), scalars: { T: 2 } }), ['[kernel rmsnorm]', "argument 'D'", 'missing shape symbol']);
  throws(() => interpret(k, { tensors: { ...good(), x: new Float32Array(6) }, scalars: { T: 2, D: 3 } }), ["argument 'x'", 'bf16', 'Uint16Array', 'got Float32Array']);
  throws(() => interpret(k, { tensors: { ...good(), y: new Uint16Array(5) }, scalars: { T: 2, D: 3 } }), ["argument 'y'", 'bf16[T=2, D=3] = 6 elements, got 5']);
  const { w: _w, ...noW } = good();
  throws(() => interpret(k, { tensors: noW, scalars: { T: 2, D: 3 } }), ["argument 'w'", 'missing tensor']);
});

sem('a kernel not lowered for the interpreter is refused with a hint', () => {
  throws(() => interpret(kernels.get('gemm_f32')!, { tensors: {}, scalars: {} }), ["lowerForTarget(kernel, 'interp'"]);
});

// Hand-built IR: a local array written past its end; an i32 shared array read before written.
const L = (line: number, col: number) => ({ file: 'hand.ts', line, col });
const i32c = (value: number): Expr => ({ k: 'const', type: 'i32', value });
const li: Expr = { k: 'builtin', type: 'i32', name: 'localIndex', axis: 0 };
const add = (a: Expr, b: Expr): Expr => ({ k: 'bin', op: '+', type: 'i32', a, b });
function hand(name: string, body: Stmt[], shared: { name: string; dtype: DType; n: number }[] = []): Kernel {
  return {
    name, doc: '', file: 'hand.ts', tensors: [{ name: 'y', dtype: 'i32', shape: [{ k: 'sym', name: 'N' }], access: 'write' }],
    scalars: [{ name: 'N', dtype: 'i32', isDim: true }], tunables: [], constraints: [], requires: [], consts: {},
    workgroup: [{ k: 'num', v: 4 }], grid: [{ k: 'num', v: 1 }], body,
    shared: shared.map((s) => ({ name: s.name, dtype: s.dtype, size: { k: 'num', v: s.n } })),
  };
}

sem('hand-built IR: out-of-bounds store to a local array', () => {
  const k = hand('hand_local', [
    { k: 'localArray', name: 'acc', type: 'i32', size: { k: 'num', v: 4 }, loc: L(1, 1) },
    { k: 'store', space: 'local', buf: 'acc', index: add(li, i32c(1)), value: i32c(7), loc: L(2, 3) },
    { k: 'store', space: 'global', buf: 'y', index: li, value: { k: 'load', space: 'local', buf: 'acc', type: 'i32', index: i32c(1) }, loc: L(3, 3) },
  ]);
  throws(() => interpret(k, { tensors: { y: new Int32Array(4) }, scalars: { N: 4 } }), [
    "hand.ts:2:3: [kernel hand_local] out-of-bounds store of local 'acc' at index 4 (length 4), workgroup (0,0,0) thread (3,0,0)",
  ]);
});

sem('hand-built IR: i32 shared memory tracks written elements with a bitmap', () => {
  const s = (write: Expr): Kernel => hand('hand_shared', [
    { k: 'if', cond: { k: 'bin', op: '<', type: 'bool', a: li, b: write }, then: [{ k: 'store', space: 'shared', buf: 's', index: li, value: li, loc: L(1, 1) }], else: [] },
    { k: 'barrier', loc: L(2, 1) },
    { k: 'store', space: 'global', buf: 'y', index: li, value: { k: 'load', space: 'shared', buf: 's', type: 'i32', index: li, loc: L(3, 9) }, loc: L(3, 1) },
  ], [{ name: 's', dtype: 'i32', n: 4 }]);
  const y = new Int32Array(4);
  interpret(s(i32c(4)), { tensors: { y }, scalars: { N: 4 } });
  assert.equal(Array.from(y), [0, 1, 2, 3]);
  throws(() => interpret(s(i32c(2)), { tensors: { y }, scalars: { N: 4 } }), ["hand.ts:3:9: [kernel hand_shared] read of shared 's' at index 2", 'thread (2,0,0)']);
});

sem('f32 fma rounds once: a*b + c summed in float64 would land on an f32 tie and round to even the wrong way', () => {
  // a*b = 1 + 2^-30 exactly (13325 * 80581 = 2^30 + 1); + 2^24 rounds in float64 to 2^24 + 1, an f32 tie.
  const a = 13325 * 2 ** -14, b = 80581 * 2 ** -16, c = 2 ** 24;
  assert.is(Math.fround(a * b + c), 2 ** 24, 'the double-rounded value this guards against');
  assert.is(evalCall('fma', 'f32', [a, b, c]), 2 ** 24 + 2);
  assert.is(evalCall('fma', 'f32', [-a, b, -c]), -(2 ** 24 + 2));
  assert.is(evalCall('fma', 'f32', [2, 3, 1]), 7);
});

sem.run();
