"""The ``worked`` command: every worked number recomputed, exit 0 when all hold, JSON parses."""

from __future__ import annotations

import json

from conformance import exit_codes
from conformance.text import display_width
from conformance.worked.ledger import LEDGER, STATUSES
from tests.support import run_cli, run_cli_process


def _run(*args):
    return run_cli("worked", *args, timeout=300)


def test_worked_prints_the_table_and_exits_0():
    completed = run_cli_process("worked", timeout=300)  # worked's smoke test in its own process
    assert completed.returncode == exit_codes.OK, completed.stderr
    out = completed.stdout
    assert "003_f824c9119bf8e39e.txt" in out and "002_ce987982ffe959dc.txt" in out
    assert "erratum" in out and "reconstruction" in out
    assert "every row holds" in out
    assert "0.7987314002" in out and "0.1053605157" in out
    assert "missing" in out  # document 002's parameter figure
    assert max(display_width(line) for line in out.splitlines()) < 100  # wide cells wrap
    assert "documents: 000 = 000_3cf4cd1bdeb0b0bf.txt" in out  # the short names' legend


def test_worked_json_is_a_list_of_rows():
    completed = _run("--json")
    assert completed.returncode == exit_codes.OK, completed.stderr
    rows = json.loads(completed.stdout)
    assert len(rows) == len(LEDGER)
    assert {"document", "quantity", "printed", "computed", "status", "holds"} <= set(rows[0])
    assert all(row["holds"] for row in rows)
    assert {row["status"] for row in rows} <= set(STATUSES)
    db1 = next(r for r in rows if r["document"].startswith("003") and r["quantity"] == "dJ/db1")
    assert (db1["printed"], db1["computed"], db1["status"]) == ("0", "6", "erratum")


def test_worked_complexity_json_reports_exact_counts():
    completed = _run("--complexity", "--json")
    assert completed.returncode == exit_codes.OK, completed.stderr
    report = json.loads(completed.stdout)
    assert len(report["rows"]) == len(LEDGER)
    complexity = report["complexity"]
    assert complexity["counts_hold"] is True
    for row in complexity["rows"]:
        assert row["backprop_forward_passes"] == 1 and row["backprop_backward_passes"] == 1
        assert row["nudging_forward_passes"] == row["parameters"] + 1
