"""Writes the torch.library registration of mimo-kc kernels from the CUDA manifest.

One op per kernel, `mimo_kc::<kernel>`, in sgl-kernel's style: the tensors in launcher order,
outputs passed in and marked mutable (`Tensor(a!)`), then the launcher's scalars (`int` for
i32/u32, `float` for f32), returning nothing. E.g.
    rmsnorm(Tensor x, Tensor w, Tensor(a!) y, int T, int D) -> ()
The C++ of each op checks its arguments (csrc/checks.h) and calls the extern "C" launcher of
mimo_kernels.h; csrc/device.h makes the same text a CUDA or a CPU (emulator) implementation.

    python -m mimo_kc_torch.codegen --out DIR [--ops 'rmsnorm,gemm_*'] [--cuda-dir generated/cuda]
writes DIR/ops.cpp and DIR/kernels.cu for a build system of your own (see README.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import manifest as mf

CSRC = Path(__file__).resolve().parent / "csrc"
RELS = ("<", "<=", ">", ">=", "==", "!=")  # the manifest's and C++'s spellings agree


def schema(k: dict) -> str:
    alias = iter("abcdefghijklmnopqrstuvwxyz")
    args = [f"Tensor({next(alias)}!) {b['name']}" if mf.writable(b) else f"Tensor {b['name']}" for b in k["bindings"]]
    args += [f"{'float' if s['dtype'] == 'f32' else 'int'} {s['name']}" for s in k["scalars"]]
    return f"{k['name']}({', '.join(args)}) -> ()"


class _Formula:
    """A manifest tree as a C++ double expression over the checked scalars of one kernel."""

    def __init__(self, k: dict):
        self.kernel = k["name"]
        self.scalars = {s["name"] for s in k["scalars"]}
        self.fixed = {**k.get("consts", {}), **k.get("tunables", {})}

    def value(self, name: str) -> str:
        if name in self.scalars:
            return f"static_cast<double>(v_{name})"
        if name in self.fixed:
            return repr(float(self.fixed[name]))
        raise mf.ManifestError(f"[kernel {self.kernel}] formula names '{name}', which is neither a scalar, a const nor a tunable")

    def cpp(self, e: dict) -> str:
        if e["k"] == "num":
            return repr(float(e["v"]))
        if e["k"] == "sym":
            return self.value(e["name"])
        a, b, op = self.cpp(e["a"]), self.cpp(e["b"]), e["op"]
        if op in "+-*":
            return f"({a} {op} {b})"
        fn = {"/": "mimo_kc::tdiv", "%": "std::fmod", "cdiv": "mimo_kc::cdiv", "min": "std::fmin", "max": "std::fmax"}
        if op not in fn:
            raise mf.ManifestError(f"[kernel {self.kernel}] formula operator {op!r} is not one of + - * / % cdiv min max")
        return f"{fn[op]}({a}, {b})"

    def symbols(self, e: dict, out: list[str]) -> list[str]:
        if e["k"] == "sym" and e["name"] not in out:
            out.append(e["name"])
        elif e["k"] == "op":
            self.symbols(e["b"], self.symbols(e["a"], out))
        return out

    def values(self, *trees: dict) -> str:
        names: list[str] = []
        for t in trees:
            self.symbols(t, names)
        return "{" + ", ".join(f'{{"{n}", {self.value(n)}}}' for n in names) + "}"


def _text(e: dict) -> str:
    if e["k"] == "num":
        return str(e["v"])
    if e["k"] == "sym":
        return e["name"]
    if e["op"] in ("cdiv", "min", "max"):
        return f"{e['op']}({_text(e['a'])}, {_text(e['b'])})"
    return f"({_text(e['a'])} {e['op']} {_text(e['b'])})"


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def op_function(k: dict) -> str:
    name, f = k["name"], _Formula(k)
    params = [f"{'at::Tensor&' if mf.writable(b) else 'const at::Tensor&'} t_{b['name']}" for b in k["bindings"]]
    params += [f"{'double' if s['dtype'] == 'f32' else 'int64_t'} s_{s['name']}" for s in k["scalars"]]
    body = [f"  static constexpr const char* K = {_c_string(name)};"]
    for s in k["scalars"]:
        n = s["name"]
        if s["dtype"] == "f32":
            body.append(f'  const float v_{n} = mimo_kc::check_f32(K, "{n}", s_{n});')
        elif s["dtype"] == "u32":
            body.append(f'  const unsigned v_{n} = mimo_kc::check_u32(K, "{n}", s_{n});')
        elif s["dtype"] == "i32":
            body.append(f'  const int v_{n} = mimo_kc::check_i32(K, "{n}", s_{n}, {"true" if s["isDim"] else "false"});')
        else:
            raise mf.ManifestError(f"[kernel {name}] scalar '{n}': dtype {s['dtype']!r} is not i32, u32 or f32")
    first = k["bindings"][0]["name"]
    body.append(f'  const c10::Device device = mimo_kc::launch_device(K, "{first}", t_{first});')
    for b in k["bindings"]:
        d = mf.DTYPES[b["dtype"]]
        dims = ", ".join(
            f"{{nullptr, {e['v']}}}" if e["k"] == "num" else f"{{{_c_string(text)}, static_cast<int64_t>({f.cpp(e)})}}"
            for text, e in zip(b["shape"], b["shapeExpr"])
        )
        body.append(f'  mimo_kc::check_tensor(K, "{b["name"]}", t_{b["name"]}, {d.aten}, "{b["dtype"]}", {{{dims}}}, device);')
    outs = [b["name"] for b in k["bindings"] if mf.writable(b)]
    for i, o in enumerate(outs):
        for b in k["bindings"]:
            if b["name"] != o and b["name"] not in outs[:i]:
                body.append(f'  mimo_kc::check_no_overlap(K, "{o}", t_{o}, "{b["name"]}", t_{b["name"]});')
    for r in k.get("requires", []):
        if r["rel"] not in RELS:
            raise mf.ManifestError(f"[kernel {name}] precondition {r['text']!r}: relation {r['rel']!r} is not one of {' '.join(RELS)}")
        lhs, rhs, lhs_sym = f.cpp(r["lhs"]), f.cpp(r["rhs"]), r["lhs"]["k"] == "sym"
        lhs_text = r["lhs"]["name"] if lhs_sym else _text(r["lhs"])
        body += [
            "  {",
            f"    const double lhs = {lhs}, rhs = {rhs};",
            f"    mimo_kc::check_require(K, lhs {r['rel']} rhs, {_c_string(r['text'])}, {f.values(r['lhs'], r['rhs'])},",
            f'                           mimo_kc::need_text({_c_string(lhs_text)}, lhs, {"true" if lhs_sym else "false"}, "{r["rel"]}", rhs));',
            "  }",
        ]
    full = [b for b in k["bindings"] if b.get("initialisedBy") == "kernel"]
    for axis, g in zip("xyz", k["gridExpr"]):
        if g["k"] == "num":
            continue
        for b in full:
            n = b["name"]
            body.append(f'  mimo_kc::check_empty_grid(K, "{axis}", {_c_string(_text(g))}, {f.cpp(g)}, "{n}", t_{n}.numel());')
    args = [f"t_{b['name']}.data_ptr()" for b in k["bindings"]] + [f"v_{s['name']}" for s in k["scalars"]]
    body += [
        "  mimo_kc::Launch launch(device);",
        f'  mimo_kc::check_launch(K, "{k["launcher"]}", {k["launcher"]}({", ".join(args + ["launch.stream()"])}));',
    ]
    doc = k["doc"].replace("\n", " ")
    return f"// {name}: {doc}\nvoid {name}({', '.join(params)}) {{\n" + "\n".join(body) + "\n}\n"


def ops_source(kernels: list[dict], origin: str) -> str:
    names = [k["name"] for k in kernels]
    defs = "\n".join(f"  m.def({_c_string(schema(k))});" for k in kernels)
    impls = "\n".join(f'  m.impl("{n}", &{n});' for n in names)
    fns = "\n".join(op_function(k) for k in kernels)
    return (
        f"// Generated by mimo_kc_torch.codegen from {origin} ({len(names)} kernels). Do not edit: rerun it.\n"
        '#include <torch/library.h>\n\n#include <cmath>\n\n#include "checks.h"\n#include "device.h"\n\n'
        f"namespace {{\n\n{fns}\n}}  // namespace\n\n"
        f"TORCH_LIBRARY(mimo_kc, m) {{\n{defs}\n}}\n\n"
        f"TORCH_LIBRARY_IMPL(mimo_kc, MIMO_KC_DISPATCH_KEY, m) {{\n{impls}\n}}\n"
    )


def kernels_source(kernels: list[dict], origin: str) -> str:
    """One translation unit with the selected generated .cu files (nvcc, or g++ -DMIMO_HOST_EMU)."""
    includes = "\n".join(f'#include "{k["file"]}"' for k in kernels)
    return (
        f"// Generated by mimo_kc_torch.codegen from {origin}: the launchers of {len(kernels)} kernels. Do not edit.\n"
        f"{includes}\n\n"
        'extern "C" const char* mimo_kc_error_string(cudaError_t err) { return cudaGetErrorString(err); }\n'
    )


def write(out: Path, kernels: list[dict], origin: str, kernels_name: str) -> list[Path]:
    """Writes ops.cpp and the kernel unit; a file whose text is unchanged keeps its mtime (ninja stays idle)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {out / "ops.cpp": ops_source(kernels, origin), out / kernels_name: kernels_source(kernels, origin)}
    for path, text in files.items():
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
    return list(files)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m mimo_kc_torch.codegen", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for ops.cpp and kernels.cu")
    p.add_argument("--ops", default=None, help=f"comma-separated kernel globs (default: ${mf.OPS_ENV}, else all)")
    p.add_argument("--cuda-dir", default=None, help="folder with manifest.json (default: the repository's generated/cuda)")
    a = p.parse_args(argv)
    try:
        d = mf.cuda_dir(a.cuda_dir)
        kernels = mf.select(mf.load(d), a.ops)
        files = write(Path(a.out), kernels, str(d / "manifest.json"), "kernels.cu")
    except (mf.ManifestError, OSError) as e:
        print(f"mimo_kc_torch.codegen: {e}", file=sys.stderr)
        return 1
    print(f"mimo_kc_torch.codegen: {len(kernels)} ops -> {', '.join(str(f) for f in files)}; include {CSRC} and {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
