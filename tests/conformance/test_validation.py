"""conformance/validation.py: one check and one message per kind of option value, the same
from the command line, the pytest plugin and the library."""

from __future__ import annotations

import pytest

from conformance import validation
from conformance.api import check
from conformance.defaults import SEED_LIMIT
from conformance.pytest_plugin import _options
from conformance.validation import InvalidValue
from tests.support import run_cli


@pytest.mark.parametrize(
    ("check_value", "value", "expected"),
    [
        (validation.whole_number, "12", 12),
        (validation.whole_number, 7, 7),
        (validation.whole_number, 3.0, 3),
        (validation.seed, "0", 0),
        (validation.seed, str(SEED_LIMIT - 1), SEED_LIMIT - 1),
        (validation.share, "50%", 0.5),
        (validation.share, "0.25", 0.25),
        (validation.share, 1, 1.0),
        (validation.non_negative_number, "0", 0.0),
        (validation.positive_number, "2.5", 2.5),
        (validation.shard, "2/4", (2, 4)),
        (validation.byte_count, "2KiB", 2048),
        (validation.workers, "3", 3),
        (validation.skipped_quantities, "input_grad, loss", ("loss", "input_grad")),
        (validation.skipped_quantities, ["outputs"], ("outputs",)),
        (validation.skipped_quantities, "", ()),
        (validation.reference_names, "numeric,torch", ("numeric", "torch")),
        (validation.reference_names, None, ()),
    ],
)
def test_a_good_value_is_returned_parsed(check_value, value, expected):
    assert check_value(value) == expected


@pytest.mark.parametrize(
    ("check_value", "value", "message"),
    [
        (validation.whole_number, "0", "expected a whole number >= 1, found 0"),
        (validation.whole_number, "ten", "expected a whole number, found 'ten'"),
        (validation.whole_number, 2.5, "expected a whole number, found 2.5"),
        (validation.whole_number, True, "expected a whole number, found True"),
        (validation.seed, "-1", "expected a seed in [0, 2**32), found -1"),
        (validation.seed, str(SEED_LIMIT), f"expected a seed in [0, 2**32), found {SEED_LIMIT}"),
        (validation.seed, "seven", "expected a whole number or 'random', found 'seven'"),
        (validation.share, "150%", "expected a share from 0 to 1 (0% to 100%), found '150%'"),
        (validation.share, 2, "expected a share from 0 to 1 (0% to 100%), found 2"),
        (validation.share, "half", "expected a share such as 0.5 or 50%, found 'half'"),
        (validation.non_negative_number, "-1", "expected a number >= 0, found '-1'"),
        (validation.non_negative_number, -0.5, "expected a number >= 0, found -0.5"),
        (validation.finite_number, "nan", "expected a finite number, found 'nan'"),
        (validation.positive_number, "0", "expected a positive number, found '0'"),
        (validation.shard, "3/2", "expected I/N with 1 <= I <= N, for example 2/4; found '3/2'"),
        (validation.byte_count, "2TB", "expected a size such as 1000000, 512MiB or 2GiB"),
        (validation.workers, "0", "expected a whole number >= 1 or 'auto', found '0'"),
        (
            validation.skipped_quantities,
            "input_gard",
            "unknown quantity to skip 'input_gard' (did you mean 'input_grad'?); "
            "expected some of: loss, outputs, input_grad",
        ),
        (validation.skipped_quantities, "grads", "'grads' (the gradients are what is checked)"),
        (
            validation.reference_names,
            "torch,jaxx",
            "unknown reference backend 'jaxx' (did you mean 'jax'?); expected some of: torch, "
            "jax, numeric",
        ),
    ],
)
def test_a_bad_value_says_what_was_expected_and_what_was_found(check_value, value, message):
    with pytest.raises(InvalidValue) as caught:
        check_value(value)
    assert message in str(caught.value)


def test_a_random_seed_is_drawn_in_range():
    seeds = {validation.seed("random") for _ in range(5)}
    assert all(0 <= seed < SEED_LIMIT for seed in seeds) and len(seeds) > 1


def test_an_invalid_value_is_bad_input_and_a_value_error():
    from conformance.errors import BadInput

    with pytest.raises(InvalidValue) as caught:
        validation.option("--cases", validation.whole_number, "0")
    assert str(caught.value) == "--cases: expected a whole number >= 1, found 0"
    assert isinstance(caught.value, BadInput) and isinstance(caught.value, ValueError)


class _Config:
    """The part of a pytest.Config the plugin's options are read from."""

    def __init__(self, **given):
        self.given = {
            "--conformance-seed": "0",
            "--conformance-cases": "100",
            "--conformance-against": "",
            "--conformance-timeout": "60",
            "--conformance-min-compared": "0.5",
            "--conformance-skip": "",
            **{f"--conformance-{name.replace('_', '-')}": v for name, v in given.items()},
        }

    def getoption(self, name):
        return self.given[name]


@pytest.mark.parametrize(
    ("cli", "plugin", "api", "message"),
    [
        (["--cases", "0"], {"cases": "0"}, {"cases": 0}, "expected a whole number >= 1, found 0"),
        (["--seed", "-1"], {"seed": "-1"}, {"seed": -1}, "expected a seed in [0, 2**32), found -1"),
        (
            ["--timeout", "-1"],
            {"timeout": "-1"},
            {"timeout": -1},
            "expected a number >= 0, found ",
        ),
        (
            ["--min-compared", "2"],
            {"min_compared": "2"},
            {"min_compared": 2},
            "expected a share from 0 to 1 (0% to 100%), found ",
        ),
        (
            ["--skip", "input_gard"],
            {"skip": "input_gard"},
            {"skip": ["input_gard"]},
            "unknown quantity to skip 'input_gard' (did you mean 'input_grad'?)",
        ),
    ],
)
def test_the_command_line_the_plugin_and_the_library_say_the_same(cli, plugin, api, message):
    completed = run_cli("check", *cli)
    assert completed.returncode == 2 and f"{cli[0]}: {message}" in completed.stderr
    (name,) = plugin
    with pytest.raises(pytest.UsageError) as caught:
        _options(_Config(**plugin))
    assert f"--conformance-{name.replace('_', '-')}: {message}" in str(caught.value)
    with pytest.raises(ValueError) as raised:
        check("impl:gradients", **api)
    assert f"{name}: {message}" in str(raised.value)


def test_an_unknown_reference_is_named_the_same_by_every_surface():
    message = "unknown reference backend 'torchh' (did you mean 'torch'?)"
    assert message in run_cli("check", "--against", "torchh").stderr
    with pytest.raises(pytest.UsageError, match=r"--conformance-against: unknown reference"):
        _options(_Config(against="torchh"))
    with pytest.raises(ValueError, match=r"unknown reference backend 'torchh' \(did you mean"):
        check("impl:gradients", against="torchh", cases=1)
