"""Sharding: the shards of a run together are exactly the unsharded run."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.backends import resolve_backend
from conformance.harness import run_check
from conformance.report import describe_architecture
from references.registry import REFERENCE_BACKENDS
from tests.support import run_cli

CASES = 24


def _signature(outcome):
    return (
        outcome.index,
        describe_architecture(outcome.case),
        outcome.case["inputs"].tobytes(),
        outcome.status,
    )


def test_shards_together_equal_the_unsharded_run():
    tested, references = resolve_backend("impl"), [REFERENCE_BACKENDS["numeric"]]
    whole = run_check(tested, references, cases=CASES, seed=11)
    parts = [run_check(tested, references, cases=CASES, seed=11, shard=(i, 3)) for i in (1, 2, 3)]
    assert sorted(_signature(o) for p in parts for o in p.outcomes) == sorted(
        _signature(o) for o in whole.outcomes
    )
    assert all(p.checked in (CASES // 3, CASES // 3 + 1) for p in parts)
    assert len({o.index for p in parts for o in p.outcomes}) == CASES


_cli = run_cli


def test_merge_reports_combines_shards_and_rejects_an_incomplete_set(tmp_path):
    paths = []
    for i in (1, 2):
        path = tmp_path / f"shard{i}.json"
        completed = _cli(
            "check",
            "--cases",
            "10",
            "--seed",
            "3",
            "--against",
            "numeric",
            "--shard",
            f"{i}/2",
            "--report-json",
            str(path),
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        paths.append(str(path))
    merged_path = tmp_path / "merged.json"
    merged = _cli("merge-reports", *paths, "--report-json", str(merged_path))
    assert merged.returncode == 0, merged.stdout + merged.stderr
    data = json.loads(merged_path.read_text())
    assert [c["index"] for c in data["cases"]] == list(range(10))
    shards = [json.loads(Path(path).read_text())["counts"] for path in paths]
    assert data["counts"] == {key: shards[0][key] + shards[1][key] for key in data["counts"]}
    assert sum(data["counts"].values()) == 10 and data["counts"]["agree"] >= 8

    incomplete = _cli("merge-reports", paths[0])
    assert incomplete.returncode == 2 and "missing: 2/2" in incomplete.stderr
    other = tmp_path / "other.json"
    _cli(
        "check",
        "--cases",
        "10",
        "--seed",
        "4",
        "--against",
        "numeric",
        "--shard",
        "2/2",
        "--report-json",
        str(other),
    )
    mixed = _cli("merge-reports", paths[0], str(other))
    assert mixed.returncode == 2 and "seed" in mixed.stderr


def test_bad_shard_option_is_exit_2():
    completed = _cli("check", "--shard", "3/2")
    assert completed.returncode == 2 and "1 <= I <= N" in completed.stderr


def test_merge_rejects_shards_of_different_splits_and_repeats(tmp_path):
    def shard(i, n, name, *extra):
        path = tmp_path / name
        completed = _cli(
            "check",
            "--cases",
            "4",
            "--seed",
            "3",
            "--against",
            "numeric",
            "--shard",
            f"{i}/{n}",
            "--report-json",
            str(path),
            *extra,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        return str(path)

    half = shard(1, 2, "a.json")
    quarter = shard(2, 4, "b.json")
    mixed = _cli("merge-reports", half, quarter)
    assert mixed.returncode == 2 and "split the run the same way" in mixed.stderr
    repeated = _cli("merge-reports", half, half)
    assert repeated.returncode == 2 and "repeated: 1/2" in repeated.stderr
    other_dtype = shard(2, 2, "c.json", "--dtype", "float32")
    options = _cli("merge-reports", half, other_dtype)
    assert options.returncode == 2 and "options" in options.stderr


def test_merge_rejects_a_malformed_report(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "backprop-conformance-report/1", "shard": None}))
    completed = _cli("merge-reports", str(bad))
    assert completed.returncode == 2 and "malformed" in completed.stderr
    assert "Traceback" not in completed.stderr
