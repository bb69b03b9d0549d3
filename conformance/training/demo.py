"""The demo: document 002's red/blue classification, trained with impl for several hidden widths.

Makes red and blue points (:mod:`conformance.training.datasets`, from ``--seed``), splits
them into train, dev and test (document 001), trains one network
2 -> width -> 1 (sigmoid output, bce loss) -- or 2 -> width -> 2 logits with a
softmax cross-entropy -- per hidden width with impl's backprop and impl's Adam or
SGD, and writes to ``--out``:

- ``loss_curves.png``: train and dev loss per step, one colour per width;
- ``decision_boundaries.png``: one panel per width, the points red and blue by
  class and the learned boundary (P(blue) = 0.5) drawn over the shaded regions;
- ``summary.json``: per width the final losses and train/dev/test accuracy.

Document 002 (section 五.2) shows this picture: one hidden unit draws a straight
line, a few bend it, more classify better. matplotlib is imported only here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from conformance.case import Case, validate_case
from conformance.generators import SMOOTH_ACTIVATIONS, initial_params
from conformance.training.datasets import (
    BLUE,
    RED,
    Points,
    Split,
    make_points,
    split,
)
from conformance.training.trajectories import ImplStepper, case_params, with_params
from impl import gradients, predict
from impl.network import loss_and_output_gradient
from impl.optim import SGD, Adam

OUTPUT_FILES = ("loss_curves.png", "decision_boundaries.png", "summary.json")
OUTPUTS = ("sigmoid", "softmax")
MIN_POINTS = 10
DEMO_OPTIMIZERS = ("adam", "sgd")
DEFAULT_LR = {"adam": 0.03, "sgd": 0.5}
"""Adam's 0.03 trains these small nets in a few thousand steps; 0.5 is document 002's rate."""
HIDDEN_ACTIVATIONS = tuple(name for name in SMOOTH_ACTIVATIONS if name != "softmax")

MATPLOTLIB_HINT = (
    "the demo draws its pictures with matplotlib, which is not installed here; install it "
    "with: pip install 'backprop-conformance[demo]'  (or: pip install 'matplotlib>=3.7')"
)

RED_COLOUR, BLUE_COLOUR = "#d62728", "#1f5fbf"


@dataclass(frozen=True)
class DemoOptions:
    """Everything that decides the demo's numbers (and goes into summary.json)."""

    dataset: str = "moons"
    points: int = 400
    seed: int = 0
    widths: tuple[int, ...] = (1, 2, 3, 4, 8, 16)
    activation: str = "tanh"
    output: str = "sigmoid"
    optimizer: str = "adam"
    lr: float = DEFAULT_LR["adam"]
    steps: int = 2000


@dataclass
class WidthResult:
    """One trained width: its loss curves, final numbers and final parameters."""

    width: int
    train_losses: list[float] = field(default_factory=list)
    dev_losses: list[float] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)
    case: Case | None = None  # the training case with the final parameters
    seconds: float = 0.0


# Cases and predictions ----------------------------------------------------------
def _architecture(width: int, options: DemoOptions) -> tuple[list[dict[str, Any]], dict[str, str]]:
    hidden = {"in": 2, "out": width, "activation": options.activation}
    if options.output == "sigmoid":
        return [hidden, {"in": width, "out": 1, "activation": "sigmoid"}], {
            "name": "bce",
            "reduction": "mean",
        }
    # two logits; the softmax is fused into the loss (stable, gradient softmax(y) - t)
    return [hidden, {"in": width, "out": 2, "activation": "identity"}], {
        "name": "softmax_cross_entropy",
        "reduction": "mean",
    }


def _targets(points: Points, output: str) -> np.ndarray:
    if output == "sigmoid":
        return points.labels[:, None].astype(np.float64)  # P(blue)
    return np.eye(2)[points.labels]  # one-hot over (red, blue)


def _case_for(points: Points, layers: list[dict], loss: dict, params: list, output: str) -> Case:
    return validate_case(
        {
            "format": "backprop-case/1",
            "name": "demo",
            "dtype": "float64",
            "layers": layers,
            "params": params,
            "loss": loss,
            "l2": 0.0,
            "inputs": points.xy,
            "targets": _targets(points, output),
        }
    )


def blue_probability(case: Case, xy: np.ndarray, output: str) -> np.ndarray:
    """P(blue) for each point of ``xy`` under the case's network."""
    y = predict({**case, "inputs": xy})
    if output == "sigmoid":
        return y[:, 0]
    shifted = y - y.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp[:, BLUE] / exp.sum(axis=1)


def _loss(case: Case, points_case: Case) -> float:
    y = predict({**points_case, "params": case["params"]})
    return float(loss_and_output_gradient(points_case["loss"], y, points_case["targets"])[0])


def _accuracy(case: Case, points: Points, output: str) -> float:
    predicted = (blue_probability(case, points.xy, output) > 0.5).astype(int)
    return float((predicted == points.labels).mean())


# Training -----------------------------------------------------------------------
def make_optimizer(options: DemoOptions) -> SGD | Adam:
    if options.optimizer == "adam":
        return Adam(lr=options.lr)
    return SGD(lr=options.lr)


ProgressFunction = Callable[[int, int, float, float], None]


def train_width(
    data: Split, width: int, options: DemoOptions, progress: ProgressFunction | None = None
) -> WidthResult:
    """Train one hidden width on ``data.train`` (full batch), recording train and dev loss."""
    started = time.perf_counter()
    layers, loss = _architecture(width, options)
    params = initial_params(layers, seed=options.seed)
    train_case = _case_for(data.train, layers, loss, params, options.output)
    dev_case = _case_for(data.dev, layers, loss, params, options.output)
    stepper = ImplStepper(make_optimizer(options), case_params(train_case))
    result = WidthResult(width)
    current = train_case
    report_every = max(1, options.steps // 100)
    for step in range(options.steps):
        computed = gradients(current)
        result.train_losses.append(float(computed["loss"]))
        result.dev_losses.append(_loss(current, dev_case))
        current = with_params(train_case, stepper.step(computed["grads"]))
        if progress is not None and (step % report_every == 0):
            progress(step, options.steps, result.train_losses[-1], result.dev_losses[-1])
    test_case = _case_for(data.test, layers, loss, params, options.output)
    result.final = {
        "train_loss": _loss(current, train_case),
        "dev_loss": _loss(current, dev_case),
        "test_loss": _loss(current, test_case),
        "train_accuracy": _accuracy(current, data.train, options.output),
        "dev_accuracy": _accuracy(current, data.dev, options.output),
        "test_accuracy": _accuracy(current, data.test, options.output),
    }
    result.train_losses.append(result.final["train_loss"])
    result.dev_losses.append(result.final["dev_loss"])
    result.case = current
    result.seconds = time.perf_counter() - started
    return result


def make_split(options: DemoOptions) -> Split:
    """The demo's points for ``options`` (data set, count, seed), split 60/20/20."""
    return split(make_points(options.dataset, options.points, seed=options.seed), seed=options.seed)


def summary(options: DemoOptions, data: Split, results: Sequence[WidthResult]) -> dict[str, Any]:
    """What summary.json holds: the settings, the split sizes and each width's numbers."""
    best = max(results, key=lambda r: (r.final["dev_accuracy"], -r.final["dev_loss"]))
    return {
        "dataset": options.dataset,
        "points": options.points,
        "seed": options.seed,
        "split": {"train": len(data.train), "dev": len(data.dev), "test": len(data.test)},
        "classes": {"0": "red", "1": "blue"},
        "network": f"2 -> width ({options.activation}) -> "
        + (
            "1 (sigmoid), loss bce"
            if options.output == "sigmoid"
            else "2 logits, softmax_cross_entropy"
        ),
        "optimizer": {"name": options.optimizer, "lr": options.lr},
        "steps": options.steps,
        "widths": [
            {
                "width": r.width,
                **{k: round(v, 6) for k, v in r.final.items()},
                "seconds": round(r.seconds, 3),
            }
            for r in results
        ],
        "chosen_by_dev": {
            "width": best.width,
            "dev_accuracy": best.final["dev_accuracy"],
            "test_accuracy": best.final["test_accuracy"],
        },
    }


# Pictures -----------------------------------------------------------------------
def import_pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed), or ImportError."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_loss_curves(
    plt: Any, options: DemoOptions, results: Sequence[WidthResult], path: Path
) -> None:
    figure, axes = plt.subplots(figsize=(8, 5), dpi=100)
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(results)))
    for colour, result in zip(colours, results, strict=True):
        steps = np.arange(len(result.train_losses))
        axes.plot(
            steps, result.train_losses, color=colour, lw=1.6, label=f"width {result.width} train"
        )
        axes.plot(
            steps,
            result.dev_losses,
            color=colour,
            lw=1.2,
            ls="--",
            label=f"width {result.width} dev",
        )
    loss_name = "bce" if options.output == "sigmoid" else "softmax cross-entropy"
    axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel(f"{loss_name} (mean over points)")
    axes.set_title(
        f"{options.dataset}: train (solid) and dev (dashed) loss, {options.activation} hidden "
        f"layer, {options.optimizer} lr {options.lr:g}",
        fontsize=10,
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(ncol=2, fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def draw_decision_boundaries(
    plt: Any, options: DemoOptions, data: Split, results: Sequence[WidthResult], path: Path
) -> None:
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.lines import Line2D

    every = np.concatenate([data.train.xy, data.dev.xy, data.test.xy])
    low, high = every.min(axis=0) - 0.5, every.max(axis=0) + 0.5
    gx, gy = np.meshgrid(np.linspace(low[0], high[0], 200), np.linspace(low[1], high[1], 200))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1)
    shade = LinearSegmentedColormap.from_list("red_blue", ["#f6b3b3", "#ffffff", "#b3c9f1"])

    columns = min(3, len(results))
    rows = -(-len(results) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 4 * rows), dpi=100, squeeze=False
    )
    for axis in axes.ravel()[len(results) :]:
        axis.set_visible(False)
    for axis, result in zip(axes.ravel(), results, strict=False):
        assert result.case is not None
        probability = blue_probability(result.case, grid, options.output).reshape(gx.shape)
        axis.contourf(gx, gy, probability, levels=np.linspace(0, 1, 11), cmap=shade, vmin=0, vmax=1)
        axis.contour(gx, gy, probability, levels=[0.5], colors="black", linewidths=1.8)
        for points, marker, size in ((data.train, "o", 14), (data.test, "^", 26)):
            colours = np.where(points.labels == RED, RED_COLOUR, BLUE_COLOUR)
            axis.scatter(
                points.xy[:, 0],
                points.xy[:, 1],
                c=colours,
                s=size,
                marker=marker,
                edgecolors="white",
                linewidths=0.4,
            )
        final = result.final
        units = "unit" if result.width == 1 else "units"
        axis.set_title(
            f"{result.width} hidden {units}: train {final['train_accuracy']:.2f}, "
            f"test {final['test_accuracy']:.2f}",
            fontsize=10,
        )
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_xlim(low[0], high[0])
        axis.set_ylim(low[1], high[1])
    legend = [
        Line2D([], [], marker="o", ls="", color=RED_COLOUR, label="red (0), train"),
        Line2D([], [], marker="o", ls="", color=BLUE_COLOUR, label="blue (1), train"),
        Line2D([], [], marker="^", ls="", color="grey", label="test points"),
        Line2D([], [], color="black", label="boundary P(blue) = 0.5"),
    ]
    figure.legend(handles=legend, loc="lower center", ncol=4, fontsize=9, frameon=False)
    figure.suptitle(
        f"{options.dataset}: 2 -> width ({options.activation}) -> "
        f"{'1 sigmoid' if options.output == 'sigmoid' else '2 softmax'}, "
        f"{options.optimizer} lr {options.lr:g}, {options.steps} steps, seed {options.seed}",
        fontsize=11,
    )
    figure.tight_layout(rect=(0, 0.05, 1, 0.95))
    figure.savefig(path)
    plt.close(figure)


class Progress:
    """A self-rewriting line on a terminal; one line per finished width elsewhere."""

    def __init__(self, stream: TextIO, total: int):
        self.stream = stream
        self.total = total
        self.live = stream.isatty()

    def during(self, index: int, width: int) -> ProgressFunction | None:
        if not self.live:
            return None

        def show(step: int, steps: int, train_loss: float, dev_loss: float) -> None:
            self.stream.write(
                f"\rwidth {width} ({index}/{self.total}): step {step}/{steps}  "
                f"train loss {train_loss:.4f}  dev loss {dev_loss:.4f}   "
            )
            self.stream.flush()

        return show

    def done(self, index: int, result: WidthResult) -> None:
        final = result.final
        line = (
            f"width {result.width} ({index}/{self.total}): train loss {final['train_loss']:.4f}, "
            f"dev loss {final['dev_loss']:.4f}; accuracy train {final['train_accuracy']:.3f}, "
            f"dev {final['dev_accuracy']:.3f}, test {final['test_accuracy']:.3f} "
            f"({result.seconds:.1f} s)"
        )
        self.stream.write(("\r\x1b[K" if self.live else "") + line + "\n")
        self.stream.flush()


def run_demo(options: DemoOptions, out: Path, *, stream: TextIO, plt: Any) -> dict[str, Any]:
    """Train every width, write the three files into ``out``; returns the summary."""
    data = make_split(options)
    stream.write(
        f"demo  seed {options.seed}  {options.dataset}: {options.points} points "
        f"(train {len(data.train)}, dev {len(data.dev)}, test {len(data.test)}), "
        f"{options.optimizer} lr {options.lr:g}, {options.steps} steps per width\n"
    )
    progress = Progress(stream, len(options.widths))
    results = []
    for index, width in enumerate(options.widths, start=1):
        result = train_width(data, width, options, progress.during(index, width))
        progress.done(index, result)
        results.append(result)
    out.mkdir(parents=True, exist_ok=True)
    draw_loss_curves(plt, options, results, out / "loss_curves.png")
    draw_decision_boundaries(plt, options, data, results, out / "decision_boundaries.png")
    data_summary = summary(options, data, results)
    (out / "summary.json").write_text(json.dumps(data_summary, indent=2) + "\n", encoding="utf-8")
    chosen = data_summary["chosen_by_dev"]
    stream.write(
        f"chosen by dev accuracy: width {chosen['width']} (dev {chosen['dev_accuracy']:.3f}, "
        f"test {chosen['test_accuracy']:.3f})\n"
        f"wrote {', '.join(str(out / name) for name in OUTPUT_FILES)}\n"
    )
    return data_summary
