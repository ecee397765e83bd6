/**
 * The pipe to one emulator server process (server-source.ts): commands go out as they are
 * issued, so the server computes while the caller records the next launches; only READ
 * and SYNC wait for an answer, in FIFO order. The process never keeps Node alive while
 * nothing waits on it, and a server that dies or outlives `timeoutMs` fails every wait
 * with what it printed on stderr and the kernels it was given since the last SYNC.
 */
import { spawn, type ChildProcess } from 'node:child_process';

interface Waiter {
  /** Fixed-size answer (READ) or, when undefined, a u32 length and that many bytes (SYNC). */
  readonly bytes?: number;
  readonly resolve: (b: Buffer) => void;
  readonly reject: (e: Error) => void;
}

const STDERR_KEEP = 16 << 10;

export class ServerClient {
  private readonly child: ChildProcess;
  private chunks: Buffer[] = [];
  private have = 0;
  private readonly waiting: Waiter[] = [];
  private stderr = '';
  private dead?: Error;
  private timer?: NodeJS.Timeout;
  /** Kernels launched since the last SYNC answered: what a crash or a hang is reported against. */
  readonly recent = new Set<string>();

  constructor(exe: string, private readonly timeoutMs: number) {
    this.child = spawn(exe, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (b: Buffer) => this.received(b));
    this.child.stderr!.on('data', (b: Buffer) => { this.stderr = (this.stderr + b.toString()).slice(-STDERR_KEEP); });
    // A closed pipe shows up as the exit below; EPIPE on a write is not a second error.
    this.child.stdin!.on('error', () => {});
    this.child.on('error', (e) => this.fail(new Error(`[cuda-emu] the emulator server ${exe} could not run: ${e.message}`)));
    this.child.on('exit', (code, signal) => {
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      this.fail(new Error(`[kernel ${this.kernels()}] the emulator server ${how}${this.stderr ? `:\n${this.stderr.trimEnd()}` : ''}`));
    });
    this.idle();
  }

  private kernels(): string {
    return [...this.recent].join(', ') || '(none)';
  }

  send(b: Buffer): void {
    if (this.dead) throw this.dead;
    this.child.stdin!.write(b);
  }

  /** Sends `b` and waits for its answer: `bytes` of data, or (undefined) a length-prefixed text. */
  request(b: Buffer, bytes?: number): Promise<Buffer> {
    this.send(b);
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting.push({ bytes, resolve, reject });
      this.busy();
      this.pump();
    });
  }

  get closed(): boolean {
    return this.dead !== undefined;
  }

  close(): void {
    if (this.dead) return;
    this.dead = new Error('[cuda-emu] the runtime was closed');
    this.child.stdin!.end();
    this.idle();
  }

  private received(b: Buffer): void {
    this.chunks.push(b);
    this.have += b.length;
    this.pump();
  }

  private take(n: number): Buffer {
    if (!n) return Buffer.alloc(0);
    let head = this.chunks[0];
    if (head.length < n) {
      head = Buffer.concat(this.chunks);
      this.chunks = [head];
    }
    this.chunks[0] = head.subarray(n);
    if (!this.chunks[0].length) this.chunks.shift();
    this.have -= n;
    return head.subarray(0, n);
  }

  private pump(): void {
    while (this.waiting.length) {
      const w = this.waiting[0];
      let data: Buffer;
      if (w.bytes !== undefined) {
        if (this.have < w.bytes) return;
        data = this.take(w.bytes);
      } else {
        if (this.have < 4) return;
        const head = this.chunks[0].length >= 4 ? this.chunks[0] : Buffer.concat(this.chunks);
        const n = head.readUInt32LE(0);
        if (this.have < 4 + n) return;
        this.take(4);
        data = this.take(n);
        this.recent.clear();
      }
      this.waiting.shift();
      // Each answer restarts the clock: the limit is on one wait, not on a session.
      clearTimeout(this.timer);
      this.timer = undefined;
      if (this.waiting.length) this.busy();
      w.resolve(Buffer.from(data));
    }
    this.idle();
  }

  private fail(e: Error): void {
    if (!this.dead) this.dead = e;
    for (const w of this.waiting.splice(0)) w.reject(this.dead);
    this.idle();
  }

  /** Something waits: keep Node alive, and bound the wait. */
  private busy(): void {
    this.child.ref();
    (this.child.stdout as unknown as { ref(): void }).ref();
    this.timer ??= setTimeout(() => {
      this.fail(new Error(`[kernel ${this.kernels()}] emulated CUDA run stopped after ${this.timeoutMs} ms (an infinite loop?); the runtime's timeoutMs sets the limit`));
      this.child.kill('SIGKILL');
    }, this.timeoutMs);
  }

  private idle(): void {
    if (this.waiting.length) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.child.unref();
    for (const s of [this.child.stdin, this.child.stdout, this.child.stderr]) (s as unknown as { unref(): void }).unref();
  }
}
