"""Document 003's complexity claim, measured: backprop against nudging every parameter.

Document 003 (003_f824c9119bf8e39e.txt, section 二.4 "为什么用反向传播计算导数") says
backprop finds every derivative in about n + p steps, where nudging each of p
parameters in turn costs n x p (n nodes; 10,000 nodes and 100,000 parameters give
110,000 steps against 10^9). Here both are run on the same scalar network
(:mod:`impl.scalar`) as its width grows:

- backprop: one forward pass and one backward pass, whatever p is;
- nudging (finite differences): one forward pass per nudged parameter plus one at
  the unnudged point, p + 1 passes (the document's one-sided nudge), or 2p + 1 with
  central differences.

Forward passes are counted by wrapping the loss function, steps are counted as
graph nodes visited, and time is measured; the growth exponent of each is the
slope of a least-squares line through (log p, log value). The counts are exact and
deterministic; the times are reported, not asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np

from conformance.text import wrapped
from impl.scalar import Scalar, total

SCHEMES = ("forward", "central")
"""Finite-difference schemes: ``forward`` nudges up only (document 003), ``central`` both ways."""

DEFAULT_WIDTHS = (4, 8, 16, 32, 64)
"""Hidden widths measured by default: 25 to 385 parameters, a second or two in all."""

NUDGE = 1e-6
"""The nudge epsilon. Only the counts and times are measured, so its accuracy is moot."""


class CountingLoss:
    """A loss function of a flat parameter list that counts its forward passes."""

    def __init__(self, function: Callable[[Sequence[Scalar]], Scalar]) -> None:
        self.function = function
        self.forward_passes = 0

    def __call__(self, params: Sequence[Scalar]) -> Scalar:
        self.forward_passes += 1
        return self.function(params)


@dataclass(frozen=True)
class ScalarNetwork:
    """inputs -> tanh hidden layer of ``width`` -> one identity output, loss 1/2 (y - t)^2."""

    inputs: tuple[float, ...]
    target: float
    width: int

    @property
    def parameter_count(self) -> int:
        return self.width * len(self.inputs) + self.width + self.width + 1

    def loss(self, params: Sequence[Scalar]) -> Scalar:
        """J for the flat parameter list [W1 row by row, b1, w2, b2]."""
        n_in, width = len(self.inputs), self.width
        if len(params) != self.parameter_count:
            raise ValueError(f"expected {self.parameter_count} parameters, got {len(params)}")
        weights, rest = params[: width * n_in], params[width * n_in :]
        biases, out_weights, out_bias = rest[:width], rest[width : 2 * width], rest[-1]
        hidden = [
            total(
                [*(weights[i * n_in + j] * x for j, x in enumerate(self.inputs)), biases[i]]
            ).tanh()
            for i in range(width)
        ]
        output = total([*(w * h for w, h in zip(out_weights, hidden, strict=True)), out_bias])
        return (output - self.target) ** 2 / 2


def network_of_width(
    width: int, *, input_size: int = 4, seed: int = 0
) -> tuple[ScalarNetwork, list[float]]:
    """A network and its starting parameters, drawn from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    network = ScalarNetwork(tuple(rng.normal(size=input_size).tolist()), float(rng.normal()), width)
    scale = np.concatenate(
        [
            np.full(width * input_size, 1 / np.sqrt(input_size)),
            np.full(width, 0.5),
            np.full(width, 1 / np.sqrt(width)),
            [0.5],
        ]
    )
    return network, (rng.normal(size=network.parameter_count) * scale).tolist()


@dataclass(frozen=True)
class GradientRun:
    """A gradient and what it cost."""

    gradient: list[float]
    nodes: int  # nodes in one forward graph
    forward_passes: int
    backward_passes: int
    steps: int  # graph nodes evaluated (forward) plus nodes visited (backward)


def backprop_gradient(
    loss: Callable[[Sequence[Scalar]], Scalar], values: Sequence[float]
) -> GradientRun:
    """Every dJ/dparameter from one forward pass and one backward pass."""
    counting = CountingLoss(loss)
    params = [Scalar(value) for value in values]
    cost = counting(params)
    nodes = len(cost.topological_order())
    cost.backward()
    return GradientRun([p.grad for p in params], nodes, counting.forward_passes, 1, 2 * nodes)


def nudging_gradient(
    loss: Callable[[Sequence[Scalar]], Scalar],
    values: Sequence[float],
    *,
    scheme: str = "forward",
    epsilon: float = NUDGE,
) -> GradientRun:
    """Every dJ/dparameter by nudging one parameter at a time (finite differences).

    ``forward``: (J(p + eps) - J(p)) / eps, p + 1 forward passes (document 003).
    ``central``: (J(p + eps) - J(p - eps)) / (2 eps), plus J(p) itself: 2p + 1.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; expected one of: {', '.join(SCHEMES)}")
    counting = CountingLoss(loss)
    steps = nodes = 0

    def evaluate(point: Sequence[float]) -> float:
        nonlocal steps, nodes
        cost = counting([Scalar(value) for value in point])
        nodes = len(cost.topological_order())
        steps += nodes
        return cost.data

    base = evaluate(values)
    gradient = []
    for index in range(len(values)):
        up = list(values)
        up[index] += epsilon
        if scheme == "forward":
            gradient.append((evaluate(up) - base) / epsilon)
        else:
            down = list(values)
            down[index] -= epsilon
            gradient.append((evaluate(up) - evaluate(down)) / (2 * epsilon))
    return GradientRun(gradient, nodes, counting.forward_passes, 0, steps)


@dataclass(frozen=True)
class Measurement:
    """One network size: both methods' counts and best-of-``repeats`` times."""

    width: int
    parameters: int
    nodes: int  # nodes in one forward graph (operations, parameters and constants)
    backprop_forward_passes: int
    backprop_backward_passes: int
    backprop_steps: int
    backprop_seconds: float
    nudging_forward_passes: int
    nudging_steps: int
    nudging_seconds: float


TIME_BUDGET = 0.5
"""Seconds per method and size after which no further repeat is started (at least one runs)."""


def _best_time(run: Callable[[], GradientRun], repeats: int) -> tuple[GradientRun, float]:
    """The best of up to ``repeats`` runs: the least disturbed by whatever else the machine does."""
    best = float("inf")
    spent = 0.0
    result = None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
        if spent > TIME_BUDGET:
            break
    assert result is not None
    return result, best


def measure(
    widths: Sequence[int] = DEFAULT_WIDTHS,
    *,
    input_size: int = 4,
    scheme: str = "forward",
    repeats: int = 3,
    seed: int = 0,
) -> list[Measurement]:
    """Run backprop and nudging on networks of each hidden width; count and time both."""
    rows = []
    for width in widths:
        network, values = network_of_width(width, input_size=input_size, seed=seed)
        backprop, backprop_seconds = _best_time(
            partial(backprop_gradient, network.loss, values), repeats
        )
        nudging, nudging_seconds = _best_time(
            partial(nudging_gradient, network.loss, values, scheme=scheme), repeats
        )
        rows.append(
            Measurement(
                width=width,
                parameters=network.parameter_count,
                nodes=backprop.nodes,
                backprop_forward_passes=backprop.forward_passes,
                backprop_backward_passes=backprop.backward_passes,
                backprop_steps=backprop.steps,
                backprop_seconds=backprop_seconds,
                nudging_forward_passes=nudging.forward_passes,
                nudging_steps=nudging.steps,
                nudging_seconds=nudging_seconds,
            )
        )
    return rows


def growth_exponent(sizes: Sequence[float], values: Sequence[float]) -> float:
    """The slope of the least-squares line through (log size, log value): value ~ size^slope."""
    slope, _ = np.polyfit(np.log(np.asarray(sizes, float)), np.log(np.asarray(values, float)), 1)
    return float(slope)


def exponents(rows: Sequence[Measurement]) -> dict[str, float]:
    """Fitted growth exponent (against the parameter count) of every counted or timed column."""
    sizes = [row.parameters for row in rows]
    columns = (
        "backprop_forward_passes",
        "backprop_steps",
        "backprop_seconds",
        "nudging_forward_passes",
        "nudging_steps",
        "nudging_seconds",
    )
    return {
        column: growth_exponent(sizes, [getattr(row, column) for row in rows]) for column in columns
    }


def document_step_counts(nodes: int, parameters: int) -> tuple[int, int]:
    """Document 003's own arithmetic: (n + p steps for backprop, n x p for nudging)."""
    return nodes + parameters, nodes * parameters


def counts_hold(rows: Sequence[Measurement], scheme: str = "forward") -> bool:
    """Backprop took 1 forward and 1 backward pass at every size; nudging p + 1 (or 2p + 1)."""
    per_parameter = 1 if scheme == "forward" else 2
    return all(
        row.backprop_forward_passes == 1
        and row.backprop_backward_passes == 1
        and row.nudging_forward_passes == per_parameter * row.parameters + 1
        for row in rows
    )


def format_table(rows: Sequence[Measurement], scheme: str = "forward") -> str:
    """The measurements as an aligned table, then the fitted exponents."""
    header = (
        "params",
        "nodes",
        "bp fwd",
        "bp bwd",
        "bp steps",
        "bp time",
        "nudge fwd",
        "nudge steps",
        "nudge time",
        "time ratio",
    )
    body = [
        (
            str(row.parameters),
            str(row.nodes),
            str(row.backprop_forward_passes),
            str(row.backprop_backward_passes),
            str(row.backprop_steps),
            _seconds(row.backprop_seconds),
            str(row.nudging_forward_passes),
            str(row.nudging_steps),
            _seconds(row.nudging_seconds),
            f"{row.nudging_seconds / row.backprop_seconds:.0f}x",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in (header, *body)) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in (header, *body)
    ]
    fitted = exponents(rows)
    passes = "p + 1" if scheme == "forward" else "2p + 1"
    lines += [
        "",
        "growth exponent against p (slope of log value on log p):",
        f"  backprop: forward passes {fitted['backprop_forward_passes']:+.2f}, "
        f"steps {fitted['backprop_steps']:+.2f}, time {fitted['backprop_seconds']:+.2f}",
        f"  nudging:  forward passes {fitted['nudging_forward_passes']:+.2f}, "
        f"steps {fitted['nudging_steps']:+.2f}, time {fitted['nudging_seconds']:+.2f}",
        *wrapped(
            f"backprop: 1 forward + 1 backward pass at every size; nudging ({scheme} "
            f"differences): {passes} forward passes, each over the whole graph."
        ),
        "Counts are exact; times are the best of a few runs on this machine.",
    ]
    return "\n".join(lines)


def _seconds(value: float) -> str:
    return f"{value * 1e3:.2f} ms" if value < 1 else f"{value:.2f} s"


def measurements_to_json(rows: Sequence[Measurement], scheme: str = "forward") -> dict[str, Any]:
    """The measurements, fitted exponents and the count check as a JSON-ready object."""
    return {
        "scheme": scheme,
        "rows": [asdict(row) for row in rows],
        "exponents": exponents(rows),
        "counts_hold": counts_hold(rows, scheme),
    }
