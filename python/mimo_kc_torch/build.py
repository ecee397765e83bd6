"""Builds the generated ops with torch.utils.cpp_extension (ninja) and loads them into torch.ops.

device="cpu": ops.cpp and the generated .cu files, compiled as C++ by the host compiler with
    -DMIMO_HOST_EMU, so each launch runs on the CUDA emulator (mimo_cuda_emu.h). Needs the
    CUDA *headers* (cuda_bf16.h, cuda_fp8.h ...), no GPU and no CUDA runtime.
device="cuda": the same ops.cpp with -DMIMO_KC_CUDA, and the .cu files by nvcc for the
    manifest's architecture (or $MIMO_KC_CUDA_ARCH, e.g. sm_90a). Needs a CUDA build of PyTorch.
Builds are cached per (device, op subset, manifest) under build_dir; an unchanged rebuild is a
ninja no-op.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from . import codegen
from . import manifest as mf

DEFAULT_BUILD_DIR = Path(__file__).resolve().parents[2] / ".cache" / "torch-ext"
# The CPU emulator's header (mimo_cuda_emu.h) is not in the generated CUDA folder.
EMU_INCLUDE = Path(__file__).resolve().parents[2] / "backends" / "cuda" / "include"
BUILD_ENV = "MIMO_KC_TORCH_BUILD_DIR"
ARCH_ENV = "MIMO_KC_CUDA_ARCH"
CUDA_INCLUDE_ENV = "MIMO_KC_CUDA_INCLUDE"
NVCC_UNDEFINES = ("HALF_OPERATORS", "HALF_CONVERSIONS", "BFLOAT16_CONVERSIONS", "HALF2_OPERATORS")


def build_root(build_dir=None) -> Path:
    return Path(build_dir or os.environ.get(BUILD_ENV) or DEFAULT_BUILD_DIR)


def cuda_include() -> Path:
    """The CUDA toolkit headers the emulator build compiles against."""
    for d in (os.environ.get(CUDA_INCLUDE_ENV), os.environ.get("CUDA_HOME") and f"{os.environ['CUDA_HOME']}/include", "/usr/local/cuda/include"):
        if d and (Path(d) / "cuda_bf16.h").is_file():
            return Path(d)
    raise mf.ManifestError(f"cuda_bf16.h not found: the CPU build needs the CUDA headers (set {CUDA_INCLUDE_ENV} or CUDA_HOME)")


def extension(device: str, ops=None, cuda_dir=None, build_dir=None) -> tuple[dict, list[dict]]:
    """The keyword arguments of torch.utils.cpp_extension.load (sources written), and the kernels."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"mimo_kc_torch: device must be 'cpu' or 'cuda', got {device!r}")
    d = mf.cuda_dir(cuda_dir)
    man = mf.load(d)
    kernels = mf.select(man, ops)
    text = codegen.ops_source(kernels, "manifest.json") + "".join((d / k["file"]).read_text() for k in kernels)
    key = hashlib.sha256(f"{device}\0{d}\0{text}".encode()).hexdigest()[:12]
    name = f"mimo_kc_ops_{device}_{key}"
    out = build_root(build_dir) / name
    unit = "kernels.cpp" if device == "cpu" else "kernels.cu"
    sources = codegen.write(out / "src", kernels, str(d / "manifest.json"), unit)
    includes = [str(codegen.CSRC), str(d)]
    if device == "cpu":
        # -O1, as the emulator's own builds (hostRunner.ts).
        flags = ["-O1", "-DMIMO_HOST_EMU", "-Wno-unknown-pragmas"]
        includes += [str(EMU_INCLUDE), str(cuda_include())]
        cuda_flags = []
    else:
        flags = ["-O2", "-DMIMO_KC_CUDA"]
        arch = os.environ.get(ARCH_ENV) or man.get("arch", "sm_80")
        # An -arch flag stops cpp_extension adding its own -gencode list; it picks the -std.
        # Its nvcc flags also define __CUDA_NO_{HALF,BFLOAT16}_CONVERSIONS__ and friends, which
        # remove the float <-> bf16/f16 conversions the generated code uses: undone here, as
        # vLLM and sgl-kernel do.
        cuda_flags = ["-O3", f"-arch={arch}", *(f"-U__CUDA_NO_{m}__" for m in NVCC_UNDEFINES)]
    return {
        "name": name,
        "sources": [str(s) for s in sources],
        "extra_cflags": flags,
        "extra_cuda_cflags": cuda_flags,
        "extra_include_paths": includes,
        "build_directory": str(out),
        "with_cuda": device == "cuda",
        "is_python_module": False,
    }, kernels


def build(device: str = "cpu", ops=None, cuda_dir=None, build_dir=None, verbose: bool = False) -> list[dict]:
    """Builds (or reuses) and loads the library; returns the manifest entries it registered."""
    from torch.utils import cpp_extension

    args, kernels = extension(device, ops, cuda_dir, build_dir)
    Path(args["build_directory"]).mkdir(parents=True, exist_ok=True)
    cpp_extension.load(**args, verbose=verbose)
    return kernels
