"""check --workers N: one run on N processes is the single-process run with the same seed,
in verdict, counts, outcomes and saved counterexample."""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance import parallel
from conformance.api import check
from conformance.case import case_text
from conformance.report import exit_code
from tests.harness import planted_bugs
from tests.support import ROOT, RaisesSigintWhenDropped, run_in

USER_MODULE = (ROOT / "examples" / "user_mlp.py").read_text(encoding="utf-8")
SUPPORTED = ("--activations", "sigmoid,tanh,identity", "--losses", "half_sse,mse")


def _signature(run):
    return (
        exit_code(run),
        [(o.index, o.status, case_text(o.case)) for o in run.outcomes],
        None if run.failure is None else case_text(run.failure.case),
        None if run.failure is None else run.failure.verdict,
        [case_text(case) for case in run.replay_cases],
        run.reproduces,
        run.shrink_steps,
    )


LINUX_ONLY = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork: Linux only")
STARTS = [
    pytest.param(True, id="forked from one process", marks=LINUX_ONLY),
    pytest.param(False, id="each process started on its own"),
]


@pytest.mark.parametrize("fork", STARTS)
@pytest.mark.parametrize(
    ("implementation", "seed"),
    [
        (planted_bugs.missing_mean_factor, 3),  # fails after a few cases: shrunk, replayed
        ("impl:gradients", 4),  # passes: every case compared
    ],
)
def test_two_workers_give_the_single_process_run(implementation, seed, fork, monkeypatch):
    monkeypatch.setattr(parallel, "FORK", fork)
    options = {"against": ["numeric"], "cases": 40, "seed": seed}
    one = check(implementation, **options)
    two = check(implementation, workers=2, **options)
    assert _signature(two) == _signature(one)
    assert "2 worker processes" in two.isolation


def slow_float64_missing_mean_factor(case):
    """The missing_mean_factor bug, 0.2 s slower on float64 cases: their checker process is
    still busy when the next one is drawn."""
    if case["dtype"] == "float64":
        time.sleep(0.2)
    return planted_bugs.missing_mean_factor(case)


def test_two_workers_routing_cases_by_their_jax_functions_give_the_single_process_run(
    monkeypatch,
):
    """With jax among the references, cases go to the checker process that compiled their
    functions (here: of their dtype), some out of stream order: the run is still the
    single-process one."""
    pytest.importorskip("jax", reason="jax is not installed (numpy-only install)")
    implementation = slow_float64_missing_mean_factor
    options = {"against": ["jax"], "cases": 40, "seed": 2, "layers": ["dense"], "shrink": False}
    one = check(implementation, **options)
    assert one.first_failure is not None and one.first_failure.index == 8  # not the first
    handed: list[int] = []
    routing = parallel._Routing.__init__

    def recording(self, checkers, hand):
        def recorded(waiting, checker):
            handed.append(waiting.index)
            hand(waiting, checker)

        routing(self, checkers, recorded)

    monkeypatch.setattr(parallel._Routing, "__init__", recording)
    monkeypatch.setattr(parallel, "IN_FLIGHT", 1)
    two = check(implementation, workers=2, **options)
    assert _signature(two) == _signature(one)
    assert handed != sorted(handed)  # a float32 case overtook a float64 one


def _checkers(*holding: set[str]) -> list[SimpleNamespace]:
    return [SimpleNamespace(in_flight=0, programs=set(programs)) for programs in holding]


def _routing(checkers: list[SimpleNamespace], *cases: tuple[int, set[str]]):
    handed: list[tuple[int, int]] = []  # (position in the stream, checker)
    routing = parallel._Routing(
        checkers, lambda waiting, checker: handed.append((waiting.index, checkers.index(checker)))
    )
    for index, needs in cases:
        routing.pending.append(parallel._Pending(index, {}, frozenset(needs)))
    return routing, handed


def test_a_case_goes_to_the_checker_that_compiled_its_functions():
    checkers = _checkers({"f64"}, {"f32"})
    checkers[0].in_flight = 2  # busier, but it holds the function
    routing, handed = _routing(checkers, (0, {"f64"}), (1, {"f32"}), (2, {"f32", "conv"}))
    routing.dispatch(spill=False, failure=None)
    assert handed == [(0, 0), (1, 1), (2, 1)]
    assert checkers[1].programs == {"f32", "conv"} and checkers[1].in_flight == 2


def test_a_case_waits_for_its_checker_while_later_cases_go_to_theirs():
    checkers = _checkers({"f64"}, {"f32"})
    checkers[0].in_flight = parallel.IN_FLIGHT  # full
    checkers[1].in_flight = 1  # busy, not idle
    routing, handed = _routing(checkers, (0, {"f64"}), (1, {"f32"}), (2, {"f64"}))
    routing.dispatch(spill=True, failure=None)
    assert handed == [(1, 1)]  # the f64 cases wait: the other checker is not idle
    assert [waiting.index for waiting in routing.pending] == [0, 2]
    routing.dispatch(spill=False, failure=None)
    assert handed == [(1, 1)]
    checkers[1].in_flight = 0  # now idle: with spill it takes a case it lacks functions for
    routing.dispatch(spill=False, failure=None)
    assert handed == [(1, 1)]
    routing.dispatch(spill=True, failure=None)
    assert handed[1] == (0, 1) and checkers[1].programs == {"f32", "f64"}


def test_an_idle_checker_takes_the_waiting_case_it_holds_most_functions_of():
    checkers = _checkers({"f64", "dense", "loss"}, {"f32", "loss"})
    checkers[0].in_flight = parallel.IN_FLIGHT
    routing, handed = _routing(
        checkers, (0, {"f64", "dense", "loss", "conv"}), (1, {"f64", "loss", "rnn"})
    )
    routing.dispatch(spill=True, failure=None)
    # checker 1 lacks 3 of case 0's functions and 2 of case 1's: it takes case 1 first
    assert handed[0] == (1, 1)


def test_cases_after_a_known_failure_are_dropped_and_those_before_kept():
    checkers = _checkers(set(), set())
    checkers[0].in_flight = checkers[1].in_flight = parallel.IN_FLIGHT
    routing, handed = _routing(checkers, (3, set()), (5, set()), (6, set()))
    routing.dispatch(spill=True, failure=5)
    assert [waiting.index for waiting in routing.pending] == [3, 5] and handed == []


def test_without_jax_functions_cases_go_to_the_least_busy_checker():
    checkers = _checkers(set(), set(), set())
    checkers[0].in_flight, checkers[1].in_flight = 3, 1
    routing, handed = _routing(checkers, (0, set()), (1, set()), (2, set()))
    routing.dispatch(spill=False, failure=None)
    assert handed == [(0, 2), (1, 1), (2, 2)]


def _plan() -> parallel.Plan:
    return parallel.Plan(
        spec="impl:gradients",
        timeout=10.0,
        against="numeric",
        require=(),
        skip=(),
        stream={},
        cases=10,
        seed=0,
        shrink=False,
        shard=(1, 1),
        min_compared=0.5,
        max_shrink_seconds=10.0,
    )


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("fork", STARTS)
def test_a_stopped_run_leaves_no_checker_process(fork, monkeypatch):
    monkeypatch.setattr(parallel, "FORK", fork)
    started = parallel.start(_plan(), 2)
    started.hear(wait=True)
    pids = [checker.pid for checker in started.checkers]
    assert len(set(pids)) == 2 and all(_running(pid) for pid in pids)
    assert len(started.processes) == (1 if fork else 2)
    pipe = started.checkers[0].from_child
    started.close(kill=True)  # as on Ctrl-C
    assert not any(_running(pid) for pid in pids)
    devnull = os.open(os.devnull, os.O_RDONLY)
    reused = os.dup2(devnull, pipe)  # another file now has the number a pipe had
    try:
        started.close(kill=True)  # again, as when a run stops while it stops
        os.fstat(reused)  # still open: the pipes' numbers were not closed twice
    finally:
        os.close(reused)
        os.close(devnull)


@pytest.mark.parametrize(
    ("cores", "workers", "shares"),
    [
        ({0, 1}, 1, [[0, 1]]),
        ({0, 1}, 2, [[0], [1]]),
        ({0, 1}, 3, [[0], [1], [0]]),  # more checkers than cores: they take turns
        (set(range(8)), 2, [[0, 1, 2, 3], [4, 5, 6, 7]]),
        (set(range(8)), 3, [[0, 1], [2, 3], [4, 5]]),
        ({2, 5}, 2, [[2], [5]]),  # the cores this process may use, whichever they are
    ],
)
def test_each_checker_process_gets_its_share_of_the_cores(cores, workers, shares, monkeypatch):
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: set(cores), raising=False)
    assert parallel.core_shares(workers) == shares


def _jax_pools(plan: parallel.Plan, workers: int) -> list[tuple[int, set[int]]]:
    """For each of ``workers`` checker processes of ``plan``, once ready (each has run JAX
    once, its warm-up): the threads XLA names for its CPU pool (jaxlib's name for them),
    and the cores its own thread may run on."""
    started = parallel.start(plan, workers)
    try:
        started.hear(wait=True)
        return [
            (
                sum(
                    (task / "comm").read_text().startswith("tf_XLAEigen")
                    for task in Path(f"/proc/{checker.pid}/task").iterdir()
                ),
                os.sched_getaffinity(checker.pid),
            )
            for checker in started.checkers
        ]
    finally:
        started.close(kill=True)


@pytest.mark.skipif(
    not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs a CPU affinity mask of at least 2 cores (Linux)",
)
@pytest.mark.parametrize("fork", STARTS)
def test_each_checker_process_starts_jax_on_its_share_of_the_cores(fork, monkeypatch):
    pytest.importorskip("jax", reason="jax is not installed (numpy-only install)")
    monkeypatch.setattr(parallel, "FORK", fork)
    plan, cores = dataclasses.replace(_plan(), against="jax"), os.sched_getaffinity(0)
    [(alone, _)] = _jax_pools(plan, 1)  # every core: a pool of one thread per core
    if alone != len(cores):
        pytest.skip(f"this jaxlib's CPU pool is not seen as tf_XLAEigen threads ({alone})")
    # each checker's own thread may run anywhere
    assert _jax_pools(plan, 2) == [(len(cores) // 2, cores)] * 2


@pytest.mark.parametrize("fork", STARTS)
def test_a_checker_process_that_dies_is_an_error_not_a_hang(fork, monkeypatch):
    monkeypatch.setattr(parallel, "FORK", fork)
    started = parallel.start(_plan(), 2)
    started.hear(wait=True)
    try:
        dead = started.checkers[1]
        os.kill(dead.pid, signal.SIGKILL)
        # its pipe closes: no other process holds its end (the forking one closed its own)
        assert select.select([dead.from_child], [], [], 30)[0], "the pipe stayed open"
        with pytest.raises(parallel.CheckerError, match="ended unexpectedly.*--workers 1"):
            dead.receive()
    finally:
        started.close(kill=True)


def test_a_ctrl_c_whose_exception_is_lost_still_stops_a_parallel_run():
    """While this process collects its third outcome a Ctrl-C arrives and Python loses its
    KeyboardInterrupt (conformance.interrupts): the run stops before its next case and is
    interrupted. Before, it went on to the end and passed."""
    from conformance.strategies import case_stream

    plan = dataclasses.replace(_plan(), cases=200)

    def progress(done: int, total: int) -> None:
        if done == 3:
            RaisesSigintWhenDropped()

    run = parallel.run_parallel(
        plan, parallel.start(plan, 2), strategy=case_stream(), progress=progress
    )
    assert run.interrupted and 3 <= len(run.outcomes) < 200


@pytest.mark.parametrize("early", [1, 7, parallel.EARLY_CASES])
def test_cases_drawn_while_the_checkers_start_give_the_single_process_run(early, monkeypatch):
    """This process draws up to EARLY_CASES cases before the checker processes are ready,
    says they are ready once (before any outcome), then hands the cases over."""
    monkeypatch.setattr(parallel, "EARLY_CASES", early)
    from conformance.strategies import case_stream

    plan = dataclasses.replace(_plan(), cases=25, seed=5)
    one = check("impl:gradients", against="numeric", cases=25, seed=5)
    events: list[str] = []
    heard = parallel.Started.hear

    def hearing(self, *, wait):
        events.append("wait" if wait else "poll")
        return heard(self, wait=wait)

    monkeypatch.setattr(parallel.Started, "hear", hearing)
    two = parallel.run_parallel(
        plan,
        parallel.start(plan, 2),
        strategy=case_stream(),
        progress=lambda done, total: events.append("outcome"),
        on_ready=lambda started: events.append(f"ready {started.name} {started.references}"),
    )
    assert _signature(two) == _signature(one)
    ready = [event for event in events if event.startswith("ready")]
    assert ready == ["ready impl ['numeric']"]
    assert events.index(ready[0]) < events.index("outcome")
    assert events.count("outcome") == 25
    heard_until_ready = events[: events.index(ready[0])]
    assert "wait" in heard_until_ready  # it stopped drawing at EARLY_CASES, or at the end
    assert heard_until_ready.count("poll") <= min(early, 25)


def test_killing_the_run_ends_its_checker_processes_quietly(folder):
    """kill -9 of the command: its checker processes (and theirs) see their pipes close
    and end, without a traceback; the last of them closes the command's stderr."""
    command = [sys.executable, "-m", "conformance", "check", "--impl", "mynet.py:gradients"]
    process = subprocess.Popen(
        [*command, "--cases", "2000", "--workers", "2", *SUPPORTED],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # a run killed with SIGKILL cannot remove its temporary folders
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(folder)},
    )
    try:
        for line in process.stdout:  # the header is printed once the checkers are ready
            if b"worker processes" in line:
                break
        time.sleep(1)  # mid-run
    finally:
        process.kill()
    process.wait()
    stderr = _rest_of(process.stderr)
    assert b"Traceback" not in stderr, stderr.decode()


def _rest_of(stream) -> bytes:
    """What is left to read on a run's stream, once every process holding it has ended
    (a failure if one outlives the run by 30 s)."""
    read, deadline = b"", time.monotonic() + 30
    while time.monotonic() < deadline:
        if select.select([stream], [], [], 1)[0]:
            chunk = os.read(stream.fileno(), 1 << 16)
            if not chunk:
                return read
            read += chunk
    pytest.fail("a process of the run outlived it by 30 s")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_stops_the_run_as_ctrl_c_does_and_leaves_nothing_behind(folder, workers):
    """SIGTERM to the command alone (what `timeout` or a CI job's time limit sends): the
    summary so far, an incomplete report, exit 130, no traceback; its temporary folders
    (Hypothesis's, the run's JAX cache) are removed and no process of the run is left.
    Before, the process ended at once and left its temporary folders behind; and a run
    stopped while JAX compiled (here, 1 s after the header) then crashed in the
    interpreter's teardown (exit -11), with Ctrl-C too."""
    temporary = folder / "tmp"
    temporary.mkdir()
    report = folder / "check.json"
    command = [sys.executable, "-m", "conformance", "check", "--impl", "mynet.py:gradients"]
    process = subprocess.Popen(
        [*command, "--cases", "2000", "--workers", workers, "--report-json", str(report)],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(temporary)},
    )
    try:
        for line in process.stdout:  # the header
            if line.startswith(b"seed:"):
                break
        time.sleep(1)  # mid-run
        process.terminate()
        stdout, stderr = _rest_of(process.stdout), _rest_of(process.stderr)
        assert process.wait(timeout=30) == 130, (stdout + stderr).decode()
    finally:
        process.kill()
    assert b"Traceback" not in stderr, stderr.decode()
    assert b"interrupted" in stdout and b"cases checked: " in stdout, stdout.decode()
    data = json.loads(report.read_text())
    assert data["complete"] is False and data["exit_code"] == 130
    assert list(temporary.iterdir()) == []


def test_workers_need_an_implementation_a_process_can_import():
    with pytest.raises(ValueError, match="a lambda has no name"):
        check(lambda case: None, workers=2)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "mynet.py").write_text(USER_MODULE, encoding="utf-8")
    return tmp_path


def _check(folder: Path, name: str, *options: str):
    return run_in(
        folder,
        sys.executable,
        "-m",
        "conformance",
        "check",
        "--against",
        "numeric",
        "--save-failures",
        f"saved-{name}",
        "--report-json",
        f"{name}.json",
        *options,
    )


def _same_run(report: dict) -> dict:
    """A report without what depends on the machine: times, where it ran."""
    return {
        "counts": report["counts"],
        "exit_code": report["exit_code"],
        "failure_kind": report["failure_kind"],
        "cases": [(c["index"], c["status"], c["architecture"]) for c in report["cases"]],
        "failure": None
        if report["failure"] is None
        else {key: report["failure"][key] for key in ("case", "verdict", "reproduces")},
    }


@pytest.mark.parametrize(
    "options",
    [
        ("--impl", "mynet:gradients_with_tanh_bug", *SUPPORTED),
        ("--impl", "mynet.py:gradients", *SUPPORTED, "--cases", "60", "--shard", "2/3"),
    ],
    ids=["a failure, shrunk and saved", "a passing shard"],
)
def test_the_command_on_workers_is_the_command_on_one_process(folder, options):
    one = _check(folder, "one", *options)
    two = _check(folder, "two", "--workers", "2", *options)
    assert one.returncode == two.returncode, one.stdout + two.stdout + two.stderr
    assert "workers: 2" in two.stdout
    reports = [json.loads((folder / f"{name}.json").read_text()) for name in ("one", "two")]
    assert _same_run(reports[1]) == _same_run(reports[0])
    saved = [sorted((folder / f"saved-{name}").glob("*.json")) for name in ("one", "two")]
    assert [path.name for path in saved[0]] == [path.name for path in saved[1]]
    for first, second in zip(*saved, strict=True):
        cases = [json.loads(path.read_text()) for path in (first, second)]
        for case in cases:
            del case["origin"]["command"]  # the command differs: --workers, the folders
        assert cases[0] == cases[1]


def test_bad_workers_and_a_bad_implementation_are_exit_2(folder):
    bad = _check(folder, "bad", "--workers", "none")
    assert bad.returncode == 2 and "expected a whole number >= 1 or 'auto'" in bad.stderr
    missing = _check(folder, "missing", "--workers", "2", "--impl", "nosuch:gradients")
    assert missing.returncode == 2 and "cannot import module 'nosuch'" in missing.stderr
    assert "Traceback" not in missing.stderr
    auto = _check(folder, "auto", "--workers", "auto", "--cases", "5", "--impl", "impl:gradients")
    assert auto.returncode == 0, auto.stdout + auto.stderr


def test_a_share_of_cores_that_cannot_be_set_leaves_jax_its_own_choice(monkeypatch):
    """A mask the process may not take (its cpuset changed since the parent looked) is
    not an error: the checker starts JAX as a single process would."""
    pytest.importorskip("jax", reason="jax is not installed (numpy-only install)")
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this platform")
    before = os.sched_getaffinity(0)

    def refuse(pid, cores):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(parallel.os, "sched_setaffinity", refuse)
    parallel.start_jax_on([max(before) + 1000])
    assert os.sched_getaffinity(0) == before
