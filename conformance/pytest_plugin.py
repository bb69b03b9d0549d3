"""The pytest plugin (registered through the ``pytest11`` entry point).

Options ``--conformance-impl``, ``--conformance-seed``, ``--conformance-cases``,
``--conformance-against``, ``--conformance-timeout``, ``--conformance-min-compared``,
``--conformance-skip`` and ``--conformance-save-failures``; the seed in the report
header so any run can be repeated (as pytest-randomly does), the same seed on every
pytest-xdist worker; a ``conformance`` fixture whose ``check()`` runs the whole harness
in one line, saves a failure's shrunk case and gives the command that replays it, and
hides its own frames from the traceback; a closing section that says how many cases each
passing check compared; and two Hypothesis profiles, ``conformance-ci`` (derandomized,
no example database, no deadline: the first JAX call compiles) and ``conformance-dev``,
registered before ``--hypothesis-profile`` is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.defaults import (
    DEFAULT_CASES,
    DEFAULT_FAILURES_DIR,
    DEFAULT_MIN_COMPARED,
    DEFAULT_SEED,
    DEFAULT_TIMEOUT_SECONDS,
    IMPL_SPEC,
)

PROPERTY = "conformance"
"""The name of the user property a passing check leaves on its test's report."""


def _register_profiles() -> None:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "conformance-ci",
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile("conformance-dev", max_examples=30, deadline=None)


def pytest_addoption(parser: pytest.Parser) -> None:
    # Registered here, the first hook of every plugin: Hypothesis's own plugin loads
    # --hypothesis-profile in pytest_configure, which may run before ours.
    _register_profiles()
    group = parser.getgroup("conformance", "gradient conformance (backprop-conformance)")
    group.addoption(
        "--conformance-impl",
        default=IMPL_SPEC,
        metavar="MODULE:CALLABLE",
        help=f"implementation the conformance fixture checks (default {IMPL_SPEC})",
    )
    group.addoption(
        "--conformance-seed",
        default=str(DEFAULT_SEED),
        metavar="S",
        help="seed of the conformance case stream ('random' for a fresh one; "
        "printed in the header)",
    )
    group.addoption(
        "--conformance-cases",
        default=str(DEFAULT_CASES),
        metavar="N",
        help=f"random cases per conformance check (default {DEFAULT_CASES})",
    )
    group.addoption(
        "--conformance-against",
        default="",
        metavar="NAMES",
        help="comma-separated references (default: every available one)",
    )
    group.addoption(
        "--conformance-timeout",
        default=str(DEFAULT_TIMEOUT_SECONDS),
        metavar="SECONDS",
        help=f"time limit per case for an implementation that runs in a worker process "
        f"(default {DEFAULT_TIMEOUT_SECONDS:g}; 0 disables it)",
    )
    group.addoption(
        "--conformance-min-compared",
        default=str(DEFAULT_MIN_COMPARED),
        metavar="SHARE",
        help=f"the least share of the cases that must be compared for a pass (default "
        f"{DEFAULT_MIN_COMPARED:g})",
    )
    group.addoption(
        "--conformance-skip",
        default="",
        metavar="QUANTITIES",
        help="quantities not to check, for an implementation that does not compute them "
        "(comma-separated: loss, outputs, input_grad)",
    )
    group.addoption(
        "--conformance-save-failures",
        default=DEFAULT_FAILURES_DIR,
        metavar="DIR",
        help=f"where a failing check saves its shrunk case (default {DEFAULT_FAILURES_DIR}/ "
        "under the rootdir); never over a file",
    )


@dataclass(frozen=True)
class _Options:
    """The plugin's options, checked by :mod:`conformance.validation` as the command line's."""

    seed: int
    cases: int
    against: tuple[str, ...]
    timeout: float
    min_compared: float
    skip: tuple[str, ...]


def _options(config: pytest.Config) -> _Options:
    """The options, parsed; a bad value is a usage error naming the option. The seed on a
    pytest-xdist worker is the controller's, so that every worker draws the same stream
    (a 'random' seed is drawn once)."""
    from conformance import validation

    def parsed(name: str, check: Any) -> Any:
        try:
            return validation.option(name, check, config.getoption(name))
        except validation.InvalidValue as error:
            raise pytest.UsageError(str(error)) from None

    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "conformance_seed" in workerinput:
        seed = int(workerinput["conformance_seed"])
    else:
        seed = parsed("--conformance-seed", validation.seed)
    return _Options(
        seed=seed,
        cases=parsed("--conformance-cases", validation.whole_number),
        against=parsed("--conformance-against", validation.reference_names),
        timeout=parsed("--conformance-timeout", validation.non_negative_number),
        min_compared=parsed("--conformance-min-compared", validation.share),
        skip=parsed("--conformance-skip", validation.skipped_quantities),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_OPTIONS] = _options(config)
    config.pluginmanager.register(_Summary(), "conformance-summary")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: hand the controller's seed to each worker (a 'random' seed is drawn
    once)."""
    node.workerinput["conformance_seed"] = node.config.stash[_OPTIONS].seed


_OPTIONS = pytest.StashKey[_Options]()


def pytest_report_header(config: pytest.Config) -> str:
    options = config.stash[_OPTIONS]
    return (
        f"conformance: seed={options.seed} impl={config.getoption('--conformance-impl')} "
        f"cases={options.cases} (repeat with --conformance-seed={options.seed})"
    )


class _Summary:
    """Collects what each passing check compared (from the test reports, which also
    reach the controller of a pytest-xdist run) and prints it at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.passed:
            self.lines += [
                f"{report.nodeid}: {value}"
                for name, value in report.user_properties
                if name == PROPERTY
            ]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.lines:
            terminalreporter.section("conformance")
            for line in self.lines:
                terminalreporter.write_line(line)


def compared_text(run: Any) -> str:
    """What a passing check compared, in one line."""
    references = ", ".join(run.references)
    skipped = (
        f"; not checked: {', '.join(run.skipped_quantities)}" if run.skipped_quantities else ""
    )
    return (
        f"{run.tested}: {run.count('agree')} of {run.checked} cases compared with "
        f"{references} (seed {run.seed}){skipped}"
    )


@dataclass
class ConformanceFixture:
    """What the ``conformance`` fixture gives a test: the options, and ``check()``."""

    implementation: str
    seed: int
    cases: int
    against: list[str]
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    min_compared: float = DEFAULT_MIN_COMPARED
    skip: list[str] = field(default_factory=list)
    save_failures: str | None = None
    node: Any = field(default=None, repr=False)  # the test: a pass leaves its counts on it

    def check(self, implementation: Any = None, **options: Any) -> Any:
        """Run the harness on ``implementation`` (default: --conformance-impl); fail the
        test with the localised, shrunk mismatch if any, saved under
        --conformance-save-failures with the command that replays it. Keyword options
        are those of :func:`conformance.api.check` (``timeout``, ``min_compared``,
        ``skip``, and the stream's filters ``layers=``, ``activations=``,
        ``hidden_activations=``, ``output_activations=``, ``losses=``, ``reductions=``,
        ``l2=``, ...) and override the command line's."""
        __tracebackhide__ = True  # a failing test shows the user's line, not these frames
        from conformance.api import assert_conforms
        from conformance.errors import BadInput

        options.setdefault("seed", self.seed)
        options.setdefault("cases", self.cases)
        options.setdefault("against", self.against or None)
        options.setdefault("timeout", self.timeout)
        options.setdefault("min_compared", self.min_compared)
        options.setdefault("skip", self.skip)
        options.setdefault("save_failures", self.save_failures)
        try:
            run = assert_conforms(implementation or self.implementation, **options)
        except BadInput as error:  # an implementation that cannot be imported, a bad name
            pytest.fail(f"conformance: {error}", pytrace=False)
        if self.node is not None:
            self.node.user_properties.append((PROPERTY, compared_text(run)))
        return run


@pytest.fixture
def conformance(request: pytest.FixtureRequest) -> ConformanceFixture:
    """``def test_mine(conformance): conformance.check("mypkg.mlp:gradients")``."""
    config = request.config
    options = config.stash[_OPTIONS]
    return ConformanceFixture(
        implementation=config.getoption("--conformance-impl"),
        seed=options.seed,
        cases=options.cases,
        against=list(options.against),
        timeout=options.timeout,
        min_compared=options.min_compared,
        skip=list(options.skip),
        save_failures=str(config.rootpath / config.getoption("--conformance-save-failures")),
        node=request.node,
    )
