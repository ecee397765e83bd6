import { Node, SyntaxKind } from 'ts-morph';
import type { Precondition, Relation } from '../ir/nodes.js';
import { errorAt } from './source.js';
import { lowerSizeExpr } from './sizeExpr.js';

const REL: Partial<Record<SyntaxKind, Relation>> = {
  [SyntaxKind.LessThanToken]: '<',
  [SyntaxKind.LessThanEqualsToken]: '<=',
  [SyntaxKind.GreaterThanToken]: '>',
  [SyntaxKind.GreaterThanEqualsToken]: '>=',
  [SyntaxKind.EqualsEqualsEqualsToken]: '==',
  [SyntaxKind.EqualsEqualsToken]: '==',
  [SyntaxKind.ExclamationEqualsEqualsToken]: '!=',
  [SyntaxKind.ExclamationEqualsToken]: '!=',
};

/**
 * One element of `requires: (c) => [...]`. Kept as relations of two size formulas, not the
 * `> 0` encoding of `constraints`, so that a refusal can say what each side evaluated to.
 * `a && b` gives two preconditions.
 */
export function lowerRequires(node: Node, names: ReadonlySet<string>, ctxParam: string | undefined): Precondition[] {
  if (Node.isParenthesizedExpression(node)) return lowerRequires(node.getExpression(), names, ctxParam);
  if (Node.isBinaryExpression(node)) {
    const kind = node.getOperatorToken().getKind();
    if (kind === SyntaxKind.AmpersandAmpersandToken) return [...lowerRequires(node.getLeft(), names, ctxParam), ...lowerRequires(node.getRight(), names, ctxParam)];
    const rel = REL[kind];
    if (rel) {
      // `c.R === c.N + 1` reads as `R == N + 1` in the manifest and in error messages.
      const own = ctxParam ? node.getText().replace(new RegExp(`\\b${ctxParam}\\.`, 'g'), '') : node.getText();
      const text = own.replace(/\s+/g, ' ').replace(/([=!])==/g, '$1=');
      return [{ text, rel, lhs: lowerSizeExpr(node.getLeft(), names, ctxParam), rhs: lowerSizeExpr(node.getRight(), names, ctxParam) }];
    }
  }
  throw errorAt(node, 'unsupported precondition', 'requires are comparisons (<, <=, >, >=, ===, !==) of size formulas joined by &&');
}
