"""The ``python -m conformance`` / ``backprop-conformance`` command line.

Each subcommand lives in its own module under :mod:`conformance.cli` and
exposes ``register(subparsers)``; this module only assembles them and turns the
errors a user can cause into a one-paragraph message and exit code 2 (or 3 for a
missing required backend), never a traceback.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import io
import os
import signal
import sys
import sysconfig
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from conformance import OWN_PACKAGES, bind_own_packages, exit_codes
from conformance.errors import BadInput, MissingBackend
from conformance.text import printable

COMMANDS = (
    "check",
    "replay",
    "regress",
    "merge-reports",
    "grad",
    "train-check",
    "demo",
    "worked",
    "mutants",
    "bench",
)
"""Subcommand modules in conformance/cli/, in the order --help lists them."""

EPILOG = "exit codes:\n" + "\n".join(
    f"  {code}  {text}" for code, text in exit_codes.DESCRIPTIONS.items()
)


def installed_version() -> str:
    """This project's version as installed (its package metadata)."""
    from importlib import metadata

    try:
        return metadata.version("backprop-conformance")
    except metadata.PackageNotFoundError:
        return "(not installed: run from a source folder)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description="Check hand-written backpropagation against PyTorch, JAX and numeric "
        "differentiation.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"backprop-conformance {installed_version()}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"conformance.cli.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see :mod:`conformance.exit_codes`).

    Callable in-process any number of times (the tests do): each call leaves the
    process as it found it (see :func:`process_state_restored`)."""
    try:
        with process_state_restored():
            return _run_command(argv)
    except KeyboardInterrupt:  # outside a run (a run stops itself and reports): no traceback
        print("interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED


def _run_command(argv: Sequence[str] | None) -> int:
    bind_own_packages()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error argparse has printed
        return stop.code if isinstance(stop.code, int) else exit_codes.OK
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded with a saved failure
    for stream in (sys.stdout, sys.stderr):
        # A character the terminal cannot encode is escaped, never a crash mid-report.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    _stop_on_sigterm()
    try:
        return int(args.run(args))
    except (BadInput, MissingBackend) as error:
        print(f"error: {printable(error)}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:
        return exit_codes.OK


def _stop_on_sigterm() -> None:
    """Make SIGTERM (what ``timeout``, a CI job's time limit or a process manager sends)
    stop a command as Ctrl-C does: the run so far is reported and its reports marked
    incomplete, temporary folders are removed and worker processes stopped, exit 130.
    By default SIGTERM ends the process at once and leaves them behind. Only the main
    thread can set a handler; :func:`process_state_restored` puts the previous one back."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")


_RESTORED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_LIBRARY_FOLDERS = tuple(
    str(Path(folder).resolve()) + os.sep
    for folder in {sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib")}
)
_PROJECT_PACKAGES = ("conformance", *OWN_PACKAGES)


def _is_users(name: str, module: object) -> bool:
    """Whether a module imported during a call is the user's (dropped afterwards), not the
    tool's own or an installed library's (kept: torch and jax cannot be imported twice)."""
    if name.split(".")[0] in _PROJECT_PACKAGES:
        return False
    file = getattr(module, "__file__", None)
    if not file:
        return name.startswith("_conformance_user_")
    return not str(Path(file).resolve()).startswith(_LIBRARY_FOLDERS)


@contextmanager
def process_state_restored() -> Iterator[None]:
    """Put back what a command changes in its process: sys.path (a user's folder), the
    user's modules (a second call with another file of the same name must import that
    one), SIGINT and SIGTERM handlers, the Hypothesis profile, the current folder, the
    environment, and the error mode of the standard streams."""
    from hypothesis import settings

    path = list(sys.path)
    modules = set(sys.modules)
    handlers = {number: signal.getsignal(number) for number in _RESTORED_SIGNALS}
    profile = settings.get_current_profile_name()
    folder = os.getcwd()
    environment = dict(os.environ)
    streams = [(stream, stream.errors) for stream in (sys.stdout, sys.stderr)]
    try:
        yield
    finally:
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if _is_users(name, sys.modules[name]):
                del sys.modules[name]
        for number, handler in handlers.items():
            # None: installed from C, which Python cannot set; and only the main thread can
            if handler is not None and threading.current_thread() is threading.main_thread():
                signal.signal(number, handler)
        settings.load_profile(profile)
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environment)
        for stream, errors in streams:
            if isinstance(stream, io.TextIOWrapper) and stream.errors != errors:
                stream.reconfigure(errors=errors)


def run() -> None:
    """Console-script entry point (and ``python -m conformance``).

    The process ends without the interpreter's teardown of the modules it loaded: after
    a run stopped mid-compilation (Ctrl-C, SIGTERM), tearing down JAX crashed the process
    with a segmentation fault (exit -11 instead of 130), and otherwise the teardown of
    torch and jax cost about 0.7 s of every command on this project's 2-core machine.
    What a normal exit does that matters is still done: the atexit handlers run (a
    library's or a coverage tool's) and the standard streams are flushed."""
    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that went away; a closed stream
            pass
    os._exit(code)
