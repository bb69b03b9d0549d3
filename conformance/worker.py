"""The implementation under test in a worker process that the harness can kill.

An implementation can hang, exit, crash the interpreter or leave state behind;
the verdict must survive all of it. So the harness runs it (and only it: the
references are trusted and stay in the harness's process) in a long-lived worker,
``python -m conformance.worker``, started once per run and fed one case at a time:

- **Start.** :class:`Worker` starts the process at once (its imports overlap the
  harness's own) and waits for it only on first use. The worker receives the spec
  (``module:callable``, ``impl`` or a reference name) and the harness's
  ``sys.path``, imports the callable and answers ``{"ready": True}`` or the reason it
  cannot (a :class:`~conformance.backends.BackendError`: exit code 2).
- **Each case.** The harness sends the case; the worker runs it through
  :func:`conformance.calls.call_guarded` (a private read-only copy, every exception
  caught, the case checked unchanged afterwards) and answers
  ``{"status", "problem", "result"}``, the result reduced to dicts, lists, numbers
  and numpy arrays of numbers.
- **Framing.** Each message is pickled (protocol 5) behind an 8-byte length, on a
  pipe of its own: the worker's stdout and stderr are the harness's stderr, so what
  the implementation prints can never reach what the harness writes on stdout.
  The harness reads replies with a restricted unpickler that builds only plain
  containers, numbers and numpy arrays: a reply cannot run code in the harness.
- **Time limit.** A case that gets no reply within ``timeout`` seconds (0: none) is
  an error outcome; the worker is killed. A worker that dies (``os._exit``, a
  segfault, a closed pipe) is an error outcome too, with its exit code or signal.
  Either way the next case gets a fresh worker.
- **Signals.** The worker ignores SIGINT: a Ctrl-C reaches the whole process group,
  and the harness decides (it stops the run and kills the worker). A worker whose
  harness has gone away exits on its own within a second.

``Worker.fresh()`` gives a handle on a new process: the harness uses it to replay a
failing case alone, and after other cases, before it saves the failure.
"""

from __future__ import annotations

import io
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from conformance import bind_own_packages

bind_own_packages()  # the worker starts in the user's folder: their files must not shadow ours

from conformance.backends import BackendError  # noqa: E402
from conformance.calls import (  # noqa: E402
    ERROR,
    HISTORY_LIMIT,
    OK,
    UNSUPPORTED,
    Call,
    Case,
    call_guarded,
)
from conformance.exit_codes import BROKE_CONTRACT, CRASHED  # noqa: E402

_LENGTH = struct.Struct("<Q")
_PROTOCOL = 5
STARTUP_SECONDS = 60.0
"""The longest a worker may take to import the implementation (torch alone takes a few
seconds), whatever the per-case limit."""


# --- framing -------------------------------------------------------------------------


def _write(fd: int, data: bytes, deadline: float | None) -> None:
    view = memoryview(data)
    while view:
        _wait(fd, deadline, writing=True)
        written = os.write(fd, view)
        view = view[written:]


def _read(fd: int, count: int, deadline: float | None) -> bytes:
    chunks = []
    while count:
        _wait(fd, deadline, writing=False)
        chunk = os.read(fd, min(count, 1 << 20))
        if not chunk:
            raise EOFError("its pipe was closed")
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _wait(fd: int, deadline: float | None, *, writing: bool) -> None:
    """Until ``fd`` is ready, or TimeoutError at ``deadline`` (None: no deadline). Past the
    deadline it still looks once: a reply that came while the harness was busy counts."""
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    readable, writable, _ = select.select(
        [] if writing else [fd], [fd] if writing else [], [], remaining
    )
    if not (readable or writable):
        raise TimeoutError


def send(fd: int, message: Any, deadline: float | None = None) -> int:
    """Send ``message``; the size of its payload in bytes."""
    payload = pickle.dumps(message, protocol=_PROTOCOL)
    _write(fd, _LENGTH.pack(len(payload)) + payload, deadline)
    return len(payload)


REPLY_MIN_BYTES = 256 << 20
REPLY_PER_CASE_BYTE = 64
"""The largest reply the harness reads: 64 bytes per byte of its case, and at least 256
MiB. A result holds arrays the size of the case's outputs, parameters and inputs
(about the size of the case), plus whatever extra keys an implementation adds (its
activations, say: a few times more); a reply far beyond that is not a result, and
reading it could exhaust the harness's memory."""


class ReplyTooLarge(Exception):
    """A reply announced more bytes than the harness reads."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"{size} bytes, more than the {limit} a reply may have")
        self.size, self.limit = size, limit


BODY_SECONDS = 10.0
"""Once a reply has begun (its worker has finished the case), how long the rest may take."""


def receive_bytes(fd: int, deadline: float | None = None, limit: int | None = None) -> bytes:
    """One message's bytes; ReplyTooLarge, before reading them, if it has over ``limit``."""
    (length,) = _LENGTH.unpack(_read(fd, _LENGTH.size, deadline))
    if limit is not None and length > limit:
        raise ReplyTooLarge(length, limit)
    if deadline is not None:
        deadline = max(deadline, time.monotonic() + BODY_SECONDS)
    return _read(fd, length, deadline)


_SAFE_GLOBALS = frozenset(
    {
        ("numpy", "dtype"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
        ("builtins", "complex"),
    }
)


class _RepliesOnly(pickle.Unpickler):
    """Builds plain containers, numbers, strings and numpy arrays of numbers, nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"a reply may not hold {module}.{name}")
        return super().find_class(module, name)


def read_reply(data: bytes) -> Any:
    return _RepliesOnly(io.BytesIO(data)).load()


# --- the worker process -----------------------------------------------------------


def sendable(value: Any, depth: int = 0) -> Any:
    """``value`` reduced to what a reply may hold: dicts, lists, tuples, Python and numpy
    numbers, numpy arrays of numbers; anything else (a tensor) through ``np.asarray``,
    and what still is not numbers becomes a string that names its type, which the
    harness then reports as not an array of numbers."""
    if depth > 16:
        return f"<{type(value).__name__} nested too deep>"
    if isinstance(value, np.generic):
        return value if value.dtype.kind in "biufc" else f"<{type(value).__name__} object>"
    if isinstance(value, np.ndarray):
        array = _contiguous(value)
        return array if array.dtype.kind in "biufc" else f"<array of {array.dtype}>"
    if isinstance(value, Mapping):
        return {
            key if type(key) in (str, int) else str(key): sendable(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        items = [sendable(item, depth + 1) for item in value]
        return items if isinstance(value, list) else tuple(items)
    if value is None or type(value) in (bool, int, float, complex, str):
        return value
    plain_types: tuple[type, ...] = (bool, int, float, complex, str)
    for plain in plain_types:  # a subclass of one: send the plain value
        if isinstance(value, plain):
            return plain(value)
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - whatever it is, it is not numbers
        return f"<{type(value).__name__} object>"
    if array.dtype.kind not in "biufc":
        return f"<{type(value).__name__} object>"
    return _contiguous(array)


def _contiguous(array: np.ndarray) -> np.ndarray:
    """``array`` in C order, so that it pickles as one buffer (a strided view, a
    transpose, would need a reconstructor the harness does not accept), with its shape:
    ``np.ascontiguousarray`` would make a 0-d loss a 1-element vector."""
    return array if array.flags.c_contiguous else array.copy(order="C")


def _exit_with_the_harness() -> None:
    """Exit when the harness that started this worker has gone (even mid-call)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="harness-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    """The worker: ``python -m conformance.worker READ_FD WRITE_FD``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's to handle
    from_harness, to_harness = (int(text) for text in (argv or sys.argv[1:])[:2])
    _exit_with_the_harness()
    hello = pickle.loads(receive_bytes(from_harness))
    sys.path[:] = hello["sys_path"]
    try:
        from conformance.backends import resolve_backend

        function = resolve_backend(hello["spec"]).gradients
    except BaseException as error:  # noqa: BLE001 - its module may even call sys.exit
        from conformance.calls import describe_exception
        from conformance.errors import BadInput

        problem = str(error) if isinstance(error, BadInput) else describe_exception(error)
        send(to_harness, {"ready": False, "problem": problem})
        return 0
    try:
        send(to_harness, {"ready": True})
        while True:
            case = pickle.loads(receive_bytes(from_harness))
            call = call_guarded(function, case)
            result = sendable(call.result) if call.status == OK else None
            reply = {"status": call.status, "problem": call.problem, "kind": call.kind}
            send(to_harness, {**reply, "result": result})
    except EOFError:
        return 0  # the harness is done
    except OSError:
        return 1  # the implementation closed the pipes: the harness reports it


# --- the harness's side -------------------------------------------------------------


class WorkerStartError(BackendError):
    """A worker that could not import the implementation, or did not start in time
    (exit code 2 when it happens at the start of a run)."""


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "it did not exit"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _spec_name(spec: str) -> str:
    from conformance.defaults import IMPL_SPEC

    return "impl" if spec in ("impl", IMPL_SPEC) else spec


class Worker:
    """The implementation ``spec`` in a worker process, one case at a time (see the module
    docstring). Satisfies :class:`conformance.calls.Tested`."""

    isolated = True

    def __init__(self, spec: str, *, timeout: float, name: str | None = None):
        self.spec = spec
        self.name = name or _spec_name(spec)
        self.timeout = timeout
        limit = (
            f"a time limit of {timeout:g} s per case" if timeout else "no time limit (--timeout 0)"
        )
        self.isolation = f"runs in a worker process with {limit}"
        self._process: subprocess.Popen[bytes] | None = None
        self._to_worker = self._from_worker = -1
        self._ready = False
        self._busy = False
        self._history: deque[Case] = deque(maxlen=HISTORY_LIMIT)
        self._start()

    # life cycle

    def _start(self) -> None:
        # its prints reach stderr at once, even if it is killed
        self._process, to_worker, from_worker = spawn_module(
            "conformance.worker", {"PYTHONUNBUFFERED": "1"}
        )
        os.set_blocking(to_worker, False)
        self._to_worker, self._from_worker = to_worker, from_worker
        self._ready = False
        self._busy = False
        self._history = deque(maxlen=HISTORY_LIMIT)
        send(self._to_worker, {"spec": self.spec, "sys_path": list(sys.path)})

    def wait_ready(self) -> None:
        """Wait until the worker has imported the implementation; WorkerStartError if it
        cannot (its message says why) or takes longer than STARTUP_SECONDS."""
        if self._ready:
            return
        if self._process is None:
            self._start()
        limit = max(self.timeout, STARTUP_SECONDS) if self.timeout else None
        deadline = time.monotonic() + limit if limit else None
        try:
            hello = read_reply(receive_bytes(self._from_worker, deadline))
        except TimeoutError:
            self._kill()
            raise WorkerStartError(
                f"{self.spec!r}: importing it in a worker process did not finish within {limit:g} s"
            ) from None
        except (EOFError, OSError, pickle.UnpicklingError, struct.error) as error:
            code = self._reap()
            raise WorkerStartError(
                f"{self.spec!r}: the worker process ended while importing it "
                f"({_describe_exit(code)}; {error})"
            ) from None
        if not isinstance(hello, dict) or not hello.get("ready"):
            problem = hello.get("problem") if isinstance(hello, dict) else repr(hello)
            self._reap()
            raise WorkerStartError(str(problem))
        self._ready = True

    def fresh(self) -> Worker:
        return Worker(self.spec, timeout=self.timeout, name=self.name)

    def close(self) -> None:
        """Stop the worker: let an idle one exit by itself (its output flushed), kill a
        busy one (a Ctrl-C can stop the harness mid-call)."""
        if self._process is None:
            return
        if self._busy:
            self._kill()
            return
        self._close_pipes()
        try:
            self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _close_pipes(self) -> None:
        for fd in (self._to_worker, self._from_worker):
            if fd >= 0:
                os.close(fd)
        self._to_worker = self._from_worker = -1
        # the next call starts a new worker (wait_ready), not one that is gone
        self._ready = self._busy = False

    def _kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        self._close_pipes()

    def _reap(self) -> int | None:
        """The exit code of a worker whose pipe closed (killing it if it lingers)."""
        code = None
        if self._process is not None:
            try:
                code = self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        self._close_pipes()
        return code

    # calls

    def call(self, case: Case) -> Call:
        return self.submit(case)()

    def submit(self, case: Case) -> Callable[[], Call]:
        """Send ``case``; the function returned waits for the reply (or the deadline)."""
        try:
            self.wait_ready()
        except WorkerStartError as error:
            failed = Call(ERROR, problem=f"its worker process could not be started again: {error}")
            return lambda: failed
        preceding = tuple(self._history)
        self._history.append(case)
        deadline = time.monotonic() + self.timeout if self.timeout else None
        self._busy = True
        try:
            size = send(self._to_worker, case, deadline)
        except (TimeoutError, OSError) as error:
            lost = self._lost(error, preceding)
            return lambda: lost
        limit = max(REPLY_MIN_BYTES, REPLY_PER_CASE_BYTE * size)
        return lambda: self._receive(deadline, preceding, limit)

    def _receive(self, deadline: float | None, preceding: tuple[Case, ...], limit: int) -> Call:
        try:
            data = receive_bytes(self._from_worker, deadline, limit)
        except ReplyTooLarge as error:
            self._kill()
            return Call(
                ERROR,
                problem=f"its result is too large to be a result of this case ({error}: "
                f"{REPLY_PER_CASE_BYTE} times the case, at least {REPLY_MIN_BYTES >> 20} MiB); "
                "a result holds the case's loss, outputs and gradients",
                preceding=preceding,
                kind=BROKE_CONTRACT,
            )
        except (TimeoutError, EOFError, OSError, struct.error) as error:
            return self._lost(error, preceding)
        self._busy = False
        try:
            reply = read_reply(data)
        except Exception as error:  # noqa: BLE001 - whatever it sent, it is not a reply
            reply = error
        if not (
            isinstance(reply, dict)
            and reply.get("status") in (OK, UNSUPPORTED, ERROR)
            and isinstance(reply.get("problem"), str)
        ):
            self._kill()
            return Call(
                ERROR,
                problem=f"its worker process sent a reply that cannot be read ({reply!r:.200})",
                preceding=preceding,
            )
        kind = BROKE_CONTRACT if reply.get("kind") == BROKE_CONTRACT else CRASHED
        return Call(
            reply["status"], reply.get("result"), reply["problem"], preceding=preceding, kind=kind
        )

    def _lost(self, error: BaseException, preceding: tuple[Case, ...]) -> Call:
        """The call's outcome when the worker gave no reply: timed out (killed) or gone."""
        if isinstance(error, TimeoutError):
            self._kill()
            return Call(
                ERROR,
                problem=f"timed out: no result within {self.timeout:g} s (--timeout); its "
                "worker process was killed",
                timed_out=True,
                preceding=preceding,
            )
        code = self._reap()
        return Call(
            ERROR,
            problem=f"its worker process ended during the call ({_describe_exit(code)}; "
            f"{error}): an implementation returns a result or raises an error, it never exits",
            preceding=preceding,
        )


def spawn_module(
    module: str, environment: Mapping[str, str]
) -> tuple[subprocess.Popen[bytes], int, int]:
    """``python -m MODULE TO_READ FROM_WRITE``: a child process that reads messages from
    one pipe and answers on another (see :func:`send`, :func:`receive_bytes`), with this
    checkout's packages first on its path, ``environment`` added to this process's, and
    its stdout on the harness's stderr (stdout is for the harness's report). Returns the
    process, the end to send on and the end to receive from."""
    process, [(to_child, from_child)] = spawn_module_channels(module, environment, 1)
    return process, to_child, from_child


def spawn_module_channels(
    module: str, environment: Mapping[str, str], count: int
) -> tuple[subprocess.Popen[bytes], list[tuple[int, int]]]:
    """:func:`spawn_module` with ``count`` pairs of pipes, ``python -m MODULE TO_READ
    FROM_WRITE ...`` (a pair for each process the child will fork, say). Returns the
    process and, for each pair, the end to send on and the end to receive from."""
    ours: list[int] = []  # for each pair: the end to send on, the end to receive from
    theirs: list[int] = []  # for each pair: the end the child reads, the end it writes
    try:
        for _ in range(count):
            child_reads, to_child = os.pipe()
            ours.append(to_child)
            theirs.append(child_reads)
            from_child, child_writes = os.pipe()
            ours.append(from_child)
            theirs.append(child_writes)
        package_root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, **environment}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [package_root, os.environ.get("PYTHONPATH")])
        )
        process = subprocess.Popen(
            [sys.executable, "-m", module, *map(str, theirs)],
            pass_fds=theirs,
            stdin=subprocess.DEVNULL,
            stdout=_stderr_fd(),
            env=env,
        )
    except BaseException:
        for fd in ours:
            os.close(fd)
        raise
    finally:
        for fd in theirs:
            os.close(fd)
    return process, list(zip(ours[0::2], ours[1::2], strict=True))


def _stderr_fd() -> int:
    """The harness's stderr as a file descriptor (a child's stdout goes there)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an object without one
        return 2


if __name__ == "__main__":
    sys.exit(main())
