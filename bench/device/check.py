"""The H200 check's Python driver (bench/device/h200-check.sh runs it on the lent GPU machine;
test/device-script.test.ts runs it here with --dry-run).

Phases, each with a time budget (the whole run is planned under 8 minutes on the H200):
  build    the torch extension of every kernel (python/mimo_kc_torch: nvcc for sm_90a, one unit)
  correct  every kernel against float64 PyTorch references at small odd shapes: PASS/FAIL per
           kernel; a kernel of the manifest without a case is a FAIL (no silent gaps)
  peers    the table of ours against PyTorch's kernels at the model's shapes (peers.py), then
           the GEMMs' TFLOP/s against the published peaks (peers_gemm.py), to stdout and
           OUT/h200-table.md
Exit status: 0 all passed; 1 a correctness FAIL (or the build failed); 2 a peers row where our
op failed or disagreed with its peer; 3 a usage error.

    python3 bench/device/check.py [--dry-run] [--out DIR] [--phases build,correct,peers]
--dry-run: the CPU build (the CUDA emulator), tiny shapes, peers on the CPU where PyTorch has them.
"""
from __future__ import annotations

import argparse
import datetime
import fnmatch
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1] / "python")]

PHASES = ("build", "correct", "peers")
# Seconds planned per phase on the H200 (README.md there explains the numbers); the dry run
# on 2 CPU cores gets its own. Over budget is reported, never silently cut, except that the
# peers phase starts no new group of rows past its budget.
BUDGET_H200 = {"build": 180, "correct": 60, "peers": 180}
BUDGET_DRY = {"build": 120, "correct": 60, "peers": 60}


def log(msg: str):
    print(msg, flush=True)


def parse(argv):
    p = argparse.ArgumentParser(prog="check.py", description="mimo-kc's H200 check: build, correctness, peers table")
    p.add_argument("--dry-run", action="store_true", help="CPU build through the CUDA emulator, tiny shapes")
    p.add_argument("--out", default=os.environ.get("OUT") or "bench/device/out", help="folder for h200-table.md and h200-summary.json (default: $OUT)")
    p.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    p.add_argument("--cases", default="*", help="glob over case names (correctness phase)")
    p.add_argument("--noop-ops", action="store_true", help="self-check: every op does nothing, so every correctness case must FAIL")

    try:
        a = p.parse_args(argv)
    except SystemExit as e:
        raise SystemExit(3 if e.code else 0)
    phases = [x.strip() for x in a.phases.split(",") if x.strip()]
    unknown = [x for x in phases if x not in PHASES]
    if unknown or not phases:
        print(f"check.py: --phases: unknown phase {unknown[0] if unknown else '(none)'!r}; expected a subset of {','.join(PHASES)}", file=sys.stderr)
        raise SystemExit(3)
    a.phases = phases
    return a


def device_line(dev: str) -> str:
    import torch

    if dev == "cuda":
        pr = torch.cuda.get_device_properties(0)
        return f"{pr.name}, {pr.multi_processor_count} SMs, {pr.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, CUDA {torch.version.cuda}"
    return f"CPU ({platform.processor() or platform.machine()}), torch {torch.__version__}: dry run through the CUDA emulator"


def run_build(dev: str) -> tuple[bool, str]:
    import mimo_kc_torch

    try:
        names = mimo_kc_torch.load(dev)
    except Exception as e:  # the compiler's output is the message
        return False, f"{type(e).__name__}: {str(e)[-3000:]}"
    return True, f"{len(names)} ops"


def run_correct(dev: str, pattern: str, noop: bool) -> tuple[dict[str, str], list[str]]:
    """PASS/FAIL per kernel (a kernel fails when any case covering it fails), and the kernels
    of the manifest that no case covers."""
    import cases_attention  # noqa: F401  (registers cases)
    import cases_core  # noqa: F401
    import cases_moe  # noqa: F401
    import cases_rows  # noqa: F401
    import cases_sampling  # noqa: F401
    from common import CASES, Ctx
    from mimo_kc_torch import manifest as mf

    kernels = sorted(mf.load()["kernels"])
    status: dict[str, str] = {}
    ctx = Ctx(dev, noop)
    for c in CASES:
        if not fnmatch.fnmatchcase(c.name, pattern):
            continue
        t0 = time.time()
        try:
            c.fn(ctx)
            if dev == "cuda":
                import torch

                torch.cuda.synchronize()  # a launch error surfaces here, in the case that caused it
            verdict = "PASS"
        except Exception as e:
            verdict = f"FAIL {type(e).__name__}: {e}"
            if os.environ.get("MIMO_DEBUG") == "1":
                traceback.print_exc()
        for k in c.kernels:
            status[k] = verdict if verdict != "PASS" or k not in status else status[k]
        log(f"{'PASS' if verdict == 'PASS' else 'FAIL'} {c.name} [{', '.join(c.kernels)}] ({time.time() - t0:.2f} s){'' if verdict == 'PASS' else ': ' + verdict[5:]}")
    uncovered = [k for k in kernels if k not in status] if pattern == "*" else []
    return status, uncovered


def main(argv=None) -> int:
    a = parse(sys.argv[1:] if argv is None else argv)
    import torch

    dev = "cpu" if a.dry_run else "cuda"
    if dev == "cuda" and not torch.cuda.is_available():
        print("check.py: no CUDA device visible to torch (use --dry-run for the CPU check)", file=sys.stderr)
        return 1
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    budgets = BUDGET_DRY if a.dry_run else BUDGET_H200
    summary = {"date": datetime.date.today().isoformat(), "device": device_line(dev), "dry_run": a.dry_run, "phases": {}}
    log(f"device: {summary['device']}")
    code = 0

    def phase_done(name, t0, **extra):
        took = time.time() - t0
        over = took > budgets[name]
        summary["phases"][name] = {"seconds": round(took, 1), "budget": budgets[name], **extra}
        log(f"phase {name}: {took:.1f} s of {budgets[name]} s planned{' (OVER BUDGET)' if over else ''}")

    if True:  # every phase needs the ops
        t0 = time.time()
        ok, what = run_build(dev)
        phase_done("build", t0, ok=ok)
        if not ok:
            log(f"FAIL build: {what}")
            (out / "h200-summary.json").write_text(json.dumps(summary, indent=1))
            return 1
        log(f"build: {what}")
    if "correct" in a.phases:
        t0 = time.time()
        status, uncovered = run_correct(dev, a.cases, a.noop_ops)
        for k in uncovered:
            status[k] = "FAIL no correctness case covers this kernel"
            log(f"FAIL {k}: no correctness case covers this kernel (add one to bench/device/cases_*.py)")
        failed = sorted(k for k, v in status.items() if v != "PASS")
        phase_done("correct", t0, kernels=len(status), failed=failed)
        log(f"correctness: {len(status) - len(failed)} of {len(status)} kernels PASS" + (f"; FAIL: {', '.join(failed)}" if failed else ""))
        if failed:
            code = 1
    if "peers" in a.phases:
        import peers
        import peers_gemm

        t0 = time.time()
        rows = peers.run(dev, a.dry_run, t0 + budgets["peers"], log)
        title = (f"### H200 check, {summary['date']}: {summary['device']}\n\nFloors: {peers.PEAK_BF16 / 1e12:.0f} TFLOP/s BF16 "
                 f"({peers.PEAK_FP8 / 1e12:.0f} FP8), {peers.HBM_BW / 1e12:.1f} TB/s HBM; peer/ours > 1: ours is faster.")
        if a.dry_run:
            title += " DRY RUN on the CPU (emulated CUDA, tiny shapes): the numbers mean nothing."
        md = peers.table(rows, title) + "\n" + peers_gemm.table(rows)
        (out / "h200-table.md").write_text(md)
        bad = peers.bad(rows)
        phase_done("peers", t0, rows=len(rows), bad=bad)
        print("\n" + md, flush=True)
        if bad and code == 0:
            code = 2
    (out / "h200-summary.json").write_text(json.dumps(summary, indent=1))
    log(f"check.py: exit {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
