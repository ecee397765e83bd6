import { Node, SyntaxKind, type ArrayLiteralExpression } from 'ts-morph';
import type { SizeExpr, Tunable } from '../ir/nodes.js';
import { TUNABLE_TARGETS, dslTargetName, valuesFor, type TunableTarget } from '../ir/tunables.js';
import { evalSize } from '../ir/size.js';
import { errorAt, numericValue } from './source.js';
import { lowerSizeExpr } from './sizeExpr.js';

/** A parsed tunable with the literal of each candidate, for errors that point at one value. */
export interface ParsedTunable {
  readonly tunable: Tunable;
  readonly candidates: readonly { readonly value: number; readonly node: Node }[];
}

const PER_TARGET_HINT = `per-target candidates are { ${Object.keys(TUNABLE_TARGETS).map((t) => `${t}: [...]`).join(', ')} }, each target's first value its default; a plain array means every target`;

/**
 * `tunables: { WG: [64, 32], BM: { webgpu: [64, 32], cuda: [128, 64] } }`: a plain array holds
 * for every target; the per-target form must list every target, so that no target silently
 * gets another's tiles.
 */
export function parseTunables(prop: Node | undefined): ParsedTunable[] {
  if (!prop) return [];
  const init = Node.isPropertyAssignment(prop) ? prop.getInitializer() : undefined;
  if (!init || !Node.isObjectLiteralExpression(init)) throw errorAt(prop, 'tunables must be an object literal of number arrays (or of { webgpu: [...], cuda: [...] })');
  return init.getProperties().map((t) => {
    const name = (t as Node & { getName(): string }).getName();
    const value = Node.isPropertyAssignment(t) ? t.getInitializer() : undefined;
    if (value && Node.isObjectLiteralExpression(value)) return parsePerTarget(name, value);
    if (!value || !Node.isArrayLiteralExpression(value)) throw errorAt(t, `tunable '${name}' must be an array of candidate integers, default first, or per target`, PER_TARGET_HINT);
    const candidates = candidateList(name, value, undefined);
    return { tunable: { name, values: candidates.map((c) => c.value) }, candidates };
  });
}

function parsePerTarget(name: string, obj: Node & { getProperties(): Node[] }): ParsedTunable {
  const lists = new Map<TunableTarget, { value: number; node: Node }[]>();
  for (const p of obj.getProperties()) {
    const target = Node.isPropertyAssignment(p) ? p.getName() : undefined;
    if (!target || !(target in TUNABLE_TARGETS)) {
      throw errorAt(p, `tunable '${name}': unknown target '${target ?? p.getText()}' (expected one of ${Object.keys(TUNABLE_TARGETS).join(', ')})`, PER_TARGET_HINT);
    }
    if (lists.has(target as TunableTarget)) throw errorAt(p, `tunable '${name}' lists target '${target}' twice`);
    const arr = (p as Node & { getInitializer(): Node | undefined }).getInitializer();
    if (!arr || !Node.isArrayLiteralExpression(arr)) throw errorAt(p, `tunable '${name}': the ${target} candidates must be an array of integers, default first`, PER_TARGET_HINT);
    lists.set(target as TunableTarget, candidateList(name, arr, target));
  }
  const missing = Object.keys(TUNABLE_TARGETS).filter((t) => !lists.has(t as TunableTarget));
  if (missing.length) throw errorAt(obj, `tunable '${name}' has no candidates for ${missing.join(', ')} (got: ${[...lists.keys()].join(', ') || 'none'})`, PER_TARGET_HINT);
  const perTarget = Object.fromEntries(Object.entries(TUNABLE_TARGETS).map(([dsl, target]) => [target, lists.get(dsl as TunableTarget)!.map((c) => c.value)])) as Record<'wgsl' | 'cuda', number[]>;
  return { tunable: { name, values: perTarget.wgsl, perTarget }, candidates: [...lists.values()].flat() };
}

function candidateList(name: string, arr: ArrayLiteralExpression, target: string | undefined): { value: number; node: Node }[] {
  const forWhat = target ? ` for ${target}` : '';
  if (arr.getElements().length === 0) throw errorAt(arr, `tunable '${name}' has an empty candidate list${forWhat}: expected at least one integer, the default first`);
  return arr.getElements().map((e) => {
    if (!Node.isNumericLiteral(e) || !Number.isInteger(numericValue(e))) throw errorAt(e, `tunable '${name}'${forWhat}: candidates must be integer literals, got ${e.getText()}`);
    return { value: numericValue(e), node: e };
  });
}

/** A constraint as lowered, with the expression it was written as. */
export interface DeclaredConstraint { readonly expr: SizeExpr; readonly text: string; readonly node: Node }

const COMPARISONS = new Set([SyntaxKind.LessThanToken, SyntaxKind.LessThanEqualsToken, SyntaxKind.GreaterThanToken, SyntaxKind.GreaterThanEqualsToken, SyntaxKind.EqualsEqualsToken, SyntaxKind.EqualsEqualsEqualsToken]);

/**
 * Each target's defaults must satisfy the constraints: the default is what mimo-compile
 * emits and what every launch outside a tuned bucket runs, so a broken one is the
 * kernel's error, found here with the values that break it rather than at code generation.
 */
export function checkDefaults(tunables: readonly Tunable[], consts: Readonly<Record<string, number>>, constraints: readonly DeclaredConstraint[], sizeNames: ReadonlySet<string>, param: string | undefined): void {
  const perTarget = tunables.some((t) => t.perTarget);
  for (const target of perTarget ? (['wgsl', 'cuda'] as const) : (['wgsl'] as const)) {
    const defaults = Object.fromEntries(tunables.map((t) => [t.name, valuesFor(t, target)[0]]));
    const env = { ...consts, ...defaults };
    for (const c of constraints) {
      if (evalSize(c.expr, env) > 0) continue;
      let e = c.node;
      while (Node.isParenthesizedExpression(e)) e = e.getExpression();
      const actual = Node.isBinaryExpression(e) && COMPARISONS.has(e.getOperatorToken().getKind())
        ? `: ${evalSize(lowerSizeExpr(e.getLeft(), sizeNames, param), env)} ${e.getOperatorToken().getText()} ${evalSize(lowerSizeExpr(e.getRight(), sizeNames, param), env)} is false`
        : ' (false)';
      const which = perTarget ? `the ${dslTargetName(target)} defaults` : 'the defaults';
      const values = tunables.map((t) => `${t.name}=${defaults[t.name]}`).join(', ');
      throw errorAt(c.node, `${which} ${values} violate constraint '${c.text}'${actual}`, `expected every target's first candidates to satisfy the constraints: reorder ${perTarget ? `the ${dslTargetName(target)} lists` : 'the candidates'} or relax the constraint`);
    }
  }
}
