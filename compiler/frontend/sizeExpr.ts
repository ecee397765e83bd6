import { Node, SyntaxKind } from 'ts-morph';
import type { SizeExpr, SizeOp } from '../ir/nodes.js';
import { errorAt, numericValue } from './source.js';

const BIN: Partial<Record<SyntaxKind, SizeOp>> = {
  [SyntaxKind.PlusToken]: '+',
  [SyntaxKind.MinusToken]: '-',
  [SyntaxKind.AsteriskToken]: '*',
  [SyntaxKind.SlashToken]: '/',
  [SyntaxKind.PercentToken]: '%',
};

/**
 * Lowers the body of a config arrow function (`(c) => c.T * c.D`) to a size formula.
 * `ctx` is the name of the arrow's parameter; `c.X` and destructured `X` both name symbol X.
 */
export function lowerSizeExpr(node: Node, ctxNames: ReadonlySet<string>, ctxParam: string | undefined): SizeExpr {
  if (Node.isParenthesizedExpression(node)) return lowerSizeExpr(node.getExpression(), ctxNames, ctxParam);
  if (Node.isNumericLiteral(node)) {
    const v = numericValue(node);
    if (!Number.isInteger(v)) throw errorAt(node, 'size formulas are integer arithmetic', 'use an integer literal');
    return { k: 'num', v };
  }
  if (Node.isPropertyAccessExpression(node)) {
    const obj = node.getExpression();
    if (Node.isIdentifier(obj) && obj.getText() === ctxParam) return sym(node, node.getName(), ctxNames);
  }
  if (Node.isIdentifier(node) && ctxParam === undefined) return sym(node, node.getText(), ctxNames);
  if (Node.isBinaryExpression(node)) {
    const op = BIN[node.getOperatorToken().getKind()];
    if (op) {
      return { k: 'op', op, a: lowerSizeExpr(node.getLeft(), ctxNames, ctxParam), b: lowerSizeExpr(node.getRight(), ctxNames, ctxParam) };
    }
  }
  if (Node.isCallExpression(node)) {
    const callee = node.getExpression().getText();
    const args = node.getArguments();
    const fn = ({ cdiv: 'cdiv', 'Math.min': 'min', 'Math.max': 'max', min: 'min', max: 'max' } as const)[callee];
    if (fn && args.length === 2) {
      return { k: 'op', op: fn, a: lowerSizeExpr(args[0], ctxNames, ctxParam), b: lowerSizeExpr(args[1], ctxNames, ctxParam) };
    }
  }
  throw errorAt(node, 'unsupported size formula', 'size formulas use integer literals, context symbols, + - * / %, cdiv(a, b), min and max');
}

function sym(node: Node, name: string, ctxNames: ReadonlySet<string>): SizeExpr {
  if (!ctxNames.has(name)) throw errorAt(node, `unknown symbol '${name}' in size formula`, `declare '${name}' in the kernel's context parameter type`);
  return { k: 'sym', name };
}

/** Comparison and logic for `constraints`: encoded as size ops so the host can evaluate them. */
export function lowerConstraint(node: Node, ctxNames: ReadonlySet<string>, ctxParam: string | undefined): SizeExpr {
  if (Node.isParenthesizedExpression(node)) return lowerConstraint(node.getExpression(), ctxNames, ctxParam);
  if (Node.isBinaryExpression(node)) {
    const kind = node.getOperatorToken().getKind();
    const l = () => lowerSizeExpr(node.getLeft(), ctxNames, ctxParam);
    const r = () => lowerSizeExpr(node.getRight(), ctxNames, ctxParam);
    const sub = (a: SizeExpr, b: SizeExpr): SizeExpr => ({ k: 'op', op: '-', a, b });
    const one: SizeExpr = { k: 'num', v: 1 };
    // Each form evaluates to a value > 0 exactly when the relation holds.
    switch (kind) {
      case SyntaxKind.LessThanEqualsToken: return { k: 'op', op: '+', a: sub(r(), l()), b: one };
      case SyntaxKind.LessThanToken: return sub(r(), l());
      case SyntaxKind.GreaterThanEqualsToken: return { k: 'op', op: '+', a: sub(l(), r()), b: one };
      case SyntaxKind.GreaterThanToken: return sub(l(), r());
      case SyntaxKind.EqualsEqualsEqualsToken:
      case SyntaxKind.EqualsEqualsToken: {
        const d = sub(l(), r());
        return { k: 'op', op: '-', a: one, b: { k: 'op', op: '*', a: d, b: d } };
      }
      case SyntaxKind.AmpersandAmpersandToken: {
        const a = lowerConstraint(node.getLeft(), ctxNames, ctxParam);
        const b = lowerConstraint(node.getRight(), ctxNames, ctxParam);
        return { k: 'op', op: 'min', a, b };
      }
    }
  }
  throw errorAt(node, 'unsupported constraint', 'constraints are comparisons (<, <=, >, >=, ===) of size formulas joined by &&');
}
