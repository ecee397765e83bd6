import type { LoweredKernel } from '../../ir/lowered.js';
import type { DType } from '../../ir/types.js';
import { CLikeRenderer, f32Decimal, type Dialect } from '../common/clike.js';
import { WGSL_RESERVED } from './reserved.js';
import { WGSL_HELPERS, helperNames } from './helpers.js';
import { bindingLayout } from '../layout.js';
import { CompileError } from '../../common/errors.js';
import { nameIdentifiers } from '../naming.js';

const TYPE: Partial<Record<DType, string>> = { f32: 'f32', i32: 'i32', u32: 'u32', bool: 'bool' };
const MATH: Record<string, string> = { exp: 'exp', exp2: 'exp2', log: 'log', sqrt: 'sqrt', rsqrt: 'inverseSqrt', tanh: 'tanh', abs: 'abs', floor: 'floor', max: 'max', min: 'min', fma: 'fma' };
/**
 * f32 max, min, exp and exp2 of NaN are NaN (compiler/ir/semantics.ts). WGSL lets a device
 * assume no NaN, and SwiftShader's max drops it and its exp turns it into +inf.
 */
const NAN_SAFE: Record<string, string> = { max: 'mimo_max_f32', min: 'mimo_min_f32', exp: 'mimo_exp_f32', exp2: 'mimo_exp2_f32' };

/**
 * Renders a specialised, tile-lowered and storage-legalised kernel as one WGSL module with
 * entry point `main`. Bindings follow codegen/layout.ts (the manifest uses the same).
 */
export function emitWgsl(k: LoweredKernel, header: string): string {
  const type = (t: DType): string => {
    const s = TYPE[t];
    if (!s) throw new CompileError(`WGSL has no ${t} values; run legalisePackedStorage first`, k.loc, undefined, undefined, k.name);
    return s;
  };
  const names = nameIdentifiers(k, WGSL_RESERVED);
  const [ident, buf] = [names.value, names.buffer];
  const { atomics, subgroups: usesSubgroups } = k.facts;
  const tensorOf = new Map(k.tensors.map((t) => [t.name, t]));
  const d: Dialect = {
    ident,
    literal(v, t) {
      if (t === 'bool') return String(v);
      if (t === 'i32') return (v as number) === -2147483648 ? 'i32(-2147483647 - 1)' : `${v}i`;
      if (t === 'u32') return `${v}u`;
      // Literals keep their source value; the f32 constant is its rounding (1.0e39 is inf).
      v = Math.fround(v as number);
      const dec = f32Decimal(v);
      if (dec) return `${dec}f`;
      const bits = `0x${new Uint32Array(new Float32Array([v as number]).buffer)[0].toString(16)}u`;
      // WGSL evaluates bitcast of a constant at shader creation and rejects NaN and inf.
      return Number.isFinite(v as number) ? `bitcast<f32>(${bits})` : `mimo_f32_bits(${bits})`;
    },
    declare: (n, t, mutable, init) => `${mutable ? 'var' : 'let'} ${ident(n)}: ${type(t)} = ${init};`,
    localArray: (n, t, size) => `var ${buf(n)}: array<${type(t)}, ${size}>;`,
    uniform: (n) => `params.${ident(n)}`,
    builtin(e) {
      switch (e.name) {
        case 'localId': return `i32(lid.${'xyz'[e.axis]})`;
        case 'workgroupId': return `i32(wid.${'xyz'[e.axis]})`;
        case 'numWorkgroups': return `i32(nwg.${'xyz'[e.axis]})`;
        case 'localIndex': return 'i32(lidx)';
        case 'subgroupLane': return 'i32(sg_lane)';
        case 'subgroupSize': return 'i32(sg_size)';
      }
    },
    binary(op, a, b, e) {
      // WGSL shift amounts are u32.
      if ((op === '<<' || op === '>>') && e.b.type !== 'u32') return `(${a} ${op} ${e.b.k === 'const' ? `${e.b.value}u` : `u32(${b})`})`;
      return `(${a} ${op} ${b})`;
    },
    cast: (a, _from, to) => `${type(to)}(${a})`,
    bitcast: (a, _from, to) => `bitcast<${type(to)}>(${a})`,
    call(fn, args, e) {
      if (NAN_SAFE[fn] && e.type === 'f32') return `${NAN_SAFE[fn]}(${args.join(', ')})`;
      if (MATH[fn]) return `${MATH[fn]}(${args.join(', ')})`;
      if (fn in WGSL_HELPERS) return `mimo_${fn}(${args.join(', ')})`;
      throw new CompileError(`WGSL has no lowering for '${fn}' yet`, k.loc, undefined, 'this storage type is not supported on WebGPU yet', k.name);
    },
    select: (c, a, b) => `select(${b}, ${a}, ${c})`,
    load(e, index) {
      const name = buf(e.buf);
      if (e.space !== 'local' && atomics.has(e.buf)) return `atomicLoad(&${name}[${index}])`;
      return `${name}[${index}]`;
    },
    loadWord() {
      throw new CompileError('32-bit word loads of narrow elements reached the WGSL emitter', k.loc, undefined, undefined, k.name);
    },
    asyncCopy(s) {
      throw new CompileError(`'${s.k}' (CUDA cp.async) reached the WGSL emitter`, k.loc, undefined, undefined, k.name);
    },
    store(s, index, value) {
      const name = buf(s.buf);
      if (s.space !== 'local' && atomics.has(s.buf)) return `atomicStore(&${name}[${index}], ${value});`;
      return `${name}[${index}] = ${value};`;
    },
    storePacked(s, word, shift, bits) {
      // Two atomics: other threads own the other elements of this word.
      const mask = s.width === 16 ? '0xffffu' : '0xffu';
      const name = buf(s.buf);
      return `{ let mimo_w = ${word}; let mimo_s = ${shift}; atomicAnd(&${name}[mimo_w], ~(${mask} << mimo_s)); atomicOr(&${name}[mimo_w], (${bits} & ${mask}) << mimo_s); }`;
    },
    atomic(s, index, value) {
      const call = `atomic${s.op === 'add' ? 'Add' : 'Max'}(&${buf(s.buf)}[${index}], ${value})`;
      return s.result ? `let ${ident(s.result)} = ${call};` : `${call};`;
    },
    subgroup(s, value, laneMask) {
      const max = s.type === 'f32' ? 'mimo_subgroup_max_f32' : 'subgroupMax';
      const call = s.op === 'add' ? `subgroupAdd(${value})` : s.op === 'max' ? `${max}(${value})` : `subgroupShuffleXor(${value}, u32(${laneMask}))`;
      return `let ${ident(s.result)}: ${type(s.type)} = ${call};`;
    },
    mmaSync() {
      throw new CompileError('tensor-core mma reached the WGSL emitter', k.loc, undefined, undefined, k.name);
    },
    ldmatrix() {
      throw new CompileError('ldmatrix reached the WGSL emitter', k.loc, undefined, undefined, k.name);
    },
    barrier: () => 'workgroupBarrier();',
    forLoop(init, cond, update) {
      return `for (${init}; ${cond}; ${update})`;
    },
    loop(init, cond, update, body, ind) {
      return [`${ind}{`, ...init, `${ind}  loop {`, `${ind}    if (!(${cond})) { break; }`, ...body.map((l) => '  ' + l), `${ind}    continuing {`, ...update, `${ind}    }`, `${ind}  }`, `${ind}}`];
    },
    assign: (n, v) => `${n} = ${v};`,
  };
  const r = new CLikeRenderer(d, k);
  const bodyLines = r.block(k.body, '  ');
  const layout = bindingLayout(k);
  const lines: string[] = [header];
  if (usesSubgroups) lines.push('enable subgroups;');
  lines.push('');
  if (layout.uniform) {
    lines.push('struct Params {', ...layout.uniform.fields.map((f) => `  ${ident(f.name)}: ${type(f.dtype)},`), '}');
  }
  for (const b of layout.tensors) {
    const t = tensorOf.get(b.name)!;
    const elem = t.packed ? 'u32' : type(t.dtype);
    const writable = t.access !== 'read';
    const stored = atomics.has(t.name) ? `atomic<${elem}>` : elem;
    lines.push(`@group(0) @binding(${b.binding}) var<storage, ${writable ? 'read_write' : 'read'}> ${buf(t.name)}: array<${stored}>;`);
  }
  if (layout.uniform) lines.push(`@group(0) @binding(${layout.uniform.binding}) var<uniform> params: Params;`);
  // WGSL atomics operate on atomic<T> only, so an array any atomic touches is declared so (and its plain accesses become atomicLoad/atomicStore).
  for (const s of k.shared) lines.push(`var<workgroup> ${buf(s.name)}: array<${atomics.has(s.name) ? `atomic<${type(s.dtype)}>` : type(s.dtype)}, ${s.size}>;`);
  const text = bodyLines.join('\n');
  for (const h of helperNames(text)) lines.push('', WGSL_HELPERS[h]);
  const builtins = ['@builtin(local_invocation_id) lid: vec3<u32>', '@builtin(workgroup_id) wid: vec3<u32>', '@builtin(num_workgroups) nwg: vec3<u32>', '@builtin(local_invocation_index) lidx: u32'];
  if (usesSubgroups) builtins.push('@builtin(subgroup_invocation_id) sg_lane: u32', '@builtin(subgroup_size) sg_size: u32');
  lines.push('', `@compute @workgroup_size(${k.workgroup.join(', ')})`, `fn main(${builtins.join(', ')}) {`);
  lines.push(...bodyLines, '}', '');
  return lines.join('\n');
}

