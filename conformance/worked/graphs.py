"""Document 003's worked graphs (003_f824c9119bf8e39e.txt), built with impl's scalar engine.

The engine (:mod:`impl.scalar`) is the teaching code; these graphs are the document's
worked examples, whose numbers the ledger (:mod:`conformance.worked.ledger`) and the
tests check: nudging J(w) by epsilon (section 一), the graph c = w x, a = c + b,
d = a - y, J = d^2 / 2 (section 二) and the two-layer ReLU network (section 三).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from impl.scalar import Scalar

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


def two_layer_relu_graph(x: float, y: float, w1: float, b1: float, w2: float, b2: float) -> Graph:
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
