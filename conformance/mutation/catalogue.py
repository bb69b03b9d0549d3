"""The mutant catalogue: implementations of the contract with one realistic backprop bug each.

A harness that never fails proves nothing. Each mutant here is the hand-written
network of :mod:`impl` with exactly one rule replaced by a mistake people really
make (a derivative taken at the wrong point, a factor dropped from a loss
gradient, a transposed matrix, an L2 term in the wrong place, a softmax that
overflows, a silent change of dtype, ...). ``python -m conformance mutants``
checks every one with :func:`conformance.harness.run_check` and expects each to be
*killed*: the harness must find a case on which it disagrees with the references,
while :func:`impl.gradients` passes the very same cases.

How a mutant is built. :func:`network_gradients` is impl's ``gradients`` written
as a composition of small rules (:class:`Rules`): the activation and loss tables
and a dozen one-line rules of the forward and backward passes, each defaulting to
impl's own function or to the exact expression impl uses (a test checks that the
unmutated composition equals ``impl.gradients`` bit for bit). A mutant is a
:class:`Rules` with one rule replaced; impl's registries are never touched.

Every mutant returns results of the contract's shapes. A bug that only
type-checks on square layers (a transposed matrix) is applied where the shapes
let it through and left out elsewhere, as it would go unnoticed in its author's
square test network: only the values can give it away, which is what the harness
has to prove it can see.

Each mutant is a module-level callable, so that a saved counterexample replays
with ``python -m conformance replay FILE --impl conformance.mutation:NAME``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from contract import FORMAT_V2
from impl.activations import (
    ACTIVATIONS,
    DEFAULT_NEGATIVE_SLOPE,
    Activation,
    leaky_relu_backward,
    sigmoid,
)
from impl.losses import DEFAULT_MARGIN, LOSSES, Loss, hinge_gradient
from impl.network import DTYPES, Forward, Layer, build_layers, l2_penalty

Array = np.ndarray


# -- the rules of impl's network, one by one ---------------------------------------------------
def pre_activation(a_prev: Array, W: Array, b: Array) -> Array:
    """z = a_prev W^T + b (impl.network.forward)."""
    z = a_prev @ W.T
    z += b
    return z


def reduce_loss(reduction: str, per_sample: Array, grad_y: Array) -> tuple[Array, Array]:
    """The reduced data loss and its gradient (impl.network.loss_and_output_gradient)."""
    if reduction == "mean":
        return per_sample.sum() / grad_y.shape[0], grad_y / grad_y.shape[0]
    return per_sample.sum(), grad_y


def total_loss(data_loss: Array, penalty: Array) -> Array:
    """The loss reported: data loss plus the L2 penalty (impl.network.gradients)."""
    return data_loss + penalty


def delta_of(layer: Layer, z: Array, a: Array, grad_a: Array, *, last: bool) -> Array:
    """dLoss/dz of a layer from dLoss/da: the activation's backward rule, in every layer."""
    return layer.activation.backward(z, a, grad_a, **layer.options)


def backward_order(depth: int) -> Iterable[int]:
    """The layers visited by the backward loop: last to first, all of them."""
    return range(depth - 1, -1, -1)


def layer_input(cache: Forward, index: int) -> Array:
    """What a layer's weight gradient multiplies delta with: its input a_prev."""
    return cache.inputs[index]


def parameter_gradients(delta: Array, a_prev: Array) -> tuple[Array, Array]:
    """dLoss/dW = delta^T a_prev and dLoss/db = delta summed over the samples."""
    return delta.T @ a_prev, delta.sum(axis=0)


def weight_decay(layer: Layer, l2: float) -> tuple[Array | None, Array | None]:
    """What L2 adds to the W and b gradients: lambda W to W, nothing to b."""
    return l2 * layer.W, None


def propagate(delta: Array, W: Array) -> Array:
    """dLoss/da_prev = delta W."""
    return delta @ W


def input_gradient(grad_first_output: Array, grad_inputs: Array) -> Array:
    """The input gradient is what the first layer's backward step propagates."""
    return grad_inputs


def same_dtypes(case_dtype: str) -> tuple[str, str]:
    """(computed in, returned in): the case's dtype, end to end (docs/contract.md)."""
    return case_dtype, case_dtype


@dataclass(frozen=True)
class Rules:
    """Every rule :func:`network_gradients` is built from; the defaults are impl's."""

    activations: Mapping[str, Activation] = field(default_factory=lambda: dict(ACTIVATIONS))
    losses: Mapping[str, Loss] = field(default_factory=lambda: dict(LOSSES))
    dtypes: Callable[[str], tuple[str, str]] = same_dtypes
    pre_activation: Callable[[Array, Array, Array], Array] = pre_activation
    reduce_loss: Callable[[str, Array, Array], tuple[Array, Array]] = reduce_loss
    l2_penalty: Callable[[Sequence[Layer], float], Array] = l2_penalty
    total_loss: Callable[[Array, Array], Array] = total_loss
    delta: Callable[..., Array] = delta_of
    backward_order: Callable[[int], Iterable[int]] = backward_order
    layer_input: Callable[[Forward, int], Array] = layer_input
    parameter_gradients: Callable[[Array, Array], tuple[Array, Array]] = parameter_gradients
    weight_decay: Callable[[Layer, float], tuple[Array | None, Array | None]] = weight_decay
    propagate: Callable[[Array, Array], Array] = propagate
    input_gradient: Callable[[Array, Array], Array] = input_gradient


CORRECT = Rules()
"""impl's rules, unmutated: :func:`network_gradients` with these is ``impl.gradients``."""


def network_gradients(case: Mapping[str, Any], rules: Rules = CORRECT) -> dict[str, Any]:
    """impl.gradients (docs/contract.md's contract), composed from ``rules``."""
    working, returned = rules.dtypes(case.get("dtype", "float64"))
    dtype = DTYPES[working]
    layers = [
        dataclasses.replace(layer, activation=rules.activations[layer.activation.name])
        for layer in build_layers(dict(case, dtype=working))
    ]
    x = np.asarray(case["inputs"], dtype=dtype)
    t = np.asarray(case["targets"], dtype=dtype)
    l2 = float(case.get("l2", 0.0))

    inputs, pre_activations, activations = [], [], []
    a = x
    for layer in layers:
        z = rules.pre_activation(a, layer.W, layer.b)
        inputs.append(a)
        a = layer.activation.forward(z, **layer.options)
        pre_activations.append(z)
        activations.append(a)
    cache = Forward(inputs, pre_activations, activations)
    y = activations[-1]

    loss_spec = case["loss"]
    loss_rule = rules.losses[loss_spec["name"]]
    options = {key: float(loss_spec[key]) for key in loss_rule.options if key in loss_spec}
    data_loss, grad_y = rules.reduce_loss(
        loss_spec.get("reduction", "sum"),
        loss_rule.value(y, t, **options),
        loss_rule.gradient(y, t, **options),
    )
    loss = rules.total_loss(data_loss, rules.l2_penalty(layers, l2)) if l2 else data_loss

    grads = [{"W": np.zeros_like(layer.W), "b": np.zeros_like(layer.b)} for layer in layers]
    input_grad = np.zeros_like(x)
    grad_a = grad_y
    for index in rules.backward_order(len(layers)):
        layer = layers[index]
        delta = rules.delta(
            layer, pre_activations[index], activations[index], grad_a, last=index == len(layers) - 1
        )
        grad_W, grad_b = rules.parameter_gradients(delta, rules.layer_input(cache, index))
        if l2:
            decay_W, decay_b = rules.weight_decay(layer, l2)
            grad_W = grad_W + decay_W if decay_W is not None else grad_W
            grad_b = grad_b + decay_b if decay_b is not None else grad_b
        grads[index] = {"W": grad_W, "b": grad_b}
        grad_output, grad_a = grad_a, rules.propagate(delta, layer.W)
        if index == 0:
            input_grad = rules.input_gradient(grad_output, grad_a)

    result_dtype = DTYPES[returned]
    return {
        "loss": result_dtype(loss),
        "outputs": y.astype(result_dtype, copy=False),
        "grads": [{k: v.astype(result_dtype, copy=False) for k, v in g.items()} for g in grads],
        "input_grad": input_grad.astype(result_dtype, copy=False),
    }


# -- mutants -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Mutant:
    """One implementation of the contract with one planted bug: ``mutant(case) -> result``."""

    name: str
    description: str
    rules: Rules

    def __post_init__(self) -> None:
        # Named like the module-level function it stands for, so that a report built from
        # the callable itself (conformance.api.check) says which mutant it checked.
        object.__setattr__(self, "__name__", self.name)
        object.__setattr__(self, "__qualname__", self.name)

    @property
    def spec(self) -> str:
        """How the command line names it: ``conformance.mutation:NAME``."""
        return f"conformance.mutation:{self.name}"

    def __call__(self, case: Mapping[str, Any]) -> dict[str, Any]:
        if case.get("format") == FORMAT_V2:
            # A dense network's code meeting a typed layer says so, as the contract asks
            # (docs/contract.md, section 'Unsupported cases'): its bug is a dense one.
            raise NotImplementedError("a dense network: version 2 layers are not supported")
        return network_gradients(case, self.rules)


_catalogue: list[Mutant] = []


def _mutant(name: str, description: str, **replaced: Any) -> Mutant:
    """A mutant whose rules are impl's with ``replaced`` swapped in, added to the catalogue."""
    mutant = Mutant(name, description, dataclasses.replace(CORRECT, **replaced))
    _catalogue.append(mutant)
    return mutant


def _activation(name: str, **replaced: Any) -> dict[str, Any]:
    """impl's activation table with one rule of activation ``name`` replaced."""
    table = dict(ACTIVATIONS)
    table[name] = dataclasses.replace(ACTIVATIONS[name], **replaced)
    return {"activations": table}


def _loss(name: str, **replaced: Any) -> dict[str, Any]:
    """impl's loss table with one rule of loss ``name`` replaced."""
    table = dict(LOSSES)
    table[name] = dataclasses.replace(LOSSES[name], **replaced)
    return {"losses": table}


def _where_shapes_allow(wrong: Array, right: Array) -> Array:
    """``wrong`` where it has the right shape (a square layer), else ``right``: the bug
    that would raise on other layers goes unnoticed on the square ones."""
    return wrong if wrong.shape == right.shape else right


# activations: wrong derivatives -------------------------------------------------------------
sigmoid_derivative_missing_one_minus_a = _mutant(
    "sigmoid_derivative_missing_one_minus_a",
    "sigmoid'(z) taken as a instead of a (1 - a)",
    **_activation("sigmoid", backward=lambda z, a, grad_a: grad_a * a),
)

sigmoid_derivative_at_pre_activation = _mutant(
    "sigmoid_derivative_at_pre_activation",
    "sigmoid'(z) written as z (1 - z): the formula a (1 - a) fed the pre-activation",
    **_activation("sigmoid", backward=lambda z, a, grad_a: grad_a * z * (1 - z)),
)

sigmoid_derivative_of_activation = _mutant(
    "sigmoid_derivative_of_activation",
    "sigmoid'(z) computed as sigmoid'(a): the derivative helper called on the output",
    **_activation("sigmoid", backward=lambda z, a, grad_a: grad_a * sigmoid(a) * (1 - sigmoid(a))),
)

tanh_derivative_not_squared = _mutant(
    "tanh_derivative_not_squared",
    "tanh'(z) taken as 1 - a instead of 1 - a^2",
    **_activation("tanh", backward=lambda z, a, grad_a: grad_a * (1 - a)),
)

tanh_derivative_at_pre_activation = _mutant(
    "tanh_derivative_at_pre_activation",
    "tanh'(z) written as 1 - z^2: the formula 1 - a^2 fed the pre-activation",
    **_activation("tanh", backward=lambda z, a, grad_a: grad_a * (1 - z * z)),
)

relu_derivative_is_activation = _mutant(
    "relu_derivative_is_activation",
    "relu backward multiplies by a = max(z, 0) instead of the mask (z > 0)",
    **_activation("relu", backward=lambda z, a, grad_a: grad_a * a),
)

relu_mask_forgotten = _mutant(
    "relu_mask_forgotten",
    "relu backward passes the gradient through unmasked (derivative 1 for z < 0 too)",
    **_activation("relu", backward=lambda z, a, grad_a: grad_a),
)


def _leaky_relu_backward_default_slope(
    z: Array, a: Array, grad_a: Array, negative_slope: float = DEFAULT_NEGATIVE_SLOPE
) -> Array:
    return leaky_relu_backward(z, a, grad_a)  # the case's slope is accepted, then not passed on


leaky_relu_slope_lost = _mutant(
    "leaky_relu_slope_lost",
    "leaky_relu backward uses the default slope 0.01, not the case's negative_slope",
    **_activation("leaky_relu", backward=_leaky_relu_backward_default_slope),
)

leaky_relu_backward_as_relu = _mutant(
    "leaky_relu_backward_as_relu",
    "leaky_relu backward copied from relu: slope 0 instead of negative_slope for z < 0",
    **_activation(
        "leaky_relu",
        backward=lambda z, a, grad_a, negative_slope=DEFAULT_NEGATIVE_SLOPE: grad_a * (z > 0),
    ),
)

softplus_derivative_tanh = _mutant(
    "softplus_derivative_tanh",
    "softplus'(z) taken as tanh(z) instead of sigmoid(z)",
    **_activation("softplus", backward=lambda z, a, grad_a: grad_a * np.tanh(z)),
)

softplus_derivative_of_activation = _mutant(
    "softplus_derivative_of_activation",
    "softplus'(z) computed as sigmoid(a): evaluated at the output instead of z",
    **_activation("softplus", backward=lambda z, a, grad_a: grad_a * sigmoid(a)),
)

softmax_jacobian_diagonal = _mutant(
    "softmax_jacobian_diagonal",
    "softmax Jacobian taken as its diagonal a (1 - a): the cross terms -a_i a_j dropped",
    **_activation("softmax", backward=lambda z, a, grad_a: grad_a * a * (1 - a)),
)

softmax_backward_passthrough = _mutant(
    "softmax_backward_passthrough",
    "softmax backward passes the gradient through, as if fused with cross-entropy (y - t)",
    **_activation("softmax", backward=lambda z, a, grad_a: grad_a),
)


# activations: numerically unstable forward passes -------------------------------------------
def _unstable_softmax(z: Array) -> Array:
    e = np.exp(z)  # no max subtraction: e^1000 overflows to inf, inf / inf is NaN
    return e / e.sum(axis=1, keepdims=True)


def _unstable_sigmoid(z: Array) -> Array:
    e = np.exp(z)  # e^z / (1 + e^z): for z > 709 (float64) this is inf / inf = NaN
    return e / (1 + e)


def _unstable_tanh(z: Array) -> Array:
    e_plus, e_minus = np.exp(z), np.exp(-z)  # the textbook formula: inf / inf for |z| > 709
    return (e_plus - e_minus) / (e_plus + e_minus)


def _unstable_softplus(z: Array) -> Array:
    return np.log(1 + np.exp(z))  # inf for z > 709, where softplus(z) is z


unstable_softmax = _mutant(
    "unstable_softmax",
    "softmax as e^z / sum e^z without subtracting the row maximum: overflows at z ~ 1000",
    **_activation("softmax", forward=_unstable_softmax),
)

unstable_sigmoid = _mutant(
    "unstable_sigmoid",
    "sigmoid as e^z / (1 + e^z): overflows to NaN for large z",
    **_activation("sigmoid", forward=_unstable_sigmoid),
)

unstable_tanh = _mutant(
    "unstable_tanh",
    "tanh as (e^z - e^-z) / (e^z + e^-z): overflows to NaN for large |z|",
    **_activation("tanh", forward=_unstable_tanh),
)

unstable_softplus = _mutant(
    "unstable_softplus",
    "softplus as log(1 + e^z): overflows to inf for large z",
    **_activation("softplus", forward=_unstable_softplus),
)


def _softplus_stable_above_only(z: Array) -> Array:
    return z + np.log1p(np.exp(-z))  # the form for z > 0 used everywhere: e^-z overflows below


softplus_overflows_below = _mutant(
    "softplus_overflows_below",
    "softplus as z + log(1 + e^-z), stable for z > 0 only: e^-z overflows for z < -709 "
    "(float64), -88.7 (float32)",
    **_activation("softplus", forward=_softplus_stable_above_only),
)


def _sigmoid_backward_from_exponentials(z: Array, a: Array, grad_a: Array) -> Array:
    e = np.exp(-z)  # the textbook e^-z / (1 + e^-z)^2: inf / inf = NaN for z < -709
    return grad_a * e / ((1 + e) * (1 + e))


sigmoid_derivative_from_exponentials = _mutant(
    "sigmoid_derivative_from_exponentials",
    "sigmoid'(z) as e^-z / (1 + e^-z)^2: NaN where e^-z overflows (z < -709 in float64)",
    **_activation("sigmoid", backward=_sigmoid_backward_from_exponentials),
)


def _sigmoid_guarded_for_float64(z: Array) -> Array:
    e = np.exp(np.clip(z, -500, 500))  # clipped "against overflow": enough for float64 only
    return e / (1 + e)


sigmoid_overflow_guard_for_float64_only = _mutant(
    "sigmoid_overflow_guard_for_float64_only",
    "sigmoid as e^z / (1 + e^z), z clipped to +-500 against overflow: enough in float64, "
    "not in float32 (e^89 = inf)",
    **_activation("sigmoid", forward=_sigmoid_guarded_for_float64),
)


def _softmax_batch_max(z: Array) -> Array:
    e = np.exp(z - z.max())  # the batch's maximum, not each row's: other rows underflow to 0
    return e / e.sum(axis=1, keepdims=True)


softmax_shifted_by_batch_max = _mutant(
    "softmax_shifted_by_batch_max",
    "softmax shifted by the batch's largest entry, not each row's: a row far below another "
    "underflows to 0 / 0",
    **_activation("softmax", forward=_softmax_batch_max),
)


# losses: gradients with a missing or extra factor --------------------------------------------
half_sse_gradient_doubled = _mutant(
    "half_sse_gradient_doubled",
    "half_sse gradient 2 (y - t): the derivative of sum (y - t)^2, the 1/2 forgotten",
    **_loss("half_sse", gradient=lambda y, t: 2 * (y - t)),
)

half_sse_gradient_sign_flipped = _mutant(
    "half_sse_gradient_sign_flipped",
    "half_sse gradient t - y: a sign error (the documents write E = 1/2 sum (t - y)^2)",
    **_loss("half_sse", gradient=lambda y, t: t - y),
)

mse_gradient_missing_2_over_k = _mutant(
    "mse_gradient_missing_2_over_k",
    "mse gradient y - t: the factor 2/K of mean_k (y_k - t_k)^2 missing",
    **_loss("mse", gradient=lambda y, t: y - t),
)

mse_gradient_missing_1_over_k = _mutant(
    "mse_gradient_missing_1_over_k",
    "mse gradient 2 (y - t): the mean over the K outputs differentiated as a sum",
    **_loss("mse", gradient=lambda y, t: 2 * (y - t)),
)

bce_gradient_missing_denominator = _mutant(
    "bce_gradient_missing_denominator",
    "bce gradient y - t (the fused sigmoid + bce formula) on probabilities: / y (1 - y) missing",
    **_loss("bce", gradient=lambda y, t: y - t),
)

bce_gradient_drops_negative_class = _mutant(
    "bce_gradient_drops_negative_class",
    "bce gradient -t / y: the (1 - t) log(1 - y) term not differentiated",
    **_loss("bce", gradient=lambda y, t: -t / y),
)

cross_entropy_gradient_y_minus_t = _mutant(
    "cross_entropy_gradient_y_minus_t",
    "cross_entropy on probabilities given the softmax-with-loss gradient y - t, not -t / y",
    **_loss("cross_entropy", gradient=lambda y, t: y - t),
)

cross_entropy_gradient_sign_flipped = _mutant(
    "cross_entropy_gradient_sign_flipped",
    "cross_entropy gradient t / y: the minus sign of -log dropped",
    **_loss("cross_entropy", gradient=lambda y, t: t / y),
)

softmax_cross_entropy_gradient_on_logits = _mutant(
    "softmax_cross_entropy_gradient_on_logits",
    "softmax_cross_entropy gradient y - t with y the logits: the softmax forgotten",
    **_loss("softmax_cross_entropy", gradient=lambda y, t: y - t),
)


def _unstable_softmax_cross_entropy(y: Array, t: Array) -> Array:
    return -(t * np.log(_unstable_softmax(y))).sum(axis=1)


softmax_cross_entropy_unstable = _mutant(
    "softmax_cross_entropy_unstable",
    "softmax_cross_entropy as -sum t log(e^y / sum e^y), no log-sum-exp: NaN at y ~ 1000",
    **_loss("softmax_cross_entropy", value=_unstable_softmax_cross_entropy),
)

softmax_cross_entropy_gradient_assumes_distribution = _mutant(
    "softmax_cross_entropy_gradient_assumes_distribution",
    "softmax_cross_entropy gradient softmax(y) - t, right only where a row of targets sums "
    "to 1 (it is softmax(y) sum(t) - t)",
    **_loss("softmax_cross_entropy", gradient=lambda y, t: ACTIVATIONS["softmax"].forward(y) - t),
)


def _log_softmax_batch_max(y: Array) -> Array:
    shifted = y - y.max()  # log-sum-exp shifted by the batch's maximum, not the row's
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


softmax_cross_entropy_batch_max = _mutant(
    "softmax_cross_entropy_batch_max",
    "softmax_cross_entropy's log-sum-exp shifted by the batch's largest logit: a row far "
    "below another gives log 0",
    **_loss(
        "softmax_cross_entropy",
        value=lambda y, t: -(t * _log_softmax_batch_max(y)).sum(axis=1),
        gradient=lambda y, t: np.exp(_log_softmax_batch_max(y)) * t.sum(axis=1, keepdims=True) - t,
    ),
)


# losses: hinge ------------------------------------------------------------------------------
def _margins_with_correct_class(y: Array, t: Array, margin: float) -> tuple[Array, Array]:
    rows = np.arange(y.shape[0])
    correct = t.argmax(axis=1)
    return y - y[rows, correct][:, None] + margin, correct  # j == c is not skipped


def _hinge_counting_correct_class(y: Array, t: Array, margin: float = DEFAULT_MARGIN) -> Array:
    margins, _ = _margins_with_correct_class(y, t, margin)
    return np.maximum(margins, 0).sum(axis=1)


def _hinge_gradient_counting_correct_class(
    y: Array, t: Array, margin: float = DEFAULT_MARGIN
) -> Array:
    margins, correct = _margins_with_correct_class(y, t, margin)
    active = (margins > 0).astype(y.dtype)
    rows = np.arange(y.shape[0])
    active[rows, correct] = -active.sum(axis=1)  # counts the correct class's own "violation"
    return active


hinge_counts_correct_class = _mutant(
    "hinge_counts_correct_class",
    "hinge sums max(0, y_j - y_c + margin) over every j, the correct class too (adds margin)",
    **_loss(
        "hinge",
        value=_hinge_counting_correct_class,
        gradient=_hinge_gradient_counting_correct_class,
    ),
)


def _hinge_gradient_correct_class_once(y: Array, t: Array, margin: float = DEFAULT_MARGIN) -> Array:
    grad = hinge_gradient(y, t, margin)
    rows = np.arange(y.shape[0])
    correct = t.argmax(axis=1)
    pushed = grad[rows, correct] < 0
    grad[rows, correct] = -pushed.astype(y.dtype)  # -1 once, not -1 per violated margin
    return grad


hinge_correct_class_pushed_once = _mutant(
    "hinge_correct_class_pushed_once",
    "hinge gradient of the correct class -1 instead of -(number of violated margins)",
    **_loss("hinge", gradient=_hinge_gradient_correct_class_once),
)


def _hinge_margins_last_tie(y: Array, t: Array, margin: float) -> tuple[Array, Array]:
    rows = np.arange(y.shape[0])
    correct = t.shape[1] - 1 - t[:, ::-1].argmax(axis=1)  # the last of tied largest targets
    margins = y - y[rows, correct][:, None] + margin
    margins[rows, correct] = 0
    return margins, correct


def _hinge_last_tie(y: Array, t: Array, margin: float = DEFAULT_MARGIN) -> Array:
    return np.maximum(_hinge_margins_last_tie(y, t, margin)[0], 0).sum(axis=1)


def _hinge_gradient_last_tie(y: Array, t: Array, margin: float = DEFAULT_MARGIN) -> Array:
    margins, correct = _hinge_margins_last_tie(y, t, margin)
    active = (margins > 0).astype(y.dtype)
    active[np.arange(y.shape[0]), correct] = -active.sum(axis=1)
    return active


hinge_class_is_last_tie = _mutant(
    "hinge_class_is_last_tie",
    "hinge takes the last of tied largest targets as the correct class, not the first",
    **_loss("hinge", value=_hinge_last_tie, gradient=_hinge_gradient_last_tie),
)

hinge_margin_ignored = _mutant(
    "hinge_margin_ignored",
    "hinge declares no options, so the case's margin is dropped and the default 1 used",
    **_loss("hinge", options=()),
)


# reduction and L2 ---------------------------------------------------------------------------
def _mean_loss_summed_gradient(
    reduction: str, per_sample: Array, grad_y: Array
) -> tuple[Array, Array]:
    if reduction == "mean":
        return per_sample.sum() / grad_y.shape[0], grad_y  # the 1/N never reaches the gradient
    return per_sample.sum(), grad_y


def _mean_over_every_entry(reduction: str, per_sample: Array, grad_y: Array) -> tuple[Array, Array]:
    if reduction == "mean":
        entries = grad_y.size  # N * K, as np.mean over the whole (N, K) array would
        return per_sample.sum() / entries, grad_y / entries
    return per_sample.sum(), grad_y


missing_mean_factor = _mutant(
    "missing_mean_factor",
    "mean reduction applied to the loss but not to its gradient (1/N missing)",
    reduce_loss=_mean_loss_summed_gradient,
)

mean_over_every_entry = _mutant(
    "mean_over_every_entry",
    "mean reduction divides loss and gradient by N K (every entry) instead of N samples",
    reduce_loss=_mean_over_every_entry,
)

l2_on_biases = _mutant(
    "l2_on_biases",
    "the L2 gradient is added to the biases too (lambda b), as decay on every parameter",
    weight_decay=lambda layer, l2: (l2 * layer.W, l2 * layer.b),
)

l2_gradient_doubled = _mutant(
    "l2_gradient_doubled",
    "L2 gradient 2 lambda W: the derivative of lambda ||W||^2, not of lambda/2 ||W||^2",
    weight_decay=lambda layer, l2: (2 * l2 * layer.W, None),
)

l2_gradient_missing = _mutant(
    "l2_gradient_missing",
    "the L2 term is in the loss but never added to the weight gradients",
    weight_decay=lambda layer, l2: (None, None),
)

loss_without_l2 = _mutant(
    "loss_without_l2",
    "the reported loss leaves out the L2 penalty (the gradients include it)",
    total_loss=lambda data_loss, penalty: data_loss,
)


def _l2_penalty_not_halved(layers: Sequence[Layer], l2: float) -> Array:
    return l2_penalty(layers, l2) * 2  # lambda ||W||^2: the 1/2 of lambda/2 forgotten


l2_penalty_not_halved = _mutant(
    "l2_penalty_not_halved",
    "the L2 penalty in the loss is lambda ||W||^2 instead of lambda/2 ||W||^2",
    l2_penalty=_l2_penalty_not_halved,
)


# the backward pass --------------------------------------------------------------------------
def _transposed_weight_gradient(delta: Array, a_prev: Array) -> tuple[Array, Array]:
    right = delta.T @ a_prev
    return _where_shapes_allow(a_prev.T @ delta, right), delta.sum(axis=0)


def _propagate_through_transpose(delta: Array, W: Array) -> Array:
    right = delta @ W
    if W.shape[0] != W.shape[1]:
        return right
    return delta @ W.T  # the documents' W^T delta, with W^T applied once too often


transposed_weight_gradient = _mutant(
    "transposed_weight_gradient",
    "dLoss/dW computed as a_prev^T delta, the transpose (square layers, where shapes agree)",
    parameter_gradients=_transposed_weight_gradient,
)

backward_through_w_transposed = _mutant(
    "backward_through_w_transposed",
    "delta propagated as delta W^T instead of delta W (square layers, where shapes agree)",
    propagate=_propagate_through_transpose,
)

bias_gradient_averaged = _mutant(
    "bias_gradient_averaged",
    "dLoss/db averaged over the samples instead of summed",
    parameter_gradients=lambda delta, a_prev: (delta.T @ a_prev, delta.mean(axis=0)),
)

only_first_sample = _mutant(
    "only_first_sample",
    "W and b gradients from the first sample of the batch only (code written for one sample)",
    parameter_gradients=lambda delta, a_prev: (np.outer(delta[0], a_prev[0]), delta[0].copy()),
)

backward_unrolled_for_three_layers = _mutant(
    "backward_unrolled_for_three_layers",
    "backward pass unrolled for three layers (dW3, dW2, dW1): deeper layers and the input "
    "gradient stay zero",
    backward_order=lambda depth: range(depth - 1, max(depth - 4, -1), -1),
)


def _gradients_from_four_samples(delta: Array, a_prev: Array) -> tuple[Array, Array]:
    kept = slice(0, 4)  # a buffer sized for the batch of 4 the author tested with
    return delta[kept].T @ a_prev[kept], delta[kept].sum(axis=0)


gradients_from_first_four_samples = _mutant(
    "gradients_from_first_four_samples",
    "W and b gradients accumulated in a buffer of four samples: samples past the fourth "
    "are dropped",
    parameter_gradients=_gradients_from_four_samples,
)

off_by_one_layer_loop = _mutant(
    "off_by_one_layer_loop",
    "backward loop range(L - 1, 0, -1) stops before layer 0: its gradients and the input "
    "gradient stay zero",
    backward_order=lambda depth: range(depth - 1, 0, -1),
)

input_grad_skips_first_layer = _mutant(
    "input_grad_skips_first_layer",
    "input gradient taken as dLoss/d(output of layer 0): layer 0's backward step skipped "
    "(square first layers)",
    input_gradient=_where_shapes_allow,
)

hidden_delta_missing_derivative = _mutant(
    "hidden_delta_missing_derivative",
    "hidden layers' delta = (delta W) without * f'(z): only the output layer's activation "
    "is differentiated",
    delta=lambda layer, z, a, grad_a, *, last: (
        delta_of(layer, z, a, grad_a, last=last) if last else grad_a
    ),
)

weight_gradient_from_pre_activation = _mutant(
    "weight_gradient_from_pre_activation",
    "dLoss/dW = delta^T z_prev: the previous layer's pre-activation instead of its output",
    layer_input=lambda cache, index: (
        cache.pre_activations[index - 1] if index > 0 else cache.inputs[0]
    ),
)

forward_without_bias = _mutant(
    "forward_without_bias",
    "the forward pass forgets + b: z = a_prev W^T",
    pre_activation=lambda a_prev, W, b: a_prev @ W.T,
)


# dtypes -------------------------------------------------------------------------------------
float32_upcast_to_float64 = _mutant(
    "float32_upcast_to_float64",
    "a float32 case silently computed and returned in float64 (arrays built without dtype=)",
    dtypes=lambda case_dtype: ("float64", "float64"),
)

float64_downcast_to_float32 = _mutant(
    "float64_downcast_to_float32",
    "a float64 case computed in float32 and cast back to float64 (~1e-7 relative error)",
    dtypes=lambda case_dtype: ("float32", case_dtype),
)


CATALOGUE: tuple[Mutant, ...] = tuple(_catalogue)
"""Every mutant, in the order the command checks them."""

MUTANTS: dict[str, Mutant] = {mutant.name: mutant for mutant in CATALOGUE}
"""The catalogue by name."""
