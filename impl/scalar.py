"""A scalar reverse-mode autodiff engine (micrograd-style), the teaching model of backprop.

Each operation of :class:`Scalar` computes its value and, a few lines below,
defines its backward rule: how the gradient arriving at the result (``out.grad``)
flows to the operands. :meth:`Scalar.backward` orders the graph topologically and
runs those rules from the output back to the leaves, exactly the right-to-left
sweep of document 003 (003_f824c9119bf8e39e.txt, section 二.2 "反向传播计算过程").
Structure after micrograd (Karpathy).

Nodes carry labels, so a worked graph can name its nodes as its document does
(document 003's graphs are built with it in ``conformance/worked/graphs.py``).

This module imports only the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

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
