"""``demo``: document 002's red/blue classification, trained with impl for several hidden widths.

Parses the options and calls :func:`conformance.training.demo.run_demo`, which trains
the networks and writes ``loss_curves.png``, ``decision_boundaries.png`` and
``summary.json`` to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance import exit_codes
from conformance.cli.options import positive_float, positive_int
from conformance.cli.options import seed as seed_option
from conformance.errors import BadInput
from conformance.outputs import OutputPathError, check_output_folder
from conformance.training.datasets import DATASET_NAMES
from conformance.training.demo import (
    DEFAULT_LR,
    DEMO_OPTIMIZERS,
    HIDDEN_ACTIVATIONS,
    MATPLOTLIB_HINT,
    MIN_POINTS,
    OUTPUT_FILES,
    OUTPUTS,
    DemoOptions,
    import_pyplot,
    run_demo,
)

DEFAULTS = DemoOptions()
"""The demo's defaults: one source, the options' dataclass."""


class UsageError(BadInput):
    """A bad demo option (exit code 2)."""

    def __init__(self, problem: str):
        super().__init__(f"demo: {problem}")


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected hidden widths as whole numbers separated by commas, such as 1,2,4,8; "
            f"found {text!r}"
        ) from None
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"every width must be a whole number >= 1, found {text!r}")
    return widths


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="train impl on red/blue points for several hidden widths; draw them, summarise",
        description="Document 002's red/blue classification: make points (no download), split "
        "them into train/dev/test, train 2 -> width -> 1 networks with impl for each hidden "
        "width, and write loss_curves.png, decision_boundaries.png and summary.json to --out.",
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the three files")
    parser.add_argument(
        "--seed",
        type=seed_option,
        default=DEFAULTS.seed,
        metavar="S",
        help=f"seed of the points and the starting weights (default {DEFAULTS.seed})",
    )
    parser.add_argument(
        "--widths",
        type=_widths,
        default=DEFAULTS.widths,
        metavar="W1,W2,...",
        help=f"hidden widths to train (default {','.join(map(str, DEFAULTS.widths))})",
    )
    parser.add_argument(
        "--activation",
        choices=HIDDEN_ACTIVATIONS,
        default=DEFAULTS.activation,
        help=f"hidden layer's activation (default {DEFAULTS.activation})",
    )
    parser.add_argument(
        "--dataset",
        choices=DATASET_NAMES,
        default=DEFAULTS.dataset,
        help=f"default {DEFAULTS.dataset}",
    )
    parser.add_argument(
        "--points",
        type=positive_int,
        default=DEFAULTS.points,
        help=f"how many points (default {DEFAULTS.points})",
    )
    parser.add_argument(
        "--output",
        choices=OUTPUTS,
        default=DEFAULTS.output,
        help=f"sigmoid: 1 output, bce; softmax: 2 logits, softmax cross-entropy (default "
        f"{DEFAULTS.output})",
    )
    parser.add_argument(
        "--optimizer",
        choices=DEMO_OPTIMIZERS,
        default=DEFAULTS.optimizer,
        help=f"impl's adam or sgd (default {DEFAULTS.optimizer})",
    )
    parser.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="learning rate (default "
        + ", ".join(f"{name} {rate:g}" for name, rate in DEFAULT_LR.items())
        + "; sgd's is document 002's)",
    )
    parser.add_argument(
        "--steps",
        type=positive_int,
        default=DEFAULTS.steps,
        help=f"full-batch steps per width (default {DEFAULTS.steps})",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite the three files if they exist"
    )
    parser.set_defaults(run=run)


def _check_out(out: Path, force: bool) -> None:
    """Refuse a folder that cannot be written, and existing output files unless --force."""
    check_output_folder(out, "--out")
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not force:
        raise UsageError(
            f"--out {str(out)!r} already holds {', '.join(existing)}; refusing to overwrite "
            "(pass --force to replace them, or choose another --out)"
        )


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.points < MIN_POINTS:
        raise UsageError(
            f"--points {args.points}: need at least {MIN_POINTS} to split into train, dev and test"
        )
    _check_out(out, args.force)
    try:
        plt = import_pyplot()
    except ImportError:
        raise UsageError(MATPLOTLIB_HINT) from None
    options = DemoOptions(
        dataset=args.dataset,
        points=args.points,
        seed=args.seed,
        widths=args.widths,
        activation=args.activation,
        output=args.output,
        optimizer=args.optimizer,
        lr=args.lr if args.lr is not None else DEFAULT_LR[args.optimizer],
        steps=args.steps,
    )
    try:
        run_demo(options, out, stream=sys.stdout, plt=plt)
    except OSError as error:  # checked before the run; a disk can still fill up
        raise OutputPathError(
            f"--out {str(out)!r}: writing the results failed ({error.strerror or error})"
        ) from None
    return exit_codes.OK
