import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../compiler/frontend/source.js';

/**
 * The CPU PyTorch the Python checks run under (test/torch-ops.test.ts, test/device-script.test.ts):
 * a venv of our own, .cache/torch-venv, made once from the machine's wheels and reused.
 */
const VENV = path.join(REPO_ROOT, '.cache/torch-venv');
const PY = path.join(VENV, 'bin/python');
const REQUIREMENTS = ['torch==2.13.0+cpu', 'numpy'];
const READY = path.join(VENV, '.mimo-ready');

/** The last `n` lines of a child process's output, for a failure message. */
export const tail = (s: string, n = 40): string => s.trim().split('\n').slice(-n).join('\n');

const ready = () => fs.existsSync(READY) && fs.readFileSync(READY, 'utf8') === REQUIREMENTS.join('\n');
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * The venv's python, made on first use; or why there is none (a skip, not a failure). Test
 * files run in parallel processes, so one makes it under a lock folder and the others wait.
 */
export function torchVenv(label: string): { python: string } | { skip: string } {
  if (ready()) return { python: PY };
  const lock = `${VENV}.lock`;
  for (;;) {
    try {
      fs.mkdirSync(lock, { recursive: false });
      break;
    } catch {
      // A lock older than the longest install is left by a process that died: take it over.
      if (Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? 0) > 900_000) fs.rmSync(lock, { recursive: true, force: true });
      sleep(1000);
      if (ready()) return { python: PY };
    }
  }
  try {
    return ready() ? { python: PY } : makeVenv(label);
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

function makeVenv(label: string): { python: string } | { skip: string } {
  const t0 = Date.now();
  fs.rmSync(VENV, { recursive: true, force: true });
  const mk = spawnSync('python3', ['-m', 'venv', VENV], { encoding: 'utf8' });
  if (mk.error || mk.status !== 0) return { skip: `python3 -m venv failed: ${mk.error?.message ?? tail(mk.stderr, 5)}` };
  // Offline machines: no retries against an unreachable index; local wheels and file:// indexes
  // answer at once. --no-compile: byte-compiling all of torch costs more CPU than the tests
  // spend importing the part they use.
  const pip = spawnSync(path.join(VENV, 'bin/pip'), ['install', '--no-color', '--no-compile', '--retries', '0', '--timeout', '10', '--disable-pip-version-check', ...REQUIREMENTS], { encoding: 'utf8', timeout: 600_000 });
  if (pip.error || pip.status !== 0) {
    fs.rmSync(VENV, { recursive: true, force: true });
    const errors = `${pip.stderr}\n${pip.stdout}`.split('\n').filter((l) => l.startsWith('ERROR'));
    return { skip: `pip install ${REQUIREMENTS.join(' ')} failed: ${pip.error?.message ?? (errors.length ? errors.join(' ') : tail(pip.stderr, 3))}` };
  }
  fs.writeFileSync(READY, REQUIREMENTS.join('\n'));
  console.log(`  ${label}: venv with ${REQUIREMENTS.join(', ')} made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return { python: PY };
}
