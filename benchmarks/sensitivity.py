"""How small a gradient error each checker detects: the harness against each reference,
torch.autograd.gradcheck and jax.test_util.check_grads, on the same cases.

A correct result (impl's) has every gradient entry scaled by (1 + eps), the loss and
the outputs left alone: a uniform relative error, the kind a float64 case computed in
float32 or a slightly wrong constant leaves behind. For each case and each checker the
script finds the smallest eps on a grid of half-decades (1e-12, 3.2e-12, ..., 1e-1)
from which the checker reports a mismatch, and prints, per dtype, the eps detected on
half the cases (the median) and on every case (the largest), and how many cases each
checker already rejects at eps = 0 (false alarms). Cases whose gradient is 0 everywhere
(a dead relu output) are left out: no checker can see an error there.

- harness vs torch / jax / numeric: ``compare_results`` with the row the harness picks
  from the two results' provenance (conformance/tolerances.py), the numeric
  reference's own error estimates included, as ``check`` compares;
- gradcheck: ``torch.autograd.gradcheck`` with its defaults (eps 1e-6, atol 1e-5,
  rtol 1e-3) on the case's loss as a function of every W, b and the inputs, in the
  case's dtype (float32 inputs for a float32 case, as a float32 user would pass them);
  the error is put into autograd's backward (an identity whose gradient is scaled);
- check_grads: ``jax.test_util.check_grads(loss, args, order=1)`` with its defaults
  (modes fwd and rev, eps 1e-4, tolerance 1e-5 in float64 and 2e-3 in float32), the
  error put into the JVP of an identity (so into both modes).

Usage: ``python benchmarks/sensitivity.py [--seed S] [--cases N] [--json]`` (the first
N cases of ``check --seed S``; default 100, seed 0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

import impl  # noqa: E402
from conformance.audit import stream_sample  # noqa: E402
from conformance.compare import compare_results  # noqa: E402
from conformance.result import normalise_result  # noqa: E402
from conformance.tolerances import kind_for  # noqa: E402
from references import NonDifferentiableHere  # noqa: E402
from references.kinks import kink_dependence  # noqa: E402
from references.registry import REFERENCE_BACKENDS  # noqa: E402

GRID = [10.0 ** (exponent / 2) for exponent in range(-24, -1)]
"""eps from 1e-12 to 1e-1 in half-decades."""

Detector = Callable[[float], bool]
"""True when the checker reports a mismatch for the result scaled by (1 + eps)."""


def scaled(result: Mapping[str, Any], eps: float) -> dict[str, Any]:
    """``result`` with every gradient entry times (1 + eps), in the result's dtype."""
    factor = 1 + eps
    return {
        **result,
        "grads": [
            {k: (np.asarray(v) * factor).astype(np.asarray(v).dtype) for k, v in g.items()}
            for g in result["grads"]
        ],
        "input_grad": (np.asarray(result["input_grad"]) * factor).astype(
            np.asarray(result["input_grad"]).dtype
        ),
    }


def harness_detector(case: Mapping[str, Any], reference: str) -> Detector | None:
    """The harness's comparison of impl (scaled) against ``reference`` on ``case``."""
    backend = REFERENCE_BACKENDS[reference]
    try:
        with np.errstate(all="ignore"):
            evaluation = backend.evaluate(case)
    except NonDifferentiableHere:
        return None
    result = normalise_result(evaluation.result, case, reference)
    correct = normalise_result(impl.gradients(case), case, "impl")
    dependence = kink_dependence(case)
    kind = kind_for("exact", evaluation.provenance.method)

    def detects(eps: float) -> bool:
        comparison = compare_results(
            scaled(correct, eps),
            result,
            dtype=case["dtype"],
            kind=kind,
            tested_name="impl",
            reference_name=reference,
            reference_error=evaluation.provenance.error,
            excluded=dependence.masks() if dependence.any else None,
        )
        return not comparison.agrees

    return detects


def gradcheck_detector(case: Mapping[str, Any]) -> Detector:
    """torch.autograd.gradcheck (defaults) with the error in autograd's backward."""
    import torch

    from references.torch_backend import TorchBackend

    loss, tensors = TorchBackend().loss_function(case)

    def detects(eps: float) -> bool:
        class Scale(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                return x.view_as(x)

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                return grad * (1 + eps)

        def function(*inputs: Any) -> Any:
            return loss(*(Scale.apply(x) for x in inputs))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # float32 inputs: gradcheck warns, then checks
            passed = torch.autograd.gradcheck(function, tensors, raise_exception=False)
        return not passed

    return detects


def check_grads_detector(case: Mapping[str, Any]) -> Detector:
    """jax.test_util.check_grads (defaults, order 1) with the error in an identity's JVP."""
    import jax
    from jax.test_util import check_grads

    from references.jax_backend import JaxBackend

    loss, args = JaxBackend().loss_function(case)

    def detects(eps: float) -> bool:
        @jax.custom_jvp
        def identity(x: Any) -> Any:
            return x

        @identity.defjvp
        def identity_jvp(primals: Any, tangents: Any) -> Any:
            return primals[0], tangents[0] * (1 + eps)

        def function(weights: Any, biases: Any, x: Any) -> Any:
            scale = lambda arrays: tuple(identity(a) for a in arrays)  # noqa: E731
            return loss(scale(weights), scale(biases), identity(x))

        try:
            check_grads(function, args, order=1)
        except AssertionError:
            return True
        return False

    return detects


def threshold(detects: Detector) -> float | None:
    """The smallest eps of GRID detected, searching from the largest down while detected
    (detection grows with eps); None if even the largest is not detected."""
    if not detects(GRID[-1]):
        return None
    low, high = -1, len(GRID) - 1  # GRID[high] is detected; GRID[low] (if any) is not
    while high - low > 1:
        middle = (low + high) // 2
        if detects(GRID[middle]):
            high = middle
        else:
            low = middle
    return GRID[high]


def measure(cases: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per dtype and checker: the thresholds found, the false alarms at eps = 0, the time."""
    checkers: dict[str, Callable[[Mapping[str, Any]], Detector | None]] = {
        f"harness vs {name}": (lambda case, name=name: harness_detector(case, name))
        for name, backend in REFERENCE_BACKENDS.items()
        if backend.availability()[0]
    }
    if REFERENCE_BACKENDS["torch"].availability()[0]:
        checkers["torch gradcheck (defaults)"] = gradcheck_detector
    if REFERENCE_BACKENDS["jax"].availability()[0]:
        checkers["jax check_grads (defaults)"] = check_grads_detector
    found: dict[str, dict[str, Any]] = {}
    for dtype in ("float64", "float32"):
        of_dtype = [case for case in cases if case["dtype"] == dtype]
        # a gradient that is 0 everywhere (every relu of the output dead) shows no error
        chosen = [case for case in of_dtype if _has_gradient(case)]
        for name, make in checkers.items():
            started = time.perf_counter()
            thresholds, alarms, skipped = [], 0, 0
            for case in chosen:
                detects = make(case)
                if detects is None:
                    skipped += 1
                    continue
                if detects(0.0):
                    alarms += 1
                    continue
                thresholds.append(threshold(detects))
            found[f"{dtype} | {name}"] = {
                "dtype": dtype,
                "checker": name,
                "cases": len(chosen),
                "zero_gradient": len(of_dtype) - len(chosen),
                "false_alarms_at_0": alarms,
                "not_comparable": skipped,
                "undetected_at_0.1": sum(t is None for t in thresholds),
                "median": _median(thresholds),
                "every_case": _largest(thresholds),
                "seconds": round(time.perf_counter() - started, 2),
            }
    return found


def _has_gradient(case: Mapping[str, Any]) -> bool:
    result = impl.gradients(case)
    arrays = [g[k] for g in result["grads"] for k in ("W", "b")] + [result["input_grad"]]
    return any(np.any(np.asarray(array) != 0) for array in arrays)


def _median(values: list[float | None]) -> float | None:
    known = sorted(np.inf if value is None else value for value in values)
    if not known:
        return None
    middle = statistics.median_low(known)
    return None if middle == np.inf else float(middle)


def _largest(values: list[float | None]) -> float | None:
    if not values or any(value is None for value in values):
        return None
    return float(max(value for value in values if value is not None))


def _eps(value: float | None) -> str:
    return "not within 0.1" if value is None else f"{value:.1e}"


def table(found: Mapping[str, Mapping[str, Any]]) -> str:
    lines = [
        "| dtype | checker | detected on half the cases from | on every case from "
        "| false alarms at eps = 0 |",
        "|---|---|---|---|---|",
    ]
    for row in found.values():
        lines.append(
            f"| {row['dtype']} | {row['checker']} | {_eps(row['median'])} | "
            f"{_eps(row['every_case'])} | "
            f"{row['false_alarms_at_0']} of {row['cases'] - row['not_comparable']} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cases = stream_sample([args.seed], args.cases)
    found = measure(cases)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print(f"the first {len(cases)} cases of check --seed {args.seed}")
        print(table(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
