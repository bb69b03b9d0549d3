"""``python -m conformance mutants``: table, JSON, saved counterexamples that replay, exit codes."""

from __future__ import annotations

import json

import pytest

from conformance.mutation.catalogue import CATALOGUE
from conformance.mutation.layer_catalogue import V2_CATALOGUE
from tests.support import run_cli, run_cli_process

_cli = run_cli


@pytest.fixture(scope="module")
def torch_installed():
    pytest.importorskip("torch", reason="torch is not installed (numpy-only install)")


def test_killed_mutants_are_saved_and_their_counterexamples_replay(tmp_path, torch_installed):
    names = "transposed_weight_gradient,float64_downcast_to_float32"
    args = ["mutants", "--only", names, "--against", "torch", "--cases", "60"]
    args += ["--save-failures", str(tmp_path), "--json"]
    completed = _cli(*args)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    assert report["killed"] == report["total"] == 2 and report["exit_code"] == 0
    assert report["control"]["false_alarm"] is False
    assert report["control"]["agree"] == 60
    assert "[1/2] killed" in completed.stderr and "[2/2] killed" in completed.stderr
    for row in report["mutants"]:
        assert row["status"] == "killed" and row["cases_to_first_failure"] >= 1
        counterexample = row["counterexample"]
        assert counterexample["layers"] >= 1 and counterexample["batch"] >= 1
        assert counterexample["widths"].count("-") == counterexample["layers"]
        spec = f"conformance.mutation:{row['name']}"
        assert row["replay"] == (
            f"python -m conformance replay {row['case_file']} --impl {spec} --against torch"
        )
        replayed = _cli("replay", row["case_file"], "--impl", spec, "--against", "torch")
        assert replayed.returncode == 1, replayed.stdout
        assert "is wrong" in replayed.stdout
        fine = _cli("replay", row["case_file"], "--against", "torch")
        assert fine.returncode == 0, fine.stdout
    transposed = report["mutants"][0]["counterexample"]
    assert transposed["places"] and all(" W" in place for place in transposed["places"])

    again = _cli(*args)  # a second run never overwrites the first run's files
    assert again.returncode == 0
    assert len(list(tmp_path.glob("*.json"))) == 4


def test_the_table_lists_each_mutant_with_cases_and_counterexample_size(tmp_path):
    completed = _cli(
        "mutants",
        "--only",
        "half_sse_gradient_doubled,missing_mean_factor",
        "--against",
        "numeric",
        "--cases",
        "60",
        "--save-failures",
        str(tmp_path),
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    header = next(line for line in lines if line.startswith("mutant "))
    assert header.split() == ["mutant", "result", "cases", "layers", "widths", "batch", "time"]
    row = next(line for line in lines if line.startswith("missing_mean_factor "))
    name, result, cases, layers, widths, batch, _ = row.split()
    assert result == "killed" and int(cases) >= 1 and int(layers) >= 1
    assert int(batch) >= 2  # a missing 1/N needs two samples to show
    assert "killed 2 of 2 mutants" in completed.stdout
    assert "--impl conformance.mutation:missing_mean_factor" in completed.stdout
    # everything but a command or a folder to copy fits a terminal of 100 columns (the
    # folder is pytest's, whose length depends on the test's name and the run's number)
    copied = ("python -m conformance", str(tmp_path))
    assert all(len(line) < 100 for line in lines if not any(text in line for text in copied))


def test_a_surviving_mutant_fails_the_run():
    # One case is too few to meet a softplus output with a logit near 1000: Hypothesis's
    # first case is its simplest (one identity layer under half_sse).
    completed = _cli(
        "mutants", "--only", "unstable_softplus", "--against", "numeric", "--cases", "1", "--json"
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    assert report["mutants"][0]["status"] == "survived"
    assert report["killed"] == 0 and report["exit_code"] == 1
    assert "NOT KILLED: unstable_softplus" in completed.stderr


def test_list_and_bad_names():
    listed = run_cli_process("mutants", "--list")  # mutants' smoke test in its own process
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert len(lines) == len(CATALOGUE) + len(V2_CATALOGUE)  # version 1 first, then version 2
    assert lines[0].split()[0] == CATALOGUE[0].name
    assert lines[len(CATALOGUE)].split()[0] == V2_CATALOGUE[0].name
    named = _cli("mutants", "--list", "--only", "conv2d_kernel_flipped,relu_mask_forgotten")
    assert [line.split()[0] for line in named.stdout.splitlines()] == [
        "conv2d_kernel_flipped",
        "relu_mask_forgotten",
    ]
    bad = _cli("mutants", "--only", "relu_mask_forgoten")
    assert bad.returncode == 2
    assert "did you mean 'relu_mask_forgotten'" in bad.stderr and "Traceback" not in bad.stderr
    bad_v2 = _cli("mutants", "--only", "conv2d_kernel_fliped")
    assert bad_v2.returncode == 2
    assert "did you mean 'conv2d_kernel_flipped'" in bad_v2.stderr
