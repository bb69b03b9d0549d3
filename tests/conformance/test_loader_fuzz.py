"""Every command that reads a case file answers a malformed one with exit code 2, one
message naming the file, and no traceback: Hypothesis breaks valid cases one way at a
time (conformance.strategies.malformed_case_files), and non-regular files are tried."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from conformance.generators import fixed_case
from conformance.strategies import malformed_case_files
from conformance.worked.examples import WORKED_DIR as WORKED
from tests.support import run_cli, run_cli_process

VALID = [
    json.loads((WORKED / "doc002_2-2-2_sigmoid.json").read_text()),
    json.loads((WORKED / "doc003_relu_two_layer.json").read_text()),
    json.loads(
        json.dumps(
            {
                key: value.tolist() if hasattr(value, "tolist") else value
                for key, value in fixed_case(
                    ["leaky_relu", "softmax"],
                    "cross_entropy",
                    widths=[3, 2, 2],
                    seed=1,
                    dtype="float32",
                    batch=2,
                    layer_options={"negative_slope": 0.2},
                ).items()
            },
            default=lambda array: array.tolist(),
        )
    ),
]


def _commands(case: str, suite: str) -> dict[str, list[str]]:
    """Every command that reads a case file, reading ``case``."""
    return {
        "replay": ["replay", case, "--against", "numeric"],
        "grad": ["grad", "--case", case],
        "regress --add": ["regress", "--suite", suite, "--against", "numeric", "--add", case],
        "train-check --case": ["train-check", "--case", case, "--optimizer", "sgd", "--steps", "1"],
    }


def _named(stderr: str, path: str) -> bool:
    return repr(path) in stderr


@pytest.mark.parametrize("command", ["replay", "grad", "regress --add", "train-check --case"])
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(malformed=malformed_case_files(VALID))
def test_every_malformed_case_is_exit_2_naming_the_file(command, malformed):
    content, kind = malformed
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "malformed case.json")
        Path(path).write_bytes(content)
        args = _commands(path, os.path.join(folder, "suite"))[command]
        completed = run_cli(*args)  # anything but BadInput would escape and fail the test
        code, err = completed.returncode, completed.stderr
        assert code == 2, (kind, content[:300], err)
        assert "Traceback" not in err
        assert err.startswith("error: ") and err.count("\n") == 1, (kind, err)
        assert _named(err, path), (kind, err)
        assert Path(path).read_bytes() == content  # never written to
        assert not os.path.exists(os.path.join(folder, "suite", "cases"))


SUBPROCESS_EXAMPLES = {
    "deep": "[" * 3000 + "]" * 3000,
    "boolean": json.dumps({**VALID[0], "inputs": [[True, 0.2]]}),
    "huge width": json.dumps(
        {
            **VALID[0],
            "layers": [
                {"in": 2, "out": 10**400, "activation": "sigmoid"},
                {"in": 10**400, "out": 2, "activation": "sigmoid"},
            ],
        }
    ),
    "surrogate name and a missing key": json.dumps(
        {**{k: v for k, v in VALID[0].items() if k != "targets"}, "name": "\ud800\x1b[2J"}
    ),
}


@pytest.mark.parametrize("label", sorted(SUBPROCESS_EXAMPLES))
def test_real_processes_exit_2_without_a_traceback(tmp_path, label):
    path = tmp_path / "case.json"
    path.write_text(SUBPROCESS_EXAMPLES[label])
    for name, args in _commands(str(path), str(tmp_path / "suite")).items():
        completed = run_cli_process(*args, timeout=120)
        assert completed.returncode == 2, (name, completed.stdout, completed.stderr)
        assert "Traceback" not in completed.stderr, name
        assert _named(completed.stderr, str(path)), (name, completed.stderr)
        assert len(completed.stderr) < 500, (name, completed.stderr)  # brief, whatever the value


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero"])
def test_non_regular_files_are_refused_by_every_command_without_hanging(tmp_path, kind):
    if kind == "fifo":
        path = str(tmp_path / "case.fifo")
        os.mkfifo(path)
    else:
        path = kind
        if not os.path.exists(path):
            pytest.skip(f"{path} does not exist here")
    for name, args in _commands(path, str(tmp_path / "suite")).items():
        completed = run_cli(*args, timeout=60)  # a hang fails here, by timeout
        assert completed.returncode == 2, (name, completed.stderr)
        assert "not a regular file" in completed.stderr and _named(completed.stderr, path)
