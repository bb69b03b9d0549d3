"""The measurements behind ``python -m conformance bench``: each performance goal as a
ratio against a peer, measured side by side in one run on one machine.

Timings are noisy, so every comparison is a ratio taken within one run: functions in
the same process run in alternating rounds (a change in the machine's load hits both
alike) and the median of the per-round ratios is reported; whole processes run in
turn, the median of a few repeats each. Thread counts are pinned by the caller
(``conformance.cli.bench``) before numpy or torch is imported.

Two measurements run in processes of their own, started as ``python -m
conformance.bench.measure ROLE``: ``gradcheck`` (torch.autograd.gradcheck on the cases of a
``check`` run, the peer the harness races) and ``scale`` (a 10-million-parameter
case, whose peak memory must be its own process's).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PIN_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Environment variables that fix the BLAS and OpenMP thread counts of numpy and torch.
They are read when the libraries load, so they must be set before either is imported."""

TINY: dict[str, Any] = {"batch": 4, "width": 8, "depth": 2, "dtype": "float64"}
"""Where framework overhead dominates: the goal is impl at least 5x torch's speed."""

LARGE: dict[str, Any] = {"batch": 256, "width": 512, "depth": 4, "dtype": "float32"}
"""Where BLAS dominates: the goal is impl at least 0.95x torch's speed."""

SMALL_CNN: dict[str, Any] = {
    "name": "small CNN",
    "batch": 8,
    "input_shape": (1, 28, 28),
    "dtype": "float32",
    "layers": [
        {
            "type": "conv2d",
            "in_channels": 1,
            "out_channels": 8,
            "kernel": [3, 3],
            "activation": "relu",
        },
        {"type": "maxpool2d", "kernel": [2, 2]},
        {
            "type": "conv2d",
            "in_channels": 8,
            "out_channels": 16,
            "kernel": [3, 3],
            "activation": "relu",
        },
        {"type": "maxpool2d", "kernel": [2, 2]},
        {"type": "flatten"},
        {"type": "dense", "in": 16 * 5 * 5, "out": 10},
    ],
    "loss": {"name": "softmax_cross_entropy", "reduction": "mean"},
}
"""An MNIST-sized image classifier, where conv2d and maxpool2d do the work: the goal is
impl within 3x of torch's time."""

LSTM_CLASSIFIER: dict[str, Any] = {
    "name": "LSTM classifier",
    "batch": 16,
    "input_shape": (20, 32),  # T steps of 32 features
    "dtype": "float32",
    "layers": [
        {"type": "lstm", "in": 32, "hidden": 64, "return": "last"},
        {"type": "dense", "in": 64, "out": 10},
    ],
    "loss": {"name": "softmax_cross_entropy", "reduction": "mean"},
}
"""A sequence classifier, where the T steps of the recurrence run one after another: the
goal is impl within 3x of torch's time."""

NETWORKS = (SMALL_CNN, LSTM_CLASSIFIER)
"""The version 2 networks the bench races, in the table's order."""

WITHIN_3X = 1 / 3
"""A goal of "impl within 3x of torch's time" as a ratio peer time / ours."""

SCALE_PARAMETERS = 10_000_000
"""The scale goal: a network of ten million float32 parameters within 2 GB."""

MEMORY_LIMIT = 2 * 1024**3


@dataclass
class Row:
    """One line of the bench table: a measurement against its peer and its goal.

    ``ratio`` is always "higher is better": the peer's time over ours, or a limit over
    the measured value; ``goal`` is the ratio asked for (None: reported only).
    """

    name: str
    ours: str
    peer: str
    ratio: float
    goal: float | None
    goal_text: str
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.goal is None else self.ratio >= self.goal


@dataclass
class Bench:
    """Every row, the raw numbers behind them, and what the run was."""

    rows: list[Row] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        rows = [dict(asdict(row), met=row.met) for row in self.rows]
        return {"settings": self.settings, "rows": rows, "details": self.details}


# timing helpers ------------------------------------------------------------------
def per_call_seconds(function: Callable[[], Any], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - started) / calls


def race(
    ours: Callable[[], Any], peer: Callable[[], Any], *, rounds: int, calls: int
) -> dict[str, float]:
    """Seconds per call of each (medians) and the median of the per-round ratios
    peer / ours. Rounds alternate which one goes first."""
    ours(), peer()  # warm up: first-call costs (allocations, torch dispatch caches)
    ours_times: list[float] = []
    peer_times: list[float] = []
    ratios: list[float] = []
    for round_index in range(rounds):
        pair = [(ours, ours_times), (peer, peer_times)]
        for function, times in pair if round_index % 2 == 0 else pair[::-1]:
            times.append(per_call_seconds(function, calls))
        ratios.append(peer_times[-1] / ours_times[-1])
    return {
        "ours_seconds": statistics.median(ours_times),
        "peer_seconds": statistics.median(peer_times),
        "ratio": statistics.median(ratios),
    }


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def _bytes(count: float) -> str:
    return f"{count / 1024**3:.2f} GB" if count >= 1024**3 else f"{count / 1024**2:.0f} MB"


# cases --------------------------------------------------------------------------
def dense_case(
    *, batch: int, width: int, depth: int, dtype: str, activation: str = "tanh", seed: int = 0
) -> dict[str, Any]:
    """A square network (``depth`` layers of ``width``; the last one identity) under mse,
    made by ``generators.fill_case``."""
    from conformance.generators import fill_case

    layers = [
        {"in": width, "out": width, "activation": activation if index < depth - 1 else "identity"}
        for index in range(depth)
    ]
    architecture = {"layers": layers, "loss": {"name": "mse", "reduction": "mean"}}
    case = fill_case(architecture, seed=seed, batch_size=batch, dtype=dtype)
    if case is None:  # tanh and identity have no kinks: every draw is usable
        raise RuntimeError("fill_case found no usable values for a smooth network")
    return case


def layered_case(network: Mapping[str, Any], *, seed: int = 0) -> dict[str, Any]:
    """The version 2 case of one of :data:`NETWORKS`, made by ``generators.fill_layered_case``."""
    from conformance.generators import fill_layered_case

    architecture = {"layers": network["layers"], "loss": network["loss"]}
    return fill_layered_case(
        architecture,
        input_shape=network["input_shape"],
        seed=seed,
        batch_size=network["batch"],
        dtype=network["dtype"],
    )


PEER_LAYERS = ("dense",)
"""The layer types of the cases the peers (gradcheck, check_grads) are timed on: they take
a dense network's loss function (``TorchBackend.loss_function``), so both sides run the
dense stream, ``check --layers dense``."""


def stream_cases(
    count: int, seed: int, *, layers: Sequence[str] | None = PEER_LAYERS
) -> list[dict[str, Any]]:
    """The first ``count`` cases that ``check --seed SEED`` draws (with ``--layers``, when
    ``layers`` is not None), in order: the harness records them while running its own
    stream, so they are the same by construction."""
    from conformance.backends import CallableBackend
    from conformance.harness import run_check
    from conformance.strategies import case_stream

    recorded: list[dict[str, Any]] = []

    def record(case: Mapping[str, Any]) -> Any:
        recorded.append(dict(case))
        raise NotImplementedError("recording only")

    run_check(
        CallableBackend("recorder", record),
        [],
        cases=count,
        seed=seed,
        strategy=case_stream(layers=layers),  # the check command's own stream
        shrink=False,
    )
    return recorded


# impl against torch autograd ------------------------------------------------------
def torch_autograd_step(case: Mapping[str, Any]) -> Callable[[], Any]:
    """Forward and backward of the case's network in torch autograd, its tensors made
    once: torch at its best, with no conversion from the case in the timed call."""
    import torch

    from references.torch_backend import TorchBackend

    loss, tensors = TorchBackend().loss_function(case)
    return lambda: torch.autograd.grad(loss(*tensors), tensors)


def impl_against_torch(sizes: Mapping[str, Any], *, rounds: int, calls: int) -> dict[str, Any]:
    """impl.gradients(case) against torch autograd on the same network."""
    import impl
    from references.torch_backend import TorchBackend

    case = dense_case(**sizes)
    raced = race(
        lambda: impl.gradients(case), torch_autograd_step(case), rounds=rounds, calls=calls
    )
    backend = race(
        lambda: impl.gradients(case),
        lambda: TorchBackend().gradients(case),
        rounds=rounds,
        calls=calls,
    )
    parameters = sum(p["W"].size + p["b"].size for p in case["params"])
    return dict(raced, sizes=dict(sizes), parameters=parameters, torch_backend=backend)


def impl_against_torch_modules(
    network: Mapping[str, Any], *, rounds: int, calls: int
) -> dict[str, Any]:
    """impl.gradients(case) against the same network as torch.nn modules built once
    (:mod:`conformance.bench.torch_modules`), and against the torch reference backend."""
    import impl
    from conformance.bench.torch_modules import torch_module_step
    from conformance.report import describe_architecture
    from references.torch_backend import TorchBackend

    case = layered_case(network)
    raced = race(lambda: impl.gradients(case), torch_module_step(case), rounds=rounds, calls=calls)
    backend = race(
        lambda: impl.gradients(case),
        lambda: TorchBackend().gradients(case),
        rounds=rounds,
        calls=calls,
    )
    parameters = sum(array.size for layer in case["params"] for array in layer.values())
    return dict(
        raced,
        network=network["name"],
        batch=network["batch"],
        dtype=network["dtype"],
        case=describe_architecture(case),
        parameters=parameters,
        torch_backend=backend,
    )


# the harness against torch.autograd.gradcheck -------------------------------------
def _run_process(command: Sequence[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, completed


def check_process(cases: int, seed: int) -> dict[str, Any]:
    """``python -m conformance check --against torch,numeric``: the whole process, timed."""
    command = [sys.executable, "-m", "conformance", "check", "--against", "torch,numeric"]
    command += ["--cases", str(cases), "--seed", str(seed), "--layers", ",".join(PEER_LAYERS)]
    wall, completed = _run_process(command)
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {completed.returncode}:\n{completed.stdout}"
        )
    found = re.search(r"cases checked: (\d+) of \d+ .* in ([\d.]+) s", completed.stdout)
    checked, run_seconds = (int(found[1]), float(found[2])) if found else (cases, float("nan"))
    return {"wall_seconds": wall, "run_seconds": run_seconds, "checked": checked}


def stream_process(cases: int, seed: int, layers: str | None) -> dict[str, Any]:
    """``python -m conformance check`` (every reference, impl in its worker process) on the
    default stream, or on ``--layers LAYERS``: each case's seconds from its JSON report."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        command = [sys.executable, "-m", "conformance", "check", "--cases", str(cases)]
        command += ["--seed", str(seed), "--report-json", str(report)]
        command += ["--layers", layers] if layers is not None else []
        wall, completed = _run_process(command)
        if completed.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} exited {completed.returncode}:\n{completed.stdout}"
            )
        outcomes = json.loads(report.read_text())["cases"]
    return {"wall_seconds": wall, "case_seconds": [outcome["seconds"] for outcome in outcomes]}


def stream_cost(cases: int, seed: int, repeats: int) -> dict[str, Any]:
    """The cost per case of check's default stream (dense networks and the version 2
    families) against the dense stream alone (``--layers dense``), the two run in turn
    ``repeats`` times: the median of every case's seconds, and the mean (which carries the
    one-time compilations of the JAX reference)."""
    runs: dict[str, list[float]] = {"default": [], "dense": []}
    for _ in range(repeats):
        runs["default"] += stream_process(cases, seed, None)["case_seconds"]
        runs["dense"] += stream_process(cases, seed, ",".join(PEER_LAYERS))["case_seconds"]
    return {
        "cases": cases,
        "seed": seed,
        "repeats": repeats,
        "median_case_seconds": {name: statistics.median(found) for name, found in runs.items()},
        "mean_case_seconds": {name: statistics.fmean(found) for name, found in runs.items()},
    }


def gradcheck_process(cases: int, seed: int, mode: str) -> dict[str, Any]:
    """``torch.autograd.gradcheck`` (mode "default" or "fast") on the same cases, in a
    process of its own. Its time is the process's, less the time it spent drawing the
    cases (with the harness's Hypothesis stream, which a gradcheck user would not run)."""
    command = [sys.executable, "-m", "conformance.bench.measure", "gradcheck"]
    command += ["--cases", str(cases), "--seed", str(seed), "--mode", mode]
    wall, completed = _run_process(command)
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {completed.returncode}:\n{completed.stderr}"
        )
    reported = json.loads(completed.stdout.strip().splitlines()[-1])
    return dict(reported, wall_seconds=wall - reported["generation_seconds"])


def gradcheck_cases(cases: Sequence[Mapping[str, Any]], *, fast_mode: bool) -> int:
    """Run ``torch.autograd.gradcheck`` on each case's loss (in float64, as gradcheck
    requires); the number that pass."""
    import torch

    from references.torch_backend import TorchBackend

    backend = TorchBackend()
    passed = 0
    for case in cases:
        loss, tensors = backend.loss_function(case, dtype=np.float64)
        passed += bool(
            torch.autograd.gradcheck(loss, tensors, fast_mode=fast_mode, raise_exception=False)
        )
    return passed


def harness_against_gradcheck(cases: int, seed: int, repeats: int) -> dict[str, Any]:
    """Medians over ``repeats`` of the three processes, run in turn."""
    runs: dict[str, list[dict[str, Any]]] = {"check": [], "fast": [], "default": []}
    for _ in range(repeats):
        runs["check"].append(check_process(cases, seed))
        runs["fast"].append(gradcheck_process(cases, seed, "fast"))
        runs["default"].append(gradcheck_process(cases, seed, "default"))
    medians = {
        name: statistics.median(run["wall_seconds"] for run in found)
        for name, found in runs.items()
    }
    per_case = {  # the work alone: process start-up (mostly importing torch) left out
        "check": statistics.median(run["run_seconds"] for run in runs["check"]) / cases,
        "fast": statistics.median(run["gradcheck_seconds"] for run in runs["fast"]) / cases,
        "default": statistics.median(run["gradcheck_seconds"] for run in runs["default"]) / cases,
    }
    return {
        "cases": cases,
        "seed": seed,
        "repeats": repeats,
        "median_wall_seconds": medians,
        "per_case_seconds_without_startup": per_case,
    }


# check on several processes -------------------------------------------------------
def workers_process(cases: int, seed: int, workers: int) -> dict[str, Any]:
    """``python -m conformance check --workers N`` against every available reference: the
    whole process, timed."""
    command = [sys.executable, "-m", "conformance", "check", "--cases", str(cases)]
    command += ["--seed", str(seed), "--workers", str(workers)]
    wall, completed = _run_process(command)
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {completed.returncode}:\n{completed.stdout}"
        )
    return {"workers": workers, "wall_seconds": wall}


def check_on_workers(cases: int, seed: int, repeats: int, workers: int = 2) -> dict[str, Any]:
    """``check --workers N`` against ``--workers 1`` on the same cases, run in pairs (in
    turns: 1 then N, N then 1, ...); every run's time, the median of each, and the
    median of the pairs' ratios, which the machine's drift from one pair to the next
    does not move (how the impl-vs-torch rows take theirs)."""
    from conformance.parallel import available_cores

    runs: dict[int, list[float]] = {1: [], workers: []}
    for repeat in range(repeats):
        for count in (1, workers) if repeat % 2 == 0 else (workers, 1):
            runs[count].append(workers_process(cases, seed, count)["wall_seconds"])
    pair_ratios = [one / several for one, several in zip(runs[1], runs[workers], strict=True)]
    return {
        "cases": cases,
        "seed": seed,
        "repeats": repeats,
        "workers": workers,
        "usable_cores": available_cores(),
        "wall_seconds": {str(count): times for count, times in runs.items()},
        "median_wall_seconds": {
            str(count): statistics.median(times) for count, times in runs.items()
        },
        "pair_ratios": pair_ratios,
        "median_pair_ratio": statistics.median(pair_ratios),
        "drawing_seconds_per_case": drawing_seconds(cases, seed),
    }


def drawing_seconds(cases: int, seed: int) -> float:
    """The drawing process's own work per case in ``check --workers``: drawing the
    stream, finding each case's JAX functions and pickling it for a checker
    (:mod:`conformance.parallel`), timed in this process."""
    import pickle

    from conformance.harness import draw_stream
    from references.jax_backend import JaxBackend

    programs = JaxBackend().programs

    def hand_over(case: Mapping[str, Any]) -> None:
        programs(case)
        pickle.dumps(case)

    began = time.perf_counter()
    draw_stream(hand_over, strategy=None, cases=cases, seed=seed, shrink=False)
    return (time.perf_counter() - began) / cases


# JAX ---------------------------------------------------------------------------
def jax_streams(*, repeated: int, random_cases: int, compiled_each: int, seed: int) -> dict:
    """The JAX backend on a stream of one architecture (per case, compiled once), on the
    harness's random stream (padded, and compiling each architecture as before), and
    ``jax.test_util.check_grads`` on random cases (JAX's own checker, eager)."""
    from jax.test_util import check_grads

    from references.jax_backend import JaxBackend

    backend = JaxBackend()
    same = [dense_case(**TINY, seed=index) for index in range(repeated)]
    backend.gradients(same[0])  # its compilation
    repeated_seconds = per_call_seconds(iter_calls(backend.gradients, same), len(same))

    stream = stream_cases(random_cases, seed)
    padded = JaxBackend()
    first_pass = per_call_seconds(iter_calls(padded.gradients, stream), len(stream))
    second_pass = per_call_seconds(iter_calls(padded.gradients, stream), len(stream))
    each = JaxBackend(pad_small_cases=False)
    few = stream[:: max(1, len(stream) // compiled_each)][:compiled_each]  # not only the first,
    # simplest cases, whose tiny networks compile fastest
    per_architecture = per_call_seconds(iter_calls(each.gradients, few), len(few))

    def check_grads_of(case: Mapping[str, Any]) -> None:
        loss, arguments = backend.loss_function(case)
        try:
            check_grads(loss, arguments, order=1, modes=("rev",))
        except AssertionError:
            pass  # its verdict is not what is measured here, its time is

    from references.torch_backend import TorchBackend

    torch_seconds = per_call_seconds(iter_calls(TorchBackend().gradients, stream), len(stream))
    float64 = [case for case in stream if case["dtype"] == "float64"]
    float64 = float64[:: max(1, len(float64) // compiled_each)][:compiled_each]
    eager_check_grads = per_call_seconds(iter_calls(check_grads_of, float64), len(float64))
    return {
        "repeated_architecture_seconds": repeated_seconds,
        "random_stream_seconds": first_pass,
        "random_stream_compilations": padded.traces,
        "random_stream_warm_seconds": second_pass,
        "per_architecture_seconds": per_architecture,
        "check_grads_seconds": eager_check_grads,
        "torch_seconds": torch_seconds,
        "random_cases": len(stream),
        "per_architecture_cases": len(few),
    }


def iter_calls(function: Callable[[Any], Any], items: Sequence[Any]) -> Callable[[], Any]:
    """A no-argument function that calls ``function`` on the next item each time."""
    position = [0]

    def call() -> Any:
        item = items[position[0] % len(items)]
        position[0] += 1
        return function(item)

    return call


# scale ---------------------------------------------------------------------------
def scale_widths(parameters: int, depth: int = 4) -> int:
    """The width of a square ``depth``-layer network with about ``parameters`` W and b."""
    return int((-1 + (1 + 4 * parameters / depth) ** 0.5) / 2)


def peak_rss() -> int:
    """This process's peak resident memory in bytes.

    On Linux, VmHWM of /proc/self/status: ``ru_maxrss`` would also count the memory of
    the parent this process was spawned from (recorded at exec), VmHWM starts afresh."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux, bytes on macOS
    return int(peak if sys.platform == "darwin" else peak * 1024)


def scale(parameters: int, *, batch: int = 16, directions: int = 2) -> dict[str, Any]:
    """One float32 case of about ``parameters`` parameters: impl, torch, the harness's
    check of impl against torch, and the directional numeric check of impl's gradient
    along random directions; seconds of each and the process's peak memory."""
    import impl
    from conformance.backends import CallableBackend
    from conformance.harness import check_case
    from conformance.tolerances import kind_for, tolerance_for
    from references.numeric import NumericBackend, random_directions
    from references.torch_backend import TorchBackend

    TorchBackend().availability()  # imports torch, outside the timed steps
    seconds: dict[str, float] = {}
    memory = {"after imports": peak_rss()}

    def timed(name: str, function: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = function()
        seconds[name] = time.perf_counter() - started
        memory[f"after {name}"] = peak_rss()
        return value

    width = scale_widths(parameters)
    case = timed(
        "fill_case", lambda: dense_case(batch=batch, width=width, depth=4, dtype="float32")
    )
    result = timed("impl", lambda: impl.gradients(case))
    timed("torch", lambda: TorchBackend().gradients(case))
    outcome = timed(
        "check_case impl vs torch",
        lambda: check_case(case, CallableBackend("impl", impl.gradients), [TorchBackend()]),
    )
    along = timed("random directions", lambda: random_directions(case, count=directions, seed=0))
    checks = timed(
        "directional numeric check", lambda: NumericBackend().directional_check(case, result, along)
    )
    tolerance = tolerance_for("float32", kind_for("exact", checks[0].method))
    agree = all(
        abs(check.difference)
        <= check.error_estimate + tolerance.atol + tolerance.rtol * abs(check.numeric)
        for check in checks
    )
    return {
        "parameters": sum(p["W"].size + p["b"].size for p in case["params"]),
        "width": width,
        "batch": batch,
        "seconds": seconds,
        "peak_rss_bytes": peak_rss(),
        "peak_rss_by_step": memory,
        "harness_status": outcome.status,
        "directional_agree": agree,
        "directional_checks": [
            {"numeric": c.numeric, "claimed": c.claimed, "error_estimate": c.error_estimate}
            for c in checks
        ],
        "method": checks[0].method if checks else None,
    }


def scale_process(parameters: int) -> dict[str, Any]:
    """:func:`scale` in a process of its own, so that its peak memory is its own."""
    command = [
        sys.executable,
        "-m",
        "conformance.bench.measure",
        "scale",
        "--parameters",
        str(parameters),
    ]
    wall, completed = _run_process(command)
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {completed.returncode}:\n{completed.stderr}"
        )
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]), wall_seconds=wall)


# the whole bench ------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """How much to measure: the full plan, or --quick (a smoke test of every section)."""

    rounds: int
    tiny_calls: int
    large_calls: int
    network_calls: int
    harness_cases: int
    harness_repeats: int
    jax_repeated: int
    jax_random: int
    jax_compiled_each: int
    scale_parameters: int
    workers_cases: int
    workers_repeats: int


FULL = Plan(
    rounds=9,
    tiny_calls=2000,
    large_calls=5,
    network_calls=20,
    harness_cases=1000,
    harness_repeats=3,
    jax_repeated=300,
    jax_random=300,
    jax_compiled_each=5,
    scale_parameters=SCALE_PARAMETERS,
    workers_cases=2000,
    workers_repeats=5,
)
QUICK = Plan(
    rounds=3,
    tiny_calls=300,
    large_calls=2,
    network_calls=3,
    harness_cases=100,
    harness_repeats=1,
    jax_repeated=40,
    jax_random=40,
    jax_compiled_each=2,
    scale_parameters=1_000_000,
    workers_cases=100,
    workers_repeats=1,
)

SECTIONS = (
    "impl vs torch autograd, tiny network",
    "impl vs torch autograd, large network",
    "impl vs torch modules, small CNN and LSTM classifier",
    "check vs torch.autograd.gradcheck",
    "check --workers 2 vs --workers 1",
    "jax backend",
    "check's default stream vs the dense stream, per case",
    "scale",
)
"""The sections of a bench run, in order, as its progress lines name them."""


def run_bench(
    plan: Plan,
    *,
    seed: int = 0,
    jax: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Bench:
    """Every measurement of the plan, as table rows and raw details; ``progress`` is told
    when each section starts and ends, in a line."""
    bench = Bench(settings={"plan": asdict(plan), "seed": seed})
    began = time.perf_counter()

    def section(number: int, measure: Callable[[], Any]) -> Any:
        name = SECTIONS[number - 1]
        if progress is not None:
            progress(f"[{number}/{len(SECTIONS)}] {name} ...")
        started = time.perf_counter()
        found = measure()
        if progress is not None:
            progress(
                f"[{number}/{len(SECTIONS)}] {name}: {_duration(time.perf_counter() - started)}"
                f" (bench so far {_duration(time.perf_counter() - began)})"
            )
        return found

    tiny = section(1, lambda: impl_against_torch(TINY, rounds=plan.rounds, calls=plan.tiny_calls))
    large = section(
        2, lambda: impl_against_torch(LARGE, rounds=plan.rounds, calls=plan.large_calls)
    )
    networks = section(
        3,
        lambda: [
            impl_against_torch_modules(network, rounds=plan.rounds, calls=plan.network_calls)
            for network in NETWORKS
        ],
    )
    harness = section(
        4, lambda: harness_against_gradcheck(plan.harness_cases, seed, plan.harness_repeats)
    )
    on_workers = section(
        5, lambda: check_on_workers(plan.workers_cases, seed, plan.workers_repeats)
    )
    bench.details.update(
        impl_tiny=tiny,
        impl_large=large,
        impl_networks=networks,
        harness=harness,
        workers=on_workers,
    )
    bench.rows += (
        impl_rows(tiny, large)
        + network_rows(networks)
        + harness_rows(harness)
        + workers_rows(on_workers)
    )
    if jax:
        streams = section(
            6,
            lambda: jax_streams(
                repeated=plan.jax_repeated,
                random_cases=plan.jax_random,
                compiled_each=plan.jax_compiled_each,
                seed=seed,
            ),
        )
        bench.details["jax"] = streams
        bench.rows += jax_rows(streams)
    elif progress is not None:
        progress(f"[6/{len(SECTIONS)}] {SECTIONS[5]}: skipped (jax is not installed)")
    cost = section(7, lambda: stream_cost(plan.jax_random, seed, plan.harness_repeats))
    bench.details["stream_cost"] = cost
    bench.rows += stream_cost_rows(cost)
    scaled = section(8, lambda: scale_process(plan.scale_parameters))
    bench.details["scale"] = scaled
    bench.rows += scale_rows(scaled)
    return bench


def _sizes_text(sizes: Mapping[str, Any]) -> str:
    return (
        f"batch {sizes['batch']}, width {sizes['width']}, depth {sizes['depth']}, {sizes['dtype']}"
    )


def impl_rows(tiny: Mapping[str, Any], large: Mapping[str, Any]) -> list[Row]:
    rows = []
    for measured, goal, goal_text in ((tiny, 5.0, ">= 5x"), (large, 0.95, ">= 0.95x")):
        rows.append(
            Row(
                name=f"impl vs torch autograd ({_sizes_text(measured['sizes'])})",
                ours=f"impl {_duration(measured['ours_seconds'])}",
                peer=f"torch {_duration(measured['peer_seconds'])}",
                ratio=measured["ratio"],
                goal=goal,
                goal_text=goal_text,
                note="forward + backward per call; torch tensors made once, impl takes the case",
            )
        )
    return rows


def network_rows(networks: Sequence[Mapping[str, Any]]) -> list[Row]:
    return [
        Row(
            name=(
                f"impl vs torch autograd ({measured['network']}, batch {measured['batch']}, "
                f"{measured['dtype']})"
            ),
            ours=f"impl {_duration(measured['ours_seconds'])}",
            peer=f"torch {_duration(measured['peer_seconds'])}",
            ratio=measured["ratio"],
            goal=WITHIN_3X,
            goal_text="within 3x (>= 0.33x)",
            note=(
                f"{measured['case']}; forward + backward per call; torch as nn modules built "
                "once (tensors made once), impl takes the case"
            ),
        )
        for measured in networks
    ]


def harness_rows(harness: Mapping[str, Any]) -> list[Row]:
    medians = harness["median_wall_seconds"]
    cases = harness["cases"]
    ours = f"check {_duration(medians['check'])}"
    per_case = harness["per_case_seconds_without_startup"]
    note = (
        f"whole processes, {cases} cases of the same stream (seed {harness['seed']}), "
        f"median of {harness['repeats']}; check compares full gradients with torch and "
        "numeric, gradcheck with finite differences in float64. Per case without process "
        f"start-up: check {_duration(per_case['check'])}, gradcheck fast_mode "
        f"{_duration(per_case['fast'])} ({per_case['fast'] / per_case['check']:.2f}x), "
        f"default {_duration(per_case['default'])} "
        f"({per_case['default'] / per_case['check']:.2f}x)"
    )
    return [
        Row(
            name=f"check --against torch,numeric vs gradcheck fast_mode ({cases} cases)",
            ours=ours,
            peer=f"gradcheck fast {_duration(medians['fast'])}",
            ratio=medians["fast"] / medians["check"],
            goal=1.0,
            goal_text=">= 1x",
            note=note,
        ),
        Row(
            name=f"check --against torch,numeric vs gradcheck default ({cases} cases)",
            ours=ours,
            peer=f"gradcheck {_duration(medians['default'])}",
            ratio=medians["default"] / medians["check"],
            goal=None,
            goal_text="about 4x",
            note=note,
        ),
    ]


WORKERS_GOAL = 1.6
"""check --workers 2 against --workers 1 on a 2-core machine."""


def workers_rows(measured: Mapping[str, Any]) -> list[Row]:
    medians = measured["median_wall_seconds"]
    workers = measured["workers"]
    one, several = medians["1"], medians[str(workers)]
    pairs = ", ".join(f"{pair:.2f}x" for pair in measured["pair_ratios"])
    return [
        Row(
            name=f"check --workers {workers} vs --workers 1 ({measured['cases']} cases)",
            ours=f"{workers} workers {_duration(several)}",
            peer=f"1 worker {_duration(one)}",
            ratio=measured["median_pair_ratio"],
            goal=WORKERS_GOAL,
            goal_text=f">= {WORKERS_GOAL:g}x on 2 cores",
            note=(
                f"whole processes against every available reference, the same {measured['cases']}"
                f" cases (seed {measured['seed']}), {measured['repeats']} pairs of runs in "
                f"turns; times are medians; the ratio is the median of the pairs' ratios "
                f"({pairs}; the medians' ratio is {one / several:.2f}x); "
                f"{measured['usable_cores']} usable cores; the verdict, counts and saved "
                "counterexample are the same" + _drawing_note(measured)
            ),
        )
    ]


def _drawing_note(measured: Mapping[str, Any]) -> str:
    """How many checker processes one drawing process keeps busy, estimated from this
    run: a case costs the single process its median time per case, of which the
    drawing is measured on its own; the rest is checking."""
    drawing = measured["drawing_seconds_per_case"]
    per_case = measured["median_wall_seconds"]["1"] / measured["cases"]
    return (
        f"; the drawing process spends {_duration(drawing)} per case and one process "
        f"{_duration(per_case)} per case in all, so on more cores one drawing process keeps "
        f"about {max(1.0, (per_case - drawing) / drawing):.0f} checker processes busy "
        "(an estimate; past that, shards on more machines)"
    )


def jax_rows(streams: Mapping[str, Any]) -> list[Row]:
    repeated = streams["repeated_architecture_seconds"]
    random_seconds = streams["random_stream_seconds"]
    return [
        Row(
            name=f"jax backend, repeated architecture ({_sizes_text(TINY)})",
            ours=f"jax {_duration(repeated)} per case",
            peer="limit 1 ms",
            ratio=1e-3 / repeated,
            goal=1.0,
            goal_text="< 1 ms per case",
        ),
        Row(
            name=f"jax backend, random stream ({streams['random_cases']} cases of check's stream)",
            ours=(
                f"padded {_duration(random_seconds)} per case "
                f"({streams['random_stream_compilations']} compilations)"
            ),
            peer=f"compiled per architecture {_duration(streams['per_architecture_seconds'])}",
            ratio=streams["per_architecture_seconds"] / random_seconds,
            goal=None,
            goal_text="reported",
            note=(
                f"warm (compiled): {_duration(streams['random_stream_warm_seconds'])} per case; "
                f"the torch backend on the same stream {_duration(streams['torch_seconds'])} "
                f"per case; jax.test_util.check_grads (eager) "
                f"{_duration(streams['check_grads_seconds'])} per case"
            ),
        ),
    ]


def stream_cost_rows(cost: Mapping[str, Any]) -> list[Row]:
    median, mean = cost["median_case_seconds"], cost["mean_case_seconds"]
    return [
        Row(
            name=f"check's default stream (dense and version 2) vs dense alone, per case "
            f"({cost['cases']} cases)",
            ours=f"default stream {_duration(median['default'])}",
            peer=f"limit 2 x dense {_duration(2 * median['dense'])}",
            ratio=2 * median["dense"] / median["default"],
            goal=1.0,
            goal_text="<= 2x the dense stream",
            note=(
                f"median of every case's seconds over {cost['repeats']} run(s) of each "
                f"(check, every reference, seed {cost['seed']}); means per case, with the "
                f"JAX reference's one-time compilations: default {_duration(mean['default'])}, "
                f"dense {_duration(mean['dense'])}"
            ),
        )
    ]


def scale_rows(scaled: Mapping[str, Any]) -> list[Row]:
    seconds = scaled["seconds"]
    steps = ", ".join(
        f"{name} {_duration(value)}" for name, value in seconds.items() if name != "fill_case"
    )
    verdict = "agree" if scaled["directional_agree"] else "DISAGREE"
    return [
        Row(
            name=f"scale: {scaled['parameters'] / 1e6:.1f}M float32 parameters, peak memory",
            ours=f"peak {_bytes(scaled['peak_rss_bytes'])}",
            peer=f"limit {_bytes(MEMORY_LIMIT)}",
            ratio=MEMORY_LIMIT / scaled["peak_rss_bytes"],
            goal=1.0,
            goal_text="<= 2 GB",
            note=f"{steps}; harness {scaled['harness_status']}, directional check {verdict}",
        )
    ]


# processes of their own ---------------------------------------------------------------
def _gradcheck_main(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    cases = stream_cases(args.cases, args.seed)
    generation = time.perf_counter() - started
    started = time.perf_counter()
    passed = gradcheck_cases(cases, fast_mode=args.mode == "fast")
    return {
        "mode": args.mode,
        "cases": len(cases),
        "passed": passed,
        "generation_seconds": generation,
        "gradcheck_seconds": time.perf_counter() - started,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m conformance.bench.measure gradcheck|scale ...``: one JSON line on stdout."""
    parser = argparse.ArgumentParser(prog="python -m conformance.bench.measure")
    roles = parser.add_subparsers(dest="role", required=True)
    gradcheck = roles.add_parser("gradcheck", help="gradcheck on the cases of a check run")
    gradcheck.add_argument("--cases", type=int, required=True)
    gradcheck.add_argument("--seed", type=int, required=True)
    gradcheck.add_argument("--mode", choices=["default", "fast"], required=True)
    scaled = roles.add_parser("scale", help="one large case through every step")
    scaled.add_argument("--parameters", type=int, default=SCALE_PARAMETERS)
    args = parser.parse_args(argv)
    if args.role == "gradcheck":
        import torch  # counted in the process's time, as a gradcheck user pays it

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
        print(json.dumps(_gradcheck_main(args)))
    else:
        print(json.dumps(scale(args.parameters)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
