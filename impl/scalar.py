"""A scalar reverse-mode autodiff engine, and the computation graphs of document 003 built with it.

Each operation of :class:`Scalar` computes its value and, a few lines below,
defines its backward rule: how the gradient arriving at the result (``out.grad``)
flows to the operands. :meth:`Scalar.backward` orders the graph topologically and
runs those rules from the output back to the leaves, exactly the right-to-left
sweep of document 003 (003_f824c9119bf8e39e.txt, section 二.2 "反向传播计算过程").
Structure after micrograd (Karpathy).

The second half builds document 003's examples: nudging J(w) by epsilon
(section 一), the graph c = w x, a = c + b, d = a - y, J = d^2 / 2 (section 二)
and the two-layer ReLU network with its node t2 = w2 a1 (section 三). Nodes carry
the document's names as labels so that every derivative it prints can be read off.

This module imports only the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Number = int | float


def _no_backward() -> None:
    """The backward rule of a leaf: nothing lies below it."""


class Scalar:
    """One node of a computation graph: a float value, its gradient and how it was made.

    ``grad`` is dJ/d(this node) after ``J.backward()`` on an output ``J``.
    """

    __slots__ = ("data", "grad", "label", "op", "_parents", "_backward")

    def __init__(
        self, data: Number, *, label: str = "", op: str = "", parents: tuple[Scalar, ...] = ()
    ) -> None:
        self.data = float(data)
        self.grad = 0.0
        self.label = label
        self.op = op
        self._parents = parents
        self._backward: Callable[[], None] = _no_backward

    @property
    def parents(self) -> tuple[Scalar, ...]:
        """The nodes this one was computed from (empty for a leaf)."""
        return self._parents

    def __repr__(self) -> str:
        name = f"{self.label}=" if self.label else ""
        return f"Scalar({name}{self.data!r}, grad={self.grad!r})"

    # addition ---------------------------------------------------------------
    def __add__(self, other: Scalar | Number) -> Scalar:
        other = as_scalar(other)
        out = Scalar(self.data + other.data, op="+", parents=(self, other))

        def backward() -> None:  # d(x + y) = dx + dy
            self.grad += out.grad
            other.grad += out.grad

        out._backward = backward
        return out

    # multiplication -----------------------------------------------------------
    def __mul__(self, other: Scalar | Number) -> Scalar:
        other = as_scalar(other)
        out = Scalar(self.data * other.data, op="*", parents=(self, other))

        def backward() -> None:  # d(x y) = y dx + x dy
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = backward
        return out

    # division -----------------------------------------------------------------
    def __truediv__(self, other: Scalar | Number) -> Scalar:
        other = as_scalar(other)
        out = Scalar(self.data / other.data, op="/", parents=(self, other))

        def backward() -> None:  # d(x / y) = dx / y - x dy / y^2
            self.grad += out.grad / other.data
            other.grad -= out.grad * self.data / (other.data * other.data)

        out._backward = backward
        return out

    # power with a constant exponent -------------------------------------------
    def __pow__(self, exponent: Number) -> Scalar:
        if isinstance(exponent, Scalar):
            raise TypeError(
                "Scalar ** Scalar is not supported; the exponent must be a constant number "
                "(write (x.log() * y).exp() for a variable exponent)"
            )
        k = float(exponent)
        out = Scalar(self.data**k, op=f"**{exponent!r}", parents=(self,))

        def backward() -> None:  # d(x^k) = k x^(k-1) dx
            self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = backward
        return out

    # relu ---------------------------------------------------------------------
    def relu(self) -> Scalar:
        out = Scalar(self.data if self.data > 0 else 0.0, op="relu", parents=(self,))

        def backward() -> None:  # slope 1 for x > 0, else 0 (0 at the kink, as torch and jax)
            self.grad += out.grad if self.data > 0 else 0.0

        out._backward = backward
        return out

    # sigmoid (logistic) -------------------------------------------------------
    def sigmoid(self) -> Scalar:
        e = math.exp(-abs(self.data))  # e^-|x| never overflows
        value = 1 / (1 + e) if self.data >= 0 else e / (1 + e)
        out = Scalar(value, op="sigmoid", parents=(self,))

        def backward() -> None:  # phi' = phi (1 - phi), document 004 (1.3)
            self.grad += value * (1 - value) * out.grad

        out._backward = backward
        return out

    # tanh ---------------------------------------------------------------------
    def tanh(self) -> Scalar:
        value = math.tanh(self.data)
        out = Scalar(value, op="tanh", parents=(self,))

        def backward() -> None:  # tanh' = 1 - tanh^2
            self.grad += (1 - value * value) * out.grad

        out._backward = backward
        return out

    # exp ----------------------------------------------------------------------
    def exp(self) -> Scalar:
        value = math.exp(self.data)
        out = Scalar(value, op="exp", parents=(self,))

        def backward() -> None:  # (e^x)' = e^x
            self.grad += value * out.grad

        out._backward = backward
        return out

    # natural logarithm --------------------------------------------------------
    def log(self) -> Scalar:
        if self.data <= 0:
            raise ValueError(
                f"log of {self.data!r}: the natural logarithm needs a positive argument"
            )
        out = Scalar(math.log(self.data), op="log", parents=(self,))

        def backward() -> None:  # (ln x)' = 1 / x
            self.grad += out.grad / self.data

        out._backward = backward
        return out

    # operations made of the ones above ----------------------------------------
    def __neg__(self) -> Scalar:
        return self * -1

    def __sub__(self, other: Scalar | Number) -> Scalar:
        return self + (-as_scalar(other))

    def __radd__(self, other: Number) -> Scalar:
        return as_scalar(other) + self

    def __rsub__(self, other: Number) -> Scalar:
        return as_scalar(other) - self

    def __rmul__(self, other: Number) -> Scalar:
        return as_scalar(other) * self

    def __rtruediv__(self, other: Number) -> Scalar:
        return as_scalar(other) / self

    # the backward pass ----------------------------------------------------------
    def topological_order(self) -> list[Scalar]:
        """Every node this one depends on (itself included), each after all of its inputs."""
        order: list[Scalar] = []
        visited: set[int] = set()
        stack: list[tuple[Scalar, bool]] = [(self, False)]
        while stack:  # iterative depth-first search: deep graphs must not hit the recursion limit
            node, inputs_done = stack.pop()
            if inputs_done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((parent, False) for parent in node._parents if id(parent) not in visited)
        return order

    def backward(self) -> None:
        """Set ``grad`` of every node in this graph to d(self)/d(node), right to left.

        Gradients are computed from scratch on each call (earlier values are reset),
        so calling it twice gives the same result.
        """
        order = self.topological_order()
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


def as_scalar(value: Scalar | Number) -> Scalar:
    """``value`` itself if it is a node, else a constant leaf holding it."""
    return value if isinstance(value, Scalar) else Scalar(value)


def total(values: Iterable[Scalar | Number]) -> Scalar:
    """The sum of ``values`` as one chain of additions (``sum`` without its int 0 start)."""
    result: Scalar | None = None
    for value in values:
        result = as_scalar(value) if result is None else result + value
    if result is None:
        raise ValueError("total() of no values: give at least one")
    return result


# ---------------------------------------------------------------------------
# Document 003 (003_f824c9119bf8e39e.txt): its worked graphs, built with Scalar.
# ---------------------------------------------------------------------------

Graph = dict[str, Scalar]
"""The nodes of a worked graph by the document's names (after ``backward``)."""


@dataclass(frozen=True)
class Nudge:
    """J at w, J at w + epsilon, their ratio of changes, and dJ/dw by backprop."""

    w: float
    epsilon: float
    value: float
    nudged_value: float
    derivative: float

    @property
    def ratio(self) -> float:
        """(J(w + epsilon) - J(w)) / epsilon: the document's "J rises k times epsilon"."""
        return (self.nudged_value - self.value) / self.epsilon


def nudge(function: Callable[[Scalar], Scalar], w: float, epsilon: float = 0.001) -> Nudge:
    """Document 003 section 一.1: raise w by epsilon and see how much J(w) changes.

    ``function`` builds J from a node w (for example ``lambda w: w**2``). The
    derivative comes from the backward pass, never from the nudge.
    """
    node = Scalar(w, label="w")
    cost = function(node)
    cost.backward()
    nudged = function(Scalar(w + epsilon, label="w")).data
    return Nudge(w, epsilon, cost.data, nudged, node.grad)


def squared_error_graph(w: float, x: float, b: float, y: float) -> Graph:
    """Document 003 section 二: c = w x, a = c + b, d = a - y, J = d^2 / 2, after backward.

    At w = 2, x = -2, b = 8, y = 2 the document prints J = 2, dJ/dd = dJ/da =
    dJ/dc = dJ/db = 2 and dJ/dw = -4.
    """
    nodes: Graph = {
        "w": Scalar(w, label="w"),
        "x": Scalar(x, label="x"),
        "b": Scalar(b, label="b"),
        "y": Scalar(y, label="y"),
    }
    nodes["c"] = nodes["w"] * nodes["x"]
    nodes["a"] = nodes["c"] + nodes["b"]
    nodes["d"] = nodes["a"] - nodes["y"]
    nodes["J"] = nodes["d"] ** 2 / 2
    return _labelled_after_backward(nodes)


def two_layer_relu_graph(
    x: float, y: float, w1: float, b1: float, w2: float, b2: float
) -> Graph:
    """Document 003 section 三: a1 = g(w1 x + b1), a2 = g(w2 a1 + b2), J = (a2 - y)^2 / 2, g = ReLU.

    The node t2 = w2 a1 is the one the document differentiates as dJ/dt2. At x = 1,
    y = 5, w1 = 2, b1 = 0, w2 = 3, b2 = 1: a1 = 2, a2 = 7, J = 2 and
    dJ/da2 = dJ/dz2 = dJ/db2 = dJ/dt2 = 2, dJ/da1 = dJ/dz1 = dJ/dw1 = 6, dJ/dw2 = 4,
    and dJ/db1 = 6 (the document prints 0: an erratum).
    """
    nodes: Graph = {
        "x": Scalar(x, label="x"),
        "y": Scalar(y, label="y"),
        "w1": Scalar(w1, label="w1"),
        "b1": Scalar(b1, label="b1"),
        "w2": Scalar(w2, label="w2"),
        "b2": Scalar(b2, label="b2"),
    }
    nodes["t1"] = nodes["w1"] * nodes["x"]
    nodes["z1"] = nodes["t1"] + nodes["b1"]
    nodes["a1"] = nodes["z1"].relu()
    nodes["t2"] = nodes["w2"] * nodes["a1"]
    nodes["z2"] = nodes["t2"] + nodes["b2"]
    nodes["a2"] = nodes["z2"].relu()
    nodes["J"] = (nodes["a2"] - nodes["y"]) ** 2 / 2
    return _labelled_after_backward(nodes)


def _labelled_after_backward(nodes: Graph) -> Graph:
    for name, node in nodes.items():
        node.label = name
    nodes["J"].backward()
    return nodes
