import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BACKENDS, runKernel } from './harness/backends.js';
import { uniform } from './harness/prng.js';
import {
  acceptLengthDist, chiSquare, countsError, filtered, histogram, residual, scalarsOf, verifyGreedyRef, verifySampleRef, type SamplingParams,
} from './harness/sampling-reference.js';

/**
 * ops/sampling/verify.ts against test/harness/sampling-reference.ts.
 *   verify_greedy  exact, on every pattern of matching and mismatching drafts (so every
 *                  first-mismatch position and the all-accepted bonus), B odd.
 *   verify_sample  exactness: the reference's output with the host twin of the hash, on
 *                  rows where no coin or cumulative sum lies within 1e-5 of its u (counted;
 *                  they must stay rare). Losslessness, the key statistical property, on
 *                  n independent rows (65536; 16384 with filters) of V = 16 with fixed target logits per position and
 *                  fixed drafts (p(draft) high at 0, low at 1, medium at 2), a_i = p_i(draft_i):
 *                  (a) the first emitted token follows p_0 exactly (accepting draft 0 with
 *                      probability a_0, else drawing from the residual, sums back to p_0);
 *                  (b) accept_len = j + 1 with probability a_0 ... a_{j-1} (1 - a_j), and
 *                      a_0 a_1 a_2 for N + 1;
 *                  (c) given rejection at position i, the token emitted there follows p_i
 *                      without the draft, renormalised; after N acceptances the bonus
 *                      token follows p_N.
 *                  Every count within 6 sigma + 5 of its expectation (bins of probability 0
 *                  never hit), and chi-square below df + 10 sqrt(2 df).
 * Statistical runs on cuda-emu only (the fastest backend here; see test/sampling.test.ts).
 */
const MARGIN = 1e-5;


/** Every match/mismatch pattern of N drafts, `reps` times, plus one all-mismatch row (B odd). */
function greedyCase(N: number, reps: number) {
  const rows = (1 << N) * reps + 1;
  const target = Int32Array.from({ length: rows * (N + 1) }, (_, i) => (i * 7919) % 1000);
  const draft = new Int32Array(rows * N);
  for (let b = 0; b < rows; b++) {
    const pattern = b % (1 << N);
    for (let i = 0; i < N; i++) {
      const t = target[b * (N + 1) + i];
      draft[b * N + i] = b === rows - 1 || !((pattern >> i) & 1) ? t + 1 : t;
    }
  }
  return { B: rows, draft, target };
}

for (const backend of BACKENDS) {
  const t = suite(`verify on ${backend}`);
  for (const [N, reps] of [[3, 3], [1, 2], [5, 1]]) {
    const { B, draft, target } = greedyCase(N, reps);
    t(`verify_greedy N=${N} B=${B}: every first-mismatch position`, async () => {
      const out = await runKernel(backend, 'verify_greedy', {
        tensors: { draft, target_ids: target, accepted: new Int32Array(B * (N + 1)).fill(-7), accept_len: new Int32Array(B).fill(-7) },
        scalars: { B, N },
      });
      const ref = verifyGreedyRef(draft, target, B, N);
      assert.equal(Array.from(out.accepted as Int32Array), Array.from(ref.accepted));
      assert.equal(Array.from(out.accept_len as Int32Array), Array.from(ref.len));
      assert.equal(new Set(ref.len).size, N + 1, 'every accept length occurs');
    });
  }

  t("verify_greedy: target_ids is ['B', 'N + 1'], checked at launch", async () => {
    const [B, N] = [2, 3];
    const err = await runKernel(backend, 'verify_greedy', {
      tensors: { draft: new Int32Array(B * N), target_ids: new Int32Array(B * N), accepted: new Int32Array(B * (N + 1)), accept_len: new Int32Array(B) },
      scalars: { B, N },
    }).then(() => undefined, (e: Error) => e);
    assert.ok(err?.message.includes("[kernel verify_greedy] argument 'target_ids': expected shape i32[B=2, (N + 1)=4] = 8 elements, got 6"), err?.message ?? 'no error');
  });

  const slow = backend === 'interp';
  const cases: { V: number; s: SamplingParams }[] = [
    { V: 300, s: { temperature: 1, topK: 0, topP: 1 } },
    { V: 300, s: { temperature: 0.6, topK: 30, topP: 0.8 } },
    ...(slow ? [] : [{ V: 1000, s: { temperature: 1.4, topK: 0, topP: 0.9 } }]),
  ];
  for (const { V, s } of cases) {
    const [B, N] = [slow ? 3 : 11, 3];
    t(`verify_sample B=${B} N=${N} V=${V} T=${s.temperature} k=${s.topK} p=${s.topP}: the reference's tokens`, async () => {
      const logits = Float32Array.from(uniform(V + B, B * (N + 1) * V, -4, 4), (x) => Math.round(x * 8) / 8 * 1.5);
      // Drafts: the target's best token (often accepted), a random one (rarely), or out of range (never).
      const draft = Int32Array.from({ length: B * N }, (_, j) => {
        const [b, i] = [Math.floor(j / N), j % N];
        const row = logits.subarray((b * (N + 1) + i) * V, (b * (N + 1) + i + 1) * V);
        return j % 4 === 3 ? (j % 8 === 3 ? V : (j * 131) % V) : row.indexOf(Math.max(...row));
      });
      const [seed, step] = [17, V];
      const out = await runKernel(backend, 'verify_sample', {
        tensors: { draft, logits, accepted: new Int32Array(B * (N + 1)).fill(-7), accept_len: new Int32Array(B).fill(-7) },
        scalars: { B, N, V, ...scalarsOf(s, seed, step) },
      });
      const ref = verifySampleRef(draft, logits, B, N, V, s, seed, step);
      const acc = out.accepted as Int32Array;
      let compared = 0;
      for (let b = 0; b < B; b++) {
        if (ref.margin[b] < MARGIN) continue;
        compared++;
        assert.equal(Array.from(acc.subarray(b * (N + 1), (b + 1) * (N + 1))), Array.from(ref.accepted.subarray(b * (N + 1), (b + 1) * (N + 1))), `row ${b}`);
        assert.is((out.accept_len as Int32Array)[b], ref.len[b], `row ${b} accept_len`);
      }
      assert.ok(compared >= B - 1 - B / 10, `rows within ${MARGIN} of a cut: ${B - compared} of ${B}`);
    });
  }
  t.run();
}

/** Fixed target logits per position (V = 16) and drafts with p(draft) high, low, medium. */
const V = 16;
const N = 3;
const POS_LOGITS = [
  [3.0, 0.5, -0.2, 1.0, 0.1, -1.0, 0.3, 0.0, -0.5, 0.7, 0.2, -2.0, 0.4, 1.2, -0.1, 0.6],
  [0.2, 1.1, 0.9, -0.4, 1.6, 0.0, 0.8, 1.6, -1.3, 0.5, 1.0, 0.3, -0.6, 1.4, 0.1, 0.7],
  [1.0, 0.8, 0.6, 0.4, 0.2, 0.0, -0.2, -0.4, 1.2, 1.4, -3.0, 0.5, 0.3, 0.1, 0.9, 1.3],
  [0.0, 0.3, -0.6, 0.9, -1.2, 1.5, -1.8, 2.1, 0.4, -0.4, 0.8, -0.8, 1.2, -1.6, 0.6, 0.2],
];
const DRAFT = [0, 6, 9];

function assertCounts(counts: Float64Array, p: Float64Array, n: number, label: string): void {
  const err = countsError(counts, p, n, label);
  if (err) assert.unreachable(err);
  const { stat, df } = chiSquare(counts, p, n);
  if (n > 0 && df > 0) assert.ok(stat < df + 10 * Math.sqrt(2 * df), `${label}: chi-square ${stat.toFixed(1)} with ${df} degrees of freedom`);
}

if (BACKENDS.includes('cuda-emu')) {
  const t = suite('verify_sample losslessness on cuda-emu');
  // The filtered run reads each position ~25 times more: fewer rows keep the file under a minute.
  for (const [n, s] of [[65536, { temperature: 1, topK: 0, topP: 1 }], [16384, { temperature: 0.8, topK: 10, topP: 0.85 }]] as [number, SamplingParams][]) {
    t(`T=${s.temperature} k=${s.topK} p=${s.topP}: ${n} rows`, async () => {
      const logits = new Float32Array(n * (N + 1) * V);
      for (let b = 0; b < n; b++) for (let i = 0; i <= N; i++) logits.set(POS_LOGITS[i], (b * (N + 1) + i) * V);
      const draft = new Int32Array(n * N);
      for (let b = 0; b < n; b++) draft.set(DRAFT, b * N);
      const out = await runKernel('cuda-emu', 'verify_sample', {
        tensors: { draft, logits, accepted: new Int32Array(n * (N + 1)).fill(-7), accept_len: new Int32Array(n).fill(-7) },
        scalars: { B: n, N, V, ...scalarsOf(s, 2024, 3) },
      }, { WG: 32 });
      const acc = out.accepted as Int32Array;
      const len = out.accept_len as Int32Array;
      const p = POS_LOGITS.map((row) => filtered(row, s).p);
      const a = DRAFT.map((d, i) => p[i][d]);
      assert.ok(a[0] > 0.4 && a[1] > 0 && a[1] < 0.1 && a[2] > 0.1, `acceptance probabilities ${a.map((x) => x.toFixed(3))}`);
      // (a) the first emitted token
      assertCounts(histogram(Int32Array.from({ length: n }, (_, b) => acc[b * (N + 1)]), V, 'first token'), p[0], n, 'first token ~ p_0');
      // (b) accept lengths
      assertCounts(histogram(Int32Array.from(len, (l) => l - 1), N + 1, 'accept_len - 1'), acceptLengthDist(a), n, 'accept_len');
      // (c) the token at the stop position, per stop position
      for (let j = 0; j <= N; j++) {
        const rows = [...len.keys()].filter((b) => len[b] === j + 1);
        const want = j < N ? residual(p[j], DRAFT[j]) : p[N];
        assertCounts(histogram(rows.map((b) => acc[b * (N + 1) + j]), V, `stop ${j}`), want, rows.length, j < N ? `rejected at ${j}: residual of p_${j}` : 'bonus ~ p_N');
        for (const b of rows.slice(0, 64)) {
          for (let i = 0; i < N + 1; i++) assert.is(acc[b * (N + 1) + i], i < j ? DRAFT[i] : i === j ? acc[b * (N + 1) + i] : -1, `row ${b} layout`);
        }
      }
    });
  }
  t.run();
}
