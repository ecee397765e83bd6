import { ts, type SourceFile } from 'ts-morph';
import { CompileError } from '../common/errors.js';
import { locAtPos } from './source.js';

/**
 * Nesting limits, checked before anything recursive (ts-morph's traversals, the type
 * checker, lowering, the passes) sees the file. WGSL compilers bound nesting: Tint stops at
 * 128 nested parentheses and braces together ("maximum parser recursive depth reached"),
 * and the WGSL output parenthesises every operator, so an expression nested N levels deep
 * in a kernel is at least N deep in WGSL. These limits leave room for the braces around it.
 */
export const MAX_EXPRESSION_DEPTH = 64;
export const MAX_STATEMENT_DEPTH = 32;

const EXPRESSIONS: ReadonlySet<ts.SyntaxKind> = new Set([
  ts.SyntaxKind.BinaryExpression, ts.SyntaxKind.PrefixUnaryExpression, ts.SyntaxKind.PostfixUnaryExpression,
  ts.SyntaxKind.ParenthesizedExpression, ts.SyntaxKind.CallExpression, ts.SyntaxKind.ElementAccessExpression,
  ts.SyntaxKind.ConditionalExpression, ts.SyntaxKind.ArrayLiteralExpression, ts.SyntaxKind.ObjectLiteralExpression,
]);
const STATEMENTS: ReadonlySet<ts.SyntaxKind> = new Set([
  ts.SyntaxKind.IfStatement, ts.SyntaxKind.ForStatement, ts.SyntaxKind.WhileStatement, ts.SyntaxKind.DoStatement,
  ts.SyntaxKind.ForOfStatement, ts.SyntaxKind.ForInStatement,
]);
/** Nodes that start a fresh expression/statement context (a function body resets both counts). */
const FUNCTIONS: ReadonlySet<ts.SyntaxKind> = new Set([ts.SyntaxKind.ArrowFunction, ts.SyntaxKind.FunctionExpression, ts.SyntaxKind.FunctionDeclaration]);

/** Throws at the outermost node of the first expression or statement nest that is too deep. */
export function checkNesting(sf: SourceFile): void {
  // An explicit stack: the point is to survive files whose trees are thousands of levels deep.
  const stack: { node: ts.Node; expr: number; stmt: number; exprRoot?: ts.Node; stmtRoot?: ts.Node }[] = [{ node: sf.compilerNode, expr: 0, stmt: 0 }];
  while (stack.length) {
    const { node, expr, stmt, exprRoot, stmtRoot } = stack.pop()!;
    const kind = node.kind;
    let e = expr, st = stmt, er = exprRoot, sr = stmtRoot;
    if (FUNCTIONS.has(kind)) [e, st, er, sr] = [0, 0, undefined, undefined];
    else if (EXPRESSIONS.has(kind)) {
      e++;
      er ??= node;
    } else if (ts.isStatement(node) || ts.isBlock(node)) {
      [e, er] = [0, undefined];
      // A bare block nested in a block adds a level; the block of an if or loop does not.
      const counts = STATEMENTS.has(kind) || (ts.isBlock(node) && node.parent !== undefined && ts.isBlock(node.parent));
      if (counts) {
        st++;
        sr ??= node;
      }
    }
    if (e > MAX_EXPRESSION_DEPTH) throw tooDeep(sf, er!, `expression nested more than ${MAX_EXPRESSION_DEPTH} levels deep`, 'split it into several statements with intermediate variables');
    if (st > MAX_STATEMENT_DEPTH) throw tooDeep(sf, sr!, `statements nested more than ${MAX_STATEMENT_DEPTH} levels deep (ifs and loops)`, 'move inner parts into helper functions or flatten the conditions');
    node.forEachChild((child) => {
      stack.push({ node: child, expr: e, stmt: st, exprRoot: er, stmtRoot: sr });
    });
  }
}

function tooDeep(sf: SourceFile, node: ts.Node, detail: string, hint: string): CompileError {
  const start = node.getStart(sf.compilerNode);
  const text = sf.getFullText().slice(start, Math.min(node.end, start + 80));
  return new CompileError(`${detail}; WGSL compilers reject deeper nesting`, locAtPos(sf, start), text, hint);
}
