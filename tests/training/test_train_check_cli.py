"""``python -m conformance train-check``: exit codes 0/1/2/3, the report, saved failures."""

import json
import os
import sys
from pathlib import Path

import pytest

from conformance.cli.main import main
from tests.support import run_cli, run_cli_process

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PLANTED = "planted_optimizers:adam_without_bias_correction"


def _run(*args, pythonpath=(), timeout=300):
    return run_cli("train-check", *args, path=pythonpath, timeout=timeout)


def _run_process(*args, pythonpath=(), timeout=300):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [*map(str, pythonpath), str(ROOT), env.get("PYTHONPATH", "")]
    )
    return run_cli_process("train-check", *args, env=env, timeout=timeout)


def test_agreeing_run_exits_0_and_prints_the_seed_first():
    pytest.importorskip("torch")
    completed = _run_process(  # train-check's smoke test in a process of its own
        "--optimizer", "adam", "--steps", "5", "--seed", "4", "--weight-decay", "0.1"
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("train-check  seed 4  impl.optim vs torch 2.")
    assert "weight decay 0.1 on W only" in completed.stdout
    assert "steps 1-5: impl and torch.optim agree" in completed.stdout


def test_planted_bug_exits_1_naming_step_layer_parameter_and_bound(tmp_path):
    pytest.importorskip("torch")
    completed = _run(
        "--optimizer", "adam", "--steps", "4", "--seed", "2", "--dtype", "float32",
        "--impl", PLANTED, "--save-failures", str(tmp_path),
        pythonpath=[HERE],
    )  # fmt: skip
    assert completed.returncode == 1, completed.stderr
    out = completed.stdout
    assert "step 1:" in out and "disagree" in out
    line = next(text for text in out.splitlines() if text.startswith("  step 1, layer "))
    assert f"{PLANTED} " in line and " vs torch.optim " in line
    assert "abs error" in line and "rel error" in line and "allowed" in line
    saved = sorted(path.name for path in tmp_path.iterdir())
    assert saved == ["train-adam-torch-seed2.json", "train-adam-torch-seed2.optimizer.json"]


def test_saved_failures_never_overwrite_and_replay(tmp_path, capsys):
    pytest.importorskip("torch")
    sys.path.insert(0, str(HERE))
    try:
        argv = ["train-check", "--optimizer", "adam", "--steps", "3", "--seed", "6",
                "--impl", PLANTED, "--save-failures", str(tmp_path)]  # fmt: skip
        assert main(argv) == 1
        assert main(argv) == 1
        names = sorted(path.name for path in tmp_path.iterdir())
        assert names == [
            "train-adam-torch-seed6-2.json",
            "train-adam-torch-seed6-2.optimizer.json",
            "train-adam-torch-seed6.json",
            "train-adam-torch-seed6.optimizer.json",
        ]
        sidecar = json.loads((tmp_path / "train-adam-torch-seed6.optimizer.json").read_text())
        assert sidecar["format"] == "backprop-train-settings/1"
        assert sidecar["case"] == "train-adam-torch-seed6.json"
        assert sidecar["optimizer"]["name"] == "adam" and sidecar["optimizer"]["lr"] == 0.01
        assert sidecar["steps"] == 3 and sidecar["first_failing_step"] == 1
        case = json.loads((tmp_path / "train-adam-torch-seed6.json").read_text())
        assert case["format"] == "backprop-case/1"  # a plain case: no optimizer keys in it
        capsys.readouterr()
        case_file = tmp_path / "train-adam-torch-seed6.json"
        settings_file = tmp_path / "train-adam-torch-seed6.optimizer.json"
        replay = ["train-check", "--case", str(case_file), "--settings", str(settings_file)]
        assert main(replay) == 0  # impl.optim itself is right on the saved case
        assert main([*replay, "--impl", PLANTED]) == 1  # and the bug replays
        out = capsys.readouterr().out
        assert "case file" in out and "step 1, layer" in out
    finally:
        sys.path.remove(str(HERE))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimizer", "adam", "--lr", "-1"], "lr must be in (0, inf)"),
        (["--optimizer", "sgd", "--steps", "0"], "expected a whole number >= 1"),
    ],
)
def test_bad_options_exit_2_with_a_message(args, message):
    completed = _run(*args)
    assert completed.returncode == 2
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimizer", "momentum", "--momentum", "1.5"], "momentum must be in [0, 1)"),
        (["--optimizer", "adam", "--betas", "0.9"], "expected two numbers B1,B2"),
        (["--optimizer", "adam", "--eps", "nan"], "expected a finite number"),
        (["--optimizer", "sgd", "--against", "tensorflow"], "invalid choice: 'tensorflow'"),
        (["--optimizer", "sgdd"], "invalid choice: 'sgdd'"),
        ([], "--optimizer is required"),
        (["--settings", "no/such/file.json"], "no such file"),
        (["--optimizer", "sgd", "--case", "no/such/case.json"], "no such file"),
    ],
)
def test_more_bad_options_exit_2(args, message, capsys):
    assert main(["train-check", *args]) == 2
    assert message in capsys.readouterr().err


def test_malformed_settings_and_impl_are_exit_2(tmp_path, capsys):
    settings = tmp_path / "bad.optimizer.json"
    settings.write_text('{"format": "backprop-train-settings/1", "optimizer": {"name": "adam"}}')
    assert main(["train-check", "--settings", str(settings)]) == 2
    assert "missing 1 required positional argument: 'lr'" in capsys.readouterr().err
    settings.write_text('{"format": "backprop-train-settings/1", "optimizer": {}, "colour": 1}')
    assert main(["train-check", "--settings", str(settings)]) == 2
    assert "unknown keys ['colour']" in capsys.readouterr().err
    pytest.importorskip("torch")
    sys.path.insert(0, str(HERE))
    try:
        code = main(["train-check", "--optimizer", "sgd", "--impl",
                     "planted_optimizers:not_an_optimizer"])  # fmt: skip
    finally:
        sys.path.remove(str(HERE))
    assert code == 2
    assert "has no init(params) and step(params, grads, state)" in capsys.readouterr().err


def test_missing_reference_exits_3_with_the_install_command(tmp_path):
    blocked = tmp_path / "torch"
    blocked.mkdir()
    (blocked / "__init__.py").write_text('raise ImportError("torch is blocked in this test")\n')
    # a process of its own: this one has imported the real torch already
    completed = _run_process("--optimizer", "sgd", "--steps", "2", pythonpath=[tmp_path])
    assert completed.returncode == 3
    assert "torch is blocked in this test" in completed.stderr
    assert "pip install 'backprop-conformance[torch]'" in completed.stderr
