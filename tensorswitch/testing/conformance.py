"""The conformance suite: prove one backend correct, op by op and dtype by dtype.

    python -m tensorswitch.conformance --device DEVICE [--op OP] [--dtype DTYPE] [--report F.json] [--plot F.png]

For every (op, dtype) the device claims, the shared sample database (``tensorswitch/testing/samples.py``) runs against
the NumPy reference; every (op, dtype) it does not claim must raise the clear not-implemented error; then the backend
contract (copies, synchronize, allocations, views, in-place writes) is checked.  Prints an op x dtype matrix and
exits non-zero on any failure.
"""

import argparse
import json
import sys
import time

import numpy as np

import tensorswitch as ts

from . import contract, samples

PASS, FAIL, NOT_IMPLEMENTED, UNSUPPORTED = "pass", "fail", "not implemented", "dtype unsupported"
PROMOTED = "computed in float32"
SYMBOL = {PASS: "ok", FAIL: "FAIL", NOT_IMPLEMENTED: "-", UNSUPPORTED: "n/a", PROMOTED: "f32"}


def run(device, ops=None, dtypes=None, progress=None):
    """Check ``device``; returns a report dict (also what ``--report`` writes)."""
    device = ts.device(device)
    ops = sorted(ts.OPS) if not ops else list(ops)
    for op in ops:
        if op not in ts.OPS:
            raise SystemExit(f"unknown op {op!r}.{ts.errors.did_you_mean(op, ts.OPS)}")
    all_dtypes = [d.name for d in ts._DTYPES] if not dtypes else [ts.dtype(d).name for d in dtypes]
    supported = {d.name for d in device.supported_dtypes()}
    cells = {}
    started = time.perf_counter()
    for op in ops:
        for dt in all_dtypes:
            cell = {"status": None, "samples": 0, "error": None}
            try:
                if dt not in supported:
                    cell["status"] = UNSUPPORTED
                elif ts.registry.has_kernel(op, device, ts.dtype(dt)):
                    cell["samples"] = samples.check(op, dt, device)
                    cell["status"] = PASS
                elif samples.promoted(op, dt):
                    cell["status"] = PROMOTED
                else:
                    samples.check_not_implemented(op, dt, device)
                    cell["status"] = NOT_IMPLEMENTED
            except Exception as exc:  # every kind of breakage is a failure of that cell, never of the run
                cell["status"] = FAIL
                cell["error"] = f"{type(exc).__name__}: {exc}"
            cells[f"{op}/{dt}"] = cell
            if progress:
                progress(op, dt, cell)
    checks = contract.check_contract(device)
    failed = [k for k, c in cells.items() if c["status"] == FAIL] + [k for k, v in checks.items() if v]
    return {
        "device": str(device),
        "backend": device.backend.describe(device.index),
        "tensorswitch": ts.__version__,
        "numpy": np.__version__,
        "ops": ops,
        "dtypes": all_dtypes,
        "cells": cells,
        "contract": checks,
        "failures": failed,
        "seconds": round(time.perf_counter() - started, 2),
    }


def matrix(report):
    """The op x dtype matrix as text."""
    dtypes = report["dtypes"]
    width = max(len(s) for s in SYMBOL.values()) + 1
    head = f"{'op':<14}" + "".join(f"{d:>{max(width, len(d) + 1)}}" for d in dtypes)
    lines = [head]
    for op in report["ops"]:
        row = f"{op:<14}"
        for d in dtypes:
            row += f"{SYMBOL[report['cells'][f'{op}/{d}']['status']]:>{max(width, len(d) + 1)}}"
        lines.append(row)
    return "\n".join(lines)


def summary(report):
    counts = {}
    for c in report["cells"].values():
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    samples_run = sum(c["samples"] for c in report["cells"].values())
    contract_ok = sum(1 for v in report["contract"].values() if v is None)
    return (f"{report['device']}: {counts.get(PASS, 0)} (op, dtype) pairs pass ({samples_run} samples), "
            f"{counts.get(FAIL, 0)} fail, {counts.get(NOT_IMPLEMENTED, 0)} not implemented (clear error checked), "
            f"{counts.get(PROMOTED, 0)} computed in float32, "
            f"{counts.get(UNSUPPORTED, 0)} dtype unsupported by the device; backend contract "
            f"{contract_ok}/{len(report['contract'])} in {report['seconds']} s")


COLORS = ["#4caf50", "#a5d6a7", "#bdbdbd", "#eeeeee", "#e53935"]


def plot(report, path):
    """A PNG heatmap of the matrix (needs matplotlib: ``pip install "tensorswitch[plot]"``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import ListedColormap
    except ImportError as exc:
        raise SystemExit(f"--plot needs matplotlib: pip install \"tensorswitch[plot]\" ({exc})")
    order = [PASS, PROMOTED, NOT_IMPLEMENTED, UNSUPPORTED, FAIL]
    grid = np.array([[order.index(report["cells"][f"{op}/{d}"]["status"]) for d in report["dtypes"]]
                     for op in report["ops"]])
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(report["dtypes"]), 1.0 + 0.28 * len(report["ops"])))
    ax.imshow(grid, cmap=ListedColormap(COLORS), vmin=0, vmax=4,
              aspect="auto")
    ax.set_xticks(range(len(report["dtypes"])), report["dtypes"], rotation=45, ha="right")
    ax.set_yticks(range(len(report["ops"])), report["ops"])
    ax.set_title(f"tensorswitch conformance: {report['device']}")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=c, label=l) for c, l in zip(COLORS, order)],
              loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tensorswitch.conformance", description=__doc__.split("\n")[0])
    parser.add_argument("--device", required=True, help="the device to check, e.g. cpu, opencl, cuda:0, or a plugin's")
    parser.add_argument("--op", action="append", help="only this op (repeatable)")
    parser.add_argument("--dtype", action="append", help="only this dtype (repeatable)")
    parser.add_argument("--report", help="write the full report as JSON to this file")
    parser.add_argument("--plot", help="write a PNG heatmap of the matrix to this file (needs matplotlib)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each (op, dtype) as it finishes")
    args = parser.parse_args(argv)
    try:
        device = ts.device(args.device)
    except ts.TensorSwitchError as exc:
        usable = ", ".join(str(d) for d in ts.devices())
        print(f"error: {exc}\nUsable devices: {usable}", file=sys.stderr)
        return 2

    def progress(op, dt, cell):
        if args.verbose or cell["status"] == FAIL:
            print(f"  {op:<14} {dt:<8} {cell['status']}" + (f": {cell['error']}" if cell["error"] else ""),
                  flush=True)

    report = run(device, args.op, args.dtype, progress)
    print(matrix(report))
    print("\nbackend contract:")
    for name, err in report["contract"].items():
        print(f"  {'ok  ' if err is None else 'FAIL'} {name}" + (f": {err}" if err else ""))
    print("\n" + summary(report))
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1)
    if args.plot:
        plot(report, args.plot)
    if report["failures"]:
        print(f"FAILED: {', '.join(report['failures'])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
