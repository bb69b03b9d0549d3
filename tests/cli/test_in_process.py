"""``conformance.cli.main.main(argv)`` in-process: each call leaves the process as it found it.

The tests run most commands in their own process (tests/support.py ``run_cli``); a call
that leaked the user's folder on sys.path, their module, a signal handler, a Hypothesis
profile, the current folder or an environment variable would change the next test's
outcome. The user's module here changes all of them while it is imported.
"""

import os
import signal
import sys

from hypothesis import settings

from conformance.cli.main import main
from tests.support import ROOT, run_cli

CASE = str(ROOT / "regression" / "cases" / "doc002_2-2-2_sigmoid.json")

MESSY_MODULE = """
import os, signal
from hypothesis import settings

os.chdir({folder!r})
os.environ["CONFORMANCE_TEST_LEAK"] = "leaked"
signal.signal(signal.SIGTERM, lambda signum, frame: None)
settings.register_profile("leaked", max_examples=1)
settings.load_profile("leaked")

from impl import gradients as _gradients

def gradients(case):
    result = _gradients(case)
    result["loss"] = result["loss"] + {offset}
    return result
"""


def _write_module(folder, offset):
    folder.mkdir()
    (folder / "messy.py").write_text(MESSY_MODULE.format(folder=str(folder), offset=offset))
    return f"{folder / 'messy.py'}:gradients"


def test_a_call_restores_path_modules_handlers_profile_folder_and_environment(tmp_path, capsys):
    spec = _write_module(tmp_path / "first", offset=0.0)
    path, modules = list(sys.path), set(sys.modules)
    handler = signal.getsignal(signal.SIGTERM)
    profile = settings.get_current_profile_name()
    folder, environment = os.getcwd(), dict(os.environ)

    assert main(["grad", "--case", CASE, "--backend", spec, "--json"]) == 0

    assert sys.path == path
    assert "messy" not in sys.modules and set(sys.modules) - modules <= _tool_and_libraries()
    assert signal.getsignal(signal.SIGTERM) == handler
    assert settings.get_current_profile_name() == profile
    assert os.getcwd() == folder
    assert dict(os.environ) == environment
    assert '"loss"' in capsys.readouterr().out


def _tool_and_libraries():
    from conformance.cli.main import _is_users

    return {name for name, module in sys.modules.items() if not _is_users(name, module)}


def test_a_second_file_of_the_same_name_is_imported_anew(tmp_path):
    first = run_cli("grad", "--case", CASE, "--backend", _write_module(tmp_path / "a", 0.0))
    second = run_cli("grad", "--case", CASE, "--backend", _write_module(tmp_path / "b", 1.0))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    loss = [line for line in first.stdout.splitlines() if line.lstrip().startswith("loss")]
    again = [line for line in second.stdout.splitlines() if line.lstrip().startswith("loss")]
    assert loss and again and loss != again  # the second file's loss, 1.0 more


def test_output_of_the_command_and_of_its_worker_is_captured():
    completed = run_cli(
        "check", "--impl", "tests.harness.hostile_impls:prints_to_stdout", "--cases", "2",
        "--against", "numeric",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("backprop-conformance check: ")
    assert "printed by" not in completed.stdout and "printed by" in completed.stderr
