"""``train-check``: train one case for K steps with impl.optim and with torch.optim or
optax, and compare the parameters after every step.

The case is a random one from ``--seed`` (``conformance.strategies``) or a case file
(``--case``). Both runs take their gradients from impl's backprop at their own
parameters (see :mod:`conformance.training.trajectories` for why), so a difference is the update
rule's. A mismatch names the step, layer, parameter, index, both values, the errors
and the bound (exit 1) and, with ``--save-failures DIR``, saves the case at step 0
plus a sidecar JSON with the optimizer settings, which ``--case`` and
``--settings`` replay.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from conformance import exit_codes
from conformance.case import Case, case_to_json, load_case, save_case_unique, validate_case
from conformance.cli.options import add_case_limit_option, finite_float, positive_int
from conformance.cli.options import seed as seed_option
from conformance.errors import BadInput, MissingBackend
from conformance.jsonfiles import JsonFileError, read_json
from conformance.outputs import check_output_folder, create_file, print_unsaved_case
from conformance.text import printable
from conformance.tolerances import tolerance_for
from conformance.training.trajectories import (
    DEFAULT_LEARNING_RATES,
    OPTIMIZER_NAMES,
    REFERENCE_NAMES,
    SETTINGS_FORMAT,
    OptimizerSettings,
    TrajectoryComparison,
    compare_trajectories,
    first_non_finite_step,
    impl_trajectory,
    reference_availability,
    reference_trajectory,
)
from contract import DTYPES

REFERENCE_LABELS = {"torch": "torch.optim", "jax": "optax"}
SIDECAR_KEYS = (
    "format",
    "case",
    "optimizer",
    "steps",
    "against",
    "seed",
    "first_failing_step",
    "impl",
    "replay",
)


def _betas(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(
            f"expected two numbers B1,B2 such as 0.9,0.999, found {text!r}"
        )
    first, second = (finite_float(part.strip()) for part in parts)
    return first, second


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-check",
        help="train a case for K steps with impl.optim and torch.optim/optax; compare every step",
        description="Train the same case for K steps with impl's optimizer and with "
        "torch.optim (--against torch) or optax (--against jax), and compare the parameters "
        "after every step within the tolerance table (float32/float64 'training'). Both runs "
        "get their gradients from impl's backprop at their own parameters, so a difference "
        "is the update rule's. Weight decay is the documents' L2 and applies to W only. "
        "Keep K in the hundreds at most: Adam near an equilibrium amplifies rounding.",
    )
    parser.add_argument(
        "--optimizer",
        choices=OPTIMIZER_NAMES,
        help="sgd (plain gradient descent), momentum (SGD with momentum) or adam; "
        "required unless --settings gives it",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        metavar="K",
        help="optimizer steps (default 20, or the --settings file's)",
    )
    parser.add_argument(
        "--against",
        choices=REFERENCE_NAMES,
        default="torch",
        help="torch (torch.optim, default) or jax (optax)",
    )
    parser.add_argument(
        "--seed",
        type=seed_option,
        default=0,
        metavar="S",
        help="seed of the random case (default 0); printed in the header",
    )
    parser.add_argument(
        "--lr",
        type=finite_float,
        default=None,
        help="learning rate (default: "
        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LEARNING_RATES.items())
        + ")",
    )
    parser.add_argument(
        "--momentum",
        type=finite_float,
        default=0.9,
        help="momentum of --optimizer momentum (default 0.9)",
    )
    parser.add_argument(
        "--betas",
        type=_betas,
        default=(0.9, 0.999),
        metavar="B1,B2",
        help="Adam's betas (default 0.9,0.999)",
    )
    parser.add_argument("--eps", type=finite_float, default=1e-8, help="Adam's eps (default 1e-8)")
    parser.add_argument(
        "--weight-decay",
        type=finite_float,
        default=0.0,
        metavar="WD",
        help="coupled L2 on the weights W (not the biases), default 0",
    )
    parser.add_argument(
        "--dtype",
        choices=tuple(DTYPES),
        default=None,
        help="float64 (default) or float32; with --case, the case's own",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        metavar="N",
        help="samples in the random case (default 8)",
    )
    parser.add_argument(
        "--case", metavar="FILE", help="train this case file instead of a random one"
    )
    parser.add_argument(
        "--settings",
        metavar="FILE",
        help="optimizer settings from a sidecar file saved by --save-failures",
    )
    parser.add_argument(
        "--impl",
        metavar="MODULE:CALLABLE",
        help="check your own optimizer: a callable taking the settings dict (name, lr, "
        "momentum, betas, eps, weight_decay) and returning an object with init(params) and "
        "step(params, grads, state) -> (params, state), as impl.optim's (default: impl.optim)",
    )
    parser.add_argument(
        "--save-failures",
        metavar="DIR",
        help="on a mismatch, save the case (step 0) and its optimizer settings here",
    )
    add_case_limit_option(parser)
    parser.set_defaults(run=run)


class UsageError(BadInput):
    """A bad option or settings file (exit code 2)."""

    def __init__(self, problem: str):
        super().__init__(f"train-check: {problem}")


def _read_settings(path: str, max_bytes: int) -> dict[str, Any]:
    try:
        data = read_json(path, max_bytes=max_bytes)
    except JsonFileError as error:
        raise UsageError(f"--settings {path!r}: {error.problem}") from None
    if not isinstance(data, dict) or data.get("format") != SETTINGS_FORMAT:
        raise UsageError(
            f"--settings {path!r}: expected a JSON object with format {SETTINGS_FORMAT!r}"
        )
    unknown = sorted(set(data) - set(SIDECAR_KEYS))
    if unknown:
        raise UsageError(
            f"--settings {path!r}: unknown keys {unknown}; allowed: {', '.join(SIDECAR_KEYS)}"
        )
    if not isinstance(data.get("optimizer"), dict):
        raise UsageError(f"--settings {path!r}: missing the 'optimizer' object")
    return data


def _settings(args: argparse.Namespace) -> tuple[OptimizerSettings, int]:
    """The optimizer settings and step count from the options (or a --settings file)."""
    steps = args.steps
    try:
        if args.settings:
            sidecar = _read_settings(args.settings, args.max_case_bytes)
            settings = OptimizerSettings.from_json(sidecar["optimizer"])
            if steps is None:
                steps = sidecar.get("steps", 20)
                if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
                    raise UsageError(
                        f"--settings {args.settings!r}: 'steps' must be a whole number >= 1, "
                        f"found {steps!r}"
                    )
        else:
            if args.optimizer is None:
                raise UsageError(
                    "--optimizer is required (sgd, momentum or adam) unless --settings is given"
                )
            settings = OptimizerSettings(
                args.optimizer,
                lr=args.lr if args.lr is not None else DEFAULT_LEARNING_RATES[args.optimizer],
                momentum=args.momentum,
                betas=args.betas,
                eps=args.eps,
                weight_decay=args.weight_decay,
            )
    except BadInput:
        raise
    except (TypeError, ValueError) as error:
        source = f"--settings {args.settings!r}: " if args.settings else ""
        raise UsageError(f"{source}{error}") from None
    return settings, steps if steps is not None else 20


def _case(args: argparse.Namespace) -> Case:
    if args.case:
        case = load_case(args.case, max_bytes=args.max_case_bytes)
        if args.dtype and args.dtype != case["dtype"]:
            case = validate_case({**case, "dtype": args.dtype}, source=args.case)
        return case
    from conformance.generators import fill_case, seeded_architecture

    random_case = fill_case(
        seeded_architecture(args.seed),
        seed=args.seed,
        batch_size=args.batch_size,
        dtype=args.dtype or "float64",
    )
    if random_case is None:
        raise UsageError(
            f"seed {args.seed} gives no well-conditioned random case (every draw saturated a "
            "probability output); try another --seed"
        )
    return random_case


def _describe_case(case: Case) -> str:
    widths = [case["layers"][0]["in"]] + [layer["out"] for layer in case["layers"]]
    activations = ", ".join(layer["activation"] for layer in case["layers"])
    loss = case["loss"]
    return (
        f"{printable(case.get('name', '(unnamed case)'))}: {len(case['layers'])} layer(s) "
        f"{'-'.join(map(str, widths))} ({activations}), loss {loss['name']} ({loss['reduction']}), "
        f"l2 {case['l2']:g}, {case['inputs'].shape[0]} sample(s)"
    )


def _replay_command(case_path: Path, sidecar_path: Path, args: argparse.Namespace) -> str:
    command = (
        f"python -m conformance train-check --case {case_path} --settings {sidecar_path} "
        f"--against {args.against}"
    )
    return command + (f" --impl {args.impl}" if args.impl else "")


def _save_failure(
    directory: str,
    case: Case,
    args: argparse.Namespace,
    settings: OptimizerSettings,
    steps: int,
    comparison: TrajectoryComparison,
) -> tuple[Path, Path]:
    failure = comparison.first_failure
    stem = (
        f"train-{settings.name}-{args.against}-seed{args.seed}"
        if not args.case
        else (f"train-{settings.name}-{args.against}-{Path(args.case).stem}")
    )
    case_path = save_case_unique(case, directory, stem)
    sidecar_path = case_path.with_name(case_path.stem + ".optimizer.json")
    sidecar = {
        "format": SETTINGS_FORMAT,
        "case": case_path.name,
        "optimizer": settings.to_json(),
        "steps": steps,
        "against": args.against,
        "seed": args.seed,
        "first_failing_step": failure.step if failure else None,
        "impl": args.impl or "impl.optim",
        "replay": _replay_command(case_path, sidecar_path, args),
    }
    try:
        create_file(sidecar_path, json.dumps(sidecar, indent=2) + "\n")  # never overwrite
    except BaseException:
        case_path.unlink(missing_ok=True)  # the case and its settings, or neither
        raise
    return case_path, sidecar_path


def _tested_optimizer(spec: str | None, settings: OptimizerSettings) -> tuple[str, Any]:
    """("impl", impl.optim's optimizer), or a user's from ``MODULE:CALLABLE`` and the settings."""
    if not spec:
        return "impl", settings.impl()
    from conformance.backends import BackendError, load_callable

    factory = load_callable(spec)
    optimizer = factory(settings.to_json())
    if not (
        callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "step", None))
    ):
        raise BackendError(
            f"--impl {spec!r} returned {type(optimizer).__name__}, which has no init(params) and "
            "step(params, grads, state) methods (see impl.optim)"
        )
    return spec, optimizer


def run(args: argparse.Namespace) -> int:

    settings, steps = _settings(args)
    if args.save_failures:
        check_output_folder(args.save_failures, "--save-failures")
    case = _case(args)
    available, reason = reference_availability(args.against)
    if not available:
        raise MissingBackend(f"train-check --against {args.against} cannot run here: {reason}")
    tested_name, optimizer = _tested_optimizer(args.impl, settings)

    reference_name = REFERENCE_LABELS[args.against]
    tolerance = tolerance_for(case["dtype"], "training")
    seed_text = f"seed {args.seed}" if not args.case else f"case file {printable(args.case)}"
    print(f"train-check  {seed_text}  {printable(args.impl or 'impl.optim')} vs {reason}")
    print(f"optimizer: {settings.describe()}   steps: {steps}   dtype: {case['dtype']}")
    print(f"case: {_describe_case(case)}")
    print(
        f"tolerance: {case['dtype']} training: rtol {tolerance.rtol:g}, atol {tolerance.atol:g}, "
        f"scale_rtol {tolerance.scale_rtol:g}"
    )
    print()

    tested = impl_trajectory(case, optimizer, steps)
    reference = reference_trajectory(case, args.against, settings, steps)
    comparison = compare_trajectories(
        tested,
        reference,
        dtype=case["dtype"],
        tested_name=tested_name,
        reference_name=reference_name,
    )
    diverged = first_non_finite_step(tested)
    if diverged is not None:
        print(
            f"note: {tested_name}'s parameters are not finite from step {diverged} on (training "
            "diverged; a smaller --lr keeps it finite); NaN is compared as agreeing with NaN"
        )
    if comparison.agrees:
        worst = comparison.worst
        where = ""
        if worst is not None:
            step = next(s.step for s in comparison.steps if s.worst is worst)
            where = (
                f"; worst abs error {worst.abs_error:.3g} at step {step}, {worst.place}, "
                f"{worst.ratio:.2g} of its bound"
            )
        print(f"steps 1-{steps}: {tested_name} and {reference_name} agree{where}")
        return exit_codes.OK

    failure = comparison.first_failure
    assert failure is not None
    if failure.step > 1:
        print(f"steps 1-{failure.step - 1}: agree")
    print("\n".join(comparison.describe_failure()))
    if args.save_failures:
        try:
            case_path, sidecar_path = _save_failure(
                args.save_failures, case, args, settings, steps, comparison
            )
        except (OSError, BadInput) as error:  # checked before the run; the disk may fill
            print_unsaved_case(case_to_json(case), args.save_failures, error)
            print(f"its optimizer: {settings.describe()}, {steps} steps", file=sys.stderr)
            return exit_codes.MISMATCH
        print(
            f"saved the case at step 0 to {printable(case_path)} and its optimizer settings "
            f"to {printable(sidecar_path)}"
        )
        print(f"replay: {printable(_replay_command(case_path, sidecar_path, args))}")
    return exit_codes.MISMATCH
