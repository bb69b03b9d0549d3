"""``check --workers N``: one run's case stream checked on N processes, one verdict.

A run is a stream of cases drawn by Hypothesis from its seed, checked in order until
the first failure, which is then shrunk and replayed. On N processes it is the same
run:

- **Drawing.** This process draws the stream, exactly as a single-process run would
  (:func:`conformance.harness.draw_stream`, the same seed and options), and hands each
  case, with its position, to one of N checker processes (``python -m
  conformance.parallel``), keeping each one at most ``IN_FLIGHT`` cases ahead. It
  draws while they check, so drawing costs no time of its own, and while they start
  (up to ``EARLY_CASES`` cases), when it has a core to itself.
- **Routing.** JAX compiles a function once per process for each kind of case (a
  padded dense network, a layer type, per dtype: 24 functions and about 7 s on this
  project's 2-core machine for the default stream), so a case goes to the checker
  process that has compiled the most of the functions it needs
  (:meth:`references.jax_backend.JaxBackend.programs`), the least busy among equals.
  While that one is ``IN_FLIGHT`` cases ahead, the case waits and this process draws
  on, handing the others the cases they hold; only when ``LOOK_AHEAD`` cases wait does
  a process with nothing to do take one it lacks functions for, and those then come
  from the run's compilation cache, which the processes share. So the run compiles
  each function about once, not once per process. Which process checks a case
  changes nothing else: outcomes are merged by position.
- **Starting.** On Linux one process (``python -m conformance.parallel``) imports what
  every checker process imports (the harness, torch and jax, about 2.5 s of a core)
  and forks the N checker processes from it, which then start the references (JAX
  its threads) and warm them up; elsewhere each checker process starts on its own
  (see ``FORK``).
- **Checking.** A checker process holds the references and its own worker process
  for the implementation (:class:`conformance.worker.Worker`, with its time limit),
  and checks each case it is handed with :func:`conformance.harness.check_case`,
  sending the outcome back.
- **Threads.** JAX runs a compiled program on a pool of threads sized to the cores
  its process may use, which lets one process keep more than one core busy while JAX
  works. N checker processes already share the cores out, and then the pool's threads
  only contend with the other checkers: each checker process starts JAX on its share
  of the cores alone (:func:`start_jax_on`; ``cores // N``, at least one). Measured on
  this project's 2-core machine on the default stream's 2,000 cases: 2 checker
  processes took 22.9 s instead of 25.4 s (medians of 6 runs in turns), and a single
  process 42.0 s with JAX's pool against 46.8 s with one thread (3 runs of each), so a
  single-process run keeps JAX's own choice. (After the JAX reference's compile
  changes of the same day, which shrank JAX's share of the work, the single process
  took 27.5 s with the pool and 28.6 s with one thread.)
- **Merging.** Outcomes are put in stream order. When a case fails, drawing stops
  at its position (the cases before it are still checked): the first failure in
  stream order is the single-process run's first failure, and the cases after it,
  which that run never checked, are dropped.
- **Shrinking.** One checker process resumes the run with the outcomes known up to the
  failure (:func:`conformance.harness.run_check` with ``known``): it draws the same
  stream again without checking those cases, meets the failure at its position, and
  shrinks and replays it as the single-process run does.

So the verdict, the counts, the outcomes and the saved counterexample are those of
the single-process run with the same seed and options, for an implementation that is
a function of its case (docs/contract.md, section 'Rules an implementation follows',
rule 2): with N processes, each implementation worker is handed a different share of
the cases. Past one machine, ``check --shard I/N`` on N machines and ``merge-reports``
split a run the same way.

The messages between the processes are pickled behind a length, on pipes, as in
:mod:`conformance.worker`; the checker processes are this project's own code (the
implementation under test runs in their worker processes, never in them).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance import bind_own_packages, interrupts

bind_own_packages()  # a checker starts in the user's folder: their files must not shadow ours

from conformance.errors import BadInput, MissingBackend  # noqa: E402
from conformance.harness import CaseOutcome, CheckRun, draw_stream, run_check  # noqa: E402
from conformance.worker import receive_bytes, send, spawn_module_channels  # noqa: E402

IN_FLIGHT = 4
"""Cases handed to a checker process ahead of its results: enough that it never idles
while this process draws."""

EARLY_CASES = 1000
"""Cases drawn while the checker processes start (they import torch and jax and warm
them up, a few seconds), to be handed over once they are ready: this process has a
core to itself meanwhile, and the run's drawing is then partly done. Bounded, so that
a slow start (an implementation that takes long to import) does not fill memory."""

LOOK_AHEAD = 16
"""Cases drawn ahead of those handed over, waiting for the checker process that has
compiled their functions (see Routing above) while another takes the cases it holds."""


FORK = sys.platform.startswith("linux")
"""Whether the checker processes are forked from one process that has imported what
they all import (the harness, torch and jax: about 2.5 s of a core each on this
project's 2-core machine), instead of each importing it. On Linux only: on macOS a
process that has loaded the system's frameworks (numpy's Accelerate, say) is not safe
to fork, and Windows has no fork; there each checker process starts on its own."""


def available_cores() -> int:
    """The cores this process may run on (what ``--workers auto`` uses)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Plan:
    """What every checker process of a run needs to know: plain data, sent to each."""

    spec: str  # the implementation, MODULE:CALLABLE or FILE.py:CALLABLE
    timeout: float
    against: str | None
    require: tuple[str, ...]
    skip: tuple[str, ...]
    stream: Mapping[str, Any]  # the keyword arguments of strategies.case_stream
    cases: int
    seed: int
    shrink: bool
    shard: tuple[int, int]
    min_compared: float
    max_shrink_seconds: float


# --- a checker process ---------------------------------------------------------------


def _checker(from_parent: int, to_parent: int, hello: Mapping[str, Any]) -> int:
    """Check the cases the parent hands over until it closes the pipe; resume the run
    to shrink a failure when asked. ``hello`` is the parent's first message: the plan."""
    from conformance.backends import select_references
    from conformance.harness import check_case
    from conformance.worker import Worker

    sys.path[:] = hello["sys_path"]
    plan: Plan = hello["plan"]
    try:
        tested = Worker(plan.spec, timeout=plan.timeout)
        references, skipped = select_references(
            plan.against,
            list(plan.require),
            tested=tested.name,
        )
        if any(reference.name == "jax" for reference in references):
            start_jax_on(hello["cores"])
        if hello["warm_dtype"] is not None:
            _warm_up(references, hello["warm_dtype"])
        tested.wait_ready()
    except (BadInput, MissingBackend) as error:
        send(to_parent, {"ready": False, "error": str(error), "exit_code": error.exit_code})
        return 0
    send(
        to_parent,
        {
            "ready": True,
            "pid": os.getpid(),
            "name": tested.name,
            "isolation": tested.isolation,
            "references": [reference.name for reference in references],
            "skipped": skipped,
        },
    )
    try:
        while True:
            message = pickle.loads(receive_bytes(from_parent))
            if "case" in message:
                outcome = check_case(message["case"], tested, references, skip=plan.skip)
                # The parent holds the case; the tested result is needed by regress alone.
                light = dataclasses.replace(outcome, case={}, tested_result=None)
                send(to_parent, {"index": message["index"], "outcome": light})
            else:  # resume the run up to its first failure, to shrink and replay it
                from conformance.strategies import case_stream  # imports hypothesis

                run = run_check(
                    tested,
                    references,
                    cases=plan.cases,
                    seed=plan.seed,
                    strategy=case_stream(**plan.stream),
                    shrink=plan.shrink,
                    max_shrink_seconds=plan.max_shrink_seconds,
                    skipped_references=skipped,
                    shard=plan.shard,
                    min_compared=plan.min_compared,
                    skip=plan.skip,
                    known=message["known"],
                )
                send(to_parent, {"run": run})
    except (EOFError, BrokenPipeError):
        return 0  # the parent is done, or was killed: nothing is left to tell it
    finally:
        tested.close()


def start_jax_on(cores: Sequence[int]) -> None:
    """Start JAX's CPU client while this process may run on ``cores`` alone, then let it
    run on every core it could before. XLA sizes the pool of threads that runs compiled
    programs by the cores a process may use when its client starts (the affinity mask,
    which JAX's maintainers name as the way to limit its threads: jax-ml/jax#1539); the
    threads it starts meanwhile keep to ``cores``. See Threads in the module docstring.
    Nothing is done where the mask cannot be set, without ``cores``, or if the client has
    started already (nor does that fail the run: JAX then keeps its own choice)."""
    if not cores or not hasattr(os, "sched_setaffinity"):
        return
    import jax

    everywhere = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, set(cores))
    except OSError:  # the cores changed since the parent looked (a container's cpuset)
        return  # JAX keeps its own choice
    try:
        jax.devices("cpu")
    finally:
        os.sched_setaffinity(0, everywhere)


def core_shares(workers: int) -> list[list[int]]:
    """The cores each of ``workers`` checker processes starts JAX on: the cores this
    process may use, in ``workers`` slices of equal size (at least one core each; with
    more checker processes than cores, they take turns)."""
    if not hasattr(os, "sched_getaffinity"):
        return [[] for _ in range(workers)]
    cores = sorted(os.sched_getaffinity(0))
    each = max(1, len(cores) // workers)
    return [
        [cores[(number * each + offset) % len(cores)] for offset in range(each)]
        for number in range(workers)
    ]


def _warm_up(references: Sequence[Any], dtype: str) -> None:
    """Run each reference once on a one-unit case of ``dtype``, before the checker says it
    is ready: the references' one-time costs (importing torch and jax, compiling JAX's
    padded network for the dtype, which every case of the stream shares) are paid while
    the other checker processes pay theirs, and JAX's compiled program goes to the
    run's compilation cache, from which the other processes load it instead of
    compiling it again. Anything a reference does here is ignored: the cases report it."""
    case = _warm_case(dtype)
    for reference in references:
        try:
            reference.evaluate(case)
        except Exception:  # noqa: BLE001, S110 - a warm-up only
            pass


def _warm_case(dtype: str) -> dict[str, Any]:
    """The case a checker process warms its references up on: one unit, one sample."""
    from conformance.generators import fill_case

    architecture = {
        "layers": [{"in": 1, "out": 1, "activation": "identity"}],
        "loss": {"name": "half_sse", "reduction": "sum"},
    }
    case = fill_case(architecture, seed=0, batch_size=1, dtype=dtype)
    assert case is not None  # an identity layer has no kink to land near
    return dict(case)


def main(argv: list[str] | None = None) -> int:
    """``python -m conformance.parallel READ_FD WRITE_FD ...``: a checker process for one
    pair of pipes; for several pairs (see FORK), the process that forks a checker process
    for each pair and waits for them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    fds = [int(text) for text in (argv or sys.argv[1:])]
    channels = list(zip(fds[0::2], fds[1::2], strict=True))
    hellos = [pickle.loads(receive_bytes(from_parent)) for from_parent, _ in channels]
    if len(channels) == 1:
        return _checker(*channels[0], hellos[0])
    _preload(hellos[0])
    return _fork_checkers(channels, hellos)


def _preload(hello: Mapping[str, Any]) -> None:
    """Import, before forking, what each checker process would import: the harness, and
    torch and jax as the references' availability imports them. Nothing runs on them yet
    (JAX starts its threads on first use). An error is left for each checker to meet
    and report as it would without forking."""
    sys.path[:] = hello["sys_path"]
    plan: Plan = hello["plan"]
    try:
        import conformance.harness  # noqa: F401
        from conformance.backends import select_references

        select_references(plan.against, list(plan.require))
    except Exception:  # noqa: BLE001, S110 - each checker reports it
        pass


def _fork_checkers(channels: Sequence[tuple[int, int]], hellos: Sequence[Any]) -> int:
    """Fork a checker process for each pair of pipes; wait until they have all ended. A
    SIGTERM (the parent stopping the run) kills them first."""
    waiting: list[int] = []  # the checker processes not yet waited for

    def stop(signum: int, frame: Any) -> None:
        for child in waiting:
            try:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
            except (ProcessLookupError, ChildProcessError):
                pass  # it ended and was waited for just now
        os._exit(1)

    signal.signal(signal.SIGTERM, stop)
    for channel, hello in zip(channels, hellos, strict=True):
        sys.stdout.flush()
        sys.stderr.flush()
        with warnings.catch_warnings():
            # Python 3.12+ warns on forking a process with threads; the only ones here
            # are BLAS's idle pools (numpy's OpenBLAS), which reset themselves on fork.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # a checker process
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 1
            try:
                for other in channels:
                    if other != channel:
                        for fd in other:
                            os.close(fd)
                code = _checker(*channel, hello)
            except BaseException:  # noqa: BLE001 - shown as an unforked checker shows it
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        waiting.append(pid)
    for channel in channels:
        for fd in channel:
            os.close(fd)  # the pipes are the checkers' own: they see the parent's end alone
    worst = 0
    while waiting:
        child, status = os.wait()
        if child in waiting:
            waiting.remove(child)
            worst = max(worst, abs(os.waitstatus_to_exitcode(status)))
    return worst


# --- the parent's side ---------------------------------------------------------------


class CheckerError(RuntimeError):
    """A checker process that ended without being asked to (not the implementation's
    doing: that runs in the checker's own worker process)."""


class _Checker:
    """One checker process, seen from the parent: its pipes and what it was handed."""

    def __init__(self, to_child: int, from_child: int, *, warm_dtype: str | None):
        self.to_child, self.from_child = to_child, from_child
        self.warm_dtype = warm_dtype
        self.pid: int | None = None  # once it is ready
        self.in_flight = 0
        self.programs: set[Any] = set()  # JAX's compiled functions it holds (see Routing)

    def receive(self) -> Any:
        try:
            return pickle.loads(receive_bytes(self.from_child))
        except (EOFError, OSError) as error:
            raise CheckerError(
                f"a checker process of --workers ended unexpectedly ({error}); run again "
                "with --workers 1 to see why"
            ) from None

    def close(self) -> None:
        """Close its pipes, once (a number closed twice could by then be another file's)."""
        for fd in (self.to_child, self.from_child):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.to_child = self.from_child = -1


@dataclass
class _Merge:
    """The outcomes received so far, and the first failing position among them."""

    budget: int
    outcomes: dict[int, CaseOutcome] = field(default_factory=dict)
    first_failure: int | None = None

    def add(self, index: int, outcome: CaseOutcome) -> None:
        self.outcomes[index] = outcome
        if outcome.failed and (self.first_failure is None or index < self.first_failure):
            self.first_failure = index

    def kept(self) -> list[CaseOutcome]:
        """The outcomes a single-process run would have: up to its first failure."""
        last = self.first_failure if self.first_failure is not None else self.budget
        return [self.outcomes[i] for i in sorted(self.outcomes) if i <= last]


class _StopDrawing(BaseException):
    """Raised in the drawing loop once a failure is known before the next position (a
    BaseException, so that Hypothesis lets it through)."""


@dataclass
class Started:
    """The checker processes of a run and, once they are ready (:meth:`hear`), what they
    said about it."""

    checkers: list[_Checker]
    processes: list[subprocess.Popen[bytes]]  # the checkers, or the one that forked them
    compile_cache: str  # a temporary folder, removed when the run ends
    programs: Callable[[Mapping[str, Any]], frozenset[Any]] = lambda case: frozenset()
    """The JAX functions a case needs (none when jax is not one of the references)."""
    ready: bool = False
    name: str = ""
    isolation: str = ""
    references: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    hellos: dict[int, Any] = field(default_factory=dict)  # by the checker's position

    def hear(self, *, wait: bool) -> bool:
        """Read the checker processes' first replies that have come (with ``wait``, until
        all have); True once every one is ready. BadInput or MissingBackend, as a
        single-process run would raise, if one cannot start (they are then stopped)."""
        try:
            while not self.ready:
                waiting = {
                    checker.from_child: position
                    for position, checker in enumerate(self.checkers)
                    if position not in self.hellos
                }
                readable, _, _ = select.select(list(waiting), [], [], None if wait else 0)
                if not readable:
                    return False
                for fd in readable:
                    self.hellos[waiting[fd]] = self.checkers[waiting[fd]].receive()
                if len(self.hellos) == len(self.checkers):
                    self._heard()
        except BaseException:
            self.close(kill=True)
            raise
        return True

    def _heard(self) -> None:
        hellos = [self.hellos[position] for position in range(len(self.checkers))]
        failed = next((hello for hello in hellos if not hello.get("ready")), None)
        if failed is not None:
            error_type = (
                MissingBackend if failed["exit_code"] == MissingBackend.exit_code else BadInput
            )
            raise error_type(failed["error"])
        for checker, hello in zip(self.checkers, hellos, strict=True):
            checker.pid = hello["pid"]
        first, workers = hellos[0], len(self.checkers)
        limit = first["isolation"].removeprefix("runs in a worker process with ")
        self.isolation = (
            f"runs in {workers} worker processes, one for each of --workers {workers} "
            f"checker processes, with {limit}"
        )
        self.name, self.references, self.skipped = (
            first["name"],
            first["references"],
            first["skipped"],
        )
        if "jax" not in self.references:
            self.programs = lambda case: frozenset()
        for checker in self.checkers:
            if checker.warm_dtype is not None:
                checker.programs |= self.programs(_warm_case(checker.warm_dtype))
        self.ready = True

    def close(self, *, kill: bool = False) -> None:
        """Close the pipes, which ends the checker processes; with ``kill``, stop them
        at once (SIGTERM: a forking process then kills its checkers)."""
        for checker in self.checkers:
            checker.close()
        for process in self.processes:
            if kill:
                process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.compile_cache, ignore_errors=True)


def start(plan: Plan, workers: int) -> Started:
    """Start ``workers`` checker processes, without waiting for them: they import the
    implementation and the references and warm them up (the first ones, one dtype of
    the stream each) while this process goes on; :meth:`Started.hear` reads whether
    they are ready."""
    from contract import DTYPES

    dtypes = list(plan.stream.get("dtypes") or DTYPES)
    compile_cache = tempfile.mkdtemp(prefix="conformance-compiled-")
    # The run's checkers share JAX's compiled programs (see _warm_up); a user's own
    # cache settings are kept.
    cache = {
        "JAX_COMPILATION_CACHE_DIR": compile_cache,
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    environment = {key: value for key, value in cache.items() if key not in os.environ}
    spawned = (
        [spawn_module_channels("conformance.parallel", environment, workers)]
        if FORK
        else [spawn_module_channels("conformance.parallel", environment, 1) for _ in range(workers)]
    )
    ends = [pair for _, pairs in spawned for pair in pairs]
    checkers = [
        _Checker(*pair, warm_dtype=dtypes[number] if number < len(dtypes) else None)
        for number, pair in enumerate(ends)
    ]
    started = Started(checkers, [process for process, _ in spawned], compile_cache)
    # Until the checkers say whether jax is one of the references, the cases drawn are
    # read as if it were (it parses the case; it imports no jax).
    from references.jax_backend import JaxBackend

    started.programs = JaxBackend().programs
    try:
        for checker, cores in zip(checkers, core_shares(workers), strict=True):
            hello = {
                "plan": plan,
                "sys_path": list(sys.path),
                "warm_dtype": checker.warm_dtype,
                "cores": cores,
            }
            send(checker.to_child, hello)
    except BaseException:
        started.close(kill=True)
        raise
    return started


@dataclass
class _Pending:
    """A case drawn and not yet handed to a checker process."""

    index: int
    case: dict[str, Any]
    needs: frozenset[Any]  # the JAX functions it runs on


class _Routing:
    """Which checker process takes which drawn case (see Routing in the module
    docstring): plain bookkeeping over each checker's ``in_flight`` and ``programs``,
    with ``hand(case, checker)`` sending a case."""

    def __init__(
        self, checkers: Sequence[_Checker], hand: Callable[[_Pending, _Checker], None]
    ) -> None:
        self.checkers = checkers
        self.hand = hand
        self.pending: list[_Pending] = []  # drawn, not handed over; in stream order

    def holder(self, needs: frozenset[Any]) -> _Checker | None:
        """The checker process that holds the most of ``needs`` (the least busy among
        equals), if it has room for another case."""
        best = min(
            self.checkers, key=lambda checker: (len(needs - checker.programs), checker.in_flight)
        )
        return best if best.in_flight < IN_FLIGHT else None

    def dispatch(self, *, spill: bool, failure: int | None) -> None:
        """Hand pending cases, in stream order, to the checker processes that hold their
        functions; with ``spill``, a checker process with nothing to do takes the pending
        case it holds the most functions of. Cases after the position of a known
        ``failure`` are dropped: the single-process run stops there."""
        if failure is not None:
            self.pending = [waiting for waiting in self.pending if waiting.index <= failure]
        while self.pending:
            if all(checker.in_flight >= IN_FLIGHT for checker in self.checkers):
                return  # none has room (a quick answer when many cases wait)
            found = next(
                (
                    (position, checker)
                    for position, waiting in enumerate(self.pending)
                    if (checker := self.holder(waiting.needs)) is not None
                ),
                None,
            )
            if found is None and spill:
                idle = next((checker for checker in self.checkers if checker.in_flight == 0), None)
                if idle is not None:
                    position = min(
                        range(len(self.pending)),
                        key=lambda at: (len(self.pending[at].needs - idle.programs), at),
                    )
                    found = position, idle
            if found is None:
                return
            position, checker = found
            waiting = self.pending.pop(position)
            self.hand(waiting, checker)
            checker.in_flight += 1
            checker.programs |= waiting.needs


def run_parallel(
    plan: Plan,
    started: Started,
    *,
    strategy: Any,
    progress: Callable[[int, int], None] | None = None,
    on_ready: Callable[[Started], None] | None = None,
) -> CheckRun:
    """The run of ``plan`` on the started checker processes (see the module docstring);
    they are closed at the end. Until they are ready, this process draws up to
    ``EARLY_CASES`` cases, then calls ``on_ready`` (with what the checker processes
    said: the implementation's name, the references). A Ctrl-C returns the run so far,
    ``interrupted``; before they are ready, it is raised."""
    shard_index, shard_count = plan.shard
    merge = _Merge(plan.cases)
    checkers = started.checkers
    by_fd = {checker.from_child: checker for checker in checkers}
    began = time.perf_counter()
    done = [0]
    handed: dict[int, dict[str, Any]] = {}  # the cases being checked, by position

    def collect(wait: bool) -> None:
        busy = [checker.from_child for checker in checkers if checker.in_flight]
        if not busy:
            return
        readable, _, _ = select.select(busy, [], [], None if wait else 0)
        for fd in readable:
            checker = by_fd[fd]
            reply = checker.receive()
            checker.in_flight -= 1
            outcome = reply["outcome"]
            outcome.case, outcome.index = handed.pop(reply["index"]), reply["index"]
            merge.add(reply["index"], outcome)
            done[0] += 1
            if progress is not None:
                progress(done[0], plan.cases)

    def hand(waiting: _Pending, checker: _Checker) -> None:
        send(checker.to_child, {"index": waiting.index, "case": waiting.case})
        handed[waiting.index] = waiting.case

    routing = _Routing(checkers, hand)
    drawn = [0]

    def ready(*, wait: bool) -> bool:
        if started.ready:
            return True
        if not started.hear(wait=wait):
            return False
        if "jax" not in started.references:  # the cases drawn early need no JAX function
            for waiting in routing.pending:
                waiting.needs = frozenset()
        if on_ready is not None:
            on_ready(started)
        return True

    failed: list[Exception] = []  # met while Hypothesis draws; raised once it has stopped

    def hand_over(case: dict[str, Any]) -> None:
        try:
            draw_and_hand(case)
        except Exception as error:  # not Hypothesis's to see: it would shrink the case
            failed.append(error)
            raise _StopDrawing from error

    def draw_and_hand(case: dict[str, Any]) -> None:
        interrupts.raise_if_requested()
        index = drawn[0]
        drawn[0] += 1
        if index % shard_count != shard_index - 1:
            return  # another shard's case
        collect(wait=False)
        if merge.first_failure is not None and index > merge.first_failure:
            raise _StopDrawing
        routing.pending.append(_Pending(index, case, started.programs(case)))
        if not ready(wait=len(routing.pending) >= EARLY_CASES):
            return  # the checker processes are starting: draw on
        routing.dispatch(spill=False, failure=merge.first_failure)
        while len(routing.pending) >= LOOK_AHEAD:  # draw no further: wait, then spill
            collect(wait=True)
            routing.dispatch(spill=True, failure=merge.first_failure)

    run: CheckRun
    try:
        with interrupts.watched():
            try:
                draw_stream(
                    hand_over, strategy=strategy, cases=plan.cases, seed=plan.seed, shrink=False
                )
            except _StopDrawing:
                pass
            if failed:
                raise failed[0]
            ready(wait=True)
            routing.dispatch(spill=True, failure=merge.first_failure)
            while routing.pending or any(checker.in_flight for checker in checkers):
                interrupts.raise_if_requested()
                collect(wait=True)
                routing.dispatch(spill=True, failure=merge.first_failure)
            run = _merged(plan, started, merge, checkers)
    except KeyboardInterrupt:
        started.close(kill=True)
        if not started.ready:  # nothing was checked, nor are the references known
            raise  # as a single-process run stopped while it starts
        run = _run_record(plan, started)
        run.outcomes = merge.kept()
        run.interrupted = True
        run.seconds = time.perf_counter() - began
        return run
    except BaseException:
        started.close(kill=True)
        raise
    started.close()
    run.isolation = started.isolation
    run.seconds = time.perf_counter() - began
    return run


def _run_record(plan: Plan, started: Started) -> CheckRun:
    return CheckRun(
        seed=plan.seed,
        budget=plan.cases,
        tested=started.name,
        references=list(started.references),
        skipped_references=dict(started.skipped),
        shard=plan.shard,
        isolation=started.isolation,
        min_compared=plan.min_compared,
        skipped_quantities=plan.skip,
    )


def _merged(plan: Plan, started: Started, merge: _Merge, checkers: Sequence[_Checker]) -> CheckRun:
    """The run: the outcomes in stream order; with a failure, the run as a checker
    process finished it (resumed at the failure, shrunk, replayed)."""
    kept = merge.kept()
    if merge.first_failure is None:
        run = _run_record(plan, started)
        run.outcomes = kept
        return run
    finisher = checkers[0]
    send(finisher.to_child, {"known": {outcome.index: outcome for outcome in kept}})
    reply = finisher.receive()
    return reply["run"]  # type: ignore[no-any-return]


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Nothing is left to save: skip the interpreter's teardown of torch and jax, about a
    # second that the parent would wait for at the end of every run.
    os._exit(code)
