"""The conformance suite: prove one backend correct, op by op and dtype by dtype.

    python -m tensorswitch.conformance --device DEVICE [--op OP] [--dtype DTYPE] [--report F.json] [--plot F.png]

For every (op, dtype) the device claims, the shared sample database (``tensorswitch/testing/samples/``) runs against
the NumPy reference; every (op, dtype) it does not claim must raise the clear not-implemented error; then the gradient
of every differentiable op, in every float dtype the device stores, is checked against finite differences on the cpu
in float64 (``tensorswitch/testing/gradients.py``, Note [Gradient conformance]); then the backend contract (copies,
synchronize, allocations, views, in-place writes) is checked.  Prints an op x dtype matrix (the gradients as rows
``grad:<op>``) and exits non-zero on any failure.  In a program or a test, :func:`run_conformance` returns the same
report; its ``"gradients"`` key holds the gradient section.
"""

import argparse
import os
import json
import sys
import time

import numpy as np

import tensorswitch as ts

from . import contract, gradients, samples
# the status of one (op, dtype) cell: tensorswitch/testing/__init__.py says what each means
from . import FAIL, NOT_APPLICABLE, NOT_IMPLEMENTED, PASS, PROMOTED, STATUSES, UNSUPPORTED

SYMBOL = {PASS: "ok", FAIL: "FAIL", NOT_IMPLEMENTED: "-", NOT_APPLICABLE: ".", UNSUPPORTED: "n/a", PROMOTED: "f32"}


class Report(dict):
    """What a conformance run found: a dict (the JSON that ``--report`` writes) with a few attributes.

    ``report.ok`` is True when nothing failed; ``report.cells`` maps ``"op/dtype"`` to a dict with ``status`` (one of
    the status constants), ``samples`` (how many samples ran, the failing one included), ``failed_sample`` (the
    description of the sample that failed, or None) and ``error`` (the failure's text, or None);
    ``report.failures`` lists the failing cells (``"grad:op/dtype"`` for gradients) and backend-contract checks;
    ``report.gradients`` is the gradient section (``cells``, ``counts``, ``ops``, ``dtypes``, ``seconds``; empty when
    the run skipped it), whose cells also say what is ``missing`` where the status is not implemented;
    ``report.summary()`` is one line of counts and ``report.matrix()`` the op x dtype table.
    """

    @property
    def ok(self):
        return not self["failures"]

    @property
    def cells(self):
        return self["cells"]

    @property
    def failures(self):
        return self["failures"]

    @property
    def gradients(self):
        return self["gradients"]

    @property
    def counts(self):
        """{status: number of cells}, every status included."""
        return self["counts"]

    def summary(self):
        return summary(self)

    def matrix(self):
        return matrix(self)

    def __repr__(self):
        return f"<conformance Report: {self.summary()}>"


def run_conformance(device, ops=None, dtypes=None, progress=None, gradients=True):
    """Check ``device`` against the NumPy references; returns a :class:`Report`.

    device:    a device or its name ("cpu", "opencl:1", a plugin's)
    ops:       op names to check (default: every op); a differentiable op's gradient is checked too, and names of
               the gradient section alone (``getitem``, ``mean``) select only their gradient rows
    dtypes:    dtype names to check (default: every dtype, complex ones included; the gradient section takes the
               float ones among them)
    progress:  called as ``progress(op, dtype, cell)`` after each cell (``op`` is ``"grad:<op>"`` for gradients)
    gradients: False skips the gradient section

    >>> import tensorswitch.testing
    >>> report = tensorswitch.testing.run_conformance("cpu", ops=["add"], dtypes=["float32"])
    >>> report.ok, report.cells["add/float32"]["status"]
    (True, 'pass')
    """
    device = ts.device(device)
    ops, grad_ops, all_dtypes = _selection(ops, dtypes)
    with _parallel_cpu_paths(device):
        return _run(device, ops, grad_ops if gradients else [], all_dtypes, progress)


class _parallel_cpu_paths:
    """On cpu, at least two threads while the samples run: the parallel paths (threads over outputs, one long
    reduction split across threads) must run whatever the machine's core count or OMP_NUM_THREADS."""

    def __init__(self, device):
        self.cpu = device.type == "cpu"

    def __enter__(self):
        if self.cpu:
            self.saved = ts.get_num_threads()
            if self.saved < 2:
                ts.set_num_threads(2)

    def __exit__(self, *exc):
        if self.cpu and ts.get_num_threads() != self.saved:
            ts.set_num_threads(self.saved)


def _run(device, ops, grad_ops, all_dtypes, progress):
    supported = {d.name for d in device.supported_dtypes()}
    cells = {}
    started = time.perf_counter()
    for op in ops:
        for dt in all_dtypes:
            cells[f"{op}/{dt}"] = cell = _check_cell(device, op, dt, supported)
            if progress:
                progress(op, dt, cell)
    grads = gradients.run_gradients(device, grad_ops, [d for d in all_dtypes if d in gradients.FLOAT_DTYPES],
                                    progress)
    checks = contract.check_contract(device)
    failed = [k for k, c in cells.items() if c["status"] == FAIL] + grads["failures"] + \
        [k for k, v in checks.items() if v]
    counts = {s: 0 for s in STATUSES}
    for c in cells.values():
        counts[c["status"]] += 1
    return Report({
        "device": str(device),
        "backend": device.backend.describe(device.index),
        "tensorswitch": ts.__version__,
        "numpy": np.__version__,
        "ops": ops,
        "dtypes": all_dtypes,
        "cells": cells,
        "counts": counts,
        "gradients": grads,
        "contract": checks,
        "failures": failed,
        "seconds": round(time.perf_counter() - started, 2),
    })


run = run_conformance  # the older name


def _selection(ops, dtypes):
    """The ops, the ops of the gradient section and the dtype names to check; ValueError names an unknown one."""
    if isinstance(ops, str):
        ops = [ops]
    if isinstance(dtypes, (str, ts.DType)):
        dtypes = [dtypes]
    if not ops:
        ops, grad_ops = sorted(ts.OPS), list(gradients.GRADIENT_SAMPLES)
    else:
        known = set(ts.OPS) | set(gradients.GRADIENT_SAMPLES)
        for op in ops:
            if op not in known:
                raise ValueError(f"unknown op {op!r}.{ts.errors.did_you_mean(op, sorted(known))}")
        ops, grad_ops = [op for op in ops if op in ts.OPS], [op for op in ops if op in gradients.GRADIENT_SAMPLES]
    try:
        names = [d.name for d in ts._DTYPES] if not dtypes else [ts.dtype(d).name for d in dtypes]
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    return ops, grad_ops, names


def _check_cell(device, op, dt, supported):
    cell = {"status": None, "samples": 0, "failed_sample": None, "error": None}
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
            cell["status"] = NOT_IMPLEMENTED if samples.applicable(op, dt) else NOT_APPLICABLE
    except samples.SampleFailure as exc:
        cell.update(status=FAIL, samples=exc.index, failed_sample=exc.what, error=str(exc))
    except Exception as exc:  # every kind of breakage is a failure of that cell, never of the run
        cell.update(status=FAIL, error=f"{type(exc).__name__}: {exc}")
    return cell


def matrix(report):
    """The op x dtype matrix as text, then the gradient section's (rows ``grad:<op>``), with a legend."""
    lines = _table("op", report["ops"], report["dtypes"], report["cells"], "")
    grads = report.get("gradients") or {}
    if grads.get("ops") and grads.get("dtypes"):
        lines.append("")
        lines += _table("gradient", grads["ops"], grads["dtypes"], grads["cells"], "grad:")
    lines.append("")
    lines.append("   ".join(f"{SYMBOL[s]} {s}" for s in STATUSES))
    return "\n".join(lines)


def _table(title, ops, dtypes, cells, prefix):
    width = max(len(s) for s in SYMBOL.values()) + 1
    first = max([14] + [len(prefix + op) + 1 for op in ops])
    lines = [f"{title:<{first}}" + "".join(f"{d:>{max(width, len(d) + 1)}}" for d in dtypes)]
    for op in ops:
        row = f"{prefix + op:<{first}}"
        for d in dtypes:
            row += f"{SYMBOL[cells[f'{op}/{d}']['status']]:>{max(width, len(d) + 1)}}"
        lines.append(row)
    return lines


def summary(report):
    """One line: the counts of each status, the samples run and the backend contract."""
    counts = report.get("counts") or {s: sum(c["status"] == s for c in report["cells"].values()) for s in STATUSES}
    samples_run = sum(c["samples"] for c in report["cells"].values())
    contract_ok = sum(1 for v in report["contract"].values() if v is None)
    return (f"{report['device']}: {counts.get(PASS, 0)} (op, dtype) pairs pass ({samples_run} samples), "
            f"{counts.get(FAIL, 0)} fail, {counts.get(NOT_IMPLEMENTED, 0)} not implemented (clear error checked), "
            f"{counts.get(NOT_APPLICABLE, 0)} not applicable, {counts.get(PROMOTED, 0)} computed in float32, "
            f"{counts.get(UNSUPPORTED, 0)} dtype unsupported by the device; {_gradient_summary(report)}backend "
            f"contract {contract_ok}/{len(report['contract'])} in {report['seconds']} s")


def _gradient_summary(report):
    grads = report.get("gradients") or {}
    if not grads.get("cells"):
        return ""
    counts = grads["counts"]
    cases = sum(c["samples"] for c in grads["cells"].values())
    return (f"gradients: {counts.get(PASS, 0)} pass ({cases} cases), {counts.get(FAIL, 0)} fail, "
            f"{counts.get(NOT_IMPLEMENTED, 0)} not implemented, {counts.get(UNSUPPORTED, 0)} dtype unsupported; ")


#: heatmap colours, legible on white and against each other: pass and fail saturated, the two "nothing to check"
#: statuses greys of different darkness, "not implemented" amber (something a backend could add)
COLORS = {PASS: "#2e7d32", PROMOTED: "#9ccc65", NOT_IMPLEMENTED: "#ffb300", NOT_APPLICABLE: "#d9d9d9",
          UNSUPPORTED: "#616161", FAIL: "#c62828"}
TEXT_COLORS = {PASS: "white", PROMOTED: "black", NOT_IMPLEMENTED: "black", NOT_APPLICABLE: "#555555",
               UNSUPPORTED: "white", FAIL: "white"}


def _import_pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(report, path):
    """Write a PNG heatmap of the matrix to ``path`` (needs matplotlib: ``pip install "tensorswitch[plot]"``)."""
    fig = figure(report)
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)


def figure(report):
    """The heatmap as a matplotlib Figure: one coloured, labelled cell per (op, dtype), a legend with the count of
    each status, and the summary line as its caption; the gradient section, when the run has one, is a second panel
    (``grad:<op>`` x float dtype) with its own counts in its title."""
    try:
        plt = _import_pyplot()
        from matplotlib.colors import ListedColormap
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise RuntimeError(f"plotting needs matplotlib: pip install \"tensorswitch[plot]\" ({exc})") from exc
    order = list(STATUSES)
    grads = report.get("gradients") or {}
    panels = [(report["ops"], report["dtypes"], report["cells"], "")]
    if grads.get("ops") and grads.get("dtypes"):
        panels.append((grads["ops"], grads["dtypes"], grads["cells"], "grad:"))
    rows = max(len(p[0]) for p in panels)
    widths = [max(len(p[1]), 1) for p in panels]
    fig, axes = plt.subplots(1, len(panels), squeeze=False, gridspec_kw={"width_ratios": widths},
                             figsize=(2.5 + 0.7 * sum(widths) + 2.0 * (len(panels) - 1), 1.6 + 0.28 * rows))
    axes = list(axes[0])
    cmap = ListedColormap([COLORS[s] for s in order])
    for ax, (ops, dtypes, cells, prefix) in zip(axes, panels):
        grid = np.array([[order.index(cells[f"{op}/{d}"]["status"]) for d in dtypes] for op in ops])
        ax.imshow(grid.reshape(len(ops), len(dtypes)), cmap=cmap, vmin=0, vmax=len(order) - 1, aspect="auto")
        for i, op in enumerate(ops):
            for j, d in enumerate(dtypes):
                status = cells[f"{op}/{d}"]["status"]
                ax.text(j, i, SYMBOL[status], ha="center", va="center", fontsize=6, color=TEXT_COLORS[status])
        ax.set_xticks(range(len(dtypes)), dtypes, rotation=45, ha="right")
        ax.set_yticks(range(len(ops)), [prefix + op for op in ops])
    counts = report.get("counts") or {}
    axes[0].set_title(f"tensorswitch conformance: {report['device']} "
                      f"({counts.get(PASS, 0)} pass, {counts.get(FAIL, 0)} fail)", fontsize=9)
    if len(axes) > 1:
        g = grads["counts"]
        axes[1].set_title(f"gradients ({g.get(PASS, 0)} pass, {g.get(FAIL, 0)} fail)", fontsize=9)
    axes[0].legend(handles=[Patch(facecolor=COLORS[s], edgecolor="black", label=f"{s} ({counts.get(s, 0)})")
                            for s in order], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.text(0.01, 0.005, summary(report), fontsize=7, wrap=True, va="bottom")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tensorswitch.conformance", description=__doc__.split("\n")[0])
    parser.add_argument("--device", required=True, help="the device to check, e.g. cpu, opencl, cuda:0, or a plugin's")
    parser.add_argument("--op", action="append", help="only this op (repeatable)")
    parser.add_argument("--dtype", action="append", help="only this dtype (repeatable)")
    parser.add_argument("--report", help="write the full report as JSON to this file")
    parser.add_argument("--plot", help="write a PNG heatmap of the matrix to this file (needs matplotlib)")
    parser.add_argument("--no-gradients", action="store_true",
                        help="skip the gradient section (gradients against finite differences)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each (op, dtype) as it finishes")
    args = parser.parse_args(argv)
    if args.plot:
        try:  # before the run: finding out afterwards wastes it
            _import_pyplot()
        except ImportError as exc:
            parser.error(f"--plot needs matplotlib: pip install \"tensorswitch[plot]\" ({exc})")
    for path in (args.report, args.plot):  # and that the files can be written
        if path and not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
            parser.error(f"cannot write {path}: its folder does not exist or is not writable")
    try:
        device = ts.device(args.device)
    except ts.TensorSwitchError as exc:
        usable = ", ".join(str(d) for d in ts.devices())
        print(f"error: {exc}\nUsable devices: {usable}", file=sys.stderr)
        return 2

    def progress(op, dt, cell):
        if args.verbose or cell["status"] == FAIL:
            detail = cell["error"] or cell.get("missing")
            print(f"  {op:<14} {dt:<8} {cell['status']}" + (f": {detail}" if detail else ""), flush=True)

    try:
        _selection(args.op, args.dtype)
    except ValueError as exc:  # an unknown op or dtype
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = run_conformance(device, args.op, args.dtype, progress, gradients=not args.no_gradients)
    print(report.matrix())
    missing = [(k, c["missing"]) for k, c in report["gradients"]["cells"].items() if c["status"] == NOT_IMPLEMENTED]
    if missing:  # what a backend would add to get these gradients
        print("\ngradients not implemented:")
        for key, text in missing:
            print(f"  grad:{key}: {text}")
    print("\nbackend contract:")
    for name, err in report["contract"].items():
        print(f"  {'ok  ' if err is None else 'FAIL'} {name}" + (f": {err}" if err else ""))
    print("\n" + report.summary())
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=1)
        print(f"report written to {args.report}")
    if args.plot:
        plot(report, args.plot)
        print(f"plot written to {args.plot}")
    if report["failures"]:
        print(f"FAILED: {', '.join(report['failures'])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
