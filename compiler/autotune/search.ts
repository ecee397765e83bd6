import type { TunableChoice } from '../passes/specialise.js';
import { choiceKey, type Candidate } from './space.js';
import type { Measurement } from '../tuning/dbFile.js';

/** Spaces up to this many legal configurations are searched exhaustively. */
export const EXHAUSTIVE_LIMIT = 32;

export interface SearchHooks {
  /** Known result (from the database), or undefined: then `measure` is called. */
  known(choice: TunableChoice): Measurement | undefined;
  measure(choice: TunableChoice): Promise<Measurement>;
  /** False once the time budget is spent or the user interrupted. */
  mayContinue(): boolean;
}

/**
 * Measures the default first (the reference every other output is checked against),
 * then either every legal candidate in cost-model order, or, for large spaces, a guided
 * search: the best few by cost, then repeatedly the untried neighbours (one tunable
 * changed to an adjacent value) of the best measured configuration so far.
 */
export async function search(space: readonly Candidate[], hooks: SearchHooks): Promise<Map<string, Measurement>> {
  const results = new Map<string, Measurement>();
  const legal = space.filter((c) => !c.illegal);
  const run = async (c: TunableChoice) => {
    const key = choiceKey(c);
    if (results.has(key) || !hooks.mayContinue()) return;
    results.set(key, hooks.known(c) ?? (await hooks.measure(c)));
  };
  const [def, ...rest] = space;
  if (def.illegal) results.set(choiceKey(def.choice), { invalid: `default is illegal: ${def.illegal}`, at: new Date().toISOString() });
  else await run(def.choice);
  const ranked = [...rest.filter((c) => !c.illegal)].sort((a, b) => a.cost - b.cost);
  if (legal.length <= EXHAUSTIVE_LIMIT) {
    for (const c of ranked) await run(c.choice);
    return results;
  }
  for (const c of ranked.slice(0, 4)) await run(c.choice);
  const legalKeys = new Map(legal.map((c) => [choiceKey(c.choice), c.choice]));
  const values = valueLists(space);
  for (;;) {
    const best = bestOf(results);
    if (!best || !hooks.mayContinue()) return results;
    const next = neighbours(legalKeys.get(best)!, values).filter((n) => legalKeys.has(choiceKey(n)) && !results.has(choiceKey(n)));
    if (!next.length) return results;
    for (const n of next) await run(n);
  }
}

export function bestOf(results: ReadonlyMap<string, Measurement>): string | undefined {
  let best: string | undefined;
  for (const [k, m] of results) if (m.ms !== undefined && (best === undefined || m.ms < results.get(best)!.ms!)) best = k;
  return best;
}

function valueLists(space: readonly Candidate[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const c of space) for (const [k, v] of Object.entries(c.choice)) out.set(k, [...new Set([...(out.get(k) ?? []), v])].sort((a, b) => a - b));
  return out;
}

function neighbours(c: TunableChoice, values: Map<string, number[]>): TunableChoice[] {
  const out: TunableChoice[] = [];
  for (const [k, list] of values) {
    const i = list.indexOf(c[k]);
    for (const j of [i - 1, i + 1]) if (j >= 0 && j < list.length) out.push({ ...c, [k]: list[j] });
  }
  return out;
}
