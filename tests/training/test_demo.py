"""The red/blue demo: its points, its accuracy, its pictures, its refusals."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance.cli.main import main
from conformance.training.datasets import DATASET_NAMES, make_points, split
from conformance.training.demo import DemoOptions, Progress, WidthResult, make_split, train_width

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_points_are_reproducible_balanced_and_split_without_overlap(name):
    points = make_points(name, 101, seed=5)
    again = make_points(name, 101, seed=5)
    other = make_points(name, 101, seed=6)
    np.testing.assert_array_equal(points.xy, again.xy)
    assert not np.array_equal(points.xy, other.xy)
    assert set(points.labels.tolist()) == {0, 1}
    assert abs(int(points.labels.sum()) - 50) <= 1
    parts = split(points, seed=5)
    assert (len(parts.train), len(parts.dev), len(parts.test)) == (61, 20, 20)
    rows = np.concatenate([parts.train.xy, parts.dev.xy, parts.test.xy])
    np.testing.assert_array_equal(
        np.unique(rows, axis=0), np.unique(points.xy, axis=0)
    )  # a partition: every point once


def test_unknown_dataset_and_too_few_points_are_refused():
    with pytest.raises(ValueError, match="unknown data set 'moon'"):
        make_points("moon", 100, seed=0)
    with pytest.raises(ValueError, match="at least 10 points"):
        make_points("moons", 5, seed=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_moons_reach_95_percent_test_accuracy_with_enough_hidden_units(seed):
    options = DemoOptions(seed=seed, steps=600, widths=(1, 8))
    data = make_split(options)
    wide = train_width(data, 8, options)
    assert wide.final["test_accuracy"] >= 0.95
    assert wide.train_losses[-1] < 0.5 * wide.train_losses[0]  # it learned
    # document 002: one hidden unit draws a straight line, which cannot follow the moons
    narrow = train_width(data, 1, options)
    assert narrow.final["train_accuracy"] < 0.92 < wide.final["train_accuracy"]


def test_demo_writes_two_valid_pictures_and_a_summary(tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the demo's pictures need matplotlib ([demo] extra)")
    from matplotlib.image import imread

    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--widths", "1,8", "--steps", "300", "--points", "200"]
    assert main(args) == 0
    stdout = capsys.readouterr().out
    assert stdout.startswith("demo  seed 0  moons: 200 points (train 120, dev 40, test 40)")
    width_lines = [line for line in stdout.splitlines() if line.startswith("width ")]
    assert [line.split(":")[0] for line in width_lines] == ["width 1 (1/2)", "width 8 (2/2)"]
    assert "\r" not in stdout  # not a terminal: one plain line per width
    for name, min_width in (("loss_curves.png", 600), ("decision_boundaries.png", 700)):
        data = (out / name).read_bytes()
        assert data[:8] == PNG_SIGNATURE
        image = imread(out / name)
        assert image.ndim == 3 and image.shape[1] >= min_width and image.shape[0] >= 300
        assert image[..., :3].std() > 0.05  # not a blank canvas
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "moons" and summary["seed"] == 0
    assert summary["split"] == {"train": 120, "dev": 40, "test": 40}
    assert [entry["width"] for entry in summary["widths"]] == [1, 8]
    for entry in summary["widths"]:
        for key in ("train_loss", "dev_loss", "test_loss"):
            assert entry[key] > 0
        for key in ("train_accuracy", "dev_accuracy", "test_accuracy"):
            assert 0.5 <= entry[key] <= 1
    assert summary["chosen_by_dev"]["width"] == 8


def test_demo_refuses_to_overwrite_without_force(tmp_path, capsys):
    (tmp_path / "summary.json").write_text("mine\n")
    assert main(["demo", "--out", str(tmp_path), "--widths", "2", "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert "already holds summary.json" in err and "--force" in err
    assert (tmp_path / "summary.json").read_text() == "mine\n"
    pytest.importorskip("matplotlib")
    args = ["demo", "--out", str(tmp_path), "--widths", "2", "--steps", "5", "--force"]
    assert main(args) == 0
    assert json.loads((tmp_path / "summary.json").read_text())["widths"][0]["width"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--widths", "0,2"], "every width must be a whole number >= 1"),
        (["--widths", "two"], "expected hidden widths as whole numbers"),
        (["--points", "5"], "need at least 10"),
        (["--dataset", "circles"], "invalid choice: 'circles'"),
    ],
)
def test_demo_bad_options_exit_2(tmp_path, args, message, capsys):
    assert main(["demo", "--out", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_demo_without_matplotlib_says_how_to_install_it(tmp_path):
    blocked = tmp_path / "matplotlib"
    blocked.mkdir()
    (blocked / "__init__.py").write_text('raise ImportError("matplotlib blocked in this test")\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    # demo's smoke test in a process of its own, which has not imported matplotlib yet
    completed = subprocess.run(
        [sys.executable, "-m", "conformance", "demo", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env,
    )  # fmt: skip
    assert completed.returncode == 2
    assert "matplotlib, which is not installed" in completed.stderr
    assert "pip install 'backprop-conformance[demo]'" in completed.stderr
    assert not (tmp_path / "out").exists()


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_rewrites_one_line_on_a_terminal():
    stream = _Terminal()
    progress = Progress(stream, total=2)
    show = progress.during(1, 4)
    assert show is not None
    show(0, 100, 0.7, 0.71)
    show(50, 100, 0.2, 0.25)
    result = WidthResult(4, final={
        "train_loss": 0.1, "dev_loss": 0.2, "test_loss": 0.3,
        "train_accuracy": 0.9, "dev_accuracy": 0.8, "test_accuracy": 0.85,
    })  # fmt: skip
    progress.done(1, result)
    text = stream.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1
    assert "width 4 (1/2): step 50/100" in text and text.endswith("test 0.850 (0.0 s)\n")
    assert Progress(io.StringIO(), total=2).during(1, 4) is None  # not a terminal: quiet
