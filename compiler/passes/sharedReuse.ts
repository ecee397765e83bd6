import type { LoweredKernel, LoweredShared } from '../ir/lowered.js';
import { BYTES } from '../ir/types.js';
import type { TargetCaps } from '../common/target.js';
import { CompileError } from '../common/errors.js';
import { disjointInTime, sharedLiveRanges } from './sharedLiveness.js';

/**
 * Lays a kernel's shared arrays out in one byte arena (targets with `sharedArena`: CUDA),
 * where two arrays that are never live at the same time share bytes, so `facts.sharedBytes`
 * is the peak rather than the sum: a GEMM's pipeline stages and its f32 epilogue tile, or
 * the two phases of a kernel, no longer add up.
 *
 * WGSL keeps one `var<workgroup>` per array and no reuse: it has no pointer casts or unions,
 * so arrays of different element types cannot alias, and merging same-typed ones would
 * change every index the emitter writes for a saving no WebGPU kernel here needs. The
 * interpreter keeps separate arrays too; its poison mode (interpret/sharedPoison.ts) checks
 * the liveness (passes/sharedLiveness.ts) this pass relies on.
 */
export function assignSharedOffsets(k: LoweredKernel, caps: TargetCaps): LoweredKernel {
  if (!caps.sharedArena || k.shared.length === 0) return k;
  const ranges = sharedLiveRanges(k);
  const bytes = (s: LoweredShared) => s.size * BYTES[s.dtype];
  // Largest first, then first use: the big tiles take offset 0 and the small ones fill gaps.
  const order = k.shared.map((s, i) => ({ s, i })).sort((a, b) => bytes(b.s) - bytes(a.s) || ranges.get(a.s.name)!.first.pre - ranges.get(b.s.name)!.first.pre || a.i - b.i);
  const placed: { name: string; start: number; end: number }[] = [];
  const offsets = new Map<string, number>();
  for (const { s } of order) {
    const align = alignmentOf(k, s);
    const clashes = placed.filter((p) => !disjointInTime(ranges.get(p.name)!, ranges.get(s.name)!));
    // The lowest aligned start past every clash it would overlap: 0 or the end of one of them.
    const starts = [0, ...clashes.map((p) => p.end)].map((x) => Math.ceil(x / align) * align).sort((a, b) => a - b);
    const start = starts.find((x) => clashes.every((p) => x >= p.end || x + bytes(s) <= p.start))!;
    placed.push({ name: s.name, start, end: start + bytes(s) });
    offsets.set(s.name, start);
  }
  const shared = k.shared.map((s) => ({ ...s, offset: offsets.get(s.name)! }));
  return { ...k, shared, facts: { ...k.facts, sharedBytes: Math.max(...placed.map((p) => p.end)) } };
}

function alignmentOf(k: LoweredKernel, s: LoweredShared): number {
  const align = s.align ?? 16;
  if (!(Number.isInteger(align) && align >= 16 && (align & (align - 1)) === 0)) {
    throw new CompileError(`shared array '${s.name}': alignment must be a power of two >= 16 bytes, got ${align}`, s.loc ?? k.loc, undefined, undefined, k.name);
  }
  return align;
}
