/**
 * The instruction mix of each kernel in `nvdisasm -c` output: static counts (each
 * instruction of the binary once, not how often it runs), in the classes that say whether
 * a GEMM uses the hardware it should: tensor-core MMAs, FP32 FMAs, global loads by width,
 * asynchronous copies (LDGSTS = cp.async, UTMALDG = TMA), ldmatrix (LDSM), barriers.
 */

export interface TensorOp {
  /** The opcode with its modifiers, e.g. `HMMA.16816.F32.BF16`, `QGMMA.64x128x32.F32.E4M3.E4M3`. */
  readonly opcode: string;
  readonly count: number;
  /** FLOPs (multiply-adds × 2) per warp instruction; 0 when the shape is not known. */
  readonly flops: number;
}

export interface SassMix {
  /** Instructions, NOPs (alignment padding) excluded. */
  readonly total: number;
  readonly tensor: readonly TensorOp[];
  readonly ffma: number;
  /** Global loads by access width in bits (8, 16, 32, 64, 128). */
  readonly ldg: Readonly<Record<number, number>>;
  readonly stg: number;
  readonly ldgsts: number;
  readonly tma: number;
  readonly ldsm: number;
  readonly bar: number;
  readonly shfl: number;
  /** Format conversions (F2F, F2FP, I2F, F2I): what an emulated FP8 MMA costs besides its f16 MMAs. */
  readonly cvt: number;
  /**
   * The hot loop: of the ranges a backward branch closes, the one holding the most tensor
   * MMAs (without any: FFMAs), the shorter on a tie. Its instructions per op are what the
   * main loop issues, where the whole kernel's static ratio also charges the prologue and
   * epilogue (software pipelining doubles them) to every MMA. Absent without such a loop.
   */
  readonly hotLoop?: { readonly instructions: number; readonly ops: number; readonly kind: 'tensor' | 'ffma' };
}

/** Tensor-core opcodes (HFMA2.MMA is a move on the MMA pipe, not a matrix op: base names only). */
const TENSOR = new Set(['HMMA', 'QMMA', 'IMMA', 'BMMA', 'DMMA', 'HGMMA', 'QGMMA', 'IGMMA', 'BGMMA']);
const TMA = new Set(['UTMALDG', 'UBLKCP']);
const CVT = new Set(['F2F', 'F2FP', 'I2F', 'F2I']);

/** `/*0070*\/  @!P0 LDG.E.U16.CONSTANT R16, desc[UR10][R16.64] ;` -> `LDG.E.U16.CONSTANT`. */
const INSTRUCTION = /^\s*\/\*[0-9a-f]+\*\/\s+(?:@!?U?P(?:T|\d+)\s+)?([A-Z][A-Z0-9_]*(?:\.[A-Za-z0-9_]+)*)/;
/** `.text.mimo_gemm_bf16_kernel:` opens a kernel's code. */
const FUNCTION = /^\.text\.([A-Za-z_$][\w$]*):\s*$/;

/** `.L_x_12:` labels a branch target. */
const LABEL = /^(\.L_x_\d+):\s*$/;
/** `BRA \`(.L_x_12)` jumps to it. */
const BRANCH = /\bBRA\b.*\(\s*(\.L_x_\d+)\s*\)/;

/** nvdisasm's text, per kernel symbol. */
export function parseSass(text: string): Map<string, SassMix> {
  const kernels = new Map<string, { opcodes: string[]; labels: Map<string, number>; loops: [number, number][] }>();
  let current: { opcodes: string[]; labels: Map<string, number>; loops: [number, number][] } | undefined;
  for (const line of text.split('\n')) {
    const fn = FUNCTION.exec(line);
    if (fn) {
      current = { opcodes: [], labels: new Map(), loops: [] };
      kernels.set(fn[1], current);
      continue;
    }
    if (!current) continue;
    const label = LABEL.exec(line);
    if (label) current.labels.set(label[1], current.opcodes.length);
    const ins = INSTRUCTION.exec(line);
    if (!ins) continue;
    const target = BRANCH.exec(line);
    const back = target ? current.labels.get(target[1]) : undefined;
    if (back !== undefined) current.loops.push([back, current.opcodes.length]);
    current.opcodes.push(ins[1]);
  }
  return new Map([...kernels].map(([name, k]) => {
    const counts = new Map<string, number>();
    for (const op of k.opcodes) counts.set(op, (counts.get(op) ?? 0) + 1);
    return [name, { ...mixOf(counts), hotLoop: hotLoop(k.opcodes, k.loops) }];
  }));
}

function hotLoop(opcodes: readonly string[], loops: readonly [number, number][]): SassMix['hotLoop'] {
  const base = (op: string) => op.split('.')[0];
  let best: { instructions: number; tensor: number; ffma: number } | undefined;
  for (const [from, to] of loops) {
    const body = opcodes.slice(from, to + 1).map(base).filter((b) => b !== 'NOP');
    const cand = { instructions: body.length, tensor: body.filter((b) => TENSOR.has(b)).length, ffma: body.filter((b) => b === 'FFMA').length };
    const key = (c: typeof cand) => [c.tensor, c.ffma, -c.instructions];
    if (cand.tensor + cand.ffma > 0 && (!best || greater(key(cand), key(best)))) best = cand;
  }
  return best && { instructions: best.instructions, ops: best.tensor || best.ffma, kind: best.tensor ? 'tensor' : 'ffma' };
}

const greater = (a: readonly number[], b: readonly number[]): boolean => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return false;
};

function mixOf(ops: ReadonlyMap<string, number>): SassMix {
  const ldg: Record<number, number> = {};
  const tensor: TensorOp[] = [];
  const m = { total: 0, ffma: 0, stg: 0, ldgsts: 0, tma: 0, ldsm: 0, bar: 0, shfl: 0, cvt: 0 };
  for (const [opcode, n] of ops) {
    const [base, ...mods] = opcode.split('.');
    if (base === 'NOP') continue;
    m.total += n;
    if (TENSOR.has(base)) tensor.push({ opcode, count: n, flops: mmaFlops(mods[0] ?? '') });
    else if (base === 'FFMA') m.ffma += n;
    else if (base === 'LDG') ldg[loadWidth(mods)] = (ldg[loadWidth(mods)] ?? 0) + n;
    else if (base === 'STG') m.stg += n;
    else if (base === 'LDGSTS') m.ldgsts += n;
    else if (TMA.has(base)) m.tma += n;
    else if (base === 'LDSM') m.ldsm += n;
    else if (base === 'BAR') m.bar += n;
    else if (base === 'SHFL') m.shfl += n;
    else if (CVT.has(base)) m.cvt += n;
  }
  return { ...m, tensor: tensor.sort((a, b) => a.opcode.localeCompare(b.opcode)), ldg };
}

/** Bits per lane: no size modifier is 32 bits (`LDG.E`, `LDG.E.CONSTANT`). */
function loadWidth(mods: readonly string[]): number {
  for (const mod of mods) {
    if (mod === 'U8' || mod === 'S8') return 8;
    if (mod === 'U16' || mod === 'S16') return 16;
    if (mod === '64' || mod === '128') return Number(mod);
  }
  return 32;
}

/**
 * FLOPs per warp instruction from the shape modifier: warp MMAs name it as digits (`16816`:
 * m16 n8 k16; `1688`: m16 n8 k8); warpgroup MMAs as `64x128x16`, a shape the four warps
 * of the group share, each issuing the instruction.
 */
function mmaFlops(shape: string): number {
  const g = /^(\d+)x(\d+)x(\d+)$/.exec(shape);
  if (g) return (2 * Number(g[1]) * Number(g[2]) * Number(g[3])) / 4;
  const w = /^(16|8)(8)(\d+)$/.exec(shape);
  return w ? 2 * Number(w[1]) * Number(w[2]) * Number(w[3]) : 0;
}

/** The static FLOPs-weighted mean of the tensor instructions, 0 without any of known shape. */
export function flopsPerTensorOp(mix: SassMix): number {
  const known = mix.tensor.filter((t) => t.flops > 0);
  const n = known.reduce((s, t) => s + t.count, 0);
  return n ? known.reduce((s, t) => s + t.flops * t.count, 0) / n : 0;
}

/** `HMMA×10 (HMMA.16816.F32×8, HMMA.16816.F32.BF16×2)`-style summary for the table. */
export function tensorSummary(mix: SassMix): string {
  if (!mix.tensor.length) return '0';
  const byBase = new Map<string, number>();
  for (const t of mix.tensor) {
    const base = t.opcode.split('.')[0];
    byBase.set(base, (byBase.get(base) ?? 0) + t.count);
  }
  return [...byBase].map(([b, n]) => `${b}×${n}`).join(' ');
}
