"""README.md's two opening commands are the real ones: CI runs exactly the test command."""

import re
from pathlib import Path

from conformance.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _first_two_commands():
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)
    return blocks[0].strip(), blocks[1].strip()


def test_ci_runs_exactly_the_readme_test_command():
    _, test_command = _first_two_commands()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_readme_main_command_is_a_real_command():
    main_command, _ = _first_two_commands()
    install, run = main_command.split(" && ")
    assert install == "python -m pip install -e '.[all,dev]'"
    assert run.startswith("python -m conformance ")
    build_parser().parse_args(run.split()[3:])
