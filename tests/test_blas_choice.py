"""Note [Which BLAS] (backends/cpu.py): MKL when installed, else OpenBLAS, else our own loop; TENSORSWITCH_BLAS
picks one.  Each case runs in a fresh process, since the choice is made once, when the cpu backend starts."""

import os
import subprocess
import sys

import pytest

from tensorswitch.backends import cpu

SCRIPT = """
import numpy as np, tensorswitch as ts
from tensorswitch.backends import cpu
a = np.random.default_rng(0).standard_normal((67, 45)).astype(np.float32)
b = np.random.default_rng(1).standard_normal((45, 33)).astype(np.float32)
got = (ts.asarray(a) @ ts.asarray(b)).numpy()
np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)
d = (ts.asarray(a.astype(np.float64)) @ ts.asarray(b.astype(np.float64))).numpy()
np.testing.assert_allclose(d, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-12)
print(cpu.BLAS)
print(ts.device("cpu").backend.describe(0))
"""


def run(choice):
    env = dict(os.environ)
    env.pop("TENSORSWITCH_BLAS", None)
    if choice is not None:
        env["TENSORSWITCH_BLAS"] = choice
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split("\n"), out.stderr


def test_none_runs_our_own_loop():
    (blas, text, _), _ = run("none")
    assert blas == "None" and "our own loop" in text


def test_openblas_when_asked():
    pytest.importorskip("scipy_openblas32")
    (blas, text, _), _ = run("openblas")
    assert blas == "openblas" and "BLAS: openblas" in text


def test_default_prefers_mkl_then_openblas():
    (blas, _, _), _ = run(None)
    if cpu._mkl_library() is not None:
        assert blas == "mkl"
    else:
        pytest.importorskip("scipy_openblas32")
        assert blas == "openblas"


def test_unknown_choice_warns_and_is_ignored():
    (blas, _, _), stderr = run("acml")
    assert "TENSORSWITCH_BLAS='acml' is not one of mkl, openblas, none" in stderr
    assert blas in ("mkl", "openblas", "None")
