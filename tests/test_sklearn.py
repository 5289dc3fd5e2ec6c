"""scikit-learn on tensorswitch tensors through the Array API (``sklearn.config_context(array_api_dispatch=True)``):
``PCA(svd_solver="full")``, ``LinearDiscriminantAnalysis`` and ``Ridge(solver="svd")`` on cpu and opencl, with
results matching the same estimators fitted on NumPy arrays.

SciPy reads ``SCIPY_ARRAY_API`` once, when it is first imported, and scikit-learn refuses array API dispatch unless
it is "1" (``sklearn.utils._array_api._check_array_api_dispatch`` reads ``os.environ`` at fit time).  Other test
modules import SciPy first in the same pytest process, so the estimators run in a fresh interpreter with the variable
set (one per device, for all three estimators), which reports results and errors as JSON.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import tensorswitch as ts

pytest.importorskip("sklearn")

SCRIPT = textwrap.dedent('''
    import json, os, sys, traceback, warnings
    assert os.environ.get("SCIPY_ARRAY_API") == "1"
    import numpy as np
    import sklearn
    from sklearn.decomposition import PCA
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import Ridge
    import tensorswitch as ts

    device, fallback = sys.argv[1], sys.argv[2] == "fallback"
    if fallback:
        ts.set_fallback(device, "cpu")
    warnings.simplefilter("ignore")  # the fallback's one warning per op
    dt = "float64" if ts.float64 in ts.device(device).supported_dtypes() else "float32"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 6)).astype(dt) * np.array([3, 2, 1, 0.5, 0.2, 0.1], dt)
    labels = (X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 0.4)
    target = (X @ np.arange(1.0, 7.0).astype(dt) + 0.1).astype(dt)

    def host(v):
        if isinstance(v, ts.Tensor):
            assert v.device == ts.device(device), (v.device, device)
            return np.asarray(v.to("cpu")).tolist()
        return np.asarray(v).tolist()

    def pca(X, _):
        est = PCA(n_components=3, svd_solver="full")
        return {"transform": est.fit_transform(X), "components": est.components_,
                "explained_variance": est.explained_variance_}

    def lda(X, y):
        est = LinearDiscriminantAnalysis().fit(X, y)
        return {"predict": est.predict(X), "decision": est.decision_function(X), "coef": est.coef_}

    def ridge(X, y):
        est = Ridge(solver="svd", alpha=0.5).fit(X, y)
        return {"predict": est.predict(X), "coef": est.coef_, "intercept": est.intercept_}

    report = {"dtype": dt}
    for name, fit, y in (("pca", pca, None), ("lda", lda, labels), ("ridge", ridge, target)):
        want = {k: host(v) for k, v in fit(X, y).items()}
        try:
            with sklearn.config_context(array_api_dispatch=True):
                got = fit(ts.asarray(X, device=device), None if y is None else ts.asarray(y, device=device))
                got = {k: host(v) for k, v in got.items()}
            report[name] = {"want": want, "got": got}
        except Exception as exc:
            last = traceback.extract_tb(exc.__traceback__)[-1]
            report[name] = {"error": f"{type(exc).__name__}: {exc} (at {last.filename}:{last.lineno})"}
    print(json.dumps(report))
''')

_reports = {}


def report(device, fallback):
    key = (device, fallback)
    if key not in _reports:
        env = dict(os.environ, SCIPY_ARRAY_API="1")
        done = subprocess.run([sys.executable, "-c", SCRIPT, device, "fallback" if fallback else "plain"],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        _reports[key] = json.loads(done.stdout.strip().splitlines()[-1])
    return _reports[key]


OPENCL = next((str(d) for d in ts.devices() if d.type == "opencl"), None)
class MissingKernel(Exception):
    """The estimator stopped at an op without a kernel on the device (opencl's svd and eigh are its own Jacobi
    kernels, so plain opencl must run all three estimators)."""


CASES = [pytest.param("cpu", False, id="cpu")]
if OPENCL is not None:
    CASES += [pytest.param(OPENCL, False, id="opencl"), pytest.param(OPENCL, True, id="opencl-with-cpu-fallback")]
else:
    CASES += [pytest.param("opencl", False, id="opencl", marks=pytest.mark.skip(reason="no opencl device"))]


def check(device, fallback, name, fields):
    r = report(device, fallback)
    case = r[name]
    if "error" in case and "has no kernel for device" in case["error"]:
        raise MissingKernel(case["error"])
    assert "error" not in case, case.get("error")
    import numpy as np

    rtol = 1e-8 if r["dtype"] == "float64" else 2e-4
    for field in fields:
        got, want = np.asarray(case["got"][field]), np.asarray(case["want"][field])
        assert got.shape == want.shape, field
        if got.dtype.kind in "iub":
            np.testing.assert_array_equal(got, want, err_msg=field)
        else:
            scale = max(1.0, float(np.abs(want).max()))
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=field)


@pytest.mark.parametrize(("where", "fallback"), CASES)  # not "device": conftest fills that one
def test_pca_full(where, fallback):
    check(where, fallback, "pca", ["transform", "components", "explained_variance"])


@pytest.mark.parametrize(("where", "fallback"), CASES)  # not "device": conftest fills that one
def test_linear_discriminant_analysis(where, fallback):
    check(where, fallback, "lda", ["predict", "decision", "coef"])


@pytest.mark.parametrize(("where", "fallback"), CASES)  # not "device": conftest fills that one
def test_ridge_svd(where, fallback):
    check(where, fallback, "ridge", ["predict", "coef", "intercept"])
