"""A Ctrl-C always stops a run, even when Python swallows its KeyboardInterrupt.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives. When
that is a garbage-collector callback, a ``__del__`` or a weakref callback, the exception
is printed as "Exception ignored in ..." and dropped, and the interrupted code carries
on. Hypothesis registers such a callback (it times garbage collection). Under pytest,
where each collection takes longer, 3 of 13 Ctrl-C tried mid-run on a 2,000-case
``assert_conforms`` were lost there: the test went on to the end and passed. On the
command line 1 of 30 was (exit 130, but with the ignored exception's traceback), and
SIGTERM, which the command line turns into the same exception
(:mod:`conformance.cli.main`), takes the same path.

While a run is :func:`watched`, each of those signals is also written down before it
raises as it did. :func:`conformance.harness.check_case` calls :func:`raise_if_requested`
before each case (a drawing process without cases of its own calls it in its loops),
so a lost exception is raised again there; and the watch raises it as it ends, so a run
asked to stop is an interrupted run even if it checked its last case meanwhile. The
lost exception is then not printed as "Exception ignored in ... Traceback ...
KeyboardInterrupt" (the command line promises no traceback for a Ctrl-C), nor turned
into a warning by pytest: it is not lost any more. Any other exception Python cannot
raise is reported as before.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

WATCHED = (signal.SIGINT, signal.SIGTERM)

_requested: list[str] = []  # the signals received during the watched run, by name


@contextmanager
def watched() -> Iterator[None]:
    """Watch a run for the signals of WATCHED that already stop it (those with a Python
    handler: Python's own for SIGINT, the command line's for SIGTERM); a signal that is
    ignored, or left to the system, stays so. Main thread only (elsewhere, nothing is
    watched); the handlers are put back after. KeyboardInterrupt as the block ends if a
    stop was asked for and its exception lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in WATCHED}
    _requested.clear()
    for number, handler in previous.items():
        if callable(handler):
            signal.signal(number, _recording(handler))
    previous_hook = sys.unraisablehook

    def unraisable(report: Any) -> None:
        if isinstance(report.exc_value, KeyboardInterrupt) and _requested:
            return  # a stop this run saw: raise_if_requested raises it again
        previous_hook(report)

    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        for number, handler in previous.items():
            if callable(handler):
                signal.signal(number, handler)
        if sys.unraisablehook is unraisable:  # unless someone has put their own since
            sys.unraisablehook = previous_hook
        lost = list(_requested)
        _requested.clear()
    if lost:  # the block ended as if no stop had been asked for
        raise KeyboardInterrupt(f"stopped by {lost[0]}")


def _recording(handler: Callable[[int, FrameType | None], Any]) -> Callable[..., Any]:
    def record_then_handle(number: int, frame: FrameType | None) -> Any:
        _requested.append(signal.Signals(number).name)
        return handler(number, frame)

    return record_then_handle


def requested() -> bool:
    """Whether the watched run has been asked to stop."""
    return bool(_requested)


def raise_if_requested() -> None:
    """KeyboardInterrupt if the watched run was asked to stop (again, if the first one was
    lost)."""
    if _requested:
        raise KeyboardInterrupt(f"stopped by {_requested[0]}")
