"""``python -m conformance bench``: it runs (in --quick mode), pins its threads, and writes a
well-formed table, JSON and chart. Timings are never asserted: they belong to the bench
command's ratios, measured side by side in one run, not to a test."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance.bench import measure as bench
from conformance.bench.report import table
from conformance.cli.bench import _pinned_environment
from tests.support import run_cli

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("torch", reason="torch is not installed: bench needs it")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    environment = {
        key: value for key, value in os.environ.items() if key not in bench.PIN_VARIABLES
    }
    # bench's smoke test in a process of its own, its thread variables unset
    completed = subprocess.run(
        [sys.executable, "-m", "conformance", "bench", "--quick", "--json", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,  # unpinned: the command must pin the threads itself
        timeout=300,
        check=False,
    )
    return completed, out


def test_quick_bench_prints_a_json_report_with_every_goal(quick_run):
    completed, out = quick_run
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout)
    assert report == json.loads((out / "bench.json").read_text())
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["numpy"]["version"] == np.__version__
    assert machine["torch"]["version"] and machine["torch"]["threads"] == 1
    assert machine["threads"] == {variable: "1" for variable in bench.PIN_VARIABLES}
    names = [row["name"] for row in report["rows"]]
    assert any("batch 4, width 8, depth 2, float64" in name for name in names)
    assert any("batch 256, width 512, depth 4, float32" in name for name in names)
    assert "impl vs torch autograd (small CNN, batch 8, float32)" in names
    assert "impl vs torch autograd (LSTM classifier, batch 16, float32)" in names
    assert any("gradcheck fast_mode" in name for name in names)
    assert any("gradcheck default" in name for name in names)
    assert any(name.startswith("scale:") for name in names)
    assert any(name.startswith("check's default stream") for name in names)
    cost = report["details"]["stream_cost"]
    assert set(cost["median_case_seconds"]) == {"default", "dense"}

    assert any(name.startswith("check --workers 2 vs --workers 1") for name in names)
    workers = report["details"]["workers"]
    assert workers["cases"] == bench.QUICK.workers_cases
    assert set(workers["median_wall_seconds"]) == {"1", "2"}
    runs = workers["wall_seconds"]
    assert len(runs["1"]) == len(runs["2"]) == workers["repeats"]
    pairs = zip(runs["1"], runs["2"], strict=True)
    assert workers["pair_ratios"] == [one / two for one, two in pairs]
    assert workers["median_pair_ratio"] == statistics.median(workers["pair_ratios"])
    row = next(row for row in report["rows"] if row["name"].startswith("check --workers 2"))
    assert row["ratio"] == workers["median_pair_ratio"]
    for row in report["rows"]:
        assert row["ratio"] > 0 and np.isfinite(row["ratio"])
        assert row["met"] == (None if row["goal"] is None else row["ratio"] >= row["goal"])
    networks = report["details"]["impl_networks"]
    assert [network["case"] for network in networks] == [
        "(1, 28, 28) -> conv2d 8ch 3x3 relu -> maxpool2d 2x2 -> conv2d 16ch 3x3 relu -> "
        "maxpool2d 2x2 -> flatten -> dense 10 | softmax_cross_entropy (mean) | l2 0 | float32 "
        "| N=8",
        "(20, 32) -> lstm 64 last -> dense 10 | softmax_cross_entropy (mean) | l2 0 | float32 "
        "| N=16",
    ]
    for row in report["rows"]:
        if "small CNN" in row["name"] or "LSTM classifier" in row["name"]:
            assert row["goal"] == pytest.approx(1 / 3) and row["goal_text"].startswith("within 3x")
    harness = report["details"]["harness"]
    assert harness["cases"] == bench.QUICK.harness_cases
    assert set(harness["median_wall_seconds"]) == {"check", "fast", "default"}
    scale = report["details"]["scale"]
    assert scale["harness_status"] == "agree" and scale["directional_agree"]
    assert scale["parameters"] == pytest.approx(bench.QUICK.scale_parameters, rel=0.01)


def test_quick_bench_says_what_it_does_and_shows_its_progress(quick_run):
    completed, _ = quick_run
    lines = completed.stderr.splitlines()
    assert "measuring: a quick pass over every section" in completed.stderr
    started = [line for line in lines if line.startswith("[") and line.endswith(" ...")]
    ended = [line for line in lines if line.startswith("[") and "(bench so far" in line]
    sections = len(bench.SECTIONS)
    assert sections == 8
    assert [line.split("]")[0] for line in started] == [
        f"[{n}/{sections}" for n in range(1, sections + 1)
    ]
    assert len(ended) == sections and ended[-1].startswith(f"[{sections}/{sections}] scale: ")


def test_the_terminal_table_fits_100_columns():
    from conformance.bench.report import terminal_table

    rows = [
        bench.Row("impl vs torch autograd (batch 256, width 512, depth 4, float32)", "impl "
                  "17.68 ms", "torch 20.48 ms", 1.13, 0.95, ">= 0.95x", note="why " * 60),
        bench.Row("reported", "a", "b", 2.0, None, "about 4x"),
    ]  # fmt: skip
    text = terminal_table(bench.Bench(rows=rows))
    assert all(len(line) < 100 for line in text.splitlines())
    assert "    impl 17.68 ms against torch 20.48 ms: 1.13x (goal >= 0.95x: met)" in text
    assert "    a against b: 2.00x (about 4x)" in text


@pytest.mark.parametrize(
    ("ratio", "shown", "verdict"),
    [
        (1.5954, "1.595x", "NOT MET"),  # the 2-worker row of a bench run: "1.60x" said it met
        (1.59996, "1.59996x", "NOT MET"),
        (1.6, "1.60x", "met"),
        (1.6049, "1.60x", "met"),
        (1.62, "1.62x", "met"),
        (1.57, "1.57x", "NOT MET"),
    ],
)
def test_a_ratio_is_shown_on_the_side_of_its_goal_it_falls(ratio, shown, verdict):
    from conformance.bench.report import terminal_table

    row = bench.Row("workers", "2 workers", "1 worker", ratio, 1.6, ">= 1.6x on 2 cores")
    assert f": {shown} (goal >= 1.6x on 2 cores: {verdict})" in terminal_table(
        bench.Bench(rows=[row])
    )
    assert f"| {shown} |" in table(bench.Bench(rows=[row]))


def test_quick_bench_writes_the_table_and_the_chart(quick_run):
    completed, out = quick_run
    assert completed.returncode == 0, completed.stderr[-3000:]
    text = (out / "bench.md").read_text()
    assert text.startswith("machine: ") and "threads pinned: OMP_NUM_THREADS=1" in text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows[0] == "| measurement | ours | peer | ratio | goal | |"
    assert len(rows) == 1 + len(json.loads((out / "bench.json").read_text())["rows"])
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in completed.stderr
    else:
        assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_gradcheck_peer_runs_on_the_cases_check_draws():
    from conformance.backends import resolve_backend, select_references
    from conformance.harness import run_check

    references, _ = select_references("numeric", [])
    from conformance.strategies import case_stream

    dense = case_stream(layers=bench.PEER_LAYERS)
    run = run_check(
        resolve_backend("impl"), references, cases=12, seed=5, shrink=False, strategy=dense
    )
    recorded = bench.stream_cases(12, seed=5)
    assert len(recorded) == 12
    for outcome, case in zip(run.outcomes, recorded, strict=True):
        assert outcome.case["layers"] == case["layers"] and outcome.case["loss"] == case["loss"]
        np.testing.assert_array_equal(outcome.case["inputs"], case["inputs"])
    assert bench.gradcheck_cases(recorded[:3], fast_mode=True) == 3


def test_table_says_which_goals_are_met():
    rows = [
        bench.Row("fast enough", "a", "b", 6.0, 5.0, ">= 5x"),
        bench.Row("too slow", "a", "b", 0.5, 1.0, ">= 1x"),
        bench.Row("reported", "a", "b", 2.0, None, "about 4x", note="why"),
    ]
    text = table(bench.Bench(rows=rows))
    assert "| fast enough | a | b | 6.00x | >= 5x | met |" in text
    assert "| too slow | a | b | 0.50x | >= 1x | NOT MET |" in text
    assert "| reported | a | b | 2.00x | about 4x | - |" in text
    assert "- reported: why" in text


def test_threads_are_pinned_by_environment_before_numpy_loads(monkeypatch):
    for variable in bench.PIN_VARIABLES:
        monkeypatch.setenv(variable, "1")
    assert _pinned_environment(1) is None
    changed = _pinned_environment(2)
    assert changed is not None
    assert {changed[variable] for variable in bench.PIN_VARIABLES} == {"2"}


def test_scale_width_gives_about_the_asked_parameters():
    width = bench.scale_widths(10_000_000)
    assert 4 * (width * width + width) == pytest.approx(10_000_000, rel=1e-3)


def test_bad_thread_count_is_exit_2():
    completed = run_cli("bench", "--threads", "0")
    assert completed.returncode == 2 and "--threads" in completed.stderr
