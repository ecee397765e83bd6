"""Checks the torch.library ops on the CPU implementation (the CUDA emulator), for
test/torch-ops.test.ts: build a subset, torch.library.opcheck on each op, outputs against
independent float64 torch math, the refusals, the MimoMLP layer, and the CUDA build's compile.

Prints one line per check, `ok NAME (S s)` or `FAIL NAME: why`, then `timings {json}`;
exits 1 if any check failed. Shapes are small and odd so that partial tiles and rows run.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mimo_kc_torch  # noqa: E402
from mimo_kc_torch.layer import OPS as LAYER_OPS, MimoMLP  # noqa: E402

OPS = f"{LAYER_OPS},softmax,cast_f32_to_e4m3,global_prefill"
ops = torch.ops.mimo_kc
gen = torch.Generator().manual_seed(16)
CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def randn(*shape, dtype=torch.float32, scale=1.0):
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def close(name, got, want, rtol, atol):
    """|got - want| <= atol + rtol |want| elementwise (want in float64)."""
    err = (got.double() - want).abs()
    bound = atol + rtol * want.abs()
    if not bool((err <= bound).all()):
        i = int(torch.argmax(err - bound))
        raise AssertionError(f"{name}: element {i} is {got.flatten()[i].item()}, expected {want.flatten()[i].item()} "
                             f"(|err| {err.flatten()[i].item():.3g} > {bound.flatten()[i].item():.3g}; rtol {rtol}, atol {atol})")


def refuses(call, text):
    try:
        call()
    except RuntimeError as e:
        if text not in str(e):
            raise AssertionError(f"refused with {str(e).splitlines()[0]!r}, expected a message containing {text!r}")
        return
    raise AssertionError(f"accepted; expected a refusal containing {text!r}")


FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)
OPCHECK_TESTS = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")


def opcheck(op, args):
    """Every default opcheck test: schema (declared vs actual mutation), autograd registration,
    the fake against the real op, AOT dispatch with dynamic shapes (functionalised mutation)."""
    if not any(isinstance(a, torch.Tensor) and a.dtype in FP8 for a in args):
        torch.library.opcheck(op, args, test_utils=OPCHECK_TESTS)
        return
    # torch 2.13's test_schema compares tensors with arithmetic fp8 lacks ("mul_cpu_reduced_float"
    # not implemented for 'Float8_e4m3fn'), so its claim is checked here: no argument the schema
    # does not mark mutable (Tensor(a!)) changes, byte for byte.
    torch.library.opcheck(op, args, test_utils=OPCHECK_TESTS[1:])
    before = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    op(*args)
    for spec, a, b in zip(op._schema.arguments, args, before):
        if isinstance(a, torch.Tensor) and not (spec.alias_info and spec.alias_info.is_write):
            assert torch.equal(a.view(torch.uint8), b.view(torch.uint8)), f"{op}: read-only argument '{spec.name}' was modified"


# bf16 results of f32 math against float64 math rounded to bf16: one bf16 ulp (2^-7 relative)
# covers an f32 value that lands on the other side of a bf16 rounding boundary.
BF16_ULP = 2**-7


@check
def rmsnorm():
    t, d = 3, 37
    x, w = randn(t, d, dtype=torch.bfloat16), randn(d, dtype=torch.bfloat16)
    y = torch.empty(t, d, dtype=torch.bfloat16)
    opcheck(ops.rmsnorm.default, (x, w, y, t, d))
    ops.rmsnorm(x, w, y, t, d)
    x64 = x.double()
    want = (x64 * torch.rsqrt((x64 * x64).mean(-1, keepdim=True) + 1e-5) * w.double()).to(torch.bfloat16).double()
    close("rmsnorm", y, want, BF16_ULP, 0.0)


@check
def swiglu():
    n = 5 * 67
    g, u = randn(n, dtype=torch.bfloat16, scale=3), randn(n, dtype=torch.bfloat16)
    out = torch.empty(n, dtype=torch.bfloat16)
    opcheck(ops.swiglu.default, (g, u, out, n))
    ops.swiglu(g, u, out, n)
    g64 = g.double()
    close("swiglu", out, (g64 * torch.sigmoid(g64) * u.double()).to(torch.bfloat16).double(), BF16_ULP, 0.0)


@check
def softmax():
    r, n = 5, 300
    x = randn(r, n, scale=4)
    y = torch.empty(r, n)
    opcheck(ops.softmax.default, (x, y, r, n))
    ops.softmax(x, y, r, n)
    close("softmax", y, torch.softmax(x.double(), -1), 1e-5, 1e-9)


@check
def gemm_bf16():
    m, n, k = 33, 17, 40
    a, b = randn(m, k, dtype=torch.bfloat16), randn(k, n, dtype=torch.bfloat16)
    out = torch.empty(m, n)
    opcheck(ops.gemm_bf16.default, (a, b, out, m, n, k))
    ops.gemm_bf16(a, b, out, m, n, k)
    a64, b64 = a.double(), b.double()
    # Products of bf16 are exact in f32; the f32 sum of K terms errs by at most K 2^-24 sum|a b|.
    err = (out.double() - a64 @ b64).abs()
    bound = k * 2**-24 * (a64.abs() @ b64.abs())
    assert bool((err <= bound).all()), f"gemm_bf16: max |err| {err.max().item():.3g} exceeds the f32 summation bound"


def bits_equal(name, got, want):
    g, w = got.view(torch.uint8 if got.element_size() == 1 else torch.int16), want.view(torch.uint8 if want.element_size() == 1 else torch.int16)
    bad = (g != w).nonzero()
    if len(bad):
        i = int(bad[0][0])
        raise AssertionError(f"{name}: {len(bad)} elements differ, first at {i}: bits {int(g[i]) & 0xFFFF:#x}, expected {int(w[i]) & 0xFFFF:#x}")


@check
def cast_f32_to_e4m3():
    specials = [0.0, -0.0, 448.0, -448.0, 464.0, 1e6, -1e6, 2.0**-9, 2.0**-10, 3 * 2.0**-10, 0.0625 * 1.0625]
    x = torch.cat([torch.tensor(specials), randn(201, scale=60)])
    n = x.numel()
    y = torch.empty(n, dtype=torch.float8_e4m3fn)
    opcheck(ops.cast_f32_to_e4m3.default, (x, y, n))
    ops.cast_f32_to_e4m3(x, y, n)
    # torch (c10) rounds to nearest even but maps values past 448 to NaN; the kernel saturates.
    bits_equal("cast_f32_to_e4m3", y, x.clamp(-448, 448).to(torch.float8_e4m3fn))


@check
def cast_f32_to_bf16():
    x = torch.cat([torch.tensor([0.0, -0.0, 3.4e38, -3.4e38, 1e-40, 1.00390625, 1.01171875]), randn(130, scale=1e3)])
    n = x.numel()
    y = torch.empty(n, dtype=torch.bfloat16)
    opcheck(ops.cast_f32_to_bf16.default, (x, y, n))
    ops.cast_f32_to_bf16(x, y, n)
    bits_equal("cast_f32_to_bf16", y, x.to(torch.bfloat16))


def prefill_args(q_lens, k_lens, hq, hkv):
    t, s = sum(q_lens), sum(k_lens)
    q = randn(t, hq, 192, dtype=torch.bfloat16)
    k = randn(s, hkv, 192, dtype=torch.bfloat16)
    v = randn(s, hkv, 128, dtype=torch.bfloat16)
    cu = lambda lens: torch.tensor([0] + list(torch.tensor(lens).cumsum(0)), dtype=torch.int32)
    out = torch.empty(t, hq, 128, dtype=torch.bfloat16)
    return (q, k, v, cu(q_lens), cu(k_lens), out, t, s, hq, hkv, len(q_lens))


@check
def global_prefill():
    q_lens, k_lens, hq, hkv = [3, 4], [5, 4], 4, 2
    args = prefill_args(q_lens, k_lens, hq, hkv)
    q, k, v, cu_q, cu_k, out = args[:6]
    opcheck(ops.global_prefill.default, args)
    ops.global_prefill(*args)
    scale = 1 / math.sqrt(192)
    want = torch.empty(out.shape, dtype=torch.float64)
    for b, (ql, kl) in enumerate(zip(q_lens, k_lens)):
        q0, k0 = int(cu_q[b]), int(cu_k[b])
        for h in range(hq):
            kh = h // (hq // hkv)
            qs, ks, vs = q[q0:q0 + ql, h].double(), k[k0:k0 + kl, kh].double(), v[k0:k0 + kl, kh].double()
            scores = qs @ ks.T * scale
            pos = torch.arange(kl - ql, kl)[:, None]  # query i sits at position kl - ql + i
            scores = scores.masked_fill(torch.arange(kl)[None, :] > pos, -math.inf)
            want[q0:q0 + ql, h] = torch.softmax(scores, -1) @ vs
    # bf16 output, plus P rounded to bf16 for the tensor-core P·V (as FlashAttention does):
    # each p moves by up to 2^-9 p, so the output by up to 2^-9 max|v|; 2^-8 gives headroom.
    close("global_prefill", out, want, BF16_ULP, 1e-3 + v.double().abs().max().item() / 256)


@check
def refusals():
    t, d = 3, 37
    x, w = randn(t, d, dtype=torch.bfloat16), randn(d, dtype=torch.bfloat16)
    y = torch.empty(t, d, dtype=torch.bfloat16)
    refuses(lambda: ops.rmsnorm(x, w[:36], y, t, d), "[kernel rmsnorm] argument 'w': expected shape bf16[D=37], got [36]")
    refuses(lambda: ops.rmsnorm(x.float(), w, y, t, d), "[kernel rmsnorm] argument 'x': expected dtype bf16 (BFloat16), got Float")
    xt = randn(d, t, dtype=torch.bfloat16).t()
    refuses(lambda: ops.rmsnorm(xt, w, y, t, d), "[kernel rmsnorm] argument 'x': expected a contiguous (row-major) tensor")
    refuses(lambda: ops.rmsnorm(x, w, x, t, d), "[kernel rmsnorm] argument 'y': output overlaps argument 'x'")
    refuses(lambda: ops.rmsnorm(x, w, y, 2**31, d), "[kernel rmsnorm] argument 'T': expected an i32 in [-2147483648, 2147483647], got 2147483648")
    refuses(lambda: ops.rmsnorm(x, w, y, -1, d), "[kernel rmsnorm] argument 'T': shape symbol must be >= 0, got -1")
    args = list(prefill_args([2], [2], 3, 2))
    refuses(lambda: ops.global_prefill(*args), "[kernel global_prefill] precondition HQ % HKV == 0 failed: HQ=3, HKV=2 ((HQ % HKV) = 1, needs == 0)")
    from torch._subclasses.fake_tensor import FakeTensorMode

    w36 = w[:36].clone()
    with FakeTensorMode() as mode:
        fx, fw, fy = mode.from_tensor(x), mode.from_tensor(w36), mode.from_tensor(y)
        refuses(lambda: ops.rmsnorm(fx, fw, fy, t, d), "[kernel rmsnorm] argument 'w': expected shape bf16[D=37], got [36]")


@check
def layer():
    t, hidden, inter = 7, 64, 96
    mlp = MimoMLP(hidden, inter).from_linear_weights(
        1 + randn(hidden, dtype=torch.bfloat16, scale=0.1), randn(inter, hidden, dtype=torch.bfloat16, scale=hidden**-0.5),
        randn(inter, hidden, dtype=torch.bfloat16, scale=hidden**-0.5), randn(hidden, inter, dtype=torch.bfloat16, scale=inter**-0.5))
    x = randn(t, hidden, dtype=torch.bfloat16)
    y = mlp(x)
    # The same computation in float64 torch math, rounded to bf16 where the layer stores bf16.
    r = lambda z: z.to(torch.bfloat16).double()
    x64 = x.double()
    h = r(x64 * torch.rsqrt((x64 * x64).mean(-1, keepdim=True) + 1e-5) * mlp.norm_weight.double())
    g, u = r(h @ mlp.gate_t.double()), r(h @ mlp.up_t.double())
    act, down = r(g * torch.sigmoid(g) * u), mlp.down_t.double()
    want = act @ down
    # The down GEMM's f32 summation bound (as in gemm_bf16), plus one bf16 ulp (2^-7 relative) of
    # the largest term for each of up to 4 intermediates that f32 math rounds the other way.
    terms = act.abs()[:, :, None] * down.abs()[None, :, :]
    bound = inter * 2**-24 * terms.sum(1) + 4 * 2**-7 * terms.amax(1)
    err = (y.double() - want).abs()
    assert bool((err <= bound).all()), f"layer: max |err| {err.max().item():.3g} exceeds the bound (max {bound.max().item():.3g})"


@check
def cuda_registration():
    """The CUDA build compiles with the flags torch.utils.cpp_extension would give it: ops.cpp
    (-DMIMO_KC_CUDA) against torch's c10/cuda headers, and kernels.cu by nvcc.

    ops.cpp is syntax-only: the CPU wheel ships c10/cuda but not libc10_cuda, nor the
    build-generated c10/cuda/impl/cuda_cmake_macros.h, whose one define a stub supplies.
    Linking and running need a CUDA PyTorch on a GPU machine. Cached: skipped when these exact
    sources compiled before."""
    import os
    import subprocess

    from torch.utils.cpp_extension import COMMON_NVCC_FLAGS, include_paths

    from mimo_kc_torch import build

    args, _ = build.extension("cuda", OPS, build_dir=build.build_root() / "cuda-compile-check")
    out = Path(args["build_directory"])
    if (out / "ok").is_file():
        return
    ops_cpp, kernels_cu = args["sources"]
    stub = out / "stub" / "c10" / "cuda" / "impl"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "cuda_cmake_macros.h").write_text("#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n")
    incs = [f"-I{i}" for i in args["extra_include_paths"]]
    torch_incs = [f"-I{i}" for i in [*include_paths(), out / "stub", build.cuda_include()]]
    cmds = [
        ["c++", "-fsyntax-only", "-std=c++20", *args["extra_cflags"], *incs, *torch_incs, ops_cpp],
        [os.environ.get("NVCC", "nvcc"), "-c", *COMMON_NVCC_FLAGS, *args["extra_cuda_cflags"], "-std=c++20", *incs, kernels_cu, "-o", str(out / "kernels.o")],
    ]
    for cmd in cmds:
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stderr[-3000:]}"
    (out / "ok").write_text("")


def main() -> int:
    t0 = time.time()
    try:
        names = mimo_kc_torch.load("cpu", ops=OPS)
    except Exception as e:  # a build error: the compiler's output is the message
        print(f"FAIL build: {e}")
        return 1
    timings = {"build_s": round(time.time() - t0, 2)}
    print(f"ok build ({timings['build_s']} s): {', '.join(names)}")
    failed = 0
    for fn in CHECKS:
        t1 = time.time()
        try:
            fn()
            timings[fn.__name__] = round(time.time() - t1, 2)
            print(f"ok {fn.__name__} ({timings[fn.__name__]} s)")
        except Exception as e:
            failed += 1
            print(f"FAIL {fn.__name__}: {type(e).__name__}: {e}")
    print("timings " + json.dumps(timings))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
