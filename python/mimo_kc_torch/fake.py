"""Fake (meta) implementations, so the ops trace under FakeTensor, torch.compile and export.

Every output is an argument the op mutates, so a fake computes nothing and returns None; it
checks what can be checked without data: dtypes, ranks, sizes against the shape symbols,
devices and contiguity, with the messages of the real ops (csrc/checks.h). Scalar ranges and
preconditions are checked by the real op, where the values are concrete.
"""
from __future__ import annotations

import torch

from . import manifest as mf


def _fake(k: dict):
    names = [b["name"] for b in k["bindings"]] + [s["name"] for s in k["scalars"]]

    def fake(*args, **kwargs):
        a = dict(zip(names, args), **kwargs)
        device = a[k["bindings"][0]["name"]].device
        for b in k["bindings"]:
            t, want = a[b["name"]], getattr(torch, mf.DTYPES[b["dtype"]].torch)
            where = f"[kernel {k['name']}] argument '{b['name']}'"
            shape = f"{b['dtype']}[{', '.join(f'{s}={a[s]}' for s in b['shape'])}]"
            if t.dtype != want:
                raise RuntimeError(f"{where}: expected dtype {b['dtype']} ({want}), got {t.dtype}")
            if t.device != device:
                raise RuntimeError(f"{where}: expected a tensor on {device}, got {t.device}")
            if t.dim() != len(b["shape"]) or any(t.shape[i] != a[s] for i, s in enumerate(b["shape"])):
                raise RuntimeError(f"{where}: expected shape {shape}, got {list(t.shape)}")
            if not t.is_contiguous():
                raise RuntimeError(f"{where}: expected a contiguous (row-major) tensor, got strides {list(t.stride())}")
        return None

    return fake


def register(kernels: list[dict]) -> None:
    for k in kernels:
        torch.library.register_fake(f"mimo_kc::{k['name']}")(_fake(k))
