"""The README's example: a user's own MLP is checked, its tanh slip caught and shrunk."""

from __future__ import annotations

from conformance.api import check, failure_message
from conformance.exit_codes import TOO_FEW_COMPARED
from conformance.report import exit_code, failure_of
from examples import user_mlp

SUPPORTED = {
    "layers": ["dense"],
    "activations": ["sigmoid", "tanh", "identity"],
    "losses": ["half_sse", "mse"],
}


def _strategy():
    from conformance.strategies import case_stream

    return case_stream(**SUPPORTED)  # what check --layers dense --activations ... draws


def test_the_users_correct_mlp_fails_on_the_whole_stream_and_passes_on_what_it_supports():
    everything = check(user_mlp.gradients, against="numeric", cases=60, seed=0)
    # It declines most of the stream: too few cases compared is no pass, whatever agreed.
    assert everything.count("unsupported") > 30 and everything.count("mismatch") == 0
    assert exit_code(everything) == 1 and failure_of(everything) == TOO_FEW_COMPARED
    message = failure_message(everything)
    assert f"{everything.count('agree')} of 60 cases were compared" in message
    assert "activations: the reasons name relu" in message  # as keyword arguments
    lenient = check(user_mlp.gradients, against="numeric", cases=60, seed=0, min_compared=0.0)
    assert exit_code(lenient) == 0 and lenient.count("agree") == everything.count("agree")
    supported = check(user_mlp.gradients, against="numeric", cases=60, seed=0, strategy=_strategy())
    assert supported.count("agree") == 60 and exit_code(supported) == 0


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
