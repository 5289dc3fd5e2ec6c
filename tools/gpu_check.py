"""``make gpu-check``: everything that needs an NVIDIA GPU, in one run, with a short Markdown report.

    python tools/gpu_check.py --probe                 # stdlib only: one line and exit 2 when there is no GPU
    python tools/gpu_check.py [--out DIR] [--wheels DIR] [--device cuda]

On a machine with an NVIDIA GPU this (1) makes CuPy importable in this venv if it is not (installing the project's
``cuda12`` or ``cuda13`` extra, chosen by the driver's CUDA version, from ``--wheels`` when given, never from the
network then), (2) runs tests/test_cuda.py and the cuda test of tests/test_threads.py, (3) runs the conformance suite
on cuda (``python -m tensorswitch.conformance --device cuda --report ... --plot ...``), (4) notes the benchmark
(bench/bench.py has no way to select cuda rows, so it is not run; a few cuda timings with its ``timeit`` stand in),
and (5) writes DIR/REPORT.md (default build/gpu-check/, which git ignores) with pass counts and failures.  It exits 0
only when everything passed.  Each step has a time limit, so a hang is reported rather than waited out.

A machine without internet (the device machines are such): bring the wheels along.  On a machine with internet and
the same Python version and platform, download them, then copy the folder next to the repository:

    .venv/bin/pip download -d wheels "cupy-cuda12x[ctk]>=14" nvidia-cuda-nvrtc-cu12 nvidia-cuda-runtime-cu12
    .venv/bin/pip download -d wheels "cupy-cuda13x[ctk]>=14" nvidia-cuda-nvrtc nvidia-cuda-runtime
    .venv/bin/pip download -d wheels scikit-build-core pybind11 cmake ninja "pyopencl[pocl]>=2024.1" pytest \\
        hypothesis scipy-openblas32 matplotlib numpy      # only if the venv must be built there too

and run ``make gpu-check WHEELS=wheels``: the Makefile then builds the venv with ``PIP_NO_INDEX=1
PIP_FIND_LINKS=wheels`` and this script installs the extra with ``pip install --no-index --find-links wheels``.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEP_LIMIT_S = 1500  # one step (a test file, the conformance suite) may take this long before it counts as hung


def _run(cmd, timeout, env=None):
    """(returncode or None on timeout, combined output)."""
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
        return proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") + (exc.stderr or b"")
        return None, out.decode(errors="replace") if isinstance(out, bytes) else out


def probe():
    """(gpu found, description): nvidia-smi's list of GPUs, or why there is none.  Standard library only."""
    smi = shutil.which("nvidia-smi")
    if smi:
        rc, out = _run([smi, "-L"], timeout=60)
        if rc == 0 and "GPU" in out:
            return True, out.strip()
        return False, f"nvidia-smi found no usable GPU ({(out or '').strip()[:200] or f'exit status {rc}'})"
    if os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia/version"):
        return True, "an NVIDIA driver is loaded (/dev/nvidia0), nvidia-smi is not on PATH"
    return False, "no NVIDIA GPU found (no nvidia-smi on PATH, no /dev/nvidia0)"


def driver_cuda_major():
    """The newest CUDA major version the driver supports (nvidia-smi's "CUDA Version"), or None."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    rc, out = _run([smi], timeout=60)
    match = re.search(r"CUDA Version:\s*(\d+)", out or "")
    return int(match.group(1)) if match else None


def cupy_version():
    rc, out = _run([sys.executable, "-c", "import cupy; print(cupy.__version__)"], timeout=300)
    return out.strip().splitlines()[-1] if rc == 0 and out.strip() else None


def extra_requirements(extra):
    """The requirements of the project's optional dependency ``extra`` (pyproject.toml)."""
    path = os.path.join(ROOT, "pyproject.toml")
    try:
        import tomllib
    except ImportError:  # Python 3.10: the one line of the extra
        with open(path) as f:
            match = re.search(rf"^{extra}\s*=\s*\[(.*?)\]", f.read(), re.M | re.S)
        return re.findall(r'"([^"]+)"', match.group(1)) if match else []
    with open(path, "rb") as f:
        return tomllib.load(f)["project"]["optional-dependencies"][extra]


def ensure_cupy(wheels, log):
    """CuPy importable in this interpreter, installing the matching extra if needed; returns its version or None."""
    version = cupy_version()
    if version:
        log.append(f"CuPy {version} was already installed.")
        return version
    major = driver_cuda_major()
    extra = "cuda13" if major and major >= 13 else "cuda12"
    requirements = extra_requirements(extra)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", *requirements]
    if wheels:
        cmd[4:4] = ["--no-index", "--find-links", wheels]
    else:
        cmd[4:4] = ["--retries", "0", "--timeout", "20"]  # offline: fail fast instead of retrying for minutes
    rc, out = _run(cmd, timeout=STEP_LIMIT_S)
    log.append(f"CuPy was missing; `{' '.join(cmd[3:])}` (driver supports CUDA {major}) exited with {rc}.")
    if rc != 0:
        log.append("```\n" + (out or "")[-3000:] + "\n```")
        if not wheels:
            log.append("Without internet, carry the wheels: see the docstring of tools/gpu_check.py.")
    return cupy_version()


def run_pytest(name, args, out_dir):
    """Run pytest on ``args``; returns a dict of counts, failures and the time."""
    xml = os.path.join(out_dir, f"{name}.xml")
    started = time.perf_counter()
    rc, out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", f"--junitxml={xml}",
                    *args], timeout=STEP_LIMIT_S)
    result = {"name": name, "args": " ".join(args), "rc": rc, "seconds": round(time.perf_counter() - started, 1),
              "tests": 0, "failures": 0, "errors": 0, "skipped": 0, "failed": [], "skip_reasons": []}
    if os.path.exists(xml):
        root = ET.parse(xml).getroot()
        suites = [root] if root.tag == "testsuite" else list(root)
        for suite in suites:
            for key in ("tests", "failures", "errors", "skipped"):
                result[key] += int(suite.get(key, 0))
            for case in suite.iter("testcase"):
                for tag in ("failure", "error"):
                    node = case.find(tag)
                    if node is not None:
                        message = (node.get("message") or node.text or "").strip().splitlines()
                        result["failed"].append(f"{case.get('classname')}::{case.get('name')}: "
                                                f"{message[0][:300] if message else tag}")
                skip = case.find("skipped")
                if skip is not None and len(result["skip_reasons"]) < 5:
                    result["skip_reasons"].append((skip.get("message") or "")[:200])
    if rc is None:
        result["failed"].append(f"timed out after {STEP_LIMIT_S} s")
    elif rc not in (0, 5) and not result["failed"]:  # 5: nothing collected
        result["failed"].append(f"pytest exited with {rc}:\n{out[-2000:]}")
    return result


def run_conformance(device, out_dir):
    report, plot = os.path.join(out_dir, "conformance.json"), os.path.join(out_dir, "conformance.png")
    cmd = [sys.executable, "-m", "tensorswitch.conformance", "--device", device, "--report", report]
    rc, _ = _run([sys.executable, "-c", "import matplotlib"], timeout=120)
    if rc == 0:
        cmd += ["--plot", plot]
    started = time.perf_counter()
    rc, out = _run(cmd, timeout=STEP_LIMIT_S)
    result = {"rc": rc, "seconds": round(time.perf_counter() - started, 1), "summary": None, "failed": [],
              "plot": plot if os.path.exists(plot) else None, "counts": {}}
    if os.path.exists(report):
        with open(report) as f:
            data = json.load(f)
        for cell in data["cells"].values():
            result["counts"][cell["status"]] = result["counts"].get(cell["status"], 0) + 1
        result["failed"] = [f"{k}: {data['cells'][k]['error']}" if k in data["cells"] else
                            f"{k}: {data['gradients']['cells'][k[5:]]['error']}" if k.startswith("grad:") else
                            f"contract {k}: {data['contract'].get(k)}" for k in data["failures"]]
        result["backend"] = data.get("backend")
        lines = [line for line in out.splitlines() if line.startswith(f"{device}")]
        result["summary"] = lines[-1] if lines else None
    else:
        result["failed"].append(f"the conformance suite wrote no report (exit {rc}):\n{out[-2000:]}")
    return result


def timings(device):
    """A few cuda timings with bench/bench.py's own timeit (bench.py has no cuda rows to select)."""
    code = f"""
import importlib.util, json, numpy as np, tensorswitch as ts
spec = importlib.util.spec_from_file_location("bench", "bench/bench.py")
bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
d = ts.device({device!r}); sync = d.synchronize
a, b = ts.ones(10_000_000, device=d), ts.ones(10_000_000, device=d)
small = ts.ones(10, device=d)
m = ts.asarray(np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32), device=d)
out = {{"add 10 elements (latency, us)": bench.timeit(lambda: small + small, sync, 5) * 1e6,
       "add 10M float32 (GB/s)": 12e7 / bench.timeit(lambda: a + b, sync, 5) / 1e9,
       "sum 10M float32 (GB/s)": 4e7 / bench.timeit(lambda: a.sum(), sync, 5) / 1e9,
       "matmul 2048 float32 (GFLOP/s)": 2 * 2048 ** 3 / bench.timeit(lambda: m @ m, sync, 5) / 1e9}}
print(json.dumps(out))
"""
    rc, out = _run([sys.executable, "-c", code], timeout=600)
    if rc == 0:
        try:
            return json.loads(out.strip().splitlines()[-1]), None
        except (ValueError, IndexError):
            pass
    return None, (out or "")[-1500:]


def write_report(path, sections):
    with open(path, "w") as f:
        f.write("\n".join(sections) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="tools/gpu_check.py", description=__doc__.split("\n")[0])
    parser.add_argument("--probe", action="store_true", help="only check for a GPU (standard library only)")
    parser.add_argument("--out", default=os.path.join("build", "gpu-check"), help="report folder")
    parser.add_argument("--wheels", help="install missing packages from this folder only (no network)")
    parser.add_argument("--device", default="cuda", help="the device to check (cuda; others only to try the script)")
    parser.add_argument("--no-probe", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    found, gpus = (True, "(probe skipped)") if args.no_probe else probe()
    if not found:
        print(f"gpu-check: {gpus}; nothing to check on this machine.", file=sys.stderr)
        return 2
    if args.probe:
        print(f"gpu-check: {gpus.splitlines()[0]}")
        return 0

    out_dir = os.path.join(ROOT, args.out)
    os.makedirs(out_dir, exist_ok=True)
    report = os.path.join(out_dir, "REPORT.md")
    sections = [f"# gpu-check ({datetime.datetime.now().isoformat(timespec='seconds')})", "", "## Machine", "",
                "```", gpus, "```", ""]
    log = []
    version = ensure_cupy(os.path.abspath(args.wheels) if args.wheels else None, log) if args.device == "cuda" \
        else "(not needed)"
    sections += [f"- Python {sys.version.split()[0]} ({sys.executable})", f"- CuPy: {version or 'not importable'}",
                 *[f"- {line}" if not line.startswith("```") else line for line in log], ""]
    rc, out = _run([sys.executable, "-c", f"import tensorswitch as ts; d = ts.device({args.device!r}); "
                                          f"print(d.backend.describe(d.index))"], timeout=600)
    usable = rc == 0
    sections += [f"- Device: {out.strip().splitlines()[-1] if usable and out.strip() else 'unusable'}", ""]
    if not usable:
        sections += ["The device cannot be used:", "", "```", (out or "")[-3000:], "```"]
        write_report(report, sections)
        print(f"gpu-check: {args.device} is not usable; see {report}", file=sys.stderr)
        return 1

    failed = False
    sections += ["## Tests", "", "| run | tests | passed | failed | errors | skipped | seconds |",
                 "|---|---|---|---|---|---|---|"]
    results = [run_pytest("test_cuda", ["tests/test_cuda.py"], out_dir),
               run_pytest("test_threads", ["tests/test_threads.py", "-k", "cuda"], out_dir)]
    details = []
    for r in results:
        passed = r["tests"] - r["failures"] - r["errors"] - r["skipped"]
        sections.append(f"| `pytest {r['args']}` | {r['tests']} | {passed} | {r['failures']} | {r['errors']} | "
                        f"{r['skipped']} | {r['seconds']} |")
        if r["failed"]:
            failed = True
            details += [f"### Failures of `pytest {r['args']}`", ""] + [f"- {line}" for line in r["failed"]] + [""]
        if r["skip_reasons"]:
            details += [f"Skips of `pytest {r['args']}` (first few): " + "; ".join(sorted(set(r["skip_reasons"]))),
                        ""]
    sections += [""] + details

    conf = run_conformance(args.device, out_dir)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(conf["counts"].items()))
    sections += ["## Conformance", "", f"`python -m tensorswitch.conformance --device {args.device}` "
                 f"({conf['seconds']} s): {conf['summary'] or counts or 'no result'}", ""]
    if conf.get("plot"):
        sections += [f"![conformance matrix]({os.path.basename(conf['plot'])})", ""]
    if conf["failed"]:
        failed = True
        sections += ["Failures:", ""] + [f"- {line}" for line in conf["failed"][:60]] + [""]

    sections += ["## Benchmark", "", "bench/bench.py has no option that selects cuda rows (it measures cpu, PyTorch "
                 "CPU and OpenCL), so it was not run. A few cuda figures measured with its `timeit`:", ""]
    figures, error = timings(args.device)
    if figures:
        sections += ["| case | value |", "|---|---|"] + [f"| {k} | {v:.3g} |" for k, v in figures.items()] + [""]
    else:
        failed = True
        sections += ["The timings failed:", "", "```", error or "", "```", ""]

    sections += ["## Result", "", "FAILED: see above." if failed else "Everything passed."]
    write_report(report, sections)
    print(f"gpu-check: {'FAILED' if failed else 'passed'}; report in {os.path.relpath(report, ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
