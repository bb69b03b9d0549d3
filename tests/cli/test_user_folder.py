"""A user runs the tool from their own folder, on their own file, as they would after installing.

Each test works in a temporary folder outside the repository, with a module written
there, and runs the real command (``python -m conformance`` and the installed
``backprop-conformance`` console script) as a subprocess from that folder.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, run_in

USER_MODULE = (ROOT / "examples" / "user_mlp.py").read_text(encoding="utf-8")
CHECK = (
    "check",
    "--cases",
    "5",
    "--against",
    "numeric",
    "--activations",
    "sigmoid,tanh",
    "--losses",
    "half_sse",
)


def _console_script() -> str | None:
    beside_python = Path(sys.executable).with_name("backprop-conformance")
    return str(beside_python) if beside_python.exists() else shutil.which("backprop-conformance")


_run = run_in


@pytest.fixture
def user_folder(tmp_path: Path) -> Path:
    (tmp_path / "mynet.py").write_text(USER_MODULE, encoding="utf-8")
    return tmp_path


def test_python_m_imports_a_module_from_the_current_folder(user_folder):
    done = _run(
        user_folder, sys.executable, "-m", "conformance", *CHECK, "--impl", "mynet:gradients"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "exit code 0" in done.stdout


def test_the_console_script_imports_a_module_from_the_current_folder(user_folder):
    script = _console_script()
    if script is None:
        pytest.skip("the backprop-conformance console script is not installed here")
    done = _run(user_folder, script, *CHECK, "--impl", "mynet:gradients")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("spec", ["mynet.py:gradients", "./mynet.py:gradients", "ABSOLUTE"])
def test_a_file_path_names_the_implementation(user_folder, spec):
    spec = f"{user_folder / 'mynet.py'}:gradients" if spec == "ABSOLUTE" else spec
    elsewhere = user_folder / "elsewhere"
    elsewhere.mkdir()
    folder = user_folder if spec != f"{user_folder / 'mynet.py'}:gradients" else elsewhere
    done = _run(folder, sys.executable, "-m", "conformance", *CHECK, "--impl", spec)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_missing_file_is_named(user_folder):
    done = _run(user_folder, sys.executable, "-m", "conformance", *CHECK, "--impl", "nope.py:f")
    assert done.returncode == 2
    assert "no such file 'nope.py'" in done.stderr and "Traceback" not in done.stderr


def test_a_users_own_impl_py_does_not_shadow_the_tools_package(user_folder):
    (user_folder / "impl.py").write_text("raise ImportError('the user\\'s own impl.py')\n")
    (user_folder / "references.py").write_text("raise ImportError('nor this')\n")
    done = _run(
        user_folder, sys.executable, "-m", "conformance", *CHECK, "--impl", "mynet:gradients"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    default = _run(
        user_folder,
        sys.executable,
        "-m",
        "conformance",
        "check",
        "--cases",
        "3",
        "--against",
        "numeric",
    )
    assert default.returncode == 0, default.stdout + default.stderr


def test_a_module_that_imports_its_own_impl_by_that_name_is_told_of_the_clash(user_folder):
    (user_folder / "impl.py").write_text("helper = 1\n")
    (user_folder / "theirs.py").write_text(
        "from impl import helper\n\ndef gradients(case):\n    pass\n"
    )
    done = _run(
        user_folder, sys.executable, "-m", "conformance", *CHECK, "--impl", "theirs:gradients"
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "impl.py, named like backprop-conformance's own package" in done.stderr
    assert "rename your file" in done.stderr


def test_version(user_folder):
    done = _run(user_folder, sys.executable, "-m", "conformance", "--version")
    assert done.returncode == 0 and done.stdout.startswith("backprop-conformance ")
    assert done.stdout.split()[1][0].isdigit()
