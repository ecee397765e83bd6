import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lowerText } from '../compiler/frontend/index.js';
import { CompileError, CompileErrors } from '../compiler/common/errors.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { compileKernel, type CompiledKernel } from '../compiler/compile.js';
import type { Kernel } from '../compiler/ir/nodes.js';
import { HOST_ARRAY, type HostArray, type LaunchArgs } from '../compiler/launch/args.js';
import { getGpu } from '../backends/webgpu/device.js';
import { CudaHostRunner } from '../backends/cuda/hostRunner.js';
import { runFresh, type Backend } from './harness/backends.js';
import type { CatalogueCase } from './catalogue/types.js';
import { cases as namingCases } from './catalogue/naming.js';
import { NVCC, CUDA_INCLUDE } from './harness/cuda-toolkit.js';

/**
 * The hostile-kernel catalogue (issue 13), test/catalogue/{naming,checks}.ts. A case is
 * either rejected, with every expected string (the exact file:line:col among them) in the
 * message and no JS stack, or accepted by both targets: then Dawn accepts each kernel's
 * WGSL, one nvcc (--Werror all-warnings) and one g++ -Werror emulator build accept all the
 * CUDA as a single translation unit, and a case with `run` gives equal outputs on WebGPU,
 * emulated CUDA and the interpreter (and equal to `expect`). Any other exception is a crash.
 */

const run = promisify(execFile);
const INCLUDE = path.join(REPO_ROOT, 'backends/cuda/include');

// A checkout may hold only one of the two case files while they are written.
const checksFile = path.join(REPO_ROOT, 'test/catalogue/checks.ts');
const checkCases: CatalogueCase[] = fs.existsSync(checksFile) ? (await import(pathToFileURL(checksFile).href)).cases : [];
const CASES = [...namingCases, ...checkCases];

interface Compiled { readonly kernel: Kernel; readonly wgsl: CompiledKernel; readonly cuda: CompiledKernel; readonly file: string }
type Outcome = { readonly ok: true; readonly kernels: readonly Compiled[] } | { readonly ok: false; readonly error: unknown };

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-catalogue-'));
// Kernel names repeat across cases; in one translation unit their symbols must not, so a
// repeated name gets a suffix (only its symbols change, not what the case tests).
const seen = new Map<string, number>();

function compileCase(c: CatalogueCase): Outcome {
  try {
    // The first draft of the format imported the DSL two levels up; the file is three deep.
    const source = c.source.replace("'../../compiler/dsl/index.js'", "'../../../compiler/dsl/index.js'");
    const kernels = lowerText(path.join(REPO_ROOT, `test/catalogue/cases/${c.name}.ts`), source).map((k, j): Compiled => {
      const n = seen.get(k.name) ?? 0;
      seen.set(k.name, n + 1);
      const named = n ? { ...k, name: `${k.name}_dup${n}` } : k;
      return { kernel: named, wgsl: compileKernel(named, 'wgsl'), cuda: compileKernel(named, 'cuda'), file: `${c.name}.${j}.cu` };
    });
    return { ok: true, kernels };
  } catch (error) {
    return { ok: false, error };
  }
}

const outcomes = new Map(CASES.map((c) => [c.name, compileCase(c)]));
const accepted = CASES.flatMap((c) => {
  const o = outcomes.get(c.name)!;
  return o.ok ? o.kernels.map((k) => ({ c, ...k })) : [];
});
for (const k of accepted) fs.writeFileSync(path.join(out, k.file), k.cuda.source);
fs.writeFileSync(path.join(out, 'all.cu'), accepted.map((k) => `#include "${k.file}"\n`).join(''));

/** Both builds of the one translation unit, started now so they overlap the WebGPU work. */
const build = (cmd: string, args: string[]) => run(cmd, args, { cwd: out, maxBuffer: 1 << 26 }).then(() => '', (e: { stderr?: string; stdout?: string; message: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message);
const nvccLog = build(NVCC, ['-std=c++17', '-arch=sm_80', '--Werror', 'all-warnings', `-I${INCLUDE}`, '-c', 'all.cu', '-o', 'all.o']);
const gccLog = build('g++', ['-x', 'c++', '-std=c++17', '-O1', '-Wall', '-Werror', '-Wno-unknown-pragmas', '-DMIMO_HOST_EMU', `-I${INCLUDE}`, `-I${CUDA_INCLUDE}`, '-c', 'all.cu', '-o', 'all-emu.o']);

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A build log's lines about one case's files (nvcc and g++ name the included file). */
const linesAbout = (log: string, c: CatalogueCase) => log.split('\n').filter((l) => l.includes(`${c.name}.`) && /\.cu[(:]/.test(l));

function hostArgs(c: CatalogueCase, k: Kernel): LaunchArgs {
  const r = c.run!;
  const tensors: Record<string, HostArray> = {};
  for (const t of k.tensors) {
    const values = r.tensors[t.name];
    assert.ok(values, `${c.name}: run.tensors has no '${t.name}' (every tensor, outputs included, needs its initial values)`);
    if (r.dtypes?.[t.name] !== undefined) assert.is(r.dtypes[t.name], t.dtype, `${c.name}: run.dtypes.${t.name} disagrees with the kernel`);
    const a = HOST_ARRAY[t.dtype as keyof typeof HOST_ARRAY].create(values.length);
    a.set(values);
    tensors[t.name] = a;
  }
  return { tensors, scalars: r.scalars };
}

/** Element-wise equal, NaN equal to NaN (payloads differ between devices). */
function assertSame(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const [a, e] = [actual[i], expected[i]];
    if (!(a === e || (Number.isNaN(a) && Number.isNaN(e)))) assert.unreachable(`${what}[${i}] = ${a}, expected ${e} (all: [${Array.from(actual).join(', ')}])`);
  }
}

let emu: Promise<CudaHostRunner> | undefined;
/** One emulator executable for every run case that the g++ acceptance build took. */
function emuRunner(): Promise<CudaHostRunner> {
  emu ??= gccLog.then((log) => {
    const kernels = accepted.filter((k) => k.c.run && !linesAbout(log, k.c).length);
    const runner = new CudaHostRunner({ kernels: Object.fromEntries(kernels.map((k) => [k.kernel.name, k.cuda.manifest])) }, Object.fromEntries(kernels.map((k) => [k.kernel.name, k.cuda.source])));
    runner.prebuild(kernels.map((k) => k.kernel.name));
    return runner;
  });
  return emu;
}

test('catalogue: case names are unique and well-formed', () => {
  const names = CASES.map((c) => c.name);
  assert.equal([...new Set(names)], names, 'duplicate case names');
  for (const c of CASES) {
    assert.ok(/^[a-z0-9-]+$/.test(c.name), `case name '${c.name}' must be [a-z0-9-]`);
    assert.ok(!(c.error && c.run), `${c.name}: a case expects an error or runs, not both`);
  }
});

for (const c of CASES) {
  test(`catalogue ${c.name} (${c.klass})`, async () => {
    const o = outcomes.get(c.name)!;
    if (c.error) {
      assert.ok(!o.ok, `${c.name}: expected a compile error, but both targets compiled it`);
      if (o.ok) return;
      const e = o.error;
      assert.ok(e instanceof CompileError || e instanceof CompileErrors, `${c.name}: crashed instead of reporting a compile error:\n${e instanceof Error ? e.stack : e}`);
      const msg = messageOf(e);
      for (const want of c.error) assert.ok(msg.includes(want), `${c.name}: the message lacks '${want}':\n${msg}`);
      assert.not.match(msg, /\n\s+at /, `${c.name}: the message carries a JS stack`);
      return;
    }
    if (!o.ok) assert.unreachable(`${c.name}: expected to compile, got ${o.error instanceof Error ? o.error.stack : o.error}`);
    if (!o.ok) return;
    const { device } = await getGpu();
    for (const k of o.kernels) {
      device.pushErrorScope('validation');
      const info = await device.createShaderModule({ code: k.wgsl.source }).getCompilationInfo();
      await device.popErrorScope();
      const errors = info.messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}:${m.linePos} ${m.message}`);
      assert.equal(errors, [], `${c.name}: Dawn rejects the WGSL of ${k.kernel.name}:\n${errors.join('\n')}\n${k.wgsl.source}`);
    }
    for (const [tool, log] of [['nvcc --Werror all-warnings', await nvccLog], ['g++ -Werror (emulator)', await gccLog]] as const) {
      const lines = linesAbout(log, c);
      assert.equal(lines, [], `${c.name}: ${tool} rejects its CUDA:\n${lines.join('\n')}`);
    }
    if (!c.run) return;
    const k = o.kernels.find((x) => x.kernel.name === c.run!.kernel || x.kernel.name.startsWith(`${c.run!.kernel}_dup`));
    assert.ok(k, `${c.name}: run.kernel '${c.run.kernel}' is not a kernel of the case`);
    if (!k) return;
    const results: Partial<Record<Backend, Record<string, HostArray>>> = {};
    for (const b of ['interp', 'webgpu'] as const) results[b] = await runFresh(b, k.kernel, hostArgs(c, k.kernel));
    results['cuda-emu'] = (await emuRunner()).run(k.kernel.name, hostArgs(c, k.kernel));
    for (const t of k.kernel.tensors.filter((x) => x.access !== 'read')) {
      const ref = results.interp![t.name];
      for (const b of ['webgpu', 'cuda-emu'] as const) assertSame(results[b]![t.name], ref, `${c.name}: ${t.name} on ${b} vs the interpreter`);
      const want = c.run.expect?.[t.name];
      if (want) assertSame(ref, want, `${c.name}: ${t.name} vs expect`);
    }
  });
}

test('catalogue: the one nvcc and g++ translation unit builds', async () => {
  assert.is(await nvccLog, '', 'nvcc failed');
  assert.is(await gccLog, '', 'g++ failed');
});

test.run();
