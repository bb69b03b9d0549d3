"""The one JSON reader: regular files only, a size limit, a depth limit, strict writing."""

from __future__ import annotations

import json
import math
import os
import threading

import pytest

from conformance.case import CaseError, load_case
from conformance.golden import GoldenError, read_golden
from conformance.merge import ReportError
from conformance.worked.examples import WORKED_DIR as WORKED

CASE = WORKED / "doc002_2-2-2_sigmoid.json"


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("{}", 1),
        ('"[[[["', 0),
        ('["[[", {"a\\"[": [1]}]', 3),
        ('["\\\\", [[]]]', 3),
        ('{"a": "\\n]]]"}', 1),
        (_deep(7), 7),
    ],
)
def test_nesting_depth_ignores_brackets_inside_strings(text, depth):
    from conformance.jsonfiles import nesting_depth

    assert nesting_depth(text) == depth


def test_deep_json_is_refused_before_parsing_in_every_reader(tmp_path):
    from conformance.defaults import MAX_JSON_DEPTH
    from conformance.jsonfiles import read_json
    from conformance.merge import load_report

    deep = tmp_path / "deep.json"
    deep.write_text(_deep(5000))
    with pytest.raises(CaseError, match=f"nested 5000 levels deep.*{MAX_JSON_DEPTH}"):
        load_case(deep)
    with pytest.raises(ReportError, match="nested 5000 levels deep"):
        load_report(str(deep))
    case = load_case(CASE)
    with pytest.raises(GoldenError, match="nested 5000 levels deep"):
        read_golden(deep, case)
    from conformance.cli.main import main

    assert main(["train-check", "--settings", str(deep)]) == 2  # optimizer settings too
    ok = tmp_path / "ok.json"
    ok.write_text(_deep(MAX_JSON_DEPTH))
    assert read_json(ok) == json.loads(_deep(MAX_JSON_DEPTH))


def test_a_file_above_the_limit_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as handle:
        handle.truncate(300 * 2**20)  # sparse: no disk used, and never read
    with pytest.raises(CaseError) as caught:
        load_case(big)
    message = str(caught.value)
    assert str(big) in message and "256 MiB" in message and "--max-case-bytes" in message
    with pytest.raises(CaseError, match="limit of 100 bytes"):
        load_case(CASE, max_bytes=100)
    assert load_case(CASE, max_bytes=CASE.stat().st_size)["dtype"] == "float64"


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "case.fifo"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []
    reader = threading.Thread(target=lambda: _catch(outcome, fifo), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert isinstance(outcome[0], CaseError) and "not a regular file" in str(outcome[0])


def _catch(outcome: list[BaseException], path) -> None:
    try:
        load_case(path)
    except BaseException as error:  # noqa: BLE001 - the test inspects it
        outcome.append(error)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused(device):
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist here")
    with pytest.raises(CaseError, match="not a regular file"):
        load_case(device)


def test_a_folder_and_non_utf8_text_are_named(tmp_path):
    with pytest.raises(CaseError, match="is a folder"):
        load_case(tmp_path)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"name": "\xe9"}')
    with pytest.raises(CaseError, match="not UTF-8"):
        load_case(latin)


def test_a_whole_number_of_thousands_of_digits_is_refused_clearly(tmp_path):
    from conformance.jsonfiles import JsonFileError, read_json

    path = tmp_path / "long.json"
    path.write_text('{"l2": ' + "9" * 5000 + "}")
    with pytest.raises(JsonFileError, match="whole number of 5000 digits"):
        read_json(path)


def test_duplicate_keys_are_refused_in_every_reader(tmp_path):
    from conformance.merge import load_report

    path = tmp_path / "twice.json"
    path.write_text('{"format": "backprop-conformance-report/1", "exit_code": 1, "exit_code": 0}')
    with pytest.raises(ReportError, match="'exit_code' appears twice"):
        load_report(str(path))


def test_strict_json_writes_non_finite_numbers_as_strings():
    import numpy as np

    from conformance.jsonfiles import dumps

    text = dumps({"a": [math.nan, math.inf, -math.inf, 1.5], "b": np.array([np.nan, 2.0])})
    assert json.loads(text) == {
        "a": ["NaN", "Infinity", "-Infinity", 1.5],
        "b": ["NaN", 2.0],
    }
    assert "NaN," not in text.replace('"NaN"', "")  # never a bare NaN


@pytest.mark.parametrize(
    ("broken", "hint"),
    [
        (lambda text: text.replace('"format"', '// a note\n  "format"', 1), "no comments"),
        (lambda text: text.replace('"format"', '/* a note */ "format"', 1), "no comments"),
        (lambda text: text.rstrip().rstrip("}") + ",\n}", "a comma before '}'"),
        (lambda text: text.replace("]]", "],]", 1), "a comma before ']'"),
        (lambda text: text.replace('"format"', "'format'", 1), "double quotes"),
        (lambda text: text.replace('"format":', '"format"', 1), "common causes: a comment"),
    ],
)
def test_malformed_json_names_the_usual_cause(tmp_path, broken, hint):
    path = tmp_path / "case.json"
    path.write_text(broken(CASE.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(CaseError, match="malformed JSON at line") as raised:
        load_case(path)
    assert hint in str(raised.value)
