"""The ledger of the documents' worked numbers: every number they print, and what the code computes.

``LEDGER`` is data: one :class:`Entry` per number (document file, section,
quantity, the value as printed, the correct value, how it is computed, and a
status). Each entry's ``compute`` runs the project's code (the scalar engine of
:mod:`impl.scalar`, ``impl`` on the case files of ``conformance/worked/``,
:mod:`impl.optim`, :mod:`conformance.worked.examples`); nothing computed is
written down here. :func:`evaluate` runs it and compares the result with the
correct value, never with a printed value that is wrong.

An entry holds when the computed value agrees with the correct one: within the
float64 tolerance of :mod:`conformance.tolerances` when the correct value is
exact; within half a unit in its last digit (plus that table's atol) when it is
stated rounded, to ten decimals like the document's own figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

import impl
from conformance.text import table_lines, wrapped
from conformance.tolerances import tolerance_for
from conformance.worked.complexity import document_step_counts
from conformance.worked.examples import (
    DOCUMENT_002_CASE,
    WINDOW_CASE,
    max_margin,
    max_margin_by_delta_rule,
    max_margin_by_formula,
    two_two_two_graph,
    window_scorer,
    window_scorer_of,
    word_vector_gradient_by_delta_rule,
    worked_case,
    worked_result,
)
from conformance.worked.graphs import nudge, squared_error_graph, two_layer_relu_graph
from impl.optim import sgd_step
from impl.scalar import Scalar

DOC_000 = "000_3cf4cd1bdeb0b0bf.txt"
DOC_001 = "001_23d0d3244ecc003a.txt"
DOC_002 = "002_ce987982ffe959dc.txt"
DOC_003 = "003_f824c9119bf8e39e.txt"
DOC_004 = "004_03e57c42868fa45c.txt"

STATUSES: dict[str, str] = {
    "match": "the document prints this value (or rule) and the code reproduces it",
    "rounded": "the document prints this value rounded; the exact value is stated and tested",
    "erratum": "the document prints a wrong value; the correct value is stated and tested, "
    "never the printed one",
    "reconstruction": "not in the document's text: follows from document 002's parameters, "
    "whose figure is missing and which were recovered because they reproduce both printed "
    "outputs to ten digits",
    "implied": "not printed; follows from the document's own data",
}
"""Every status a ledger entry may have, and what it means."""


@dataclass(frozen=True)
class Entry:
    """One worked number: where it is printed, its correct value and how the code computes it."""

    document: str  # the source document's file name, e.g. 002_ce987982ffe959dc.txt
    section: str
    quantity: str
    printed: str | None  # as the document prints it; None when its text does not
    correct: str  # a number ("9.006001", "-1/4"), a vector "[a, b]", or text ("8 x 20", "inf")
    status: str
    how: str  # what code computes it
    compute: Callable[[], Any] = field(repr=False, compare=False)
    exact: bool = True  # False: ``correct`` is rounded to the digits it shows
    kind: str = "analytic"  # the tolerance table's check kind (conformance.tolerances)
    note: str = ""


# --- small pieces the entries compute with -------------------------------------


def _square(w: Scalar) -> Scalar:
    return w**2


def _cube(w: Scalar) -> Scalar:
    return w**3


def _same(w: Scalar) -> Scalar:
    return w


def _reciprocal(w: Scalar) -> Scalar:
    return 1 / w


def _graph(w: float = 2.0) -> dict[str, Scalar]:
    return squared_error_graph(w=w, x=-2.0, b=8.0, y=2.0)


def _relu_net(w1: float = 2.0) -> dict[str, Scalar]:
    return two_layer_relu_graph(x=1.0, y=5.0, w1=w1, b1=0.0, w2=3.0, b2=1.0)


GRAPH_CASE = "doc003_graph_w2_x-2_b8_y2.json"
GRAPH_CASE_NUDGED = "doc003_graph_w2.001_x-2_b8_y2.json"
RELU_CASE = "doc003_relu_two_layer.json"
RELU_CASE_NUDGED = "doc003_relu_two_layer_w1_2.001.json"
SOFTMAX_CASE = "doc001_softmax_with_loss_logits_near_1000.json"
CROSS_ENTROPY_CASE = "doc001_cross_entropy_of_0.9.json"
L2_CASE = "doc001_l2_weight_decay.json"

LEARNING_RATE_002 = 0.5  # document 002: "学习率取个0.5"


def _doc002_forward(layer: int, kind: str, unit: int) -> float:
    case = worked_case(DOCUMENT_002_CASE)
    cache = impl.forward(impl.build_layers(case), case["inputs"])
    values = cache.pre_activations if kind == "net" else cache.activations
    return float(values[layer][0, unit])


def _doc002_after_step(layer: int) -> float:
    case = worked_case(DOCUMENT_002_CASE)
    stepped = sgd_step(case["params"], impl.gradients(case)["grads"], LEARNING_RATE_002)
    return float(stepped[layer]["W"][0, 0])


def _doc002_parameters() -> list[float]:
    hidden, output = worked_case(DOCUMENT_002_CASE)["params"]
    return [*hidden["W"].ravel(), hidden["b"][0], *output["W"].ravel(), output["b"][0]]


def _naive_softmax(logits: Sequence[float]) -> np.ndarray:
    """Softmax without subtracting the maximum: what document 001 warns against."""
    with np.errstate(over="ignore", invalid="ignore"):
        exps = np.exp(np.asarray(logits, dtype=np.float64))
        return exps / exps.sum()


def _exp_1000() -> float:
    with np.errstate(over="ignore"):
        return float(np.exp(np.float64(1000.0)))


def _l2_added_gradient() -> np.ndarray:
    case = worked_case(L2_CASE)
    with_l2 = impl.gradients(case)["grads"][0]["W"]
    without = impl.gradients(dict(case, l2=0.0))["grads"][0]["W"]
    return (with_l2 - without).ravel()


def _margin_gradients(s: float, s_c: float) -> tuple[float, float, float]:
    """J = max(0, 1 - s + s_c) in the scalar engine: (J, dJ/ds, dJ/ds_c)."""
    score, corrupt = Scalar(s, label="s"), Scalar(s_c, label="s_c")
    loss = (1 - score + corrupt).relu()
    loss.backward()
    return loss.data, score.grad, corrupt.grad


def _scorer_margin_gradients() -> tuple[float, float, float]:
    result = max_margin(window_scorer())
    return _margin_gradients(result.score, result.corrupt_score)


def _delta_rule_difference(key: str) -> float:
    scorer = window_scorer()
    by_backprop = max_margin(scorer).grads
    by_formula = max_margin_by_delta_rule(scorer)
    return max(
        float(np.abs(a[key] - b[key]).max()) for a, b in zip(by_backprop, by_formula, strict=True)
    )


def _window_case_difference(layer: int, key: str) -> float:
    """max |impl on the window case - the delta rule| over one gradient array."""
    case = worked_case(WINDOW_CASE)
    by_backprop = worked_result(WINDOW_CASE)["grads"][layer][key]
    if key == "E":
        by_formula = word_vector_gradient_by_delta_rule(case)
    else:  # the dense layers 1 and 2 are the scorer's layers 0 and 1
        by_formula = max_margin_by_delta_rule(window_scorer_of(case))[layer - 1][key]
    return float(np.abs(by_backprop - by_formula).max())


def _window_case_loss_gap() -> float:
    """J by the formula, minus (the dot loss of the window case + 1): 0 where the margin
    is violated, as the case says; 1 - (1 - s + s_c) > 0 where it is met."""
    case = worked_case(WINDOW_CASE)
    return max_margin_by_formula(window_scorer_of(case)) - (worked_result(WINDOW_CASE)["loss"] + 1)


def _window_width() -> int:
    """The embedding's output per window: the ids' count times the word-vector size."""
    case = worked_case(WINDOW_CASE)
    return int(case["inputs"].shape[1] * case["layers"][0]["dim"])


def _half_sse_gradient(y: float, t: float) -> float:
    output = Scalar(y, label="y")
    loss = (t - output) ** 2 / 2  # document 004 (1.4): E = 1/2 (t - y)^2
    loss.backward()
    return output.grad


def _sigmoid_derivative(z: float) -> float:
    sigmoid = impl.ACTIVATIONS["sigmoid"]
    zs = np.array([[z]])
    return float(sigmoid.backward(zs, sigmoid.forward(zs), np.ones_like(zs))[0, 0])


# --- the ledger ------------------------------------------------------------------

_NUDGE = "一.1 nudging J(w) by epsilon = 0.001"
_GRAPH = "二 computation graph c = w x, a = c + b, d = a - y, J = d^2/2 (w=2, x=-2, b=8, y=2)"
_WHY = "二.4 why backprop: n + p steps against n x p"
_RELU = "三 two-layer ReLU network (x=1, y=5, w1=2, b1=0, w2=3, b2=1)"
_BP = "四.3 BP推导和计算: the 2-2-2 network, learning rate 0.5"
_SOFTMAX = "正规化Softmax (overflow of e^1000)"
_CE = "损失函数 方式2: cross-entropy of a 90% probability"
_SWL = "关于Softmax-with-Loss"
_L2 = "反向传播: regularisation term 1/2 W^2"
_SHAPES = "维度分析 (shapes of s = U^T f(W x + b))"
_MARGIN = "最大间隔目标函数 J = max(0, 1 - s + s_c) and backprop"
_WINDOW = (
    "最大间隔目标函数 on a window of word vectors: the case file "
    "embedding -> dense sigmoid -> dense, dot loss = J - 1 where the margin is violated"
)
_RULES = "反向传播 formulas (1.3)-(1.7)"

_ENGINE = "scalar engine (impl.scalar)"

LEDGER: tuple[Entry, ...] = (
    # ---- document 003, section 一: nudging -------------------------------------------
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^2: J(3)",
        "9",
        "9",
        "match",
        f"{_ENGINE}: nudge(w**2, w=3).value",
        lambda: nudge(_square, 3).value,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^2: J(3.001)",
        "9.006001",
        "9.006001",
        "match",
        f"{_ENGINE}: J at w + epsilon",
        lambda: nudge(_square, 3).nudged_value,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^2: dJ/dw at w = 3",
        "6",
        "6",
        "match",
        f"{_ENGINE}: backward",
        lambda: nudge(_square, 3).derivative,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^2, epsilon = 0.002: J(3.002)",
        "9.012004",
        "9.012004",
        "match",
        f"{_ENGINE}: nudge(w**2, w=3, epsilon=0.002)",
        lambda: nudge(_square, 3, epsilon=0.002).nudged_value,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^2: J(2)",
        "4",
        "4",
        "match",
        f"{_ENGINE}: nudge(w**2, w=2).value",
        lambda: nudge(_square, 2).value,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^2: J(2.001)",
        "4.004001",
        "4.004001",
        "match",
        f"{_ENGINE}: J at w + epsilon",
        lambda: nudge(_square, 2).nudged_value,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^2: dJ/dw at w = 2",
        "4",
        "4",
        "match",
        f"{_ENGINE}: backward",
        lambda: nudge(_square, 2).derivative,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^2: J(-3)",
        "9",
        "9",
        "match",
        f"{_ENGINE}: nudge(w**2, w=-3).value",
        lambda: nudge(_square, -3).value,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^2: J(-2.999)",
        "8.994001",
        "8.994001",
        "match",
        f"{_ENGINE}: J at w + epsilon",
        lambda: nudge(_square, -3).nudged_value,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^2: dJ/dw at w = -3",
        "-6",
        "-6",
        "match",
        f"{_ENGINE}: backward",
        lambda: nudge(_square, -3).derivative,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^3: J(2)",
        "8",
        "8",
        "match",
        f"{_ENGINE}: nudge(w**3, w=2).value",
        lambda: nudge(_cube, 2).value,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^3: J(2.001)",
        "8.012",
        "8.012006001",
        "rounded",
        f"{_ENGINE}: J at w + epsilon",
        lambda: nudge(_cube, 2).nudged_value,
        note="printed '约 8.012' (about 8.012); exactly 2.001^3 = 8.012006001",
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w^3: dJ/dw at w = 2",
        "12",
        "12",
        "match",
        f"{_ENGINE}: backward",
        lambda: nudge(_cube, 2).derivative,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w: J(2)",
        None,
        "2",
        "implied",
        f"{_ENGINE}: nudge(w, w=2).value",
        lambda: nudge(_same, 2).value,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w: J(2.001)",
        "2.001",
        "2.001",
        "match",
        f"{_ENGINE}: J at w + epsilon",
        lambda: nudge(_same, 2).nudged_value,
        note="the document: J rises by exactly epsilon = 0.001",
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = w: dJ/dw",
        "1",
        "1",
        "match",
        f"{_ENGINE}: backward",
        lambda: nudge(_same, 2).derivative,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = 1/w: J(2)",
        None,
        "0.5",
        "implied",
        f"{_ENGINE}: nudge(1/w, w=2).value",
        lambda: nudge(_reciprocal, 2).value,
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = 1/w: J(2.001)",
        "0.49975",
        "0.4997501249",
        "rounded",
        f"{_ENGINE}: J at w + epsilon",
        lambda: nudge(_reciprocal, 2).nudged_value,
        exact=False,
        note="printed '约 0.49975' (about); exactly 1/2.001 = 0.49975012493753...",
    ),
    Entry(
        DOC_003,
        _NUDGE,
        "J = 1/w: dJ/dw at w = 2",
        "-1/4",
        "-1/4",
        "match",
        f"{_ENGINE}: backward",
        lambda: nudge(_reciprocal, 2).derivative,
    ),
    # ---- document 003, section 二: the computation graph -------------------------------
    Entry(
        DOC_003,
        _GRAPH,
        "c = w x",
        None,
        "-4",
        "implied",
        f"{_ENGINE}: squared_error_graph",
        lambda: _graph()["c"].data,
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "a = c + b",
        None,
        "4",
        "implied",
        f"{_ENGINE}: squared_error_graph",
        lambda: _graph()["a"].data,
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "d = a - y",
        "2",
        "2",
        "match",
        f"{_ENGINE}: squared_error_graph",
        lambda: _graph()["d"].data,
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "J = d^2 / 2",
        "2",
        "2",
        "match",
        f"{_ENGINE}: squared_error_graph",
        lambda: _graph()["J"].data,
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "dJ/dd",
        "2",
        "2",
        "match",
        f"{_ENGINE}: backward",
        lambda: _graph()["d"].grad,
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "dJ/da",
        "2",
        "2",
        "match",
        f"{_ENGINE}: backward",
        lambda: _graph()["a"].grad,
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "dJ/dc",
        "2",
        "2",
        "match",
        f"{_ENGINE}: backward",
        lambda: _graph()["c"].grad,
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "dJ/db",
        "2",
        "2",
        "match",
        f"{_ENGINE}: backward",
        lambda: _graph()["b"].grad,
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "dJ/dw",
        "-4",
        "-4",
        "match",
        f"{_ENGINE}: backward",
        lambda: _graph()["w"].grad,
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "J when d is nudged to 2.001",
        "2.002",
        "2.0020005",
        "rounded",
        f"{_ENGINE}: Scalar(2.001)**2 / 2",
        lambda: (Scalar(2.001) ** 2 / 2).data,
        note="the document rounds 2.0020005 to 2.002",
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "c at w = 2.001",
        "-4.002",
        "-4.002",
        "match",
        f"{_ENGINE}: squared_error_graph(w=2.001)",
        lambda: _graph(2.001)["c"].data,
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "J at w = 2.001",
        "1.996002",
        "1.996002",
        "match",
        f"{_ENGINE}: squared_error_graph(w=2.001)",
        lambda: _graph(2.001)["J"].data,
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "J (case file)",
        "2",
        "2",
        "match",
        f"impl on {GRAPH_CASE}",
        lambda: worked_result(GRAPH_CASE)["loss"],
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "dJ/dw (case file)",
        "-4",
        "-4",
        "match",
        f"impl on {GRAPH_CASE}",
        lambda: worked_result(GRAPH_CASE)["grads"][0]["W"][0, 0],
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "dJ/db (case file)",
        "2",
        "2",
        "match",
        f"impl on {GRAPH_CASE}",
        lambda: worked_result(GRAPH_CASE)["grads"][0]["b"][0],
    ),
    Entry(
        DOC_003,
        _GRAPH,
        "J at w = 2.001 (case file)",
        "1.996002",
        "1.996002",
        "match",
        f"impl on {GRAPH_CASE_NUDGED}",
        lambda: worked_result(GRAPH_CASE_NUDGED)["loss"],
    ),
    # ---- document 003, section 二.4: the complexity claim ------------------------------
    Entry(
        DOC_003,
        _WHY,
        "backprop steps, n = 10,000 nodes, p = 100,000 parameters",
        "110000",
        "110000",
        "match",
        "conformance.worked.complexity.document_step_counts (n + p)",
        lambda: document_step_counts(10_000, 100_000)[0],
        note="the document's arithmetic; `worked --complexity` measures the growth",
    ),
    Entry(
        DOC_003,
        _WHY,
        "nudging steps, n = 10,000 nodes, p = 100,000 parameters",
        "1000000000",
        "1000000000",
        "match",
        "conformance.worked.complexity.document_step_counts (n x p)",
        lambda: document_step_counts(10_000, 100_000)[1],
        note="the document's arithmetic; `worked --complexity` measures the growth",
    ),
    # ---- document 003, section 三: the two-layer ReLU network --------------------------
    Entry(
        DOC_003,
        _RELU,
        "a1",
        "2",
        "2",
        "match",
        f"{_ENGINE}: two_layer_relu_graph",
        lambda: _relu_net()["a1"].data,
    ),
    Entry(
        DOC_003,
        _RELU,
        "a2",
        "7",
        "7",
        "match",
        f"{_ENGINE}: two_layer_relu_graph",
        lambda: _relu_net()["a2"].data,
    ),
    Entry(
        DOC_003,
        _RELU,
        "J = (a2 - y)^2 / 2",
        "2",
        "2",
        "match",
        f"{_ENGINE}: two_layer_relu_graph",
        lambda: _relu_net()["J"].data,
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/da2",
        "2",
        "2",
        "match",
        f"{_ENGINE}: backward",
        lambda: _relu_net()["a2"].grad,
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/dz2",
        "2",
        "2",
        "match",
        f"{_ENGINE}: backward",
        lambda: _relu_net()["z2"].grad,
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/db2",
        "2",
        "2",
        "match",
        f"{_ENGINE}: backward",
        lambda: _relu_net()["b2"].grad,
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/dt2 (t2 = w2 a1)",
        "2",
        "2",
        "match",
        f"{_ENGINE}: backward",
        lambda: _relu_net()["t2"].grad,
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/da1",
        "6",
        "6",
        "match",
        f"{_ENGINE}: backward",
        lambda: _relu_net()["a1"].grad,
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/dz1",
        "6",
        "6",
        "match",
        f"{_ENGINE}: backward",
        lambda: _relu_net()["z1"].grad,
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/db1",
        "0",
        "6",
        "erratum",
        f"{_ENGINE}: backward",
        lambda: _relu_net()["b1"].grad,
        note="the document prints 0; dJ/db1 = dJ/dz1 * dz1/db1 = 6 * 1 = 6",
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/dw1",
        "6",
        "6",
        "match",
        f"{_ENGINE}: backward",
        lambda: _relu_net()["w1"].grad,
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/dw2",
        None,
        "4",
        "implied",
        f"{_ENGINE}: backward",
        lambda: _relu_net()["w2"].grad,
        note="dJ/dt2 * a1 = 2 * 2; the document names w2 among the parameters but prints no value",
    ),
    Entry(
        DOC_003,
        _RELU,
        "a1 at w1 = 2.001",
        "2.001",
        "2.001",
        "match",
        f"{_ENGINE}: two_layer_relu_graph(w1=2.001)",
        lambda: _relu_net(2.001)["a1"].data,
    ),
    Entry(
        DOC_003,
        _RELU,
        "a2 at w1 = 2.001",
        "7.003",
        "7.003",
        "match",
        f"{_ENGINE}: two_layer_relu_graph(w1=2.001)",
        lambda: _relu_net(2.001)["a2"].data,
    ),
    Entry(
        DOC_003,
        _RELU,
        "J at w1 = 2.001",
        "2.006005",
        "2.0060045",
        "rounded",
        f"{_ENGINE}: two_layer_relu_graph(w1=2.001)",
        lambda: _relu_net(2.001)["J"].data,
        note="the document prints 2.006005; exactly (7.003 - 5)^2 / 2 = 2.0060045",
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/dw1 (case file)",
        "6",
        "6",
        "match",
        f"impl on {RELU_CASE}",
        lambda: worked_result(RELU_CASE)["grads"][0]["W"][0, 0],
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/db1 (case file)",
        "0",
        "6",
        "erratum",
        f"impl on {RELU_CASE}",
        lambda: worked_result(RELU_CASE)["grads"][0]["b"][0],
        note="the document prints 0; the correct value is 6",
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/dw2 (case file)",
        None,
        "4",
        "implied",
        f"impl on {RELU_CASE}",
        lambda: worked_result(RELU_CASE)["grads"][1]["W"][0, 0],
    ),
    Entry(
        DOC_003,
        _RELU,
        "dJ/db2 (case file)",
        "2",
        "2",
        "match",
        f"impl on {RELU_CASE}",
        lambda: worked_result(RELU_CASE)["grads"][1]["b"][0],
    ),
    Entry(
        DOC_003,
        _RELU,
        "J at w1 = 2.001 (case file)",
        "2.006005",
        "2.0060045",
        "rounded",
        f"impl on {RELU_CASE_NUDGED}",
        lambda: worked_result(RELU_CASE_NUDGED)["loss"],
        note="the document prints 2.006005; exactly 2.0060045",
    ),
    # ---- document 002: the 2-2-2 network ---------------------------------------------
    Entry(
        DOC_002,
        _BP,
        "parameters w1..w4, b1, w5..w8, b2",
        None,
        "[0.1, 0.2, 0.3, 0.4, 0.55, 0.5, 0.6, 0.7, 0.8, 0.66]",
        "reconstruction",
        f"read from {DOCUMENT_002_CASE}",
        _doc002_parameters,
        note="the document's figure with the parameters is missing from its text; these "
        "were recovered because they reproduce both printed outputs to ten digits",
    ),
    Entry(
        DOC_002,
        _BP,
        "output out_o1",
        "0.7987314002",
        "0.7987314002",
        "match",
        f"impl on {DOCUMENT_002_CASE}",
        lambda: worked_result(DOCUMENT_002_CASE)["outputs"][0, 0],
        exact=False,
        note="reproduced by the reconstructed parameters",
    ),
    Entry(
        DOC_002,
        _BP,
        "output out_o2",
        "0.8374488853",
        "0.8374488853",
        "match",
        f"impl on {DOCUMENT_002_CASE}",
        lambda: worked_result(DOCUMENT_002_CASE)["outputs"][0, 1],
        exact=False,
        note="reproduced by the reconstructed parameters",
    ),
    Entry(
        DOC_002,
        _BP,
        "net_h1",
        None,
        "0.6",
        "reconstruction",
        "impl.forward, pre-activation",
        lambda: _doc002_forward(0, "net", 0),
    ),
    Entry(
        DOC_002,
        _BP,
        "out_h1",
        None,
        "0.6456563062",
        "reconstruction",
        "impl.forward",
        lambda: _doc002_forward(0, "out", 0),
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "net_h2",
        None,
        "0.66",
        "reconstruction",
        "impl.forward, pre-activation",
        lambda: _doc002_forward(0, "net", 1),
    ),
    Entry(
        DOC_002,
        _BP,
        "out_h2",
        None,
        "0.6592603885",
        "reconstruction",
        "impl.forward",
        lambda: _doc002_forward(0, "out", 1),
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "net_o1",
        None,
        "1.3783843862",
        "reconstruction",
        "impl.forward, pre-activation",
        lambda: _doc002_forward(1, "net", 0),
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "net_o2",
        None,
        "1.6393677251",
        "reconstruction",
        "impl.forward, pre-activation",
        lambda: _doc002_forward(1, "net", 1),
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "E_total = 1/2 sum (t - out)^2",
        None,
        "0.3226845322",
        "reconstruction",
        f"impl on {DOCUMENT_002_CASE}",
        lambda: worked_result(DOCUMENT_002_CASE)["loss"],
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "E_total (shared biases, scalar engine)",
        None,
        "0.3226845322",
        "reconstruction",
        f"{_ENGINE}: two_two_two_graph",
        lambda: two_two_two_graph()["E_total"].data,
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "dE/dw5",
        None,
        "0.0818667050",
        "reconstruction",
        f"impl on {DOCUMENT_002_CASE}",
        lambda: worked_result(DOCUMENT_002_CASE)["grads"][1]["W"][0, 0],
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "dE/dw5 (scalar engine)",
        None,
        "0.0818667050",
        "reconstruction",
        f"{_ENGINE}: two_two_two_graph",
        lambda: two_two_two_graph()["w5"].grad,
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "w5 after one SGD step (lr 0.5)",
        None,
        "0.4590666475",
        "reconstruction",
        "impl.optim.sgd_step on impl's gradients",
        lambda: _doc002_after_step(1),
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "dE/dw1",
        None,
        "0.0011178739",
        "reconstruction",
        f"impl on {DOCUMENT_002_CASE}",
        lambda: worked_result(DOCUMENT_002_CASE)["grads"][0]["W"][0, 0],
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "dE/dw1 (scalar engine)",
        None,
        "0.0011178739",
        "reconstruction",
        f"{_ENGINE}: two_two_two_graph",
        lambda: two_two_two_graph()["w1"].grad,
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "w1 after one SGD step (lr 0.5)",
        None,
        "0.0994410630",
        "reconstruction",
        "impl.optim.sgd_step on impl's gradients",
        lambda: _doc002_after_step(0),
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "dE/db1, one bias shared by h1 and h2 (scalar engine)",
        None,
        "0.0245366031",
        "reconstruction",
        f"{_ENGINE}: two_two_two_graph",
        lambda: two_two_two_graph()["b1"].grad,
        exact=False,
        note="a shared bias receives the sum of the per-neuron bias gradients",
    ),
    Entry(
        DOC_002,
        _BP,
        "dE/db1 as the sum of impl's per-neuron bias gradients",
        None,
        "0.0245366031",
        "reconstruction",
        f"impl on {DOCUMENT_002_CASE}",
        lambda: worked_result(DOCUMENT_002_CASE)["grads"][0]["b"].sum(),
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "dE/db2, one bias shared by o1 and o2 (scalar engine)",
        None,
        "0.1060295891",
        "reconstruction",
        f"{_ENGINE}: two_two_two_graph",
        lambda: two_two_two_graph()["b2"].grad,
        exact=False,
    ),
    Entry(
        DOC_002,
        _BP,
        "dE/db2 as the sum of impl's per-neuron bias gradients",
        None,
        "0.1060295891",
        "reconstruction",
        f"impl on {DOCUMENT_002_CASE}",
        lambda: worked_result(DOCUMENT_002_CASE)["grads"][1]["b"].sum(),
        exact=False,
    ),
    # ---- document 001: softmax, cross-entropy, L2 -------------------------------------
    Entry(
        DOC_001,
        _CE,
        "-log 0.9",
        "0.046",
        "0.1053605157",
        "erratum",
        f"{_ENGINE}: -Scalar(0.9).log()",
        lambda: (-Scalar(0.9).log()).data,
        exact=False,
        note="0.046 is the base-10 logarithm (-log10 0.9 = 0.0457574906); the project uses "
        "natural logarithms, as everywhere else: -ln 0.9 = 0.1053605157",
    ),
    Entry(
        DOC_001,
        _CE,
        "-log 0.9 (case file, cross_entropy loss)",
        "0.046",
        "0.1053605157",
        "erratum",
        f"impl on {CROSS_ENTROPY_CASE}",
        lambda: worked_result(CROSS_ENTROPY_CASE)["loss"],
        exact=False,
        note="natural logarithm, as in the case format's cross_entropy",
    ),
    Entry(
        DOC_001,
        _SOFTMAX,
        "e^1000 in float64",
        "inf",
        "inf",
        "match",
        "numpy.exp(float64(1000))",
        _exp_1000,
        note="the document: e^1000 becomes inf in a computer",
    ),
    Entry(
        DOC_001,
        _SOFTMAX,
        "softmax of logits [1000, 999, 998], maximum not subtracted",
        "inf: 计算将无法完成 (cannot be completed)",
        "[nan, nan, nan]",
        "match",
        "numpy, exp(z) / sum exp(z)",
        lambda: _naive_softmax([1000.0, 999.0, 998.0]),
    ),
    Entry(
        DOC_001,
        _SOFTMAX,
        "softmax of logits [1000, 999, 998], maximum C subtracted",
        "same result as softmax(z - C), no overflow",
        "[0.6652409558, 0.2447284711, 0.0900305732]",
        "match",
        "impl.ACTIVATIONS['softmax']",
        lambda: impl.ACTIVATIONS["softmax"].forward(np.array([[1000.0, 999.0, 998.0]]))[0],
        exact=False,
        note="equal to softmax([2, 1, 0])",
    ),
    Entry(
        DOC_001,
        _SWL,
        "softmax-with-loss backward at logits [1000, 999, 998], t = (1, 0, 0)",
        "(y1 - t1, y2 - t2, y3 - t3)",
        "[-0.3347590442, 0.2447284711, 0.0900305732]",
        "match",
        f"impl on {SOFTMAX_CASE}, dLoss/db",
        lambda: worked_result(SOFTMAX_CASE)["grads"][0]["b"],
        exact=False,
    ),
    Entry(
        DOC_001,
        _SWL,
        "softmax-with-loss loss at logits [1000, 999, 998], t = (1, 0, 0)",
        None,
        "0.4076059644",
        "implied",
        f"impl on {SOFTMAX_CASE}",
        lambda: worked_result(SOFTMAX_CASE)["loss"],
        exact=False,
    ),
    Entry(
        DOC_001,
        _L2,
        "gradient added by lambda/2 W^2 (lambda = 0.1), W = [[0.5, -1], [2, 0.25]]",
        "W (for 1/2 W^2), times the coefficient",
        "[0.05, -0.1, 0.2, 0.025]",
        "match",
        f"impl on {L2_CASE}, minus the same case with l2 = 0",
        _l2_added_gradient,
    ),
    # ---- document 000: the window scorer and the max-margin objective -------------------
    Entry(
        DOC_000,
        _SHAPES,
        "x, the input window",
        "R^20",
        "20",
        "match",
        "window_scorer(): layer 0 input width",
        lambda: window_scorer().built()[0].W.shape[1],
    ),
    Entry(
        DOC_000,
        _SHAPES,
        "W",
        "R^{8x20}",
        "8 x 20",
        "match",
        "window_scorer(): layer 0 W",
        lambda: window_scorer().built()[0].W.shape,
    ),
    Entry(
        DOC_000,
        _SHAPES,
        "b",
        "R^8",
        "8",
        "match",
        "window_scorer(): layer 0 b",
        lambda: window_scorer().built()[0].b.shape,
    ),
    Entry(
        DOC_000,
        _SHAPES,
        "U (s = U^T a)",
        "R^{8x1}",
        "8 x 1",
        "match",
        "window_scorer(): layer 1 W transposed",
        lambda: window_scorer().built()[1].W.T.shape,
    ),
    Entry(
        DOC_000,
        _SHAPES,
        "s, the score of one window",
        "R",
        "1",
        "match",
        "impl.forward on one window: outputs per window",
        lambda: (
            impl.forward(window_scorer().built(), window_scorer().window[None, :])
            .activations[-1]
            .shape[1]
        ),
    ),
    Entry(
        DOC_000,
        _MARGIN,
        "dJ/ds while the margin is violated",
        "-1",
        "-1",
        "match",
        f"{_ENGINE}: (1 - s + s_c).relu() at the scorer's two scores",
        lambda: _scorer_margin_gradients()[1],
    ),
    Entry(
        DOC_000,
        _MARGIN,
        "dJ/ds_c while the margin is violated",
        "1",
        "1",
        "match",
        f"{_ENGINE}: (1 - s + s_c).relu() at the scorer's two scores",
        lambda: _scorer_margin_gradients()[2],
        note="the document: dJ/ds = -dJ/ds_c = -1",
    ),
    Entry(
        DOC_000,
        _MARGIN,
        "J, dJ/ds, dJ/ds_c once s >= s_c + 1 (s = 3, s_c = 1)",
        "0: no update unless s_c > s - 1",
        "[0, 0, 0]",
        "match",
        f"{_ENGINE}: (1 - s + s_c).relu()",
        lambda: _margin_gradients(3.0, 1.0),
    ),
    Entry(
        DOC_000,
        _MARGIN,
        "dJ/dW_ij = delta_i a_j: max |impl backprop - formula|",
        "delta_i a_j, delta_i = U_i f'(z_i)",
        "0",
        "match",
        "impl.backward vs worked_examples.max_margin_by_delta_rule",
        lambda: _delta_rule_difference("W"),
    ),
    Entry(
        DOC_000,
        _MARGIN,
        "bias gradient = delta_i: max |impl backprop - formula|",
        "delta_i",
        "0",
        "match",
        "impl.backward vs worked_examples.max_margin_by_delta_rule",
        lambda: _delta_rule_difference("b"),
    ),
    Entry(
        DOC_000,
        _SHAPES,
        "word-vector size, 5 words per window and x in R^20",
        "2",
        "4",
        "erratum",
        f"{WINDOW_CASE}: the embedding's dim",
        lambda: worked_case(WINDOW_CASE)["layers"][0]["dim"],
        note="the document says word vectors of size 2 (词向量维度为2) and 5 words, which "
        "make x in R^10; its x in R^20 and W in R^{8x20} need size 4 (5 x 4 = 20)",
    ),
    Entry(
        DOC_000,
        _WINDOW,
        "x, the window's 5 word vectors concatenated (case file)",
        "R^20",
        "20",
        "match",
        f"{WINDOW_CASE}: ids per window times the embedding's dim",
        _window_width,
    ),
    Entry(
        DOC_000,
        _WINDOW,
        "dot loss upstream on the scores of [true, corrupt] (case file)",
        "dJ/ds = -dJ/ds_c = -1",
        "[-1, 1]",
        "match",
        f"{WINDOW_CASE}: loss.upstream",
        lambda: worked_case(WINDOW_CASE)["loss"]["upstream"],
    ),
    Entry(
        DOC_000,
        _WINDOW,
        "J by the formula - (dot loss + 1) (case file)",
        None,
        "0",
        "implied",
        f"max_margin_by_formula vs impl on {WINDOW_CASE}",
        _window_case_loss_gap,
        note="0 only where the margin is violated (1 - s + s_c > 0), as the case is drawn",
    ),
    Entry(
        DOC_000,
        _WINDOW,
        "dJ/dU: max |impl on the case file - delta rule|",
        None,
        "0",
        "implied",
        f"impl on {WINDOW_CASE} vs max_margin_by_delta_rule",
        lambda: _window_case_difference(2, "W"),
    ),
    Entry(
        DOC_000,
        _WINDOW,
        "dJ/dW: max |impl on the case file - delta rule|",
        None,
        "0",
        "implied",
        f"impl on {WINDOW_CASE} vs max_margin_by_delta_rule",
        lambda: _window_case_difference(1, "W"),
    ),
    Entry(
        DOC_000,
        _WINDOW,
        "dJ/db: max |impl on the case file - delta rule|",
        None,
        "0",
        "implied",
        f"impl on {WINDOW_CASE} vs max_margin_by_delta_rule",
        lambda: _window_case_difference(1, "b"),
    ),
    Entry(
        DOC_000,
        _WINDOW,
        "dJ/dE, the word vectors: max |impl on the case file - delta rule|",
        None,
        "0",
        "implied",
        f"impl on {WINDOW_CASE} vs word_vector_gradient_by_delta_rule (W^T delta, added by id)",
        lambda: _window_case_difference(0, "E"),
    ),
    Entry(
        DOC_000,
        _WINDOW,
        "gradient of the score's bias (case file)",
        None,
        "0",
        "implied",
        f"impl on {WINDOW_CASE}",
        lambda: worked_result(WINDOW_CASE)["grads"][2]["b"][0],
        note="dJ/ds + dJ/ds_c = -1 + 1: the document's s = U^T a has no bias; the case's is 0",
    ),
    # ---- document 004: the rules ---------------------------------------------------------
    Entry(
        DOC_004,
        _RULES,
        "logistic derivative at z = 0.5",
        "phi(z)(1 - phi(z))",
        "0.2350037122",
        "match",
        "impl.ACTIVATIONS['sigmoid'].backward",
        lambda: _sigmoid_derivative(0.5),
        exact=False,
        note="e^-0.5 / (1 + e^-0.5)^2",
    ),
    Entry(
        DOC_004,
        _RULES,
        "dE/dy for E = 1/2 (t - y)^2 at y = 0.8, t = 0.3",
        "y - t",
        "0.5",
        "match",
        f"{_ENGINE}: backward of (t - y)**2 / 2",
        lambda: _half_sse_gradient(0.8, 0.3),
    ),
    Entry(
        DOC_004,
        _RULES,
        "recursive delta of h1 in document 002's network",
        "phi'(net_j) sum_k w_jk delta_k",
        "0.0111787392",
        "match",
        f"{_ENGINE}: dE/dnet_h1 of two_two_two_graph",
        lambda: two_two_two_graph()["net_h1"].grad,
        exact=False,
        note="the rule evaluated by hand on document 002's (reconstructed) network; the "
        "engine uses no delta rule, only the chain rule node by node",
    ),
)


# --- evaluating the ledger ---------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """An entry with its computed value and whether it holds."""

    document: str
    section: str
    quantity: str
    printed: str | None
    correct: str
    computed: str
    status: str
    holds: bool
    how: str
    note: str


def parse_value(text: str) -> Fraction | list[Fraction] | str:
    """A number (``"9.006001"``, ``"-1/4"``), a vector (``"[0.05, -0.1]"``), else the text."""
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        parts = [part.strip() for part in stripped[1:-1].split(",")]
        try:
            return [Fraction(part) for part in parts]
        except ValueError:
            return stripped
    try:
        return Fraction(stripped)
    except ValueError:
        return stripped


def decimals(text: str) -> int:
    """Digits after the decimal point in a number's text (0 for integers and fractions)."""
    return len(text.strip().partition(".")[2]) if "." in text else 0


def format_number(value: float) -> str:
    """Up to ten decimals without trailing zeros; tiny residuals in scientific notation."""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value != 0 and abs(value) < 1e-6:
        return f"{value:.1e}"
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_value(value: Any) -> str:
    """A computed value as text: numbers, vectors ``[a, b]`` and shapes ``8 x 20``."""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and all(isinstance(n, (int, np.integer)) for n in value):
        return " x ".join(str(int(n)) for n in value)  # a shape
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return format_number(float(array))
    return "[" + ", ".join(format_number(v) for v in array.ravel()) + "]"


def _agrees(value: float, correct: Fraction, digits: int, entry: Entry) -> bool:
    if not math.isfinite(value):
        return False
    tolerance = tolerance_for("float64", entry.kind)
    if entry.exact:
        allowed = tolerance.atol + tolerance.rtol * abs(float(correct))
    else:
        # Stated rounded to these digits: the value must round to it (atol covers the
        # float64 rounding of a value that lies exactly on a half unit).
        allowed = 0.5 * 10.0**-digits + tolerance.atol
    return abs(Fraction(value) - correct) <= Fraction(allowed)


def holds(computed: Any, entry: Entry) -> bool:
    """Whether a computed value agrees with the entry's correct value."""
    expected = parse_value(entry.correct)
    if isinstance(expected, str):
        return format_value(computed) == expected
    if isinstance(computed, tuple) and all(isinstance(n, (int, np.integer)) for n in computed):
        return format_value(computed) == entry.correct.strip()  # a shape
    values = np.asarray(computed, dtype=np.float64).ravel()
    if isinstance(expected, list):
        texts = entry.correct.strip()[1:-1].split(",")
        if values.size != len(expected):
            return False
        return all(
            _agrees(float(v), c, decimals(t), entry)
            for v, c, t in zip(values, expected, texts, strict=True)
        )
    return values.size == 1 and _agrees(float(values[0]), expected, decimals(entry.correct), entry)


def evaluate(entry: Entry) -> Row:
    """Run the entry's code and compare its result with the correct value."""
    computed = entry.compute()
    return Row(
        document=entry.document,
        section=entry.section,
        quantity=entry.quantity,
        printed=entry.printed,
        correct=entry.correct,
        computed=format_value(computed),
        status=entry.status,
        holds=holds(computed, entry),
        how=entry.how,
        note=entry.note,
    )


def ledger_rows(entries: Sequence[Entry] = LEDGER) -> list[Row]:
    """Every entry evaluated, in ledger order."""
    return [evaluate(entry) for entry in entries]


def row_to_json(row: Row) -> dict[str, Any]:
    """A row as a JSON-ready object."""
    return asdict(row)


NOT_PRINTED = "(not in text)"


def document_label(document: str) -> str:
    """A document's short name in the table: its number (``003`` for
    ``003_f824c9119bf8e39e.txt``); the table's legend gives the full name."""
    return document.split("_", 1)[0]


def format_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned table that fits a terminal (long cells wrap; ``--json`` has
    every field whole), then the errata and rounded values with their notes."""
    documents = sorted({row.document for row in rows})
    header = ("doc", "quantity", "printed", "computed", "status", "")
    body = [
        (
            document_label(row.document),
            row.quantity,
            row.printed if row.printed is not None else NOT_PRINTED,
            row.computed,
            row.status,
            "ok" if row.holds else "FAILS: correct value is " + row.correct,
        )
        for row in rows
    ]
    lines = table_lines(header, body, flexible=(1, 2, 3, 5))
    lines += wrapped(
        "documents: "
        + ", ".join(f"{document_label(document)} = {document}" for document in documents)
    )
    remarks = [row for row in rows if row.status in ("erratum", "rounded") and row.note]
    if remarks:
        lines += ["", "errata and rounded values (the tests use the correct values):"]
        for row in remarks:
            lines += wrapped(f"  {document_label(row.document)} {row.quantity}: {row.note}")
    lines += [""] + wrapped(
        "document 002's parameters are a reconstruction: its figure with them is missing "
        "from the text; they were recovered because they reproduce both printed outputs to "
        "ten digits."
    )
    counts = {status: sum(row.status == status for row in rows) for status in STATUSES}
    failing = sum(not row.holds for row in rows)
    summary = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
    verdict = "every row holds" if not failing else f"{failing} row(s) do NOT hold"
    lines.append(f"{len(rows)} rows ({summary}): {verdict}.")
    return "\n".join(lines)
