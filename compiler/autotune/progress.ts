/**
 * A one-line progress bar on stderr (redrawn in place on a terminal, one line per step
 * otherwise, so CI logs stay readable).
 */
export class ProgressBar {
  private done = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private total: number, private readonly width = 28) {}

  grow(extra: number): void {
    this.total += extra;
  }

  tick(label: string): void {
    this.done = Math.min(this.total, this.done + 1);
    const frac = this.total ? this.done / this.total : 1;
    const filled = Math.round(frac * this.width);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}] ${this.done}/${this.total} ${label}`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`);
    else process.stderr.write(`${line}\n`);
  }

  end(): void {
    if (this.tty) process.stderr.write('\n');
  }
}
