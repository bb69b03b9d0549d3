"""The pytest plugin: seed in the header, options, and a one-line check in a user's test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

USER_TESTS = """
from tests.harness import planted_bugs


def test_project_impl(conformance):
    run = conformance.check(against=["numeric"])
    # numeric may abstain near a kink ("not comparable"); it never reports a mismatch
    assert run.count("mismatch") == run.count("error") == 0
    assert run.count("agree") >= conformance.cases - 2


def test_buggy_impl(conformance):
    conformance.check(planted_bugs.bias_gradient_averaged, against=["numeric"], layers=["dense"])


def test_narrowed_stream(conformance):
    run = conformance.check(against=["numeric"], layers=["conv2d", "maxpool2d"], l2=[0])
    for outcome in run.outcomes:
        assert {layer["type"] for layer in outcome.case["layers"]} <= {"conv2d", "maxpool2d"}
        assert outcome.case["l2"] == 0
"""


def _pytest(tmp_path, *options):
    test_file = tmp_path / "test_user_conformance.py"
    test_file.write_text(USER_TESTS)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(test_file),
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--rootdir",
            str(tmp_path),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_plugin_prints_the_seed_and_fails_a_buggy_implementation(tmp_path):
    completed = _pytest(tmp_path, "--conformance-seed", "17", "--conformance-cases", "30")
    out = completed.stdout
    assert "conformance: seed=17" in out and "--conformance-seed=17" in out
    assert "1 failed, 2 passed" in out, out
    assert "gradient conformance failed (seed 17)" in out
    assert "layer" in out and " b[" in out  # localised to a bias gradient


def test_plugin_rejects_a_bad_seed(tmp_path):
    completed = _pytest(tmp_path, "--conformance-seed", "soon")
    assert completed.returncode != 0
    assert "--conformance-seed" in completed.stderr + completed.stdout
