"""Fake (meta) implementations, so the ops trace under FakeTensor, torch.compile and export.

Every output is an argument the op mutates, so a fake computes nothing and returns None; it
checks what can be checked without data: dtypes, ranks, sizes against the shape symbols,
devices and contiguity, with the messages of the real ops (csrc/checks.h). Scalar ranges and
preconditions are checked by the real op, where the values are concrete.
"""
from __future__ import annotations

import math

import torch

from . import manifest as mf


def _size(e: dict, env: dict) -> int:
    """A manifest size formula (shapeExpr) over the op's scalars and the kernel's consts."""
    if e["k"] == "num":
        return e["v"]
    if e["k"] == "sym":
        return env[e["name"]]
    a, b = _size(e["a"], env), _size(e["b"], env)
    ops = {"+": a + b, "-": a - b, "*": a * b, "min": min(a, b), "max": max(a, b)}
    if e["op"] in ops:
        return ops[e["op"]]
    if e["op"] == "cdiv":
        return -(-a // b)
    return int(a / b) if e["op"] == "/" else int(math.fmod(a, b))


def _fake(k: dict):
    names = [b["name"] for b in k["bindings"]] + [s["name"] for s in k["scalars"]]

    def fake(*args, **kwargs):
        a = dict(zip(names, args), **kwargs)
        env = {**k.get("consts", {}), **k.get("tunables", {}), **{s["name"]: a[s["name"]] for s in k["scalars"]}}
        device = a[k["bindings"][0]["name"]].device
        for b in k["bindings"]:
            t, want = a[b["name"]], getattr(torch, mf.DTYPES[b["dtype"]].torch)
            where = f"[kernel {k['name']}] argument '{b['name']}'"
            sizes = [_size(e, env) for e in b["shapeExpr"]]
            dims = [str(n) if e["k"] == "num" else f"{text}={n}" for text, e, n in zip(b["shape"], b["shapeExpr"], sizes)]
            shape = f"{b['dtype']}[{', '.join(dims)}]"
            if t.dtype != want:
                raise RuntimeError(f"{where}: expected dtype {b['dtype']} ({want}), got {t.dtype}")
            if t.device != device:
                raise RuntimeError(f"{where}: expected a tensor on {device}, got {t.device}")
            if t.dim() != len(sizes) or any(t.shape[i] != n for i, n in enumerate(sizes)):
                raise RuntimeError(f"{where}: expected shape {shape}, got {list(t.shape)}")
            if not t.is_contiguous():
                raise RuntimeError(f"{where}: expected a contiguous (row-major) tensor, got strides {list(t.stride())}")
        return None

    return fake


def register(kernels: list[dict]) -> None:
    for k in kernels:
        torch.library.register_fake(f"mimo_kc::{k['name']}")(_fake(k))
