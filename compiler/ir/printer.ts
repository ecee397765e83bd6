import type { BlockRef, Expr, Kernel, SizeExpr, Stmt } from './nodes.js';
import type { LoweredKernel } from './lowered.js';
import { mmaDepth } from './nodes.js';
import { sizeToString } from './size.js';

/** Human-readable IR (`mimo-compile --dump-ir`). One statement a line, types on declarations. */
export function printKernel(k: Kernel | LoweredKernel): string {
  const lines: string[] = [];
  const consts = Object.entries(k.consts).map(([n, v]) => `${n}=${v}`).join(', ');
  lines.push(`kernel ${k.name}${consts ? `<${consts}>` : ''}  // ${k.file}`);
  for (const t of k.tunables) lines.push(`  tunable ${t.name} in ${t.perTarget ? Object.entries(t.perTarget).map(([n, v]) => `${n} {${v.join(', ')}}`).join(' ') : `{${t.values.join(', ')}}`}`);
  for (const c of k.constraints) lines.push(`  constraint ${c.text}`);
  for (const r of k.requires) lines.push(`  requires ${r.text}`);
  for (const t of k.tensors) lines.push(`  ${t.access.padEnd(9)} ${t.name}: ${t.dtype}[${t.shape.map(sizeToString).join(', ')}]${t.packed ? ' (packed u32)' : ''}`);
  for (const s of k.scalars) lines.push(`  uniform   ${s.name}: ${s.dtype}${s.isDim ? ' (dim)' : ''}`);
  const size = (e: SizeExpr | number) => (typeof e === 'number' ? String(e) : sizeToString(e));
  for (const s of k.shared) lines.push(`  shared    ${s.name}: ${s.dtype}[${size(s.size)}]`);
  lines.push(`  workgroup (${k.workgroup.map(size).join(', ')})  grid (${k.grid.map(sizeToString).join(', ')})`);
  printBlock(k.body, 1, lines);
  return lines.join('\n');
}

function printBlock(stmts: readonly Stmt[], depth: number, out: string[]): void {
  const pad = '  '.repeat(depth);
  for (const s of stmts) {
    switch (s.k) {
      case 'let': out.push(`${pad}${s.mutable ? 'var' : 'let'} ${s.name}: ${s.type} = ${printExpr(s.init)}`); break;
      case 'assign': out.push(`${pad}${s.name} = ${printExpr(s.value)}`); break;
      case 'store': out.push(`${pad}${s.space}.${s.buf}[${printExpr(s.index)}] = ${printExpr(s.value)}`); break;
      case 'storePacked': out.push(`${pad}packed${s.width}.${s.buf}[${printExpr(s.word)}] @ ${printExpr(s.shift)} = ${printExpr(s.bits)}`); break;
      case 'if':
        out.push(`${pad}if ${printExpr(s.cond)} {`);
        printBlock(s.then, depth + 1, out);
        if (s.else.length) {
          out.push(`${pad}} else {`);
          printBlock(s.else, depth + 1, out);
        }
        out.push(`${pad}}`);
        break;
      case 'pipelined':
        out.push(`${pad}pipelined ${s.index} in [${printExpr(s.start)}, ${printExpr(s.end)}) step ${printExpr(s.step)}, ${printExpr(s.stages)} stages {`);
        printBlock(s.body, depth + 1, out);
        out.push(`${pad}}`);
        break;
      case 'for': {
        const init = s.init.map((x) => printStmtInline(x)).join('; ');
        const upd = s.update.map((x) => printStmtInline(x)).join('; ');
        out.push(`${pad}for (${init}; ${printExpr(s.cond)}; ${upd}) {`);
        printBlock(s.body, depth + 1, out);
        out.push(`${pad}}`);
        break;
      }
      case 'break': case 'continue': case 'return': case 'barrier': out.push(`${pad}${s.k}`); break;
      case 'localArray': out.push(`${pad}local ${s.name}: ${s.type}[${sizeToString(s.size)}]`); break;
      case 'atomic': out.push(`${pad}${s.result ? `let ${s.result} = ` : ''}atomic_${s.op}(${s.space}.${s.buf}[${printExpr(s.index)}], ${printExpr(s.value)})`); break;
      case 'subgroup': out.push(`${pad}let ${s.result}: ${s.type} = subgroup_${s.op}(${printExpr(s.value)}${s.laneMask ? `, ${printExpr(s.laneMask)}` : ''})`); break;
      case 'fragment': out.push(`${pad}fragment ${s.name}: f32[16x16] = 0`); break;
      case 'mma': out.push(`${pad}mma ${s.acc} += ${s.a.buf}[${printExpr(s.a.offset)}; ${printExpr(s.a.stride)}] * ${s.b.buf}[${printExpr(s.b.offset)}; ${printExpr(s.b.stride)}]${s.bLayout === 'nk' ? 'ᵀ' : ''}`); break;
      case 'fragmentAccumulate': out.push(`${pad}${s.acc} += ${s.part} * rows(shared.${s.rowScale}[${printExpr(s.rowOffset)}]) * ${printExpr(s.scale)}`); break;
      case 'fragmentOperand': out.push(`${pad}operand ${s.name}: ${s.dtype}[16x16] = ${s.acc}`); break;
      case 'mmaFragment': out.push(`${pad}mma ${s.acc} += ${s.a} * ${s.b.buf}[${printExpr(s.b.offset)}; ${printExpr(s.b.stride)}]`); break;
      case 'fragmentStore': out.push(`${pad}store_fragment ${s.acc} -> ${s.dst.buf}[${printExpr(s.dst.offset)}; ${printExpr(s.dst.stride)}]`); break;
      case 'mmaSync': out.push(`${pad}mma_sync.m16n8k${mmaDepth(s.dtype)}.${s.dtype} ${s.acc}[${s.accBase}..${s.accBase + 3}] += a(${s.a.map(printExpr).join(', ')}) * b(${s.b.map(printExpr).join(', ')})`); break;
      case 'blockAcc': out.push(`${pad}block_acc ${s.name}: f32[${printExpr(s.rows)} x ${printExpr(s.cols)}] = 0`); break;
      case 'blockMma': out.push(`${pad}block_mma ${s.acc} += ${printBlockRef(s.a)} * ${printBlockRef(s.b)}${s.bLayout === 'nk' ? 'ᵀ' : ''}`); break;
      case 'blockStore': out.push(`${pad}block_store ${s.acc} -> ${printBlockRef(s.dst)}`); break;
      case 'blockAccumulate': out.push(`${pad}${s.acc} += ${s.part} * rows(shared.${s.rowScale}) * ${printExpr(s.scale)}`); break;
      case 'blockStoreGlobal': out.push(`${pad}block_store ${s.acc} -> global.${s.out}[${printExpr(s.offset)}; ${printExpr(s.stride)}] at (${printExpr(s.r0)}, ${printExpr(s.c0)}) within (${printExpr(s.rows)}, ${printExpr(s.cols)})`); break;
      case 'blockMap':
        out.push(`${pad}block_map ${s.acc} = (${s.params.join(', ')}) of (${s.inputs.join(', ')}) {`);
        printBlock(s.body, depth + 1, out);
        out.push(`${pad}} -> ${s.result}`);
        break;
      case 'ldmatrix': out.push(`${pad}let ${s.results.join(', ')}: u32 = ldmatrix.x${s.count}${s.trans ? '.trans' : ''}(shared.${s.buf}[${printExpr(s.rowIndex)}])`); break;
      case 'tileCopy': out.push(`${pad}copy_tile shared.${s.dst}[${printExpr(s.dstOffset)}; ${printExpr(s.tileRows)} x ${printExpr(s.tileCols)}] <- global.${s.src}[${printExpr(s.srcOffset)}; ${printExpr(s.srcStride)}] at (${printExpr(s.r0)}, ${printExpr(s.c0)}) within (${printExpr(s.rows)}, ${printExpr(s.cols)})`); break;
      case 'asyncCopy': out.push(`${pad}cp_async16 shared.${s.dst}[${printExpr(s.dstIndex)}] <- global.${s.src}[${printExpr(s.srcIndex)}] (${printExpr(s.srcBytes)} bytes)`); break;
      case 'asyncCommit': out.push(`${pad}cp_async_commit`); break;
      case 'asyncWait': out.push(`${pad}cp_async_wait ${s.pending}`); break;
      case 'archSwitch':
        out.push(`${pad}arch sm_90a {`);
        printBlock(s.sm90a, depth + 1, out);
        out.push(`${pad}} other {`);
        printBlock(s.other, depth + 1, out);
        out.push(`${pad}}`);
        break;
      case 'wgmma': out.push(`${pad}wgmma.m64n${s.n}.${s.dtype} ${s.acc} += ${s.a.buf}[${printExpr(s.a.index)}; sw${s.a.rowBytes}] * ${s.b.buf}[${printExpr(s.b.index)}; sw${s.b.rowBytes}${s.b.mnLbo === undefined ? ']ᵀ' : `; mn lbo ${s.b.mnLbo}]`}`); break;
      case 'wgmmaSync': out.push(`${pad}wgmma_${s.op}${s.accs ? ` ${s.accs.join(', ')}` : ''}`); break;
    }
  }
}

function printBlockRef(r: BlockRef): string {
  return `${r.buf}[${printExpr(r.offset)}; ${printExpr(r.rows)} x ${printExpr(r.cols)}; ${printExpr(r.stride)}]`;
}

function printStmtInline(s: Stmt): string {
  const out: string[] = [];
  printBlock([s], 0, out);
  return out.join(' ');
}

export function printExpr(e: Expr): string {
  switch (e.k) {
    case 'const': return typeof e.value === 'boolean' ? String(e.value) : `${e.value}:${e.type}`;
    case 'var': return e.name;
    case 'uniform': return `$${e.name}`;
    case 'sym': return `#${e.name}`;
    case 'builtin': return e.name === 'localId' || e.name === 'workgroupId' || e.name === 'numWorkgroups' ? `${e.name}.${'xyz'[e.axis]}` : e.name;
    case 'bin': return `(${printExpr(e.a)} ${e.op} ${printExpr(e.b)})`;
    case 'un': return `${e.op}${printExpr(e.a)}`;
    case 'call': return `${e.fn}(${e.args.map(printExpr).join(', ')})`;
    case 'cast': return `${e.type}(${printExpr(e.a)})`;
    case 'bitcast': return `bitcast<${e.type}>(${printExpr(e.a)})`;
    case 'fragmentCoord': return `fragment_${e.axis}(${e.elem})`;
    case 'select': return `select(${printExpr(e.cond)}, ${printExpr(e.a)}, ${printExpr(e.b)})`;
    case 'load': return `${e.space}.${e.buf}[${printExpr(e.index)}]`;
    case 'loadWord': return `word(${e.space}.${e.buf}[${printExpr(e.index)}])`;
  }
}
