/**
 * Where an expression or statement came from in the kernel source: carried by the IR,
 * printed by every error (compile, verifier, interpreter), so it sits below all of them.
 */
export interface SourceLoc {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export const formatLoc = (l: SourceLoc | undefined): string => (l ? `${l.file}:${l.line}:${l.col}` : '<unknown>');
