"""The tables themselves: the op table, the registry and the public namespace agree."""

import tensorswitch as ts
from tensorswitch.kernels import optable

BUILTIN_COVERAGE = optable.COVERAGE


def test_every_op_has_a_coverage_claim():
    assert set(BUILTIN_COVERAGE) == set(ts.OPS)


def test_builtin_backends_claim_every_op_for_every_dtype():
    """cpu and opencl (and cuda, where it registers) have a kernel for every (op, dtype) the table claims, less what
    COVERAGE_GAPS lists as not implemented there on purpose, and none of those."""
    for device_type in ("cpu", "opencl", "cuda"):
        for op in BUILTIN_COVERAGE:
            dtypes = set(optable.coverage(op, device_type))
            have = {d.name for d in ts.registry.dtypes(op, device_type)}
            assert dtypes <= have, f"{device_type} lacks {op} for {sorted(dtypes - have)}"
            gaps = set(optable.COVERAGE_GAPS.get(device_type, {}).get(op, ()))
            assert not gaps & have, f"{device_type} claims {op} for {sorted(gaps & have)}, listed as a gap"


def test_public_functions_match_the_op_table():
    from tensorswitch.testing import reference

    for name in optable.ELEMENTWISE:
        assert callable(getattr(ts, name)), name
    for name in optable.REDUCTIONS:
        assert callable(getattr(ts, name)), name
    assert set(reference.ELEMENTWISE) == set(optable.ELEMENTWISE)


def test_registry_queries_and_table():
    entries = ts.registry.kernels(op="add", device="cpu")
    assert {e.dtype.name for e in entries} == set(optable.NUMERIC + optable.COMPLEX)
    assert all(e.site and "cpu.py" in e.site for e in entries)
    assert ts.registry.kernels(dtype="float16", device="cpu")
    text = str(ts.registry)
    assert text.splitlines()[0].startswith("op") and "cpu" in text.splitlines()[0]
    assert any(line.startswith("matmul") for line in text.splitlines())
