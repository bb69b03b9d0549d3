"""The scalar engine (impl/scalar.py): every backward rule against finite differences and PyTorch.

The engine is what the worked numbers of document 003 are computed with, so it is
checked independently: each operation and composite expressions of them at random
points against central differences, and (micrograd-style) against torch autograd
on the same expressions.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import numpy as np
import pytest

from conformance.tolerances import tolerance_for
from impl.scalar import Scalar, as_scalar, total

Expression = Callable[[Scalar, Scalar, Scalar], Scalar]

# Composite expressions of three inputs, each using several operations. Inputs are
# drawn positive where a log or a fractional power needs it (see _inputs).
EXPRESSIONS: dict[str, Expression] = {
    "polynomial": lambda x, y, z: x * y + z**3 - 2 * x**2 + 1.5,
    "quotient": lambda x, y, z: (x - y) / (z + 3) - 1 / x,
    "exp_log": lambda x, y, z: (x * y).exp().log() + (x + z).log() - (-y).exp(),
    "sigmoid_tanh": lambda x, y, z: (x * y - z).sigmoid() * (y + z).tanh() + x.sigmoid(),
    "relu_mix": lambda x, y, z: (x - y).relu() * z + (y * z + x).relu() ** 2 - (z - 3 * x).relu(),
    "reused_nodes": lambda x, y, z: _reuse(x, y, z),
    "fractional_power": lambda x, y, z: (x * z) ** 0.5 + y ** -2 + (x + y) ** 1.5,
    "neuron": lambda x, y, z: ((0.3 * x - 0.7 * y + 0.2 * z + 0.1).tanh() - 0.5) ** 2 / 2,
}


def _reuse(x: Scalar, y: Scalar, z: Scalar) -> Scalar:
    # a node used several times: its gradient must accumulate over every use
    u = x * y + z
    v = u * u + u.tanh() * x
    return v / (1 + u * u) + v


def _inputs(seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 2.0, size=3).tolist()  # positive: log and x**0.5 are defined


def _value(expression: Expression, values: list[float]) -> float:
    return expression(*(Scalar(v) for v in values)).data


def _central_difference(expression: Expression, values: list[float], index: int) -> float:
    step = 1e-6
    up, down = list(values), list(values)
    up[index] += step
    down[index] -= step
    return (_value(expression, up) - _value(expression, down)) / (2 * step)


def _near_a_kink(output: Scalar) -> bool:
    """True when a relu input is within 1e-3 of 0: a finite difference would straddle the kink."""
    return any(
        node.op == "relu" and abs(node.parents[0].data) < 1e-3
        for node in output.topological_order()
    )


def _agree(a: float, b: float, kind: str) -> bool:
    tolerance = tolerance_for("float64", kind)
    return abs(a - b) <= tolerance.atol + tolerance.rtol * abs(b)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("name", EXPRESSIONS)
def test_backward_matches_central_differences_at_random_points(name, seed):
    expression = EXPRESSIONS[name]
    values = _inputs(seed)
    leaves = [Scalar(v) for v in values]
    output = expression(*leaves)
    if _near_a_kink(output):
        pytest.skip("a relu input is within 1e-3 of its kink at this point")
    output.backward()
    for index, leaf in enumerate(leaves):
        numeric = _central_difference(expression, values, index)
        assert _agree(leaf.grad, numeric, "central"), (name, seed, index, leaf.grad, numeric)


@pytest.mark.parametrize(
    ("operation", "derivative", "point"),
    [
        (lambda x: x + 2.5, lambda v: 1.0, 0.7),
        (lambda x: 2.5 - x, lambda v: -1.0, 0.7),
        (lambda x: x * -3.0, lambda v: -3.0, 0.7),
        (lambda x: 3.0 / x, lambda v: -3.0 / v**2, 0.7),
        (lambda x: x**3, lambda v: 3 * v**2, -1.3),
        (lambda x: x**-0.5, lambda v: -0.5 * v**-1.5, 1.3),
        (lambda x: x.relu(), lambda v: 1.0, 0.7),
        (lambda x: x.relu(), lambda v: 0.0, -0.7),
        (lambda x: x.sigmoid(), lambda v: math.exp(-v) / (1 + math.exp(-v)) ** 2, -0.4),
        (lambda x: x.tanh(), lambda v: 1 / math.cosh(v) ** 2, 0.4),
        (lambda x: x.exp(), lambda v: math.exp(v), 0.4),
        (lambda x: x.log(), lambda v: 1 / v, 0.4),
        (lambda x: -x, lambda v: -1.0, 0.4),
    ],
)
def test_each_backward_rule_is_the_derivative_of_its_forward_rule(operation, derivative, point):
    leaf = Scalar(point)
    operation(leaf).backward()
    assert leaf.grad == pytest.approx(derivative(point), rel=1e-14, abs=1e-15)


def test_relu_at_its_kink_has_slope_zero_as_torch_and_jax():
    leaf = Scalar(0.0)
    leaf.relu().backward()
    assert leaf.grad == 0.0


def test_sigmoid_does_not_overflow_far_from_zero():
    assert Scalar(-1000.0).sigmoid().data == 0.0
    assert Scalar(1000.0).sigmoid().data == 1.0


def test_log_of_a_non_positive_number_says_so():
    with pytest.raises(ValueError, match="positive"):
        Scalar(0.0).log()


def test_a_variable_exponent_is_refused_with_a_way_out():
    with pytest.raises(TypeError, match="constant"):
        Scalar(2.0) ** Scalar(3.0)


def test_backward_twice_gives_the_same_gradients():
    x = Scalar(1.5)
    y = x * x + x.tanh()
    y.backward()
    first = x.grad
    y.backward()
    assert x.grad == first


def test_gradients_accumulate_over_every_use_of_a_node():
    x = Scalar(3.0)
    y = x * x * x  # x used three times: dy/dx = 3 x^2
    y.backward()
    assert x.grad == 27.0


def test_topological_order_lists_each_node_once_after_its_inputs():
    x, y = Scalar(1.0), Scalar(2.0)
    u = x * y
    out = u + u * x
    order = out.topological_order()
    assert len(order) == len({id(node) for node in order}) == 5  # x, y, u, u*x, out
    position = {id(node): index for index, node in enumerate(order)}
    for node in order:
        assert all(position[id(parent)] < position[id(node)] for parent in node.parents)


def test_a_deep_graph_does_not_hit_the_recursion_limit():
    x = Scalar(1.0)
    y = total(x * 1.0 for _ in range(5000))
    y.backward()
    assert x.grad == 5000.0


def test_total_and_as_scalar():
    assert total([1.0, Scalar(2.0), 3]).data == 6.0
    node = Scalar(1.0)
    assert as_scalar(node) is node
    with pytest.raises(ValueError, match="at least one"):
        total([])


# -- against PyTorch, micrograd-style -------------------------------------------------


def _unwrap(value):
    return value.tensor if isinstance(value, TorchScalar) else value


def _binary(operation):
    return lambda self, other: TorchScalar(operation(self.tensor, _unwrap(other)))


def _reflected(operation):
    return lambda self, other: TorchScalar(operation(_unwrap(other), self.tensor))


def _unary(name):
    import torch

    return lambda self: TorchScalar(getattr(torch, name)(self.tensor))


class TorchScalar:
    """Scalar's operator and method names on a torch tensor, to run the same expressions."""

    def __init__(self, tensor):
        self.tensor = tensor

    __add__, __radd__ = _binary(operator.add), _reflected(operator.add)
    __sub__, __rsub__ = _binary(operator.sub), _reflected(operator.sub)
    __mul__, __rmul__ = _binary(operator.mul), _reflected(operator.mul)
    __truediv__, __rtruediv__ = _binary(operator.truediv), _reflected(operator.truediv)
    __pow__ = _binary(operator.pow)

    def __neg__(self):
        return TorchScalar(-self.tensor)

    def __getattr__(self, name):  # relu, sigmoid, tanh, exp, log
        if name in ("relu", "sigmoid", "tanh", "exp", "log"):
            return _unary(name).__get__(self)
        raise AttributeError(name)


def _torch_gradients(expression: Expression, values: list[float]) -> tuple[float, list[float]]:
    torch = pytest.importorskip("torch")
    leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    out = expression(*(TorchScalar(leaf) for leaf in leaves)).tensor
    out.backward()
    # an input the expression does not use has no .grad in torch; its derivative is 0
    return out.item(), [0.0 if leaf.grad is None else leaf.grad.item() for leaf in leaves]


@pytest.mark.torch
@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("name", EXPRESSIONS)
def test_forward_and_backward_match_torch_on_the_same_expression(name, seed):
    expression = EXPRESSIONS[name]
    values = _inputs(seed)
    torch_value, torch_grads = _torch_gradients(expression, values)
    leaves = [Scalar(v) for v in values]
    output = expression(*leaves)
    output.backward()
    assert _agree(output.data, torch_value, "analytic")
    for leaf, expected in zip(leaves, torch_grads, strict=True):
        assert _agree(leaf.grad, expected, "analytic"), (name, seed, leaf.grad, expected)


@pytest.mark.torch
def test_micrograd_sanity_expression_matches_torch():
    # the shape of micrograd's own first test: relu, reuse and products of a node with itself
    def expression(x, _y, _z):
        z = 2 * x + 2 + x
        q = z.relu() + z * x
        h = (z * z).relu()
        return h + q + q * x

    torch_value, torch_grads = _torch_gradients(expression, [-4.0, 0.0, 0.0])
    x = Scalar(-4.0)
    y = expression(x, None, None)
    y.backward()
    assert y.data == torch_value
    assert x.grad == torch_grads[0]
