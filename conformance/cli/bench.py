"""``bench``: every performance goal measured side by side, as ratios in one run.

The measurements (:mod:`conformance.bench.measure`) run with BLAS and OpenMP threads pinned:
the variables must be set before numpy or torch is loaded, and this process has loaded
numpy already, so when they are not set as asked the command runs itself again in a
child process with them set (and every process it starts inherits them).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from conformance import exit_codes
from conformance.outputs import OutputPathError, check_output_folder

DEFAULT_OUT = "bench-output"

QUICK_SECONDS = 60
FULL_MINUTES = 10
"""How long a bench run takes on the 2-core machine of the README's table (its hint)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure impl, the harness and the references against torch, gradcheck and jax",
        description="Measure each performance goal as a ratio against its peer in one run on "
        "this machine: impl against torch autograd (tiny and large dense networks, a small "
        "CNN and an LSTM classifier), check against "
        "torch.autograd.gradcheck (fast_mode and default) on the same cases, the JAX backend "
        "on repeated and random architectures, and a 10-million-parameter case's time and "
        "peak memory. Prints a table (or JSON) and writes bench.json, bench.md and bench.png "
        "to --out.",
        epilog="exit codes: 0 measured (goals met or not: the table says), 2 bad usage, "
        "3 torch is not installed",
    )
    parser.add_argument("--json", action="store_true", help="print the JSON report, not the table")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a fast pass over every section, about {QUICK_SECONDS} s (fewer cases, a "
        "1M-parameter scale case): to see that it runs, not to measure",
    )
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"where bench.json, bench.md and bench.png go (default {DEFAULT_OUT}/; replaced)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="BLAS/OpenMP threads for numpy and torch (default 1: steady timings on a busy "
        "machine, and the same for every side)",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the case stream")
    parser.set_defaults(run=run)


def _pinned_environment(threads: int) -> dict[str, str] | None:
    """The environment with the thread variables set, or None if they already are."""
    from conformance.bench.measure import PIN_VARIABLES

    wanted = {variable: str(threads) for variable in PIN_VARIABLES}
    if all(os.environ.get(key) == value for key, value in wanted.items()):
        return None
    return {**os.environ, **wanted}


def _arguments(args: argparse.Namespace) -> list[str]:
    words = ["--out", args.out, "--threads", str(args.threads), "--seed", str(args.seed)]
    return words + (["--json"] if args.json else []) + (["--quick"] if args.quick else [])


def run(args: argparse.Namespace) -> int:
    if args.threads < 1:
        print(f"error: --threads: expected a number >= 1, found {args.threads}", file=sys.stderr)
        return exit_codes.BAD_INPUT
    check_output_folder(args.out, "--out")  # before minutes of measuring, not after
    environment = _pinned_environment(args.threads)
    if environment is not None:
        command = [sys.executable, "-m", "conformance", "bench", *_arguments(args)]
        return subprocess.run(command, env=environment, check=False).returncode
    return _measure(args)


def _measure(args: argparse.Namespace) -> int:
    from conformance.bench.measure import FULL, QUICK, run_bench
    from conformance.bench.report import (
        draw_chart,
        machine,
        machine_text,
        report_json,
        table,
        terminal_table,
    )

    try:
        import torch
    except ImportError:
        print(
            "error: bench needs torch: pip install 'backprop-conformance[torch]'", file=sys.stderr
        )
        return exit_codes.MISSING_BACKEND
    torch.set_num_threads(args.threads)
    try:
        import jax  # noqa: F401
    except ImportError:
        with_jax = False
        print("jax is not installed: the jax rows are skipped", file=sys.stderr)
    else:
        with_jax = True
    info = machine()
    print(
        f"measuring: a quick pass over every section, about {QUICK_SECONDS} s ..."
        if args.quick
        else f"measuring: every section in full, about {FULL_MINUTES} minutes (--quick: "
        f"about {QUICK_SECONDS} s) ...",
        file=sys.stderr,
    )

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    bench = run_bench(
        QUICK if args.quick else FULL, seed=args.seed, jax=with_jax, progress=progress
    )
    bench.settings.update(threads=args.threads, quick=args.quick)
    out = Path(args.out)
    report = report_json(bench, info)
    text = f"{machine_text(info)}\n\n{table(bench)}\n"
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.json").write_text(report + "\n", encoding="utf-8")
        (out / "bench.md").write_text(text, encoding="utf-8")
        skipped = draw_chart(bench, info, out / "bench.png")
    except OSError as error:  # checked before measuring; a disk can still fill up
        print(report, file=sys.stderr)  # the measurements are not lost
        raise OutputPathError(
            f"--out {str(out)!r}: writing the results failed ({error.strerror or error}); "
            "the JSON report is printed above"
        ) from None
    if args.json:
        print(report)
    else:
        print(f"{machine_text(info)}\n\n{terminal_table(bench)}\n")
        print(skipped or f"chart: {out / 'bench.png'}")
        print(f"JSON: {out / 'bench.json'}; table: {out / 'bench.md'}")
    if skipped and args.json:
        print(skipped, file=sys.stderr)
    return exit_codes.OK
