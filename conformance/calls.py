"""One call of the implementation under test, guarded: what it was handed and what it did.

The references are trusted and run in the harness's own process; the implementation
under test is not. Wherever it runs (a worker process, :mod:`conformance.worker`, or
this process for a callable that cannot be sent there), every call goes through
:func:`call_guarded`, which

- hands it a private copy of the case whose every array is its own read-only copy,
  so that nothing it does can reach the references or the saved counterexample;
- turns anything it raises into an outcome. ``NotImplementedError`` is *unsupported*
  (docs/contract.md, section 'Unsupported cases'); any other exception, and
  ``BaseException`` too (``sys.exit``, a ``KeyboardInterrupt`` or ``GeneratorExit``
  raised by its own code), is an *error* naming the exception and the
  implementation's own file:line. A genuine Ctrl-C from the terminal is not the
  implementation's doing and still stops the run;
- checks afterwards that every array it was handed is unchanged: an implementation
  must not change its case (docs/contract.md, section 'Rules an implementation
  follows', rule 3), and one that makes an array writable again and writes into it
  is an error naming the array.

:class:`InProcess` runs a backend this way in this process, with no time limit;
:class:`Tested` is what the harness asks of the implementation under test, wherever
it runs.
"""

from __future__ import annotations

import os
import signal
import sysconfig
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from conformance.exit_codes import BROKE_CONTRACT, CRASHED
from conformance.interrupts import requested as stop_requested

Case = dict[str, Any]

OK = "ok"
UNSUPPORTED = "unsupported"
ERROR = "error"
NOT_COMPARABLE = "not comparable"

HISTORY_LIMIT = 256
"""How many of the latest cases handed to one process are remembered, so that a failure
that depends on what came before it can be replayed with what came before it."""

RULE_OF_THE_CASE = "docs/contract.md, section 'Rules an implementation follows'"


@dataclass
class Call:
    """What one call of the implementation under test gave.

    ``status`` is OK (``result`` holds what it returned), UNSUPPORTED or ERROR
    (``problem`` says why, in words; ``kind`` is CRASHED or BROKE_CONTRACT, from
    :mod:`conformance.exit_codes`). ``preceding`` holds the cases handed to the same
    process before this one (at most HISTORY_LIMIT, oldest first)."""

    status: str
    result: Any = None
    problem: str = ""
    timed_out: bool = False
    preceding: tuple[Case, ...] = ()
    kind: str = CRASHED


class Tested(Protocol):
    """The implementation under test as the harness calls it."""

    name: str
    isolation: str  # one line for headers and reports: where it runs, which time limit
    isolated: bool  # True when each call can be made in a fresh process

    def call(self, case: Case) -> Call:
        """Run it on ``case``; never raises for anything the implementation does."""
        ...

    def submit(self, case: Case) -> Callable[[], Call]:
        """Start it on ``case``; the function returned waits for the :class:`Call` (a
        worker computes while the harness does other work)."""
        ...

    def fresh(self) -> Tested:
        """A handle on a new process (the same handle when it runs in this process)."""
        ...

    def close(self) -> None:
        """Stop its process, if it has one."""
        ...


def case_arrays(case: Mapping[str, Any]) -> list[tuple[str, np.ndarray]]:
    """Every array of a case with its place: ``params[1].W``, ``inputs``, ... in order."""
    found: list[tuple[str, np.ndarray]] = []

    def walk(value: Any, place: str) -> None:
        # Only containers are walked into (a call per number would cost more than the check).
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        for key, item in items:
            if isinstance(item, np.ndarray):
                found.append((_place(place, key), item))
            elif isinstance(item, (dict, list, tuple)):
                walk(item, _place(place, key))

    walk(case, "")
    return found


def _place(parent: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def private_copy(case: Mapping[str, Any]) -> Case:
    """A copy of a case for one backend: its own dicts and lists, and its own read-only
    copy of every array, so that no backend can change what another one sees."""

    def copy(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            owned = np.array(value, copy=True)
            owned.setflags(write=False)
            return owned
        if isinstance(value, dict):
            return {key: copy(item) for key, item in value.items()}
        if isinstance(value, list):
            return [copy(item) for item in value]
        return value  # numbers and strings are immutable

    return copy(case)  # type: ignore[no-any-return]


def arrays_of(value: Any, found: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """The arrays of a case in :func:`case_arrays`'s order, without their places (cheaper:
    the places are needed only when one has changed)."""
    found = [] if found is None else found
    for item in value.values() if isinstance(value, Mapping) else value:
        if isinstance(item, np.ndarray):
            found.append(item)
        elif isinstance(item, (dict, list, tuple)):
            arrays_of(item, found)
    return found


def changed_arrays(handed: Sequence[np.ndarray], case: Mapping[str, Any]) -> list[str]:
    """The places of the arrays of ``case`` that differ (shape, dtype or bytes) from the
    arrays ``handed`` for it, in the same order."""
    original = case_arrays(case)
    return [
        place
        for seen, (place, before) in zip(handed, original, strict=True)
        if seen.shape != before.shape or seen.dtype != before.dtype or not _same_bytes(seen, before)
    ]


def _same_bytes(first: np.ndarray, second: np.ndarray) -> bool:
    if first.nbytes <= 1 << 16:
        return first.tobytes() == second.tobytes()  # the fastest way for a small array
    # a large one is compared in place (no copy of a 10-million-parameter case); as
    # numbers, so a sign of zero is the one change this does not see
    return bool(np.array_equal(first, second, equal_nan=True))


_HARNESS_FOLDER = os.path.dirname(os.path.realpath(__file__))
"""The harness's core modules (calls, worker, harness, api, ...): never the user's code.
Its subpackages (the mutation catalogue, the worked examples) hold implementations
under test, so their frames are kept."""

_LIBRARY_PREFIXES = tuple(
    {
        os.path.realpath(path)
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (path := sysconfig.get_paths().get(key))
    }
)


def _harness_frame(filename: str) -> bool:
    return filename.startswith("<") or (
        os.path.dirname(os.path.realpath(filename)) == _HARNESS_FOLDER
    )


def _own_frame(filename: str) -> bool:
    """A frame in the implementation's own code: not the harness, not the standard
    library or an installed package (numpy's internals say nothing about the bug)."""
    if _harness_frame(filename):
        return False
    return not os.path.realpath(filename).startswith(_LIBRARY_PREFIXES)


def _short(filename: str) -> str:
    try:
        return os.path.relpath(filename)
    except ValueError:  # another drive
        return filename


FRAMES_SHOWN = 3
"""How many of the deepest frames of the implementation's own code a message names."""


def describe_exception(error: BaseException) -> str:
    """``IndexError: list index out of range (at mynet.py:12 in backward, called from
    mynet.py:30 in gradients)``: the exception, then where it was raised in the
    implementation's own files, deepest first (up to FRAMES_SHOWN frames); failing
    those, where it entered an installed package.

    The one description of an exception raised by any backend, in every command and in
    the pytest plugin: a paragraph, never a traceback."""
    frames = traceback.extract_tb(error.__traceback__)
    own = [frame for frame in frames if _own_frame(frame.filename)]
    if not own:  # an installed package: say where it was entered at least
        own = [frame for frame in frames if not _harness_frame(frame.filename)][:1]
    where = ", called from ".join(
        f"{_short(frame.filename)}:{frame.lineno} in {frame.name}"
        for frame in reversed(own[-FRAMES_SHOWN:])
    )
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return text + (f" (at {where})" if where else "")


_STOPS_A_PROGRAM = (SystemExit, KeyboardInterrupt, GeneratorExit)

_terminal_interrupts = [0]
"""How many SIGINTs (Ctrl-C) this process has received while a guard was installed:
process-wide by nature, like the signal itself."""


@contextmanager
def _terminal_interrupts_counted() -> Iterator[None]:
    """Count SIGINTs while the implementation runs in this process, so that a
    KeyboardInterrupt it raises itself can be told from a Ctrl-C from the terminal."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: any KeyboardInterrupt here is raised
        return
    previous = signal.getsignal(signal.SIGINT)
    if not callable(previous) or getattr(previous, "counts_interrupts", False):
        yield  # ignored or default-terminating (nothing to tell apart), or already counted
        return

    def counted(signum: int, frame: Any) -> Any:
        _terminal_interrupts[0] += 1
        return previous(signum, frame)

    counted.counts_interrupts = True  # type: ignore[attr-defined]
    signal.signal(signal.SIGINT, counted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def call_guarded(function: Callable[[Case], Any], case: Mapping[str, Any]) -> Call:
    """Call ``function`` on a private read-only copy of ``case``; never raises for what the
    function does (a genuine Ctrl-C from the terminal excepted)."""
    handed = private_copy(case)
    seen = arrays_of(handed)  # the arrays as handed, whatever the call rebinds in its dict
    interrupts = _terminal_interrupts[0]
    try:
        with _terminal_interrupts_counted():
            call = Call(OK, function(handed))
    except NotImplementedError as error:
        call = Call(UNSUPPORTED, problem=str(error) or "raised NotImplementedError")
    except BaseException as error:  # noqa: BLE001 - anything it raises is its outcome
        if isinstance(error, KeyboardInterrupt) and (
            _terminal_interrupts[0] != interrupts or stop_requested()
        ):
            raise  # Ctrl-C from the terminal (or SIGTERM): the user stops the run
        problem = describe_exception(error)
        if isinstance(error, _STOPS_A_PROGRAM):
            problem += (
                "; an implementation returns a result or raises an Exception, never what "
                "stops a program"
            )
        call = Call(ERROR, problem=problem)
    unchanged = all(
        array.shape == before.shape and array.dtype == before.dtype and _same_bytes(array, before)
        for array, before in zip(seen, arrays_of(case), strict=True)
    )
    changed = [] if unchanged else changed_arrays(seen, case)
    if changed:
        call = Call(
            ERROR,
            kind=BROKE_CONTRACT,
            problem="it changed its case: "
            + ", ".join(f"{place} changed" for place in changed)
            + f" (the arrays it is handed are read-only; {RULE_OF_THE_CASE}, rule 3)",
        )
    return call


class InProcess:
    """A backend run as the implementation under test in this process: every call
    guarded, but with no time limit and no fresh process (``isolation`` says why)."""

    isolated = False

    def __init__(self, backend: Any, *, reason: str):
        self.name: str = backend.name
        self.backend = backend
        self.isolation = f"runs in this process ({reason}): the time limit is not enforced"
        self._history: deque[Case] = deque(maxlen=HISTORY_LIMIT)

    def call(self, case: Case) -> Call:
        preceding = tuple(self._history)
        self._history.append(case)
        call = call_guarded(self.backend.gradients, case)
        call.preceding = preceding
        return call

    def submit(self, case: Case) -> Callable[[], Call]:
        call = self.call(case)
        return lambda: call

    def fresh(self) -> InProcess:
        return self

    def close(self) -> None:
        pass
