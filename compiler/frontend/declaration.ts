import { Node, SyntaxKind, type ArrowFunction, type FunctionExpression, type ObjectLiteralExpression, type SourceFile, type TypeNode } from 'ts-morph';
import type { DType } from '../ir/types.js';
import { DTYPES } from '../ir/types.js';
import type { Precondition, ScalarParam, SizeExpr, TensorParam, Tunable } from '../ir/nodes.js';
import { errorAt, dslName, locOf, numericValue } from './source.js';
import { CompileError } from '../common/errors.js';
import { lowerConstraint, lowerSizeExpr } from './sizeExpr.js';
import { lowerRequires } from './requires.js';
import { parseDimFormula } from './dimFormula.js';
import { sizeSymbols } from '../ir/size.js';
import { checkDefaults, parseTunables, type ParsedTunable } from './tunables.js';

export type KernelBody = ArrowFunction | FunctionExpression;

/** What a `kernel(config, body)` call declares, before its body is lowered. */
export interface KernelDeclaration {
  readonly name: string;
  readonly doc: string;
  readonly call: Node;
  readonly body: KernelBody;
  readonly tensors: TensorParam[];
  readonly scalars: ScalarParam[];
  readonly tunables: Tunable[];
  readonly consts: Record<string, number>;
  readonly constraints: { expr: SizeExpr; text: string }[];
  readonly requires: Precondition[];
  readonly workgroup: SizeExpr[];
  readonly grid: SizeExpr[];
  readonly minBlocksPerSM?: number;
  /** Name of the context parameter, or undefined when it is destructured. */
  readonly ctxParam: string | undefined;
  /** Every context member name, by kind. */
  readonly ctxKinds: ReadonlyMap<string, 'dim' | 'scalar' | 'tunable' | 'const'>;
  readonly ctxTypes: ReadonlyMap<string, DType>;
}

/** Finds `export const name = kernel({...}, (...) => {...})` declarations in a file. */
export function findKernels(sf: SourceFile): KernelDeclaration[] {
  const out: KernelDeclaration[] = [];
  // Every kernel(...) call must be the initializer of an exported const: others (default
  // exports, arrays of kernels) would silently never be compiled.
  for (const call of sf.getDescendantsOfKind(SyntaxKind.CallExpression)) {
    if (dslName(call.getExpression()) !== 'kernel') continue;
    const decl = call.getParent();
    const stmt = decl && Node.isVariableDeclaration(decl) && decl.getInitializer() === call ? decl.getVariableStatement() : undefined;
    if (!stmt || !Node.isVariableDeclaration(decl)) {
      throw errorAt(call, 'a kernel must be declared as `export const name = kernel(...)`', 'the const name is the kernel name');
    }
    const name = decl.getName();
    if (!stmt.isExported()) throw new CompileError(`kernel '${name}' is not exported`, locOf(decl), decl.getText().split('\n')[0], 'export kernels so tools and tests can reach them', name);
    try {
      out.push(parseKernel(name, call));
    } catch (e) {
      // Declaration errors name their kernel like body errors do.
      if (e instanceof CompileError && !e.kernel) throw new CompileError(e.detail, e.loc, e.snippet, e.hint, name);
      throw e;
    }
  }
  return out;
}

export function dtypeOfTypeNode(node: TypeNode | undefined, what: string, anchor: Node): DType {
  if (node && Node.isTypeReference(node)) {
    const name = dslName(node.getTypeName());
    if (name && (DTYPES as readonly string[]).includes(name)) return name as DType;
  }
  if (node && node.getKind() === SyntaxKind.BooleanKeyword) return 'bool';
  throw errorAt(node ?? anchor, `${what} needs a DSL dtype annotation`, `annotate it with one of ${DTYPES.join(', ')} from compiler/dsl`);
}

function parseKernel(name: string, call: Node & { getArguments(): Node[] }): KernelDeclaration {
  const [cfgNode, bodyNode] = call.getArguments();
  if (!cfgNode || !Node.isObjectLiteralExpression(cfgNode)) throw errorAt(call, `kernel '${name}': first argument must be an object literal config`);
  if (!bodyNode || !(Node.isArrowFunction(bodyNode) || Node.isFunctionExpression(bodyNode))) {
    throw errorAt(call, `kernel '${name}': second argument must be the kernel function`);
  }
  const params = bodyNode.getParameters();
  if (params.length < 2) throw errorAt(bodyNode, `kernel '${name}' needs tensor parameters and a context parameter last`);

  const tensors: TensorParam[] = [];
  for (const p of params.slice(0, -1)) tensors.push(parseTensorParam(p));
  const dims = new Set(tensors.flatMap((t) => t.shape.flatMap((d) => [...sizeSymbols(d)])));

  const parsedTunables = parseTunables(configProperty(cfgNode, 'tunables'));
  const tunables = parsedTunables.map((p) => p.tunable);
  const consts = parseConsts(cfgNode);
  const ctx = params[params.length - 1];
  const ctxType = resolveTypeAlias(ctx.getTypeNode());
  if (!ctxType || !Node.isTypeLiteral(ctxType)) {
    throw errorAt(ctx, `kernel '${name}': the last parameter must be the context, typed as an object literal type`, "e.g. c: { T: i32; D: i32; EPS: f32; WG: i32 }");
  }
  const ctxKinds = new Map<string, 'dim' | 'scalar' | 'tunable' | 'const'>();
  const ctxTypes = new Map<string, DType>();
  const scalars: ScalarParam[] = [];
  for (const member of ctxType.getProperties()) {
    const m = member.getName();
    const dtype = dtypeOfTypeNode(member.getTypeNode(), `context member '${m}'`, member);
    ctxTypes.set(m, dtype);
    if (tunables.some((t) => t.name === m)) ctxKinds.set(m, 'tunable');
    else if (m in consts) ctxKinds.set(m, 'const');
    else {
      const isDim = dims.has(m);
      if (isDim && dtype !== 'i32') throw errorAt(member, `shape symbol '${m}' must be typed i32`);
      if (dtype !== 'i32' && dtype !== 'u32' && dtype !== 'f32') throw errorAt(member, `runtime scalar '${m}' must be i32, u32 or f32`);
      ctxKinds.set(m, isDim ? 'dim' : 'scalar');
      scalars.push({ name: m, dtype, isDim });
    }
    if ((ctxKinds.get(m) === 'tunable' || ctxKinds.get(m) === 'const') && dtype !== 'i32' && dtype !== 'f32') {
      throw errorAt(member, `compile-time constant '${m}' must be typed i32 or f32`);
    }
  }
  for (const d of dims) if (!ctxKinds.has(d)) throw errorAt(ctxType, `shape symbol '${d}' is missing from the context type`, `add '${d}: i32'`);
  for (const t of tensors) {
    const tunable = t.shape.flatMap((d) => [...sizeSymbols(d)]).find((n) => tunables.some((x) => x.name === n));
    if (tunable) throw errorAt(params.find((p) => p.getName() === t.name)!, `tensor '${t.name}': dimension uses tunable '${tunable}'`, 'a tensor\'s size must not depend on the tiling: use shape symbols, consts and literals');
  }
  for (const t of tunables) if (!ctxKinds.has(t.name)) throw errorAt(ctxType, `tunable '${t.name}' is missing from the context type`, `add '${t.name}: i32'`);
  for (const c of Object.keys(consts)) if (!ctxKinds.has(c)) throw errorAt(ctxType, `const '${c}' is missing from the context type`);
  checkConstValues(cfgNode, consts, parsedTunables, ctxTypes);

  const ctxParam = Node.isIdentifier(ctx.getNameNode()) ? ctx.getName() : undefined;
  if (!ctxParam && !Node.isObjectBindingPattern(ctx.getNameNode())) throw errorAt(ctx, 'unsupported context parameter pattern');
  const sizeNames = new Set([...ctxKinds.keys()].filter((k) => ctxKinds.get(k) !== 'scalar'));
  const sizeFn = (key: string, required: boolean) => configFunction(cfgNode, key, required, name);
  const listOf = (key: string): SizeExpr[] => {
    const fn = sizeFn(key, true)!;
    return arrayElements(fn.body, key).map((e) => lowerSizeExpr(e, sizeNames, fn.param));
  };
  const workgroup = listOf('workgroup');
  const grid = listOf('grid');
  const cons = sizeFn('constraints', false);
  const dimNames = new Set([...ctxKinds.keys()].filter((k) => ctxKinds.get(k) === 'dim'));
  const declared = cons ? arrayElements(cons.body, 'constraints').map((e) => ({ expr: lowerConstraint(e, sizeNames, cons.param, dimNames), text: e.getText(), node: e })) : [];
  checkDefaults(tunables, consts, declared, sizeNames, cons?.param);
  const constraints = declared.map(({ expr, text }) => ({ expr, text }));
  const requires = parseRequires(sizeFn('requires', false), new Set(ctxKinds.keys()));
  if (workgroup.length < 1 || workgroup.length > 3) throw errorAt(cfgNode, 'workgroup must have 1 to 3 dimensions');
  if (grid.length < 1 || grid.length > 3) throw errorAt(cfgNode, 'grid must have 1 to 3 dimensions');

  const docProp = configProperty(cfgNode, 'doc');
  const docInit = docProp && Node.isPropertyAssignment(docProp) ? docProp.getInitializer() : undefined;
  const doc = docInit && Node.isStringLiteral(docInit) ? docInit.getLiteralValue() : docInit && Node.isNoSubstitutionTemplateLiteral(docInit) ? docInit.getLiteralValue() : '';
  const minBlocksPerSM = parseMinBlocks(cfgNode);
  return { name, doc, call, body: bodyNode, tensors, scalars, tunables, consts, constraints, requires, workgroup, grid, ...(minBlocksPerSM ? { minBlocksPerSM } : {}), ctxParam, ctxKinds, ctxTypes };
}

function parseTensorParam(p: Node & { getName(): string; getTypeNode(): TypeNode | undefined }): TensorParam {
  const t = p.getTypeNode();
  const kind = t && Node.isTypeReference(t) ? dslName(t.getTypeName()) : undefined;
  if (!t || !Node.isTypeReference(t) || (kind !== 'Tensor' && kind !== 'Out' && kind !== 'InOut')) {
    throw errorAt(p, `parameter '${p.getName()}' must be a Tensor<dtype, [dims]>, Out<dtype, [dims]> or InOut<dtype, [dims]>`, 'only the last parameter is the context object');
  }
  const [dt, shapeNode] = t.getTypeArguments();
  const dtype = dtypeOfTypeNode(dt, `tensor '${p.getName()}'`, p);
  if (dtype === 'bool') throw errorAt(dt, 'tensors of bool are not supported', 'use i32 or u32');
  if (!shapeNode || !Node.isTupleTypeNode(shapeNode)) throw errorAt(t, `tensor '${p.getName()}' needs a shape tuple like ['T', 'D']`);
  const shape = shapeNode.getElements().map((e) => parseDim(Node.isNamedTupleMember(e) ? e.getTypeNode() : e, p.getName()));
  if (shape.length === 0) throw errorAt(shapeNode, 'tensors need at least one dimension');
  return { name: p.getName(), dtype, shape, access: kind === 'Out' ? 'write' : kind === 'InOut' ? 'readwrite' : 'read' };
}

/** One dimension of a shape tuple: a literal size (`192`), or a string naming a symbol or a formula (`'cdiv(K, 128)'`). */
function parseDim(e: TypeNode, tensor: string): SizeExpr {
  const lit = Node.isLiteralTypeNode(e) ? e.getLiteral() : undefined;
  if (lit && Node.isNumericLiteral(lit)) {
    const v = numericValue(lit);
    if (!Number.isInteger(v) || v < 1) throw errorAt(e, `tensor '${tensor}': a literal dimension must be a positive integer, got ${lit.getText()}`);
    return { k: 'num', v };
  }
  if (!lit || !Node.isStringLiteral(lit)) throw errorAt(e, `tensor '${tensor}': a dimension is a number literal (192) or a string naming a shape symbol, a const or a formula ('T', 'cdiv(K, 128)')`);
  try {
    return parseDimFormula(lit.getLiteralValue());
  } catch (err) {
    throw errorAt(e, `tensor '${tensor}': ${(err as Error).message}`, "formulas use shape symbols, consts, integer literals, + - * / %, cdiv(a, b), min and max");
  }
}

/** `requires` may name every context member: runtime scalars too, since the host checks it with their values. */
function parseRequires(fn: { body: Node; param: string | undefined } | undefined, names: ReadonlySet<string>): Precondition[] {
  return fn ? arrayElements(fn.body, 'requires').flatMap((e) => lowerRequires(e, names, fn.param)) : [];
}

function parseMinBlocks(cfg: ObjectLiteralExpression): number | undefined {
  const prop = configProperty(cfg, 'minBlocksPerSM');
  if (!prop) return undefined;
  const v = Node.isPropertyAssignment(prop) ? prop.getInitializer() : undefined;
  if (!v || !Node.isNumericLiteral(v) || !Number.isInteger(numericValue(v)) || numericValue(v) < 1 || numericValue(v) > 32) {
    throw errorAt(v ?? prop, 'minBlocksPerSM must be an integer literal from 1 to 32', 'the workgroups per SM the registers must leave room for');
  }
  return numericValue(v);
}

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

/**
 * An i32 const or tunable must hold an i32: a fractional one would be rendered as `1.5` into
 * integer code (or truncated differently per target), an out-of-range one wraps.
 */
function checkConstValues(cfg: ObjectLiteralExpression, consts: Record<string, number>, tunables: readonly ParsedTunable[], types: ReadonlyMap<string, DType>): void {
  const where = (key: string, name: string): Node => {
    const list = configProperty(cfg, key);
    const init = list && Node.isPropertyAssignment(list) ? list.getInitializer() : undefined;
    const prop = init && Node.isObjectLiteralExpression(init) ? init.getProperty(name) : undefined;
    const value = prop && Node.isPropertyAssignment(prop) ? prop.getInitializer() : undefined;
    return value ?? prop ?? cfg;
  };
  const check = (value: number, name: string, node: () => Node, what: string) => {
    if (types.get(name) !== 'i32') return;
    if (!Number.isInteger(value)) throw errorAt(node(), `${what} '${name}' is typed i32 but has the fractional value ${value}`, `use an integer, or type '${name}' as f32 in the context`);
    if (value < I32_MIN || value > I32_MAX) throw errorAt(node(), `${what} '${name}' = ${value} is out of range for i32 (${I32_MIN} to ${I32_MAX})`);
  };
  for (const [name, value] of Object.entries(consts)) check(value, name, () => where('consts', name), 'const');
  for (const t of tunables) for (const c of t.candidates) check(c.value, t.tunable.name, () => c.node, 'tunable');
}

function parseConsts(cfg: ObjectLiteralExpression): Record<string, number> {
  const prop = configProperty(cfg, 'consts');
  if (!prop) return {};
  const init = Node.isPropertyAssignment(prop) ? prop.getInitializer() : undefined;
  if (!init || !Node.isObjectLiteralExpression(init)) throw errorAt(prop, 'consts must be an object literal of numbers');
  const out: Record<string, number> = {};
  for (const c of init.getProperties()) {
    const v = Node.isPropertyAssignment(c) ? c.getInitializer() : undefined;
    let num: number | undefined;
    if (v && Node.isNumericLiteral(v)) num = numericValue(v);
    const operand = v && Node.isPrefixUnaryExpression(v) && v.getOperatorToken() === SyntaxKind.MinusToken ? v.getOperand() : undefined;
    if (operand && Node.isNumericLiteral(operand)) num = -numericValue(operand);
    if (num === undefined) throw errorAt(c, 'a const must be a numeric literal');
    out[(c as Node & { getName(): string }).getName()] = num;
  }
  return out;
}

function configFunction(cfg: ObjectLiteralExpression, key: string, required: boolean, kernel: string): { body: Node; param: string | undefined } | undefined {
  const prop = configProperty(cfg, key);
  if (!prop) {
    if (required) throw errorAt(cfg, `kernel '${kernel}' config is missing '${key}'`, `add ${key}: (c) => [...]`);
    return undefined;
  }
  const fn = Node.isPropertyAssignment(prop) ? prop.getInitializer() : undefined;
  if (!fn || !Node.isArrowFunction(fn)) throw errorAt(prop, `'${key}' must be an arrow function of the context`, `${key}: (c) => [...]`);
  const p = fn.getParameters()[0];
  const param = p && Node.isIdentifier(p.getNameNode()) ? p.getName() : undefined;
  return { body: fn.getBody(), param };
}

function arrayElements(body: Node, key: string): Node[] {
  let n = body;
  while (Node.isParenthesizedExpression(n)) n = n.getExpression();
  if (!Node.isArrayLiteralExpression(n)) throw errorAt(body, `'${key}' must return an array literal`);
  return n.getElements();
}

/**
 * A config property, looked up in the literal itself and then in spread objects
 * (`{ doc: '...', ...gemmConfig }`), so kernels that share tiling can share config.
 */
function configProperty(cfg: ObjectLiteralExpression, key: string): Node | undefined {
  const own = cfg.getProperty(key);
  if (own) return own;
  for (const p of cfg.getProperties().reverse()) {
    if (!Node.isSpreadAssignment(p)) continue;
    const src = p.getExpression();
    const decl = Node.isIdentifier(src) ? src.getSymbol()?.getDeclarations()[0] : undefined;
    const init = decl && Node.isVariableDeclaration(decl) ? decl.getInitializer() : undefined;
    if (!init || !Node.isObjectLiteralExpression(init)) throw errorAt(p, 'config spreads must name a const object literal');
    const found = configProperty(init, key);
    if (found) return found;
  }
  return undefined;
}

/** Follows `type Ctx = { ... }` so a context type can be shared by several kernels. */
function resolveTypeAlias(t: TypeNode | undefined): TypeNode | undefined {
  if (!t || !Node.isTypeReference(t)) return t;
  const sym = t.getTypeName().getSymbol();
  const decl = (sym?.isAlias() ? sym.getAliasedSymbol() : sym)?.getDeclarations()[0];
  return decl && Node.isTypeAliasDeclaration(decl) ? resolveTypeAlias(decl.getTypeNode()) : t;
}
