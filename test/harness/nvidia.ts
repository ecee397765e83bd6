import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../compiler/frontend/source.js';
import { NVCC, CUDA_INCLUDE } from './cuda-toolkit.js';

/**
 * NVIDIA's own number conversions as ground truth: test/fixtures/nvidia_cvt.cu, host code
 * built once with nvcc against cuda_fp8.h / cuda_bf16.h / cuda_fp16.h (no GPU needed) and
 * cached under .cache/nvidia-cvt/ by the hash of the source, the headers and the compiler's
 * version. Without nvcc the same header code is built with g++ (-x c++ -I<cuda>/include).
 */

function compiler(): { cmd: string; args: string[]; version: Buffer } {
  try {
    return { cmd: NVCC, args: ['-std=c++17', '-O2', '-x', 'cu'], version: execFileSync(NVCC, ['--version']) };
  } catch {
    return { cmd: 'g++', args: ['-std=c++17', '-O2', '-x', 'c++'], version: execFileSync('g++', ['--version']) };
  }
}
const SOURCE = path.join(REPO_ROOT, 'test/fixtures/nvidia_cvt.cu');

function truthBinary(): string {
  const hash = createHash('sha256').update(fs.readFileSync(SOURCE));
  for (const h of ['cuda_fp8.hpp', 'cuda_bf16.hpp', 'cuda_fp16.hpp']) {
    const p = path.join(CUDA_INCLUDE, h);
    if (fs.existsSync(p)) hash.update(fs.readFileSync(p));
  }
  const cc = compiler();
  hash.update(cc.cmd).update(cc.version);
  const dir = path.join(REPO_ROOT, '.cache', 'nvidia-cvt', hash.digest('hex').slice(0, 16));
  const exe = path.join(dir, 'truth');
  if (!fs.existsSync(exe)) {
    fs.mkdirSync(dir, { recursive: true });
    try {
      execFileSync(cc.cmd, [...cc.args, `-I${CUDA_INCLUDE}`, SOURCE, '-o', `${exe}.${process.pid}.tmp`], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      throw new Error(`${cc.cmd} build of ${SOURCE} failed:\n${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
    }
    // A name of this process's own: test files run in parallel processes.
    fs.renameSync(`${exe}.${process.pid}.tmp`, exe);
  }
  return exe;
}

export interface NvidiaTruth {
  /** Per input: __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3 / __NV_E5M2), __float2bfloat16_rn(x). */
  readonly e4m3: Uint8Array;
  readonly e5m2: Uint8Array;
  readonly bf16: Uint16Array;
  /** Per fp8 byte: f32 bits of __half2float(__nv_cvt_fp8_to_halfraw(b, fmt)). */
  readonly e4m3ToF32: Uint32Array;
  readonly e5m2ToF32: Uint32Array;
  /** Per fp8 byte: bf16 bits of the __nv_fp8_e4m3 / __nv_fp8_e5m2 -> __nv_bfloat16 operator. */
  readonly e4m3ToBf16: Uint16Array;
  readonly e5m2ToBf16: Uint16Array;
  /** Per bf16 pattern (all 65,536): __nv_cvt_bfloat16raw_to_fp8(h, __NV_SATFINITE, fmt). */
  readonly bf16ToE4m3: Uint8Array;
  readonly bf16ToE5m2: Uint8Array;
}

/** Runs NVIDIA's conversions on the f32 inputs (bit patterns travel unchanged). */
export function nvidiaConversions(x: Float32Array): NvidiaTruth {
  const n = x.length;
  const input = Buffer.alloc(4 + 4 * n);
  input.writeUInt32LE(n, 0);
  Buffer.from(x.buffer, x.byteOffset, x.byteLength).copy(input, 4);
  const out = execFileSync(truthBinary(), [], { input, maxBuffer: 1 << 30 });
  let offset = 0;
  const take = <T>(make: (b: ArrayBuffer) => T, bytes: number): T => {
    const copy = new Uint8Array(bytes);
    copy.set(out.subarray(offset, offset + bytes));
    offset += bytes;
    return make(copy.buffer);
  };
  const truth: NvidiaTruth = {
    e4m3: take((b) => new Uint8Array(b), n),
    e5m2: take((b) => new Uint8Array(b), n),
    bf16: take((b) => new Uint16Array(b), 2 * n),
    e4m3ToF32: take((b) => new Uint32Array(b), 1024),
    e5m2ToF32: take((b) => new Uint32Array(b), 1024),
    e4m3ToBf16: take((b) => new Uint16Array(b), 512),
    e5m2ToBf16: take((b) => new Uint16Array(b), 512),
    bf16ToE4m3: take((b) => new Uint8Array(b), 65536),
    bf16ToE5m2: take((b) => new Uint8Array(b), 65536),
  };
  if (offset !== out.length) throw new Error(`nvidia_cvt wrote ${out.length} bytes, expected ${offset}`);
  return truth;
}
