"""The regression suite: case files with golden results, checked on every run.

A suite is a folder with ``cases/NAME.json`` (case files) and ``golden/NAME.json``
(their golden results). A golden file records the result, the SHA-256 of the case
it belongs to, the references it was verified against when written, and a
checksum of its own content, so that a stale, corrupt or hand-edited golden file is
reported with its path instead of being trusted or silently regenerated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from conformance.backends import CallableBackend
from conformance.case import Case, CaseError, case_text, case_to_json
from conformance.defaults import MAX_INPUT_BYTES
from conformance.errors import BadInput
from conformance.jsonfiles import JsonFileError, read_json
from conformance.outputs import create_file
from conformance.result import ResultError, normalise_result, result_to_json
from conformance.tree import map_arrays

GOLDEN_FORMAT = "backprop-golden/1"
CASES_DIR = "cases"
GOLDEN_DIR = "golden"


class GoldenError(BadInput):
    """A golden file is missing, corrupt, stale or hand-edited (exit code 2)."""


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def case_digest(case: Mapping[str, Any]) -> str:
    """SHA-256 of a case's canonical JSON (its values, not its file's formatting)."""
    return hashlib.sha256(canonical_json(case_to_json(case)).encode()).hexdigest()


def _checksum(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


@dataclass(frozen=True)
class SuiteEntry:
    name: str
    case_path: Path
    golden_path: Path


def suite_entries(suite: str | Path) -> list[SuiteEntry]:
    """Every case of the suite, in name order; GoldenError if the suite folder is wrong."""
    root = Path(suite)
    cases_dir = root / CASES_DIR
    if not cases_dir.is_dir():
        raise GoldenError(
            f"regression suite {str(root)!r} has no {CASES_DIR}/ folder of case files; "
            f"expected {cases_dir}/NAME.json and {root / GOLDEN_DIR}/NAME.json"
        )
    return [
        SuiteEntry(path.stem, path, root / GOLDEN_DIR / path.name)
        for path in sorted(cases_dir.glob("*.json"))
    ]


def orphan_goldens(suite: str | Path) -> list[Path]:
    """Golden files with no case file of the same name: left over from a removed or
    renamed case, or waiting to be overwritten by the next case of that name."""
    root = Path(suite)
    return [
        path
        for path in sorted((root / GOLDEN_DIR).glob("*.json"))
        if not (root / CASES_DIR / path.name).exists()
    ]


def golden_body(case: Case, result: Mapping[str, Any], verified_against: Sequence[str]) -> dict:
    return {
        "format": GOLDEN_FORMAT,
        "case_sha256": case_digest(case),
        "verified_against": list(verified_against),
        "result": result_to_json(result),
    }


def golden_text(case: Case, result: Mapping[str, Any], verified_against: Sequence[str]) -> str:
    """The content of a golden file: its body and the checksum of the body."""
    body = golden_body(case, result, verified_against)
    return json.dumps({**body, "checksum": _checksum(body)}, indent=2) + "\n"


def write_golden(
    path: Path, case: Case, result: Mapping[str, Any], verified_against: Sequence[str]
) -> None:
    """Write a golden file (only ever called for --update-golden or --add)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(golden_text(case, result, verified_against))


def read_golden(path: Path, case: Case, *, max_bytes: int = MAX_INPUT_BYTES) -> dict[str, Any]:
    """The golden result for ``case``, normalised; GoldenError naming the path otherwise."""
    fix = "rerun with --update-golden to regenerate it after checking why"
    if not path.exists():
        raise GoldenError(f"golden file {str(path)!r} is missing; {fix}")
    try:
        data = read_json(path, max_bytes=max_bytes, limit_option="--max-case-bytes")
    except JsonFileError as error:
        raise GoldenError(
            f"golden file {str(path)!r} is corrupt ({error.problem}); {fix}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != GOLDEN_FORMAT:
        raise GoldenError(
            f"golden file {str(path)!r} is corrupt: expected format {GOLDEN_FORMAT!r}; {fix}"
        )
    body = {key: value for key, value in data.items() if key != "checksum"}
    if data.get("checksum") != _checksum(body):
        raise GoldenError(
            f"golden file {str(path)!r} was edited by hand (its checksum does not match its "
            f"content); golden results are written only by the tool; {fix}"
        )
    if body.get("case_sha256") != case_digest(case):
        raise GoldenError(
            f"golden file {str(path)!r} belongs to another version of its case (the case file "
            f"changed after the golden result was written); {fix}"
        )
    try:
        return normalise_result(body["result"], case, f"golden {path.name}")
    except (ResultError, KeyError) as error:
        raise GoldenError(f"golden file {str(path)!r} is corrupt: {error}; {fix}") from None


def golden_backend(golden: Mapping[str, Any], case: Case) -> CallableBackend:
    """A backend named "golden" that gives a golden result (from :func:`read_golden`) in
    the case's dtype, to be compared with as the references are."""
    dtype = np.dtype(case["dtype"])

    def stored(_case: Any) -> dict[str, Any]:
        input_grad = golden["input_grad"]
        return {
            "loss": golden["loss"].astype(dtype),
            "outputs": golden["outputs"].astype(dtype),
            "grads": map_arrays(lambda array: array.astype(dtype), golden["grads"]),
            "input_grad": None if input_grad is None else input_grad.astype(dtype),
        }

    return CallableBackend("golden", stored)


def add_to_suite(
    suite: str | Path,
    stem: str,
    case: Case,
    result: Mapping[str, Any],
    verified_against: Sequence[str],
) -> tuple[Path, Path]:
    """Add a case and its verified golden result to the suite: both files or neither.

    The name is the first of ``stem``, ``stem-2``, ... free in both ``cases/`` and
    ``golden/`` (an orphan golden file is never overwritten); both files are created
    exclusively; if the golden file cannot be written, the case file is removed again."""
    root = Path(suite)
    cases_dir, golden_dir = root / CASES_DIR, root / GOLDEN_DIR
    for folder in (cases_dir, golden_dir):
        folder.mkdir(parents=True, exist_ok=True)
    case_content = case_text(case)
    golden_content = golden_text(case, result, verified_against)
    for attempt in range(1, 10_000):
        name = f"{stem}.json" if attempt == 1 else f"{stem}-{attempt}.json"
        if (golden_dir / name).exists():
            continue
        try:
            case_path = create_file(cases_dir / name, case_content)
        except FileExistsError:
            continue
        try:
            golden_path = create_file(golden_dir / name, golden_content)
        except BaseException:
            case_path.unlink(missing_ok=True)
            raise
        return case_path, golden_path
    raise GoldenError(f"no free name for {stem!r} in {str(cases_dir)!r} and {str(golden_dir)!r}")


__all__ = [
    "CaseError",
    "GoldenError",
    "SuiteEntry",
    "add_to_suite",
    "case_digest",
    "golden_backend",
    "orphan_goldens",
    "read_golden",
    "suite_entries",
    "write_golden",
]
