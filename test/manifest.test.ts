import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import path from 'node:path';
import { generatedFiles, loadKernels } from '../compiler/compile.js';
import type { ManifestKernel } from '../compiler/codegen/manifest.js';
import type { Precondition, SizeExpr } from '../compiler/ir/nodes.js';
import { BYTES, type DType } from '../compiler/ir/types.js';
import { elementCount, evalSize } from '../compiler/ir/size.js';
import { REPO_ROOT } from '../compiler/frontend/source.js';
import { lowerText } from '../compiler/frontend/index.js';
import { CompileErrors } from '../compiler/common/errors.js';
import { lowerForTarget } from '../compiler/passes/pipeline.js';
import { specialise } from '../compiler/passes/specialise.js';
import { interpret } from '../compiler/interpret/interpret.js';
import { entryFor } from '../compiler/autotune/db.js';
import type { TuningFile } from '../compiler/tuning/dbFile.js';
import { webgpuFingerprint } from '../backends/webgpu/fingerprint.js';
import { KernelArgError, KernelLaunchError, checkLaunch, signatureOf, type LaunchArgs, type LaunchSignature } from '../compiler/launch/args.js';
import { getGpu } from '../backends/webgpu/device.js';
import { WebGpuRuntime } from '../backends/webgpu/runtime.js';
import { CudaHostRunner } from '../backends/cuda/hostRunner.js';

/**
 * The manifest as a launch contract: compiled here from ops/ (never the committed
 * generated/, which may be stale), every kernel's every precondition is met by one launch
 * and broken by changing one scalar, and the broken launch is refused before dispatch
 * naming the kernel, the precondition and the values. Plus the scalar ranges, grid checks,
 * the device of tuned variants, and the README's list of manifest fields.
 */
type Manifest = { compiler: string; target: string; kernels: Record<string, ManifestKernel> };
const kernels = loadKernels();
const files = generatedFiles(kernels, ['wgsl', 'cuda']);
const manifests = { wgsl: JSON.parse(files.get('wgsl/manifest.json')!) as Manifest, cuda: JSON.parse(files.get('cuda/manifest.json')!) as Manifest };
const wgslSources = Object.fromEntries(Object.values(manifests.wgsl.kernels).map((m) => [m.name, files.get(`wgsl/${m.file}`)!]));
const entries = Object.values(manifests.wgsl.kernels);
/** A manifest with tuned variants, from the variants test, for the README field check. */
let variantManifest: Manifest | undefined;

// The relation as written, evaluated here rather than with args.ts's table.
function holds(p: Precondition, env: Record<string, number>): boolean {
  const a = evalSize(p.lhs, env);
  const b = evalSize(p.rhs, env);
  return { '<': a < b, '<=': a <= b, '>': a > b, '>=': a >= b, '==': a === b, '!=': a !== b }[p.rel];
}
const symbolsOf = (e: SizeExpr): string[] => (e.k === 'sym' ? [e.name] : e.k === 'op' ? [...symbolsOf(e.a), ...symbolsOf(e.b)] : []);
const elements = (shape: readonly SizeExpr[], env: Record<string, number>) => evalSize(elementCount(shape), env);
const compileTime = (m: ManifestKernel) => ({ ...m.consts, ...m.tunables });

/** Small scalars, then each failing `X rel formula` solved for X until all hold; undefined if that does not converge. */
function satisfying(m: ManifestKernel): Record<string, number> | undefined {
  const env: Record<string, number> = Object.fromEntries(m.scalars.map((s) => [s.name, s.dtype === 'f32' ? 1 : 2]));
  for (let round = 0; round < 8; round++) {
    const full = { ...compileTime(m), ...env };
    const p = m.requires.find((r) => !holds(r, full));
    if (!p) return env;
    if (p.lhs.k !== 'sym' || !(p.lhs.name in env)) return undefined;
    const b = evalSize(p.rhs, full);
    env[p.lhs.name] = { '==': b, '>=': b, '<=': b, '>': b + 1, '<': b - 1, '!=': b + 1 }[p.rel];
  }
  return undefined;
}

/**
 * One scalar changed so that `p` is the first precondition to fail (the refusal names the
 * first: `HKV = 0` breaks `HKV >= 1` before `HQ % HKV == 0`).
 */
function breaking(m: ManifestKernel, env: Record<string, number>, p: Precondition): Record<string, number> | undefined {
  const earlier = m.requires.slice(0, m.requires.indexOf(p));
  for (const name of new Set(symbolsOf(p.lhs).concat(symbolsOf(p.rhs)))) {
    const s = m.scalars.find((x) => x.name === name);
    if (!s) continue;
    const v = env[name];
    // Near the current value, and on either side of the bound when `name` is the left side.
    const bound = p.lhs.k === 'sym' && p.lhs.name === name ? evalSize(p.rhs, { ...compileTime(m), ...env }) : v;
    for (const c of [v - 1, v + 1, 0, -1, 2 * v + 1, v / 2, bound - 1, bound, bound + 1]) {
      if (s.dtype !== 'f32' && !Number.isInteger(c)) continue;
      if ((s.isDim || s.dtype === 'u32') && c < 0) continue;
      const broken = { ...env, [name]: c };
      const full = { ...compileTime(m), ...broken };
      if (!holds(p, full) && earlier.every((r) => holds(r, full))) return broken;
    }
  }
  return undefined;
}

/** checkLaunch as WebGpuRuntime.launch calls it: resident tensors of exactly the element count. */
const launchCheck = (m: LaunchSignature, scalars: Record<string, number>) =>
  checkLaunch(m, { tensors: {}, scalars }, (n) => elements(m.bindings.find((b) => b.name === n)!.shapeExpr, { ...m.consts, ...scalars }));

function refusal(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a refusal, the launch was accepted');
}

test('the manifests hold every kernel of ops/, with the same preconditions on both targets', () => {
  const names = kernels.map((k) => k.name).sort();
  assert.equal(Object.keys(manifests.wgsl.kernels).sort(), names);
  assert.equal(Object.keys(manifests.cuda.kernels).sort(), names);
  for (const m of entries) assert.equal(manifests.cuda.kernels[m.name].requires, m.requires, m.name);
  // The known silent failure of issue 11: a ring too small for the window plus the new tokens.
  assert.ok(manifests.wgsl.kernels.swa_decode.requires.some((p) => p.text === 'R >= WINDOW - 1 + NQ'));
  assert.equal(manifests.wgsl.kernels.quant_act_e4m3.bindings[2].shape, ['T', 'cdiv(K, 128)']);
  assert.equal(manifests.wgsl.kernels.verify_sample.bindings[1].shape, ['B', '(N + 1)', 'V']);
  assert.equal(manifests.wgsl.kernels.swa_decode.consts, { WINDOW: 128, SCALE: 0.07216878364870323, HEAD_QK: 192, HEAD_V: 128 });
});

test('every precondition of every kernel: met by one launch, broken by one scalar and refused with kernel, text and values', () => {
  let checked = 0;
  for (const m of entries) {
    // The interpreter's signature is the specialised IR's (tunables fixed, as in the grid).
    const ir = specialise(kernels.find((k) => k.name === m.name)!);
    const env = satisfying(m);
    if (!env) throw new Error(`[kernel ${m.name}] no launch meets all of: ${m.requires.map((p) => p.text).join('; ')}`);
    launchCheck(m, env);
    launchCheck(signatureOf(ir), env);
    for (const p of m.requires) {
      const bad = breaking(m, env, p);
      if (!bad) throw new Error(`[kernel ${m.name}] precondition ${p.text} cannot be broken by changing one scalar`);
      // The manifest entry (WebGPU, emulated CUDA) and the IR (the interpreter, WebGPU's tunables)
      // refuse it alike, each naming its own compile-time values (ALIGN is one value per target).
      const cuda = manifests.cuda.kernels[m.name];
      for (const [sig, fixed] of [[m, compileTime(m)], [cuda, compileTime(cuda)], [signatureOf(ir), compileTime(m)]] as const) {
        const e = refusal(() => launchCheck(sig, bad));
        assert.instance(e, KernelLaunchError, `${m.name}: ${e.message}`);
        const l = e as KernelLaunchError;
        assert.is(l.kernel, m.name);
        assert.is(l.constraint, p.text);
        const named = [...new Set(symbolsOf(p.lhs).concat(symbolsOf(p.rhs)))];
        assert.equal(l.values, Object.fromEntries(named.map((n) => [n, { ...fixed, ...bad }[n]])));
        assert.ok(l.message.startsWith(`[kernel ${m.name}] precondition ${p.text} failed: ${named.map((n) => `${n}=${l.values[n]}`).join(', ')} (`), l.message);
      }
      checked++;
    }
  }
  // 27 since issue 12: sizes that follow from others are shape formulas now, checked as buffer sizes.
  assert.ok(checked >= 25, `only ${checked} preconditions declared`);
});

test('bindings: bytes formulas, row-major layout, WGSL packing, who initialises each output', () => {
  for (const target of ['wgsl', 'cuda'] as const) {
    for (const m of Object.values(manifests[target].kernels)) {
      const env = satisfying(m)!;
      for (const b of m.bindings) {
        const n = elements(b.shapeExpr, env);
        const bytes = BYTES[b.dtype as DType];
        assert.is(evalSize(b.bytesExpr, env), target === 'cuda' ? n * bytes : Math.max(4, Math.ceil((n * bytes) / 4) * 4), `${m.name}.${b.name}`);
        assert.is(b.layout, 'row-major');
        assert.is(b.packing?.perWord, target === 'wgsl' && bytes < 4 ? 4 / bytes : undefined, `${m.name}.${b.name}`);
        assert.is(b.initialisedBy === undefined, b.access === 'read', `${m.name}.${b.name}`);
      }
    }
  }
  const b = (t: 'wgsl' | 'cuda', k: string, n: string) => manifests[t].kernels[k].bindings.find((x) => x.name === n)!;
  for (const [k, n] of [['kv_write_ring', 'k_cache'], ['kv_write_linear', 'v_cache'], ['moe_gate_up_bf16_masked', 'h'], ['moe_down_fp8', 'y']]) {
    assert.is(b('cuda', k, n).initialisedBy, 'caller', `${k}.${n}`);
    assert.is(b('cuda', k, n).access, 'readwrite', `${k}.${n}`);
  }
  assert.equal([b('cuda', 'swa_decode', 'out').access, b('cuda', 'swa_decode', 'out').initialisedBy], ['write', 'kernel']);
  // WGSL stores bf16 as read-modify-write of u32 words; the router reads its weights back to normalise them.
  assert.equal([b('wgsl', 'swa_decode', 'out').access, b('wgsl', 'swa_decode', 'out').initialisedBy], ['readwrite', 'kernel']);
  assert.is(b('cuda', 'moe_router', 'weights').access, 'readwrite');
});

const bf16Fill = (n: number, bits: number) => new Uint16Array(n).fill(bits);
function swaDecodeArgs(R: number): LaunchArgs {
  const B = 1, NQ = 4, HQ = 1, HKV = 1, DQK = 192, DV = 128;
  return {
    tensors: {
      q: bf16Fill(B * NQ * HQ * DQK, 0x3c00), k_ring: bf16Fill(B * R * HKV * DQK, 0x3c00), v_ring: bf16Fill(B * R * HKV * DV, 0x3f80),
      sink: new Float32Array(HQ), seq_lens: Int32Array.of(300), out: bf16Fill(B * NQ * HQ * DV, 0xffff),
    },
    scalars: { B, NQ, HQ, HKV, R },
  };
}

test('swa_decode with R < WINDOW - 1 + NQ is refused before dispatch by WebGPU, emulated CUDA and the interpreter', async () => {
  const rt = new WebGpuRuntime(await getGpu(), { manifest: manifests.wgsl, sources: wgslSources });
  const want = '[kernel swa_decode] precondition R >= WINDOW - 1 + NQ failed: R=128, WINDOW=128, NQ=4 (needs R >= 131)';
  const e = await rt.run('swa_decode', swaDecodeArgs(128)).then(() => undefined, (x: Error) => x);
  assert.instance(e, KernelLaunchError);
  assert.is(e!.message, want);
  // Refused before the generated CUDA is even built (no g++ run), and by the interpreter.
  const cuda = new CudaHostRunner(manifests.cuda, {});
  assert.is(refusal(() => cuda.run('swa_decode', swaDecodeArgs(128))).message, want);
  const ir = lowerForTarget(kernels.find((k) => k.name === 'swa_decode')!, 'interp');
  assert.is(refusal(() => interpret(ir, swaDecodeArgs(128))).message, want);
  // The smallest ring that holds the window dispatches, and writes every output as its manifest says.
  const { out } = await rt.run('swa_decode', swaDecodeArgs(131));
  assert.ok((out as Uint16Array).every((x) => x !== 0xffff), 'every element written');
});

test('scalars are range-checked for their dtype, never wrapped; run() and launch() agree', async () => {
  const hand: LaunchSignature = {
    name: 'hand', bindings: [], gridExpr: [{ k: 'num', v: 1 }],
    scalars: [{ name: 'a', dtype: 'i32', isDim: false }, { name: 'u', dtype: 'u32', isDim: false }, { name: 'f', dtype: 'f32', isDim: false }, { name: 'N', dtype: 'i32', isDim: true }],
  };
  const ok = { a: -(2 ** 31), u: 2 ** 32 - 1, f: -3.4028234663852886e38, N: 2 ** 31 - 1 };
  checkLaunch(hand, { tensors: {}, scalars: ok });
  const cases: [Record<string, number>, string][] = [
    [{ a: 2 ** 32 + 2 }, "argument 'a': expected an i32 in [-2147483648, 2147483647], got 4294967298"],
    [{ a: 2 ** 31 }, "argument 'a': expected an i32 in [-2147483648, 2147483647], got 2147483648"],
    [{ a: 1.5 }, "argument 'a': expected an integer i32, got 1.5"],
    [{ u: -1 }, "argument 'u': expected a u32 in [0, 4294967295], got -1"],
    [{ u: 2 ** 32 }, "argument 'u': expected a u32 in [0, 4294967295], got 4294967296"],
    [{ f: NaN }, "argument 'f': expected a number (f32), got NaN"],
    [{ f: Infinity }, "argument 'f': expected a finite f32 (|x| <= 3.4028234663852886e+38), got Infinity"],
    [{ f: 1e39 }, "argument 'f': expected a finite f32 (|x| <= 3.4028234663852886e+38), got 1e+39"],
    [{ N: -1 }, "argument 'N': shape symbol must be >= 0, got -1"],
  ];
  for (const [change, want] of cases) {
    const e = refusal(() => checkLaunch(hand, { tensors: {}, scalars: { ...ok, ...change } }));
    assert.instance(e, KernelArgError);
    assert.is(e.message, `[kernel hand] ${want}`);
  }
  // A real kernel's u32 seed and i32 top_k, through both entry points of the runtime.
  const rt = new WebGpuRuntime(await getGpu(), { manifest: manifests.wgsl, sources: wgslSources });
  const scalars = { B: 1, V: 8, temperature: 1, top_k: 0, top_p: 1, seed: 0, step: 0 };
  const host = { logits: new Float32Array(8), ids: new Int32Array(1) };
  const resident = { logits: rt.allocate('f32', 8), ids: rt.allocate('i32', 1) };
  for (const [change, want] of [[{ top_k: 2 ** 32 + 2 }, "argument 'top_k': expected an i32"], [{ seed: -1 }, "argument 'seed': expected a u32"]] as const) {
    for (const attempt of [rt.run('sample_token', { tensors: host, scalars: { ...scalars, ...change } }), rt.launch('sample_token', resident, { ...scalars, ...change })]) {
      const e = await attempt.then(() => undefined, (x: Error) => x);
      assert.instance(e, KernelArgError);
      assert.ok(e!.message.startsWith(`[kernel sample_token] ${want}`), e!.message);
    }
  }
  for (const t of Object.values(resident)) t.buffer.destroy();
});

test('grids: negative or fractional refused with the formula, empty only when no full output is left unwritten, device limits', async () => {
  const sig = (initialisedBy: 'kernel' | 'caller', grid: SizeExpr): LaunchSignature => ({
    name: 'hand', gridExpr: [grid], scalars: [{ name: 'N', dtype: 'i32', isDim: true }, { name: 'M', dtype: 'i32', isDim: true }],
    bindings: [{ name: 'y', dtype: 'f32', shapeExpr: [{ k: 'sym', name: 'M' }], initialisedBy }],
  });
  const minus8: SizeExpr = { k: 'op', op: '-', a: { k: 'sym', name: 'N' }, b: { k: 'num', v: 8 } };
  const e = refusal(() => launchCheck(sig('kernel', minus8), { N: 4, M: 3 }));
  assert.instance(e, KernelLaunchError);
  assert.is(e.message, '[kernel hand] grid x = (N - 8) = -4 (N=4): expected a whole number of workgroups >= 0');
  const n: SizeExpr = { k: 'sym', name: 'N' };
  assert.is(refusal(() => launchCheck(sig('kernel', n), { N: 0, M: 3 })).message, "[kernel hand] grid x = N = 0 (N=0): an empty grid would leave output 'y' (3 elements) unwritten");
  assert.equal(launchCheck(sig('caller', n), { N: 0, M: 3 }).grid, [0], 'an in-place output keeps its contents');
  assert.ok(launchCheck(manifests.wgsl.kernels.rmsnorm, { T: 0, D: 8 }).grid.includes(0), 'no rows: a no-op');

  // One workgroup per row, past the device's limit (the refusal comes before any pipeline exists).
  const perRow: ManifestKernel = { ...manifests.wgsl.kernels.rmsnorm, grid: ['T', '1', '1'], gridExpr: [{ k: 'sym', name: 'T' }, { k: 'num', v: 1 }, { k: 'num', v: 1 }] };
  const rt = new WebGpuRuntime(await getGpu(), { manifest: { kernels: { rmsnorm: perRow } }, sources: {} });
  const limit = rt.gpu.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const T = limit + 1;
  const t = { x: rt.allocate('bf16', T), w: rt.allocate('bf16', 1), y: rt.allocate('bf16', T) };
  const big = await rt.launch('rmsnorm', t, { T, D: 1 }).then(() => undefined, (x: Error) => x);
  assert.instance(big, KernelLaunchError);
  assert.is(big!.message, `[kernel rmsnorm] grid x = T = ${T} (T=${T}): exceeds this device's limit of ${limit} workgroups`);
  for (const b of Object.values(t)) b.buffer.destroy();
});

test('tuned variants record their device and bucket rule; the runtime applies them on that device only', async () => {
  const gpu = await getGpu();
  const softmax = kernels.find((k) => k.name === 'softmax')!;
  for (const [device, picked] of [[webgpuFingerprint(gpu).fingerprint, 'softmax_tuned_WG64'], ['webgpu-elsewhere-00000000', 'softmax']]) {
    const db: TuningFile = { device: { fingerprint: device, description: 'planted' }, entries: {} };
    entryFor(db, softmax, { R: 8, N: 1024 }).best = 'WG=64';
    const manifest = JSON.parse(generatedFiles([softmax], ['wgsl'], 'sm_80', [db]).get('wgsl/manifest.json')!) as Manifest;
    assert.equal(manifest.kernels.softmax.variants, [{ kernel: 'softmax_tuned_WG64', tunables: { WG: 64 }, buckets: [{ R: 8, N: 1024 }], device }]);
    assert.match(manifest.kernels.softmax.bucketRule!, /^nextPow2\(each shape symbol\)/);
    const rt = new WebGpuRuntime(gpu, { manifest, sources: {} });
    assert.is(rt.resolve('softmax', { R: 5, N: 1000 }).name, picked, device);
    assert.is(rt.resolve('softmax', { R: 9, N: 1000 }).name, 'softmax', 'outside the bucket');
    if (picked !== 'softmax') variantManifest = manifest;
  }
});

test('requires: lowered from the DSL, malformed ones are compile errors naming the construct', () => {
  const source = (req: string) => [
    "import { kernel, type i32, type InOut } from '../../../compiler/dsl/index.js';",
    `export const k = kernel({ requires: (c) => [${req}], workgroup: () => [1], grid: () => [1] }, (y: InOut<i32, ['N']>, c: { N: i32; s: i32 }) => { y[0] = c.s; });`,
  ].join('\n');
  const file = path.join(REPO_ROOT, 'test/fixtures/requires/virtual.ts');
  const [k] = lowerText(file, source('c.N >= 1 && c.N !== c.s * 2'));
  assert.equal(k.requires.map((p) => [p.text, p.rel]), [['N >= 1', '>='], ['N != s * 2', '!=']]);
  assert.is(k.tensors[0].access, 'readwrite', 'InOut');
  for (const [req, detail] of [['c.N', 'unsupported precondition'], ['c.M >= 1', "unknown symbol 'M'"]]) {
    let thrown: unknown;
    try {
      lowerText(file, source(req));
    } catch (e) {
      thrown = e;
    }
    assert.instance(thrown, CompileErrors, req);
    assert.match((thrown as CompileErrors).errors[0].detail, detail);
  }
});

test('README documents every field that appears in the manifests', () => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## `mimo-compile`');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const documented = new Set([...section.matchAll(/`([A-Za-z_]+)`/g)].map((m) => m[1]));
  // Maps keyed by kernel or symbol names: their keys are data, their values are walked.
  const MAPS = new Set(['kernels', 'tunables', 'tunableSpace', 'consts', 'buckets']);
  const fields = (v: unknown, out: Set<string>, isMap = false): Set<string> => {
    if (Array.isArray(v)) for (const x of v) fields(x, out, isMap);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (!isMap) out.add(k);
        fields(x, out, !isMap && MAPS.has(k));
      }
    }
    return out;
  };
  const seen = fields([manifests.wgsl, manifests.cuda, variantManifest], new Set());
  for (const f of ['requires', 'consts', 'initialisedBy', 'bytes', 'layout', 'packing', 'perWord', 'device', 'bucketRule', 'lhs', 'k']) assert.ok(seen.has(f), `walker missed ${f}`);
  const missing = [...seen].filter((f) => !documented.has(f));
  assert.equal(missing, [], `manifest fields not documented in README's mimo-compile section: ${missing.join(', ')}`);
});

test.run();
