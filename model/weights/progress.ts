/**
 * A one-line byte progress bar on stderr for weight loading/upload: redrawn in place with
 * \r, at most every `intervalMs`, and silent when the stream is not a terminal (logs and
 * CI stay clean) unless forced. The caller ticks it with the bytes it has just handled.
 */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(s: string): unknown;
}

export interface ProgressOptions {
  readonly total: number;
  readonly label?: string;
  readonly stream?: ProgressStream;
  /** Draw even when the stream is not a TTY. */
  readonly force?: boolean;
  readonly intervalMs?: number;
  /** Milliseconds clock; tests pass a fake one. */
  readonly now?: () => number;
}

export interface Progress {
  tick(bytes: number): void;
  /** Draws the final state and ends the line. */
  done(): void;
  readonly bytesDone: number;
}

const BAR = 24;
const mb = (b: number) => (b / 1e6).toFixed(1);

export function createProgress(opts: ProgressOptions): Progress {
  const { total, label = 'weights', stream = process.stderr, intervalMs = 100, now = Date.now } = opts;
  if (!(Number.isFinite(total) && total >= 0)) throw new Error(`createProgress: total must be a byte count >= 0, got ${total}`);
  const visible = opts.force || stream.isTTY === true;
  const start = now();
  let bytesDone = 0;
  let lastDraw = -Infinity;
  let finished = false;
  const draw = () => {
    const t = now();
    lastDraw = t;
    const frac = total === 0 ? 1 : Math.min(1, bytesDone / total);
    const filled = Math.round(frac * BAR);
    const seconds = (t - start) / 1000;
    const rate = seconds > 0 ? `${mb(bytesDone / seconds)} MB/s` : '-- MB/s';
    stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${mb(bytesDone)}/${mb(total)} MB ${rate}`);
  };
  return {
    get bytesDone() {
      return bytesDone;
    },
    tick(bytes) {
      if (finished) throw new Error('progress: tick() after done()');
      if (!(Number.isFinite(bytes) && bytes >= 0)) throw new Error(`progress: tick(bytes) needs a byte count >= 0, got ${bytes}`);
      bytesDone += bytes;
      if (visible && now() - lastDraw >= intervalMs) draw();
    },
    done() {
      if (finished) return;
      finished = true;
      if (!visible) return;
      draw();
      stream.write('\n');
    },
  };
}
