import type { SourceLoc } from '../common/source-loc.js';
import { formatLoc } from '../common/source-loc.js';

export interface ThreadId {
  readonly workgroup: [number, number, number];
  readonly local: [number, number, number];
}

/**
 * A fault found while interpreting a kernel: bad arguments, an out-of-bounds access, a
 * read of unwritten shared memory, a division by zero, a divergent barrier. The message
 * reads `file:line:col: [kernel name] detail, workgroup (x,y,z) thread (x,y,z)`.
 */
export class InterpretError extends Error {
  constructor(
    readonly kernel: string,
    readonly detail: string,
    readonly loc?: SourceLoc,
    readonly thread?: ThreadId,
  ) {
    super(InterpretError.render(kernel, detail, loc, thread));
    this.name = 'InterpretError';
  }

  static render(kernel: string, detail: string, loc?: SourceLoc, thread?: ThreadId): string {
    const where = loc ? `${formatLoc(loc)}: ` : '';
    const who = thread ? `, workgroup (${thread.workgroup.join(',')}) thread (${thread.local.join(',')})` : '';
    return `${where}[kernel ${kernel}] ${detail}${who}`;
  }
}
