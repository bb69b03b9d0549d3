"""The README's example: a user's own MLP is checked, its tanh slip caught and shrunk."""

from __future__ import annotations

from conformance.api import check
from conformance.report import exit_code
from examples import user_mlp

SUPPORTED = {
    "layers": ["dense"],
    "activations": ["sigmoid", "tanh", "identity"],
    "losses": ["half_sse", "mse"],
}


def _strategy():
    from conformance.strategies import case_stream

    return case_stream(**SUPPORTED)  # what check --layers dense --activations ... draws


def test_the_users_correct_mlp_passes_and_reports_what_it_does_not_support():
    everything = check(user_mlp.gradients, against="numeric", cases=60, seed=0)
    assert exit_code(everything) == 0
    assert everything.count("unsupported") > 0 and everything.count("mismatch") == 0
    supported = check(user_mlp.gradients, against="numeric", cases=60, seed=0, strategy=_strategy())
    assert supported.count("agree") == 60


def test_the_users_tanh_slip_is_caught_in_a_tanh_layer_and_shrunk():
    run = check(
        user_mlp.gradients_with_tanh_bug, against="numeric", cases=100, seed=0, strategy=_strategy()
    )
    assert exit_code(run) == 1
    case = run.failure.case
    assert [layer["activation"] for layer in case["layers"]] == ["tanh"]
    assert case["inputs"].shape == (1, 1)
    wrong = {entry.quantity for c in run.failure.comparisons for entry in c.mismatches}
    assert wrong <= {"W", "b", "input_grad"} and "loss" not in wrong
