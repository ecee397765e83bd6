"""mimo-kc's generated kernels as PyTorch custom ops: torch.ops.mimo_kc.<kernel>.

    import mimo_kc_torch
    mimo_kc_torch.load("cpu", ops="rmsnorm,swiglu")   # or "cuda"; ops: globs, default $MIMO_KC_TORCH_OPS or all
    torch.ops.mimo_kc.rmsnorm(x, w, out, T, D)

One library per process: the namespace mimo_kc can be defined once.
"""
from __future__ import annotations

from .manifest import ManifestError

__all__ = ["load", "ManifestError"]

_loaded: list[dict] | None = None


def load(device: str = "cpu", ops=None, cuda_dir=None, build_dir=None, verbose: bool = False) -> list[str]:
    """Builds (cached) and registers the ops with their fakes; returns the op names."""
    # Imported here so that `python -m mimo_kc_torch.codegen` needs neither torch nor a second import of itself.
    from . import build as _build
    from . import fake as _fake

    global _loaded
    if _loaded is not None:
        raise RuntimeError(f"mimo_kc_torch.load: already loaded ({len(_loaded)} ops) in this process; torch.library defines a namespace once")
    kernels = _build.build(device, ops, cuda_dir, build_dir, verbose)
    _fake.register(kernels)
    _loaded = kernels
    return [k["name"] for k in kernels]
