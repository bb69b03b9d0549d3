"""The pytest plugin (registered through the ``pytest11`` entry point).

Options ``--conformance-impl``, ``--conformance-seed``, ``--conformance-cases``,
``--conformance-against``, ``--conformance-timeout``; the seed in the report header
so any run can be repeated (as pytest-randomly does); a ``conformance`` fixture whose ``check()``
runs the whole harness in one line; and two Hypothesis profiles:
``conformance-ci`` (derandomized, no example database, no deadline: the first JAX
call compiles) and ``conformance-dev``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest

from conformance.defaults import (
    DEFAULT_CASES,
    DEFAULT_SEED,
    DEFAULT_TIMEOUT_SECONDS,
    IMPL_SPEC,
    SEED_LIMIT,
)


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
        type=int,
        default=DEFAULT_CASES,
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
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="SECONDS",
        help=f"time limit per case for an implementation that runs in a worker process "
        f"(default {DEFAULT_TIMEOUT_SECONDS:g}; 0 disables it)",
    )


def pytest_configure(config: pytest.Config) -> None:
    _register_profiles()
    text = config.getoption("--conformance-seed")
    if text == "random":
        seed = random.SystemRandom().randrange(SEED_LIMIT)
    else:
        try:
            seed = int(text)
        except ValueError:
            raise pytest.UsageError(
                f"--conformance-seed: expected a whole number or 'random', found {text!r}"
            ) from None
    config.stash[_SEED] = seed
    if config.getoption("--conformance-timeout") < 0:
        raise pytest.UsageError(
            f"--conformance-timeout: expected a number of seconds >= 0, found "
            f"{config.getoption('--conformance-timeout')}"
        )
    if config.getoption("--conformance-cases") < 1:
        raise pytest.UsageError(
            f"--conformance-cases: expected a number >= 1, found "
            f"{config.getoption('--conformance-cases')}"
        )


_SEED = pytest.StashKey[int]()


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"conformance: seed={config.stash[_SEED]} impl={config.getoption('--conformance-impl')} "
        f"cases={config.getoption('--conformance-cases')} "
        f"(repeat with --conformance-seed={config.stash[_SEED]})"
    )


@dataclass
class ConformanceFixture:
    """What the ``conformance`` fixture gives a test: the options, and ``check()``."""

    implementation: str
    seed: int
    cases: int
    against: list[str]
    timeout: float = DEFAULT_TIMEOUT_SECONDS

    def check(self, implementation: Any = None, **options: Any) -> Any:
        """Run the harness on ``implementation`` (default: --conformance-impl); fail the
        test with the localised, shrunk mismatch if any. ``timeout=`` (seconds per case,
        0: none) overrides --conformance-timeout; it holds where the implementation runs
        in a worker process (see :func:`conformance.api.tested_implementation`). The
        stream's filters (``layers=``, ``activations=``, ``hidden_activations=``,
        ``output_activations=``, ``losses=``, ``reductions=``, ``l2=``) narrow it as
        ``check``'s options do (:func:`conformance.api.check`)."""
        from conformance.api import assert_conforms

        options.setdefault("seed", self.seed)
        options.setdefault("cases", self.cases)
        options.setdefault("against", self.against or None)
        options.setdefault("timeout", self.timeout)
        return assert_conforms(implementation or self.implementation, **options)


@pytest.fixture
def conformance(request: pytest.FixtureRequest) -> ConformanceFixture:
    """``def test_mine(conformance): conformance.check("mypkg.mlp:gradients")``."""
    config = request.config
    against = [n.strip() for n in config.getoption("--conformance-against").split(",") if n.strip()]
    return ConformanceFixture(
        implementation=config.getoption("--conformance-impl"),
        seed=config.stash[_SEED],
        cases=config.getoption("--conformance-cases"),
        against=against,
        timeout=config.getoption("--conformance-timeout"),
    )
