import type { KernelBase, MmaDType } from '../../ir/nodes.js';
import type { LoweredKernel } from '../../ir/lowered.js';
import type { DType } from '../../ir/types.js';
import { STORAGE_ONLY } from '../../ir/types.js';
import { CLikeRenderer, f32Decimal, type Dialect } from '../common/clike.js';
import { sizeToCpp } from './sizeCpp.js';
import { CUDA_RESERVED } from './reserved.js';
import { CompileError } from '../../common/errors.js';
import { kernelBaseName, nameIdentifiers } from '../naming.js';
import { archGuard, type CudaArch } from './arch.js';
import { launchSharedMemory, sharedArenaLines } from './sharedArena.js';

/** The prelude function of each tensor-core operand type (mimo_prelude.cuh). */
const MMA_SHAPE: Record<MmaDType, string> = { bf16: 'm16n8k16_bf16', f16: 'm16n8k16_f16', fp8e4m3: 'm16n8k32_e4m3', fp8e5m2: 'm16n8k32_e5m2' };

/** mimo_wgmma_desc's swizzle code of each swizzle span (row length; mimo_wgmma.cuh). */
const WGMMA_SWIZZLE: Record<32 | 64 | 128, number> = { 128: 1, 64: 2, 32: 3 };

export const CUDA_TYPE: Record<DType, string> = {
  f32: 'float', f16: '__half', bf16: '__nv_bfloat16', fp8e4m3: '__nv_fp8_e4m3', fp8e5m2: '__nv_fp8_e5m2', i32: 'int', u32: 'unsigned', bool: 'bool',
};
const MATH: Record<string, string> = { exp: 'expf', exp2: 'exp2f', log: 'logf', sqrt: 'sqrtf', rsqrt: 'rsqrtf', tanh: 'tanhf', floor: 'floorf', fma: 'fmaf' };

export const kernelSymbol = (k: Pick<KernelBase, 'name'>) => `mimo_${kernelBaseName(k.name)}_kernel`;
export const launcherSymbol = (k: Pick<KernelBase, 'name'>) => `mimo_${kernelBaseName(k.name)}`;

/** Host signature of the extern "C" launcher, shared by the .cu file and mimo_kernels.h. */
export function launcherSignature(k: LoweredKernel): string {
  const n = nameIdentifiers(k, CUDA_RESERVED);
  const args = [
    ...k.tensors.map((t) => `${t.access === 'read' ? 'const void*' : 'void*'} ${n.buffer(t.name)}`),
    ...k.scalars.map((s) => `${CUDA_TYPE[s.dtype]} ${n.value(s.name)}`),
    'cudaStream_t stream',
  ];
  return `cudaError_t ${launcherSymbol(k)}(${args.join(', ')})`;
}

/**
 * Renders a specialised, tile-lowered kernel as a CUDA C++ translation unit with its launcher;
 * `arch` (mimo-compile --arch) sets the lowest architecture the file compiles for.
 */
export function emitCuda(k: LoweredKernel, header: string, arch: CudaArch = 'sm_80'): string {
  const names = nameIdentifiers(k, CUDA_RESERVED);
  const [ident, buf] = [names.value, names.buffer];
  // A 1-D workgroup's linear index is threadIdx.x, which the bound at the top of the kernel
  // lets nvcc range-check: strided loops then compile without a x4-unrolled remainder.
  const wg = k.workgroup;
  const oneD = wg[1] === 1 && wg[2] === 1;
  const linear = oneD ? 'threadIdx.x' : '(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z))';
  const d: Dialect = {
    ident,
    literal(v, t) {
      if (t === 'bool') return String(v);
      if (t === 'i32') return (v as number) === -2147483648 ? '(-2147483647 - 1)' : String(v);
      if (t === 'u32') return `${v}u`;
      const dec = f32Decimal(v as number);
      const f = dec ? `${dec}f` : `mimo_f32_bits(0x${new Uint32Array(new Float32Array([v as number]).buffer)[0].toString(16)}u)`;
      return t === 'f32' ? f : d.cast(f, 'f32', t);
    },
    declare: (n, t, mutable, init) => `${mutable ? '' : 'const '}${CUDA_TYPE[t]} ${ident(n)} = ${init};`,
    localArray: (n, t, size) => `${CUDA_TYPE[t]} ${buf(n)}[${size}];`,
    uniform: (n) => ident(n),
    builtin(e) {
      const axis = 'xyz'[e.axis];
      switch (e.name) {
        case 'localId': return oneD && e.axis > 0 ? '0' : `static_cast<int>(threadIdx.${axis})`;
        case 'workgroupId': return `static_cast<int>(blockIdx.${axis})`;
        case 'numWorkgroups': return `static_cast<int>(gridDim.${axis})`;
        case 'localIndex': return `static_cast<int>(${linear})`;
        case 'subgroupLane': return `static_cast<int>(${linear} & 31u)`;
        case 'subgroupSize': return '32';
      }
    },
    binary: (op, a, b) => `(${a} ${op} ${b})`,
    cast(a, from, to) {
      if (to === 'f32' && STORAGE_ONLY.has(from)) return `static_cast<float>(${a})`;
      if (to === 'bf16') return `__float2bfloat16_rn(${a})`;
      if (to === 'f16') return `__float2half_rn(${a})`;
      // The fp8 constructors round to nearest even and saturate to finite, as our semantics say.
      if (to === 'fp8e4m3' || to === 'fp8e5m2') return `${CUDA_TYPE[to]}(${a})`;
      return `static_cast<${CUDA_TYPE[to]}>(${a})`;
    },
    bitcast(a, from, to) {
      if (to === 'f32') return `__uint_as_float(static_cast<unsigned>(${a}))`;
      if (from === 'f32') return `static_cast<${CUDA_TYPE[to]}>(__float_as_uint(${a}))`;
      return `static_cast<${CUDA_TYPE[to]}>(${a})`;
    },
    call(fn, args, e) {
      if (fn === 'pack2' || fn === 'pack4') return `mimo_${fn}(${args.join(', ')})`;
      if (fn === 'abs') return e.type === 'f32' ? `fabsf(${args[0]})` : `abs(${args[0]})`;
      // fmaxf/fminf return the other operand for NaN; ours propagate it (compiler/ir/semantics.ts).
      if (fn === 'max' || fn === 'min') return e.type === 'f32' ? `mimo_f${fn}f(${args.join(', ')})` : `${fn}(${args.join(', ')})`;
      if (MATH[fn]) return `${MATH[fn]}(${args.join(', ')})`;
      throw new CompileError(`CUDA has no lowering for '${fn}'`, k.loc, undefined, undefined, k.name);
    },
    select: (c, a, b) => `(${c} ? ${a} : ${b})`,
    load: (e, index) => `${buf(e.buf)}[${index}]`,
    loadWord: (e, index) => `mimo_ld_u32(&${buf(e.buf)}[${index}])`,
    store: (s, index, value) => `${buf(s.buf)}[${index}] = ${value};`,
    storePacked() {
      throw new CompileError('packed storage reached the CUDA emitter (CUDA has native 8/16-bit types)', k.loc, undefined, undefined, k.name);
    },
    atomic(s, index, value) {
      const call = `atomic${s.op === 'add' ? 'Add' : 'Max'}(&${buf(s.buf)}[${index}], ${value})`;
      return s.result ? `const ${CUDA_TYPE[s.value.type]} ${ident(s.result)} = ${call};` : `${call};`;
    },
    subgroup(s, value, laneMask) {
      const call = s.op === 'add' ? `mimo_warp_sum(${value})` : s.op === 'max' ? `mimo_warp_max(${value})` : `__shfl_xor_sync(0xffffffffu, ${value}, ${laneMask})`;
      return `const ${CUDA_TYPE[s.type]} ${ident(s.result)} = ${call};`;
    },
    mmaSync: (s, a, b) => `mimo_mma_${MMA_SHAPE[s.dtype]}(*reinterpret_cast<float(*)[4]>(&${buf(s.acc)}[${s.accBase}]), {${a.join(', ')}}, {${b.join(', ')}});`,
    ldmatrix: (s, rowIndex) => {
      const regs = s.results.map(ident);
      return `unsigned ${regs.join(', ')}; mimo_ldmatrix_x${s.count}${s.trans ? '_trans' : ''}(${regs.join(', ')}, &${buf(s.buf)}[${rowIndex}]);`;
    },
    asyncCopy(s, args) {
      if (s.k === 'asyncCommit') return 'mimo_cp_async_commit();';
      if (s.k === 'asyncWait') return `mimo_cp_async_wait<${s.pending}>();`;
      return `mimo_cp_async16(&${buf(s.dst)}[${args[0]}], &${buf(s.src)}[${args[1]}], ${args[2]});`;
    },
    barrier: () => '__syncthreads();',
    // Braced: both branches declare the same names (passes/wgmmaTile.ts copies the body).
    archSwitch: (sm90a, other, ind) => ['#if MIMO_SM90A_PATH', `${ind}{`, ...sm90a, `${ind}}`, '#else', `${ind}{`, ...other, `${ind}}`, '#endif'],
    wgmma(s, aIndex, bIndex) {
      // K-major: LBO unused; MN-major: LBO between column atoms. SBO: 8 rows either way.
      const desc = (o: typeof s.a, index: string) => `mimo_wgmma_desc(&${buf(o.buf)}[${index}], ${o.mnLbo ?? 0}, ${8 * o.rowBytes}, ${WGMMA_SWIZZLE[o.rowBytes]})`;
      const n = s.b.mnLbo === undefined ? `${s.n}` : `${s.n}, 1`;
      return `mimo_wgmma_${s.dtype === 'bf16' ? 'm64nNk16_bf16' : 'm64nNk32_e4m3'}<${n}>(${buf(s.acc)}, ${desc(s.a, aIndex)}, ${desc(s.b, bIndex)}, 1);`;
    },
    wgmmaSync(s) {
      if (s.op === 'proxyFence') return 'mimo_fence_proxy_async_shared();';
      if (s.op === 'fence') return 'mimo_wgmma_fence();';
      if (s.op === 'commit') return 'mimo_wgmma_commit();';
      return ['mimo_wgmma_wait<0>();', ...(s.accs ?? []).map((a) => `mimo_wgmma_fence_operand(${buf(a)});`)].join(' ');
    },
    forLoop: (init, cond, update) => `for (${init}; ${cond}; ${update})`,
    loop(init, cond, update, body, ind) {
      const upd = update.map((l) => l.trim().replace(/;$/, '')).join(', ');
      return [`${ind}{`, ...init, `${ind}  for (; ${cond}; ${upd}) {`, ...body.map((l) => '  ' + l), `${ind}  }`, `${ind}}`];
    },
    assign: (n, v) => `${n} = ${v};`,
  };
  const r = new CLikeRenderer(d, k);
  const params = [
    ...k.tensors.map((t) => `${t.access === 'read' ? 'const ' : ''}${CUDA_TYPE[t.dtype]}* __restrict__ ${buf(t.name)}`),
    ...k.scalars.map((s) => `const ${CUDA_TYPE[s.dtype]} ${ident(s.name)}`),
  ];
  const grid = [...k.grid.map((g) => sizeToCpp(g, ident)), '1', '1'].slice(0, 3);
  const args = [
    ...k.tensors.map((t) => `static_cast<${t.access === 'read' ? 'const ' : ''}${CUDA_TYPE[t.dtype]}*>(${buf(t.name)})`),
    ...k.scalars.map((s) => ident(s.name)),
  ];
  const smem = launchSharedMemory(k, kernelSymbol(k));
  const lines = [
    header,
    '#include "mimo_prelude.cuh"',
    ...archGuard(arch, k.name),
    '',
    `extern "C" __global__ void __launch_bounds__(${k.facts.threads}${k.minBlocksPerSM ? `, ${k.minBlocksPerSM}` : ''}) ${kernelSymbol(k)}(${params.join(', ')}) {`,
    ...sharedArenaLines(k, buf, (s) => CUDA_TYPE[s.dtype]),
    ...(oneD ? [`  __builtin_assume(threadIdx.x < ${wg[0]}u);`] : []),
    ...r.block(k.body, '  '),
    '}',
    '',
    `extern "C" ${launcherSignature(k)} {`,
    ...k.scalars.filter((s) => s.isDim).map((s) => `  if (${ident(s.name)} < 0) return cudaErrorInvalidValue;`),
    `  const long long grid_x = ${grid[0]}, grid_y = ${grid[1]}, grid_z = ${grid[2]};`,
    '  if (grid_x == 0 || grid_y == 0 || grid_z == 0) return cudaSuccess;',
    '  if (grid_x > 2147483647LL || grid_y > 65535 || grid_z > 65535) return cudaErrorInvalidConfiguration;',
    ...smem.lines,
    `  MIMO_LAUNCH(${kernelSymbol(k)}, dim3(static_cast<unsigned>(grid_x), static_cast<unsigned>(grid_y), static_cast<unsigned>(grid_z)), dim3(${wg.join(', ')}), ${smem.bytes}, stream, ${args.join(', ')});`,
    '  return cudaGetLastError();',
    '}',
    '',
  ];
  return lines.join('\n');
}
