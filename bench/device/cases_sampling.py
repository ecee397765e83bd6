"""Correctness cases: greedy and filtered sampling, top-K log-probabilities and MTP verification
(ops/sampling), against test/harness/sampling-reference.ts ported to Python: the same
counter-based hash gives the same uniform draws, so a draw is checked token for token unless
the reference's margin says f32 rounding may legitimately move it."""
from __future__ import annotations

import math

import torch

from common import Ctx, case, close, equal

MASK = 0xFFFFFFFF
# Draws closer than this to a CDF step (or a top-p cut) may differ between f32 and float64.
MARGIN = 1e-5


def pcg_hash(v: int) -> int:
    """PCG-RXS-M-XS of ops/sampling/random.ts in u32 arithmetic."""
    state = ((v & MASK) * 747796405 + 2891336453) & MASK
    word = (((state >> ((state >> 28) + 4)) ^ state) * 277803737) & MASK
    return ((word >> 22) ^ word) & MASK


def uniform_draw(seed: int, step: int, row: int, stream: int) -> float:
    """u in [0, 1): pcg(seed ^ pcg(step ^ pcg(row ^ pcg(stream)))) >> 8, over 2^24."""
    h = pcg_hash(seed ^ pcg_hash(step ^ pcg_hash(row ^ pcg_hash(stream))))
    return (h >> 8) / 2**24


def token_order(row: list[float]) -> list[int]:
    return sorted(range(len(row)), key=lambda i: (-row[i], i))


def filtered(row: list[float], temperature: float, top_k: int, top_p: float):
    """softmax(row / T) over top-k, renormalised, then over the top-p prefix; and the top-p margin."""
    m = max(row)
    w = [math.exp((x - m) / temperature) for x in row]
    order = token_order(row)
    if 0 < top_k < len(row):
        order = order[:top_k]
    margin = math.inf
    if top_p < 1:
        zk, cum, n = sum(w[i] for i in order), 0.0, len(order)
        for j, i in enumerate(order):
            cum += w[i] / zk
            margin = min(margin, abs(cum - top_p))
            if cum >= top_p and n == len(order):
                n = j + 1
        order = order[:n]
    z = sum(w[i] for i in order)
    p = [0.0] * len(row)
    for i in order:
        p[i] = w[i] / z
    return p, margin


def inverse_cdf(p: list[float], u: float):
    """The smallest id whose cumulative mass exceeds u, and the smallest |cdf - u|."""
    cum, pick, margin = 0.0, -1, math.inf
    for i, x in enumerate(p):
        if x <= 0:
            continue
        cum += x
        margin = min(margin, abs(cum - u))
        if pick < 0 and cum > u:
            pick = i
    return pick, margin


def logits_rows(ctx: Ctx, b: int, v: int) -> torch.Tensor:
    x = ctx.randn(b, v, scale=2.0)
    x[0, 10] = x[0, 700] = x[0].max() + 1  # a tie for the best token: the lower id wins
    x[1, 50:60] = x[1].max() + 0.5  # ten tied tokens across a top-k cut
    return x


@case("sample_greedy")
def sample_greedy(ctx: Ctx):
    b, v = 4, 1001
    x = logits_rows(ctx, b, v)
    ids = ctx.poisoned(b, dtype=torch.int32)
    ctx.ops.sample_greedy(ctx.to(x), ids, b, v)
    equal("sample_greedy", ids, torch.tensor([token_order(r)[0] for r in x.tolist()]))


@case("sample_logprobs")
def sample_logprobs(ctx: Ctx):
    b, v, k = 4, 1001, 7
    x = logits_rows(ctx, b, v)
    chosen = torch.tensor([3, 10, 1000, 0], dtype=torch.int32)
    ids, lp, clp = ctx.poisoned(b, k, dtype=torch.int32), ctx.poisoned(b, k, dtype=torch.float32), ctx.poisoned(b, dtype=torch.float32)
    ctx.ops.sample_logprobs(*ctx.to(x, chosen), ids, lp, clp, b, v, k)
    ls = torch.log_softmax(x.double(), -1)
    want_ids = torch.tensor([token_order(r)[:k] for r in x.tolist()])
    equal("sample_logprobs ids", ids, want_ids)
    close("sample_logprobs logprobs", lp, torch.gather(ls, 1, want_ids), 1e-5, 1e-5)
    close("sample_logprobs chosen_logprob", clp, ls[torch.arange(b), chosen.long()], 1e-5, 1e-5)


SETTINGS = [(1.0, 0, 1.0), (0.7, 20, 1.0), (1.3, 0, 0.9), (0.5, 50, 0.8), (1.0, 1, 1.0)]


@case("sample_token")
def sample_token(ctx: Ctx):
    b, v = 16, 333
    x = ctx.randn(b, v, scale=1.5)
    rows = x.tolist()
    checked = 0
    for n, (temp, top_k, top_p) in enumerate(SETTINGS):
        seed, step = 1234 + n, 7 * n
        ids = ctx.poisoned(b, dtype=torch.int32)
        ctx.ops.sample_token(ctx.to(x), ids, b, v, temp, top_k, top_p, seed, step)
        got = ids.cpu().tolist()
        for r in range(b):
            p, m1 = filtered(rows[r], temp, top_k, top_p)
            want, m2 = inverse_cdf(p, uniform_draw(seed, step, r, 0))
            if min(m1, m2) < MARGIN:
                continue
            checked += 1
            if got[r] != want:
                raise AssertionError(f"sample_token (T={temp}, top_k={top_k}, top_p={top_p}) row {r}: drew {got[r]}, expected {want}")
    if checked < len(SETTINGS) * b // 2:
        raise AssertionError(f"sample_token: only {checked} draws were far enough from a CDF step to check")


@case("verify_greedy")
def verify_greedy(ctx: Ctx):
    b, n = 5, 4
    target = ctx.randint(0, 50, b, n + 1)
    draft = target[:, :n].clone()
    draft[0, 0] += 1  # rejects at 0
    draft[1, 2] += 1  # accepts 2
    draft[3, 3] += 1  # accepts 3; row 2 and 4 accept all 4
    acc, alen = ctx.poisoned(b, n + 1, dtype=torch.int32), ctx.poisoned(b, dtype=torch.int32)
    ctx.ops.verify_greedy(*ctx.to(draft, target), acc, alen, b, n)
    want_acc, want_len = torch.full((b, n + 1), -1, dtype=torch.int32), torch.zeros(b, dtype=torch.int32)
    for r in range(b):
        i = 0
        while i < n and draft[r, i] == target[r, i]:
            i += 1
        want_acc[r, : i + 1], want_len[r] = target[r, : i + 1], i + 1
    equal("verify_greedy accepted", acc, want_acc)
    equal("verify_greedy accept_len", alen, want_len)


@case("verify_sample")
def verify_sample(ctx: Ctx):
    b, n, v = 12, 3, 97
    temp, top_k, top_p, seed, step = 0.9, 30, 0.95, 99, 5
    logits = ctx.randn(b, n + 1, v, scale=2.0)
    # Drafts: the target's favourite (often accepted), a random token, or one filtered out.
    draft = torch.stack([logits[:, i].argmax(-1) for i in range(n)], 1).int()
    draft[::3, 1] = ctx.randint(0, v, (b + 2) // 3)
    draft[1::4, 0] = logits[1::4, 0].argmin(-1).int()
    acc, alen = ctx.poisoned(b, n + 1, dtype=torch.int32), ctx.poisoned(b, dtype=torch.int32)
    ctx.ops.verify_sample(*ctx.to(draft, logits), acc, alen, b, n, v, temp, top_k, top_p, seed, step)
    got_acc, got_len = acc.cpu(), alen.cpu()
    checked = 0
    for r in range(b):
        want, length, margin = [-1] * (n + 1), 0, math.inf
        for i in range(n + 1):
            p, m = filtered(logits[r, i].tolist(), temp, top_k, top_p)
            margin = min(margin, m)
            t = int(draft[r, i]) if i < n else -1
            pt = p[t] if 0 <= t < v else 0.0
            if i < n:
                u = uniform_draw(seed, step, r, 2 * i)
                margin = min(margin, abs(u - pt))
                if u < pt:
                    want[i] = t
                    continue
            if i < n:  # the residual: p without the draft's mass, renormalised
                p = [0.0 if j == t else x for j, x in enumerate(p)]
                z = sum(p)
                p = [x / z for x in p]
            pick, m = inverse_cdf(p, uniform_draw(seed, step, r, 2 * i + 1))
            margin = min(margin, m)
            want[i], length = pick, i + 1
            break
        if margin < MARGIN:
            continue
        checked += 1
        if got_acc[r].tolist() != want or int(got_len[r]) != length:
            raise AssertionError(f"verify_sample row {r}: accepted {got_acc[r].tolist()} (len {int(got_len[r])}), expected {want} (len {length})")
    if checked < b // 2:
        raise AssertionError(f"verify_sample: only {checked} rows were far enough from a decision boundary to check")
