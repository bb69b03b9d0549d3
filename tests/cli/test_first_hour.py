"""A user's first hour with their own code: each test works in a temporary folder outside
the repository, with the user's module written there, and runs the real command
(``python -m conformance``, or pytest with the plugin) from that folder.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, run_in

USER_MODULE = (ROOT / "examples" / "user_mlp.py").read_text(encoding="utf-8")
NUMERIC = ("--against", "numeric")
SUPPORTED = (
    "--layers", "dense", "--activations", "sigmoid,tanh,identity", "--losses", "half_sse,mse",
)  # fmt: skip

PARTIAL_MODULE = '''
"""A user's MLP that computes neither the input gradient nor the loss value."""
from mynet import gradients as full


def gradients(case):
    result = dict(full(case))
    del result["input_grad"], result["loss"]
    return result
'''

BROKEN_MODULE = '''
def helper(rows):
    return rows[len(rows)]


def gradients(case):
    return helper(list(case["inputs"]))
'''


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "mynet.py").write_text(USER_MODULE, encoding="utf-8")
    (tmp_path / "partial.py").write_text(PARTIAL_MODULE, encoding="utf-8")
    (tmp_path / "broken.py").write_text(BROKEN_MODULE, encoding="utf-8")
    return tmp_path


def _conformance(folder: Path, *args: str):
    return run_in(folder, sys.executable, "-m", "conformance", *args)


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_a_run_that_compares_few_cases_fails_with_the_reasons_and_the_options(folder):
    done = _conformance(folder, "check", "--impl", "mynet:gradients", "--cases", "30", *NUMERIC)
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    compared = int(re.search(r"FAILED: (\d+) of 30 cases were compared", out)[1])
    assert compared < 15 and "a pass needs at least 15 (--min-compared 0.5)" in out
    reasons = re.findall(
        r"^ +(\d+)  ((activation|loss|layer type) '\w+' is not supported|\.\.\. \d+ other)",
        out,
        re.M,
    )
    assert sum(int(count) for count, *_ in reasons) == 30 - compared  # counted on the console
    flat = " ".join(out.split())  # the advice is wrapped to fit a terminal
    assert re.search(r"--activations: the reasons name [a-z_, ]*relu", flat)
    # the values of the compared cases: the implementation's own (sigmoid, tanh, identity)
    suggested = re.search(r"e\.g\. --activations ([a-z_,]+)", flat)
    assert suggested and set(suggested[1].split(",")) <= {"identity", "sigmoid", "tanh"}
    assert re.search(r"--layers: the reasons name [a-z0-9_, ]*conv2d", flat)
    assert "every option that narrows the cases: --activations," in flat
    assert _last_line(out) == "exit code 1: too few cases were compared to call it a pass"
    assert all(len(line) < 100 for line in out.splitlines()[3:])

    lenient = _conformance(
        folder, "check", "--impl", "mynet:gradients", "--cases", "30", "--min-compared", "0%",
        *NUMERIC,
    )  # fmt: skip
    assert lenient.returncode == 0 and "unsupported: " in lenient.stdout
    narrowed = _conformance(
        folder, "check", "--impl", "mynet:gradients", "--cases", "30", *SUPPORTED, *NUMERIC
    )
    assert narrowed.returncode == 0 and "(30 agree)" in narrowed.stdout


def test_an_implementation_without_input_grad_or_loss_is_checked_on_the_rest_when_asked(folder):
    strict = _conformance(folder, "check", "--impl", "partial:gradients", *SUPPORTED, *NUMERIC)
    assert strict.returncode == 1
    assert "result has no 'loss', 'input_grad'" in strict.stdout
    assert "--skip loss,input_grad" in strict.stdout
    assert "broke the contract" in _last_line(strict.stdout)
    skipped = _conformance(
        folder, "check", "--impl", "partial:gradients", "--skip", "input_grad,loss", "--cases",
        "20", *SUPPORTED, *NUMERIC,
    )  # fmt: skip
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "not checked: loss, input_grad (--skip)" in skipped.stdout
    assert "(20 agree)" in skipped.stdout
    bad = _conformance(folder, "check", "--skip", "grads")
    assert bad.returncode == 2 and "the gradients are what is checked" in bad.stderr


def test_a_saved_failure_names_the_implementation_and_replay_uses_it(folder):
    found = _conformance(
        folder, "check", "--impl", "mynet:gradients_with_tanh_bug", *SUPPORTED, *NUMERIC
    )
    assert found.returncode == 1 and "a mismatch was found" in _last_line(found.stdout)
    saved = sorted((folder / "conformance-failures").iterdir())
    assert [path.name for path in saved] == ["mismatch-mynet.gradients_with_tanh_bug-seed0.json"]
    origin = json.loads(saved[0].read_text())["origin"]
    assert origin["implementation"] == "mynet:gradients_with_tanh_bug"
    assert origin["options"]["seed"] == 0 and origin["options"]["against"] == "numeric"
    assert origin["command"].startswith("python -m conformance check --impl mynet:")

    replayed = _conformance(folder, "replay", str(saved[0]), *NUMERIC)
    assert replayed.returncode == 1
    assert f"implementation: mynet:gradients_with_tanh_bug (recorded in {saved[0]}" in (
        replayed.stdout
    )
    other = _conformance(folder, "replay", str(saved[0]), "--impl", "mynet:gradients", *NUMERIC)
    assert other.returncode == 0
    assert "implementation: mynet:gradients (--impl);" in other.stdout
    assert "records a failure of mynet:gradients_with_tanh_bug" in other.stdout


def test_an_exception_in_the_users_code_is_one_paragraph_with_their_file_and_line(folder):
    done = _conformance(folder, "check", "--impl", "broken.py:gradients", *NUMERIC)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert (
        "IndexError: list index out of range (at broken.py:3 in helper, called from "
        "broken.py:7 in gradients)"
    ) in done.stdout
    assert _last_line(done.stdout).startswith("exit code 1: the implementation crashed")
    grad = _conformance(
        folder,
        "grad",
        "--case",
        str(ROOT / "regression" / "cases" / "doc002_2-2-2_sigmoid.json"),
        "--backend",
        "broken:gradients",
    )
    assert grad.returncode == 1 and "IndexError: list index out of range (at broken.py:3" in (
        grad.stderr
    )


def test_a_malformed_case_file_names_the_usual_cause(folder):
    text = (ROOT / "regression" / "cases" / "doc002_2-2-2_sigmoid.json").read_text()
    (folder / "edited.json").write_text(text.rstrip().rstrip("}") + ",\n}")
    done = _conformance(folder, "replay", "edited.json")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "malformed JSON" in done.stderr and "(a trailing comma) is not allowed" in done.stderr


PYTEST_FILE = '''
import mynet


def test_correct(conformance):
    conformance.check("mynet:gradients", against=["numeric"], min_compared=0.0, layers=["dense"])


def test_buggy(conformance):
    conformance.check(
        mynet.gradients_with_tanh_bug, against=["numeric"], min_compared=0.0, layers=["dense"]
    )


def test_broken(conformance):
    conformance.check("broken:gradients", against=["numeric"])
'''


def _pytest(folder: Path, *options: str):
    (folder / "test_mine.py").write_text(PYTEST_FILE, encoding="utf-8")
    return run_in(
        folder,
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:benchmark",
        "-p",
        "no:randomly",
        "--conformance-cases",
        "30",
        *options,
    )


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "pytest-xdist"])
def test_the_pytest_plugin_in_a_users_folder(folder, workers):
    done = _pytest(folder, "--hypothesis-profile", "conformance-ci", *workers)
    out = done.stdout
    assert "2 failed, 1 passed" in out, out + done.stderr
    assert "is not registered" not in out + done.stderr
    # the failing check saved its case and says how to replay it
    saved = folder / "conformance-failures" / "mismatch-mynet.gradients_with_tanh_bug-seed0.json"
    assert saved.is_file()
    assert f"saved: {saved}" in out
    assert f"replay: python -m conformance replay {saved} --impl " in out
    # the plugin's own frames are hidden: the traceback shows the user's line
    assert "test_mine.py:10: AssertionError" in out
    assert "pytest_plugin.py" not in out and "conformance/api.py" not in out
    # an exception in the user's code names their file and line
    assert "IndexError: list index out of range (at broken.py:3 in helper" in out
    # a passing check says how much it compared
    assert re.search(r"test_mine.py::test_correct: mynet:gradients: \d+ of 30 cases compared", out)
    assert not (folder / ".hypothesis").exists()


def test_a_random_seed_is_the_same_on_every_xdist_worker(folder):
    (folder / "test_seeds.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('n', range(4))\n"
        "def test_seed(conformance, n):\n"
        "    print('SEED', conformance.seed)\n"
        "    assert False\n"
    )
    done = run_in(
        folder, sys.executable, "-m", "pytest", "test_seeds.py", "-p", "no:cacheprovider",
        "-p", "no:benchmark", "-n", "2", "--conformance-seed", "random",
    )  # fmt: skip
    header = re.search(r"conformance: seed=(\d+)", done.stdout)[1]
    seeds = set(re.findall(r"^SEED (\d+)$", done.stdout, re.M))
    assert seeds == {header}, done.stdout
