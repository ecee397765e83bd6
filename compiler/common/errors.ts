import type { SourceLoc } from './source-loc.js';
import { formatLoc } from './source-loc.js';

/**
 * A user-facing compile error. Every error the compiler reports about a kernel is one
 * of these, so callers can print `file:line:col: message`, the offending text and a
 * hint, and tests can assert on each part.
 */
export class CompileError extends Error {
  constructor(
    readonly detail: string,
    readonly loc?: SourceLoc,
    readonly snippet?: string,
    readonly hint?: string,
    readonly kernel?: string,
  ) {
    super(CompileError.render(detail, loc, snippet, hint, kernel));
    this.name = 'CompileError';
  }

  static render(detail: string, loc?: SourceLoc, snippet?: string, hint?: string, kernel?: string): string {
    const where = loc ? `${formatLoc(loc)}: ` : '';
    const who = kernel ? `[kernel ${kernel}] ` : '';
    let text = `${where}error: ${who}${detail}`;
    if (snippet) text += `\n    ${snippet.split('\n')[0]}`;
    if (hint) text += `\n  hint: ${hint}`;
    return text;
  }
}

/** Several errors found in one compilation, reported together. */
export class CompileErrors extends Error {
  constructor(readonly errors: readonly CompileError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'CompileErrors';
  }
}
