/**
 * Seeded random numbers for mimo-init's weights. Each tensor draws from its own stream,
 * keyed by (seed, tensor name), so a tensor's values do not depend on which other tensors
 * are written or in what order: the BF16 and FP8 checkpoints of one seed hold the same
 * underlying weights, and shards can be generated independently.
 */

/** FNV-1a of the name mixed with the seed: the stream's starting state. */
function streamSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ Math.imul(seed >>> 0, 0x9e3779b1);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

export interface Rng {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal (Box-Muller). */
  normal(): number;
}

/** mulberry32 (the generator test/harness/prng.ts uses) over the tensor's own stream. */
export function tensorRng(seed: number, name: string): Rng {
  let a = streamSeed(seed, name);
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | null = null;
  const normal = () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = 1 - uniform(); // (0, 1]: log(u) is finite
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * uniform();
    spare = r * Math.sin(th);
    return r * Math.cos(th);
  };
  return { uniform, normal };
}
