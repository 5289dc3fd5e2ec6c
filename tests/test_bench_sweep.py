"""bench/sweep.py runs end to end on tiny sizes (a smoke test: no timings are checked, only that every op runs for
every library and the table, summary and plot come out)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))
import sweep  # noqa: E402


def test_sweep_runs_every_op_and_writes_the_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    results = sweep.sweep(["cpu"], (10, 300), reps=1, min_time=0.0005, square=(8,), skinny=((20, 4, 4),))
    ops = {op for op, _, _, _ in results}
    assert set(sweep._elementwise_ops()) | set(sweep._row_ops()) <= ops
    assert {"matmul 8x8 @ 8x8", "matmul 20x4 @ 4x4"} <= ops
    for _, _, device, times in results:
        assert "tensorswitch cpu" in times and "NumPy" in times and all(t > 0 for t in times.values())
    sweep.print_results(results)
    assert "PyTorch / ts" in capsys.readouterr().out
    if sweep.torch is not None:
        assert set(sweep.summary(results)) == {op for op in ops if not op.startswith("matmul")} | {"matmul"}
    assert os.path.getsize(sweep.plot(results, str(tmp_path / "sweep.png"))) > 1000


def test_slowdown_table_divides_case_by_case(capsys):
    clean = [("add", 10, "cpu", {"tensorswitch cpu": 1.0, "NumPy": 2.0}), ("exp", 10, "cpu", {"tensorswitch cpu": 4.0})]
    noisy = [("add", 10, "cpu", {"tensorswitch cpu": 3.0, "NumPy": 2.0}), ("exp", 10, "cpu", {"tensorswitch cpu": 2.0})]
    rows = sweep.slowdowns(clean, noisy)
    assert rows == [("add", 10, "cpu", {"tensorswitch cpu": 3.0, "NumPy": 1.0}),
                    ("exp", 10, "cpu", {"tensorswitch cpu": 0.5})]
    sweep.print_slowdowns(rows)
    out = capsys.readouterr().out
    assert "tensorswitch cpu: median slowdown 3.00x, worst 3.00x (add at 10), 1 of 2 cases above 2x" in out
    assert "NumPy: median slowdown 1.00x" in out


def test_opencl_strided_bench_runs_every_pair():
    import tensorswitch as ts

    if "opencl" not in {d.type for d in ts.devices()}:
        pytest.skip("no OpenCL device")
    import bench  # noqa: E402 (bench/bench.py, on the path above)

    rows = bench.bench_opencl_strided(reps=1)
    assert len(rows) == 8 and all(t_s > 0 and t_c > 0 for _, t_s, t_c in rows)
