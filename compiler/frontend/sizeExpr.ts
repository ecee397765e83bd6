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
export function lowerSizeExpr(node: Node, ctxNames: ReadonlySet<string>, ctxParam: string | undefined, runtime: ReadonlySet<string> = NONE): SizeExpr {
  const sub = (n: Node) => lowerSizeExpr(n, ctxNames, ctxParam, runtime);
  if (Node.isParenthesizedExpression(node)) return sub(node.getExpression());
  if (Node.isNumericLiteral(node)) {
    const v = numericValue(node);
    if (!Number.isInteger(v)) throw errorAt(node, 'size formulas are integer arithmetic', 'use an integer literal');
    return { k: 'num', v };
  }
  if (Node.isPropertyAccessExpression(node)) {
    const obj = node.getExpression();
    if (Node.isIdentifier(obj) && obj.getText() === ctxParam) return sym(node, node.getName(), ctxNames, runtime);
  }
  if (Node.isIdentifier(node) && ctxParam === undefined) return sym(node, node.getText(), ctxNames, runtime);
  if (Node.isBinaryExpression(node)) {
    const op = BIN[node.getOperatorToken().getKind()];
    if (op) return divisorChecked(op, sub(node.getLeft()), sub(node.getRight()), node.getRight());
  }
  if (Node.isCallExpression(node)) {
    const callee = node.getExpression().getText();
    const args = node.getArguments();
    const fn = ({ cdiv: 'cdiv', 'Math.min': 'min', 'Math.max': 'max', min: 'min', max: 'max' } as const)[callee];
    if (fn && args.length === 2) return divisorChecked(fn, sub(args[0]), sub(args[1]), args[1]);
  }
  throw errorAt(node, 'unsupported size formula', 'size formulas use integer literals, context symbols, + - * / %, cdiv(a, b), min and max');
}

const NONE: ReadonlySet<string> = new Set();

/** A literal zero divisor is caught here, with its location; one a tunable makes zero, when the kernel is specialised. */
function divisorChecked(op: SizeOp, a: SizeExpr, b: SizeExpr, divisor: Node): SizeExpr {
  if ((op === '/' || op === '%' || op === 'cdiv') && b.k === 'num' && b.v === 0) {
    throw errorAt(divisor, `size formula ${op === 'cdiv' ? 'cdiv(a, 0)' : `a ${op} 0`} divides by zero`, 'divide by a nonzero literal or a tunable');
  }
  return { k: 'op', op, a, b };
}

/** `runtime`: symbols that exist but may not appear here (shape symbols in constraints). */
function sym(node: Node, name: string, ctxNames: ReadonlySet<string>, runtime: ReadonlySet<string>): SizeExpr {
  if (runtime.has(name)) {
    throw errorAt(node, `constraint reads runtime shape symbol '${name}'`, 'constraints are checked when the kernel is compiled, before any shape is known: use only tunables and consts (check shapes in the launcher)');
  }
  if (!ctxNames.has(name)) throw errorAt(node, `unknown symbol '${name}' in size formula`, `declare '${name}' in the kernel's context parameter type`);
  return { k: 'sym', name };
}

/** Comparison and logic for `constraints`: encoded as size ops so the host can evaluate them. */
export function lowerConstraint(node: Node, ctxNames: ReadonlySet<string>, ctxParam: string | undefined, runtime: ReadonlySet<string> = NONE): SizeExpr {
  if (Node.isParenthesizedExpression(node)) return lowerConstraint(node.getExpression(), ctxNames, ctxParam, runtime);
  if (Node.isBinaryExpression(node)) {
    const kind = node.getOperatorToken().getKind();
    const l = () => lowerSizeExpr(node.getLeft(), ctxNames, ctxParam, runtime);
    const r = () => lowerSizeExpr(node.getRight(), ctxNames, ctxParam, runtime);
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
        const a = lowerConstraint(node.getLeft(), ctxNames, ctxParam, runtime);
        const b = lowerConstraint(node.getRight(), ctxNames, ctxParam, runtime);
        return { k: 'op', op: 'min', a, b };
      }
    }
  }
  throw errorAt(node, 'unsupported constraint', 'constraints are comparisons (<, <=, >, >=, ===) of size formulas joined by &&');
}
