"""The ready-to-copy CI configuration parses, and every command it runs is a real one."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from conformance.cli.main import build_parser

yaml = pytest.importorskip("yaml", reason="pyyaml is in the test extra")
ROOT = Path(__file__).resolve().parents[2]


def _conformance_commands(text: str) -> list[list[str]]:
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        if line.strip().startswith("python -m conformance "):
            commands.append(shlex.split(line.strip())[3:])
    return commands


def _parses(arguments: list[str]) -> None:
    build_parser().parse_args(arguments)  # argparse exits (SystemExit) on unknown options


def test_github_workflow_parses_and_runs_real_commands():
    text = (ROOT / "ci-templates" / "github-actions-conformance.yml").read_text()
    workflow = yaml.safe_load(text)
    assert set(workflow["jobs"]) == {"check", "verdict", "regress"}
    runs = [
        step["run"].replace("${{ matrix.shard }}", "1")
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "run" in step
    ]
    commands = [c for run in runs for c in _conformance_commands(run)]
    assert {c[0] for c in commands} == {"check", "merge-reports", "regress"}
    for command in commands:
        _parses(command)
    uploads = [
        s
        for j in workflow["jobs"].values()
        for s in j["steps"]
        if "upload-artifact" in s.get("uses", "")
    ]
    assert uploads, "reports must be kept as artifacts"


def test_github_workflow_installs_the_checker_from_its_source_and_torch_on_the_cpu():
    workflow = yaml.safe_load(
        (ROOT / "ci-templates" / "github-actions-conformance.yml").read_text()
    )
    source = workflow["env"]["CONFORMANCE_SOURCE"]
    assert source.startswith("git+") or Path(source).suffix == ""
    installs = [
        line.strip()
        for job in workflow["jobs"].values()
        for step in job["steps"]
        for line in step.get("run", "").splitlines()
        if "pip install" in line
    ]
    checker = [line for line in installs if "backprop-conformance" in line]
    assert checker and all("@ ${CONFORMANCE_SOURCE}" in line for line in checker), checker
    torch = [line for line in installs if "torch==" in line]
    assert torch and all(
        "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in line for line in torch
    )


def test_pre_commit_hooks_parse_and_run_real_commands():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {hook["id"] for hook in hooks} == {"gradient-conformance", "gradient-regression"}
    for hook in hooks:
        words = shlex.split(hook["entry"])
        assert words[:3] == ["python", "-m", "conformance"]
        _parses(words[3:])
