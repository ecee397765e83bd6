// Runs the uvu test files in a pool of worker processes (default: one per core, at most
// 4; MIMO_TEST_JOBS overrides), longest first, each file's output printed whole when it
// ends so that logs never interleave. Most tests are single-threaded (the interpreter,
// g++, nvcc, one SwiftShader queue), so two files at a time on CI's two cores take much
// less wall time than one process running them all in turn.
//
// Usage: node scripts/run-tests.mjs [FILE_REGEX]   (default: every test/*.test.ts)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pattern = new RegExp(process.argv[2] ?? '\\.test\\.ts$');
const jobs = Number(process.env.MIMO_TEST_JOBS ?? Math.min(4, os.availableParallelism?.() ?? os.cpus().length));
if (!Number.isInteger(jobs) || jobs < 1) {
  console.error(`run-tests: MIMO_TEST_JOBS must be a positive integer, got '${process.env.MIMO_TEST_JOBS}'`);
  process.exit(2);
}

// Durations of the last run on this machine order the queue (longest first); without
// them (a fresh clone) the files measured heaviest on CI go first.
const timings = path.join(root, '.cache/test-durations.json');
const HEAVY = ['moe', 'attention', 'mtp', 'nvcc', 'torch-ops', 'model-forward', 'rope-kvcache', 'autotune', 'generated', 'ops', 'model-ops', 'package'];
const last = fs.existsSync(timings) ? JSON.parse(fs.readFileSync(timings, 'utf8')) : {};
const guess = (f) => last[f] ?? (HEAVY.includes(f.replace(/\.test\.ts$/, '')) ? 1000 - HEAVY.indexOf(f.replace(/\.test\.ts$/, '')) : 0);
const files = fs.readdirSync(path.join(root, 'test')).filter((f) => pattern.test(f) && f.endsWith('.test.ts')).sort((a, b) => guess(b) - guess(a) || a.localeCompare(b));

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
const count = (text, label) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(strip(text))?.[1] ?? 0);
const totals = { total: 0, passed: 0, skipped: 0 };
const durations = {};
const failedFiles = [];

function runFile(file) {
  return new Promise((resolve) => {
    const start = Date.now();
    const escaped = file.replace(/[.]/g, '\\.');
    const child = spawn(process.execPath, ['--import', 'tsx', 'node_modules/uvu/bin.js', 'test', `^${escaped}$`], { cwd: root, env: process.env });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('close', (code) => {
      const secs = (Date.now() - start) / 1000;
      durations[file] = Math.round(secs);
      const total = count(out, 'Total');
      totals.total += total;
      totals.passed += count(out, 'Passed');
      totals.skipped += count(out, 'Skipped');
      // A file that died before uvu's summary counts as one failure.
      if (code !== 0 || total === 0) failedFiles.push(file);
      if (total === 0) totals.total += 1;
      process.stdout.write(`${out.trimEnd()}\n== ${file}: exit ${code}, ${secs.toFixed(1)} s\n\n`);
      resolve();
    });
  });
}

const queue = [...files];
await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, async () => {
  while (queue.length) await runFile(queue.shift());
}));

fs.mkdirSync(path.dirname(timings), { recursive: true });
fs.writeFileSync(timings, JSON.stringify({ ...last, ...durations }, null, 2) + '\n');
console.log(`== ${files.length} test files, ${jobs} at a time; slowest: ${Object.entries(durations).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([f, s]) => `${f} ${s} s`).join(', ')}`);
if (failedFiles.length) console.log(`== failed: ${failedFiles.join(', ')}`);
const failed = totals.total - totals.passed - totals.skipped;
console.log(`${totals.passed} passed, ${failed} failed, ${totals.skipped} skipped`);
process.exitCode = failedFiles.length || failed ? 1 : 0;
