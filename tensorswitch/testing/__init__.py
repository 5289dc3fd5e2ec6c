"""Testing tools for backends: the NumPy references, the shared sample database and the conformance suite.

    python -m tensorswitch.conformance --device DEVICE
    pytest --pyargs tensorswitch.testing --ts-device DEVICE

or, in a program or a test of your own::

    import tensorswitch.testing
    report = tensorswitch.testing.run_conformance("cpu")        # ops=[...], dtypes=[...] to narrow it
    assert report.ok, report.failures
    print(report.summary())

``run_conformance(device, ops=None, dtypes=None, progress=None)`` returns a :class:`Report`: a dict (what
``--report`` writes as JSON) with ``.ok``, ``.cells`` (``"op/dtype"`` -> ``{"status", "samples", "failed_sample",
"error"}``), ``.failures``, ``.counts``, ``.summary()`` and ``.matrix()``.  Each cell has one of these statuses:

PASS             ``"pass"``: the device claims (op, dtype) and every sample matches the NumPy reference.
FAIL             ``"fail"``: a sample gave a wrong answer or raised (the cell's ``error`` says which sample, out of
                 how many, and where the values differ); or an unclaimed (op, dtype) ran anyway, or raised an error
                 that does not name the op, the device and the dtype.
NOT_IMPLEMENTED  ``"not implemented"``: the op table defines (op, dtype) and the built-in backends have it, but this
                 device does not claim it; the suite checked that calling it raises ``ts.KernelNotFoundError``
                 naming the op, the device and the dtype.  Something this backend could add.
NOT_APPLICABLE   ``"not applicable"``: the op is not defined for the dtype on any backend (``negative`` of bool,
                 ``rand`` of int32, ``arange`` of bool): nothing to implement.  The clear error is checked as well.
UNSUPPORTED      ``"dtype unsupported"``: the device cannot store the dtype at all (its ``supported_dtypes()``).
PROMOTED         ``"computed in float32"``: the public API computes (op, dtype) in float32 (``exp`` of int32,
                 ``softmax`` of int64), so no kernel of this dtype is involved.
"""

PASS = "pass"
FAIL = "fail"
NOT_IMPLEMENTED = "not implemented"
NOT_APPLICABLE = "not applicable"
UNSUPPORTED = "dtype unsupported"
PROMOTED = "computed in float32"
STATUSES = (PASS, PROMOTED, NOT_IMPLEMENTED, NOT_APPLICABLE, UNSUPPORTED, FAIL)

__all__ = ["run_conformance", "Report", "PASS", "FAIL", "NOT_IMPLEMENTED", "NOT_APPLICABLE", "UNSUPPORTED",
           "PROMOTED", "STATUSES"]

_LAZY = ("run_conformance", "Report")


def __getattr__(name):
    # pytest imports this package in every session (the plugin lives here), so tensorswitch itself is imported only
    # when the conformance suite is asked for
    if name in _LAZY:
        from . import conformance

        return getattr(conformance, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
