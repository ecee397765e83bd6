"""The CUDA manifest (generated/cuda/manifest.json) as the op generator and the fakes read it.

Everything an op needs is there: bindings in launcher order with dtype, shape symbols and
access; scalars in launcher order; preconditions; grid formulas. README.md (`mimo-compile`)
documents every field.
"""
from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass
from pathlib import Path

# The package's own kernels, when it runs from a clone of the repository.
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "generated" / "cuda"
# Op subsets for builds and checks: comma-separated globs over kernel names.
OPS_ENV = "MIMO_KC_TORCH_OPS"
DIR_ENV = "MIMO_KC_CUDA_DIR"


@dataclass(frozen=True)
class DType:
    manifest: str
    torch: str  # attribute of the torch module
    aten: str  # c10::ScalarType enumerator


DTYPES = {
    d.manifest: d
    for d in (
        DType("f32", "float32", "at::kFloat"),
        DType("f16", "float16", "at::kHalf"),
        DType("bf16", "bfloat16", "at::kBFloat16"),
        # mimo-kc's e4m3 is the OCP "fn" variant: no infinities, NaN 0x7f/0xff, max 448.
        DType("fp8e4m3", "float8_e4m3fn", "at::kFloat8_e4m3fn"),
        DType("fp8e5m2", "float8_e5m2", "at::kFloat8_e5m2"),
        DType("i32", "int32", "at::kInt"),
        DType("u32", "uint32", "at::kUInt32"),
        DType("bool", "bool", "at::kBool"),
    )
}


class ManifestError(ValueError):
    pass


def cuda_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder with manifest.json, mimo_kernels.h and the .cu files."""
    d = Path(path or os.environ.get(DIR_ENV) or DEFAULT_DIR).resolve()
    if not (d / "manifest.json").is_file():
        raise ManifestError(f"{d / 'manifest.json'}: not found (run mimo-compile --target cuda, or set {DIR_ENV})")
    return d


def load(path: str | os.PathLike | None = None) -> dict:
    d = cuda_dir(path)
    m = json.loads((d / "manifest.json").read_text())
    if m.get("target") != "cuda":
        raise ManifestError(f"{d / 'manifest.json'}: expected target 'cuda', got {m.get('target')!r}")
    for k in m["kernels"].values():
        for b in k["bindings"]:
            if b["dtype"] not in DTYPES:
                raise ManifestError(f"[kernel {k['name']}] binding '{b['name']}': dtype {b['dtype']!r} has no torch dtype")
    return m


def select(manifest: dict, ops: str | list[str] | None = None) -> list[dict]:
    """Kernels whose name matches one of the globs (default: $MIMO_KC_TORCH_OPS, else all)."""
    spec = ops if ops is not None else os.environ.get(OPS_ENV, "*")
    globs = [g.strip() for g in (spec.split(",") if isinstance(spec, str) else spec) if g.strip()]
    names = sorted(manifest["kernels"])
    for g in globs:
        if not fnmatch.filter(names, g):
            raise ManifestError(f"op glob {g!r} matches no kernel of the manifest ({len(names)} kernels)")
    return [manifest["kernels"][n] for n in names if any(fnmatch.fnmatchcase(n, g) for g in globs)]


def writable(binding: dict) -> bool:
    return binding["access"] != "read"
