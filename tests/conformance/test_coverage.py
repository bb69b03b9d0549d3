"""A pass must mean something: too few compared cases fail, with reasons and advice."""

from __future__ import annotations

import pytest

from conformance.coverage import (
    NARROWINGS,
    advice,
    advice_lines,
    drawn_values,
    named_words,
    narrowing_options,
    reason_counts,
    too_few_lines,
    unsupported_lines,
)
from conformance.exit_codes import (
    CRASHED,
    MISMATCH_FOUND,
    NOTHING_COMPARED,
    TOO_FEW_COMPARED,
)
from conformance.report import verdict_failure

EVERY_OPTION = [
    "--activations",
    "--hidden-activations",
    "--output-activations",
    "--losses",
    "--reductions",
    "--l2 0",
    "--dtype",
    "--layers",
    "--max-depth",
    "--max-batch",
]


def test_the_table_names_every_option_that_narrows_the_case_stream():
    assert narrowing_options() == EVERY_OPTION
    keywords = narrowing_options(keywords=True)
    assert keywords[0] == "activations" and "l2=0" in keywords and len(keywords) == 10
    assert len({n.option for n in NARROWINGS}) == len(NARROWINGS)


@pytest.mark.parametrize(
    ("counts", "failure_kind", "min_compared", "expected"),
    [
        ({"agree": 50, "unsupported": 50}, None, 0.5, None),
        ({"agree": 49, "unsupported": 51}, None, 0.5, TOO_FEW_COMPARED),
        ({"agree": 7, "unsupported": 93}, None, 0.0, None),
        ({"agree": 0, "unsupported": 100}, None, 0.0, NOTHING_COMPARED),
        ({"agree": 90, "not comparable": 10}, None, 0.95, TOO_FEW_COMPARED),
        ({"agree": 5, "mismatch": 1}, MISMATCH_FOUND, 0.5, MISMATCH_FOUND),
        ({"agree": 5, "error": 1}, CRASHED, 0.5, CRASHED),
        ({"agree": 1, "unsupported": 99}, CRASHED, 0.5, CRASHED),
    ],
)
def test_a_run_fails_for_its_failure_else_for_too_few_compared(
    counts, failure_kind, min_compared, expected
):
    found = verdict_failure(
        counts, failure_kind=failure_kind, whole_run=True, min_compared=min_compared
    )
    assert found == expected


def test_a_shard_that_drew_no_case_passes_but_a_whole_run_without_cases_does_not():
    assert verdict_failure({}, failure_kind=None, whole_run=False, min_compared=0.5) is None
    assert verdict_failure({}, failure_kind=None, whole_run=True) == NOTHING_COMPARED


def test_names_are_found_as_whole_words():
    assert named_words("activation 'leaky_relu' is not supported", ["relu", "leaky_relu"]) == [
        "leaky_relu"
    ]
    assert named_words("relu, then softmax", ["softmax", "relu", "tanh"]) == ["softmax", "relu"]
    assert named_words("conv2d-ish layers", ["conv2d"]) == []


def test_advice_follows_the_reasons_and_keeps_the_names_no_reason_gave():
    reasons = [
        "activation 'relu' is not supported",
        "activation 'softmax' is not supported",
        "loss 'bce' is not supported",
        "only float64, please",
        "no L2 term here",
        "batch sizes above 4 are not supported",
    ]
    found = {item.option: item for item in advice(reasons)}
    assert list(found) == ["--activations", "--losses", "--l2 0", "--dtype", "--max-batch"]
    assert found["--activations"].named == ("relu", "softmax")
    assert found["--activations"].suggestion == (
        "--activations identity,sigmoid,tanh,leaky_relu,softplus"
    )
    assert found["--activations"].also == ("--hidden-activations", "--output-activations")
    assert found["--losses"].suggestion == (
        "--losses half_sse,mse,cross_entropy,softmax_cross_entropy,hinge"
    )
    assert found["--dtype"].suggestion == "--dtype float32"
    assert found["--l2 0"].suggestion == ""
    keyword = {item.option: item for item in advice(reasons, keywords=True)}
    assert keyword["losses"].suggestion.startswith("losses=['half_sse', 'mse'")
    assert advice(["I just do not feel like it"]) == []


def test_the_message_says_how_many_were_compared_why_not_the_rest_and_what_to_do():
    reasons = ["activation 'relu' is not supported"] * 5 + ["loss 'hinge' is not supported"] * 2
    lines = too_few_lines(compared=3, checked=10, min_compared=0.5, reasons=reasons)
    assert lines[0] == (
        "FAILED: 3 of 10 cases were compared; a pass needs at least 5 (--min-compared 0.5)"
    )
    assert "lower --min-compared" in lines[1]
    assert lines[2].startswith("    --activations: the reasons name relu; e.g. --activations ")
    assert lines[3].startswith("    --losses: the reasons name hinge; e.g. --losses ")
    assert lines[4] == "    every option that narrows the cases: " + ", ".join(EVERY_OPTION)
    assert advice_lines(reasons)[-1] == lines[4].strip()
    listed = unsupported_lines(reasons, 10)
    assert listed == [
        "unsupported: 7 of 10 cases (NotImplementedError), by reason:",
        "  5  activation 'relu' is not supported",
        "  2  loss 'hinge' is not supported",
    ]
    assert reason_counts(["b", "a", "a", "b", "c"]) == [("b", 2), ("a", 2), ("c", 1)]


def test_many_distinct_reasons_are_summed_past_the_shown_ones():
    reasons = [f"reason {n}" for n in range(12)]
    lines = unsupported_lines(reasons, 12)
    assert len(lines) == 1 + 8 + 1 and lines[-1] == "  4  ... 4 other reasons"


def test_advice_keeps_to_what_the_run_drew():
    # a run narrowed to relu and identity, whose implementation declines identity hidden
    cases = [
        {
            "format": "backprop-case/1",
            "dtype": "float64",
            "loss": {"name": "mse", "reduction": "mean"},
            "layers": [{"activation": "identity"}, {"activation": "relu"}],
        },
        {
            "format": "backprop-case/2",
            "dtype": "float32",
            "loss": {"name": "dot", "reduction": "sum"},
            "layers": [{"type": "residual", "layers": [{"type": "conv2d", "activation": "tanh"}]}],
        },
    ]
    drawn = drawn_values(cases)
    assert drawn["--activations"] == {"identity", "relu", "tanh"}
    assert drawn["--layers"] == {"dense", "residual", "conv2d"}
    assert drawn["--losses"] == {"mse", "dot"} and drawn["--dtype"] == {"float64", "float32"}
    (given,) = advice(["activation 'identity' is not supported"], drawn=drawn)
    assert given.suggestion == "--activations tanh,relu"  # never sigmoid: the run left it out
    (declined,) = advice(
        ["activation 'identity' is not supported", "activation 'relu' is not supported"],
        drawn={"--activations": {"identity", "relu"}},
    )
    assert declined.suggestion.startswith("every value the run drew is named")
    line = advice_lines(["activation 'relu' is not supported"], drawn={"--activations": {"relu"}})
    assert line[0].startswith("--activations: the reasons name relu; every value the run drew")
    # without what the run drew, every value of the contract no reason named
    (unknown,) = advice(["activation 'identity' is not supported"])
    assert "sigmoid" in unknown.suggestion and "identity" not in unknown.suggestion


def test_advice_suggests_the_values_of_the_compared_cases():
    # the reasons name conv2d only (the first thing declined); the compared cases show that
    # the implementation took dense layers alone
    drawn = {"--layers": {"dense", "conv2d", "maxpool2d", "batchnorm"}}
    compared = {"--layers": {"dense"}}
    (given,) = advice(["layer type 'conv2d' is not supported"], drawn=drawn, compared=compared)
    assert given.suggestion == "--layers dense"
    (without,) = advice(["layer type 'conv2d' is not supported"], drawn=drawn)
    assert without.suggestion == "--layers dense,maxpool2d,batchnorm"
    lines = too_few_lines(
        compared=1,
        checked=10,
        min_compared=0.5,
        reasons=["layer type 'conv2d' is not supported"],
        drawn=drawn,
        compared_values=compared,
    )
    assert any(line.strip().startswith("--layers: the reasons name conv2d; e.g. --layers dense")
               for line in lines)  # fmt: skip
