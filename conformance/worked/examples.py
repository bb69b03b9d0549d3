"""The documents' worked examples that need more than one case file: built and computed here.

- the worked case files in ``conformance/worked/`` (loaded and run through ``impl``);
- document 002's 2-2-2 network written out node by node in the scalar engine,
  with one bias *shared* by both neurons of a layer, as the document draws it;
- document 000's window scorer s = U^T f(W x + b) (x in R^20, W in R^{8x20},
  b in R^8, U in R^{8x1}) and its max-margin objective J = max(0, 1 - s + s_c);
- the same scorer on a window of word vectors as a version 2 case file.

Document 000's J is no per-sample loss: the case format's ``hinge`` compares the
outputs of one network on one input, while J compares the *same* network's scores on
two inputs, the true window x (score s) and a corrupt window x_c (score s_c). It is
modelled here as a 20 -> 8 -> 1 network run on the batch [x, x_c]; J and
dJ/d(scores) = (-1, +1) (document 000: dJ/ds = -dJ/ds_c = -1) are computed from the
two scores, and ``impl.backward`` carries that gradient through the shared weights,
summing the two windows' contributions.

As a case file (:func:`window_max_margin_case`), the windows are word ids and x the
concatenated rows of a word-vector matrix E (an ``embedding``), and J is written
with the ``dot`` loss: upstream [[-1], [1]] on the scores of [true, corrupt] gives
the loss -s + s_c, which is J - 1 and has J's gradient wherever the margin is
violated (1 - s + s_c > 0), and only there. The case is drawn so that it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import impl
from conformance.case import Case, load_case, validate_case
from conformance.generators import KINK_CLEARANCE
from conformance.worked.graphs import Graph
from impl.network import Layer
from impl.scalar import Scalar, total

WORKED_DIR = Path(__file__).resolve().parent / "cases"
"""The documents' worked examples as case files."""


def worked_case(file_name: str) -> Case:
    """A worked case file of ``conformance/worked/``, loaded and validated."""
    return load_case(WORKED_DIR / file_name)


def worked_result(file_name: str) -> dict[str, Any]:
    """``impl.gradients`` of a worked case file."""
    return impl.gradients(worked_case(file_name))


# ---------------------------------------------------------------------------
# Document 002 (002_ce987982ffe959dc.txt): the 2-2-2 network, node by node.
# ---------------------------------------------------------------------------

DOCUMENT_002_CASE = "doc002_2-2-2_sigmoid.json"
"""Parameters *reconstructed*: the document's figure with them is missing from its
text; these reproduce both printed outputs to ten digits (the ledger's
entry 'parameters w1..w4, b1, w5..w8, b2', status 'reconstruction')."""


def two_two_two_graph(case: Case | None = None) -> Graph:
    """Document 002's network in the scalar engine, after ``backward`` of E_total.

    Names follow the document: inputs i1, i2; weights w1..w8 (w1: i1 -> h1,
    w2: i2 -> h1, w3: i1 -> h2, w4: i2 -> h2, w5: h1 -> o1, w6: h2 -> o1,
    w7: h1 -> o2, w8: h2 -> o2); one bias b1 shared by h1 and h2 and one b2
    shared by o1 and o2, so dE/db1 and dE/db2 are the sums over the neurons
    that share them; targets t1, t2; E_total = 1/2 sum (t - out)^2.
    """
    case = case if case is not None else worked_case(DOCUMENT_002_CASE)
    hidden, output = case["params"]
    for name, bias in (("hidden", hidden["b"]), ("output", output["b"])):
        if bias[0] != bias[1]:
            raise ValueError(f"document 002 shares one bias per layer; the {name} biases differ")
    values = {
        "i1": case["inputs"][0, 0], "i2": case["inputs"][0, 1],
        "w1": hidden["W"][0, 0], "w2": hidden["W"][0, 1],
        "w3": hidden["W"][1, 0], "w4": hidden["W"][1, 1],
        "w5": output["W"][0, 0], "w6": output["W"][0, 1],
        "w7": output["W"][1, 0], "w8": output["W"][1, 1],
        "b1": hidden["b"][0], "b2": output["b"][0],
        "t1": case["targets"][0, 0], "t2": case["targets"][0, 1],
    }  # fmt: skip
    g: Graph = {name: Scalar(value, label=name) for name, value in values.items()}
    g["net_h1"] = g["w1"] * g["i1"] + g["w2"] * g["i2"] + g["b1"]
    g["out_h1"] = g["net_h1"].sigmoid()
    g["net_h2"] = g["w3"] * g["i1"] + g["w4"] * g["i2"] + g["b1"]
    g["out_h2"] = g["net_h2"].sigmoid()
    g["net_o1"] = g["w5"] * g["out_h1"] + g["w6"] * g["out_h2"] + g["b2"]
    g["out_o1"] = g["net_o1"].sigmoid()
    g["net_o2"] = g["w7"] * g["out_h1"] + g["w8"] * g["out_h2"] + g["b2"]
    g["out_o2"] = g["net_o2"].sigmoid()
    g["E_total"] = total([(g["t1"] - g["out_o1"]) ** 2 / 2, (g["t2"] - g["out_o2"]) ** 2 / 2])
    for name, node in g.items():
        node.label = name
    g["E_total"].backward()
    return g


# ---------------------------------------------------------------------------
# Document 000 (000_3cf4cd1bdeb0b0bf.txt): s = U^T f(W x + b) and J = max(0, 1 - s + s_c).
# ---------------------------------------------------------------------------

WINDOW_WORDS = 5
WORD_VECTOR_SIZE = 4
"""Document 000 ("维度分析") says 2, but 5 words of 2 numbers make x in R^10, not the
R^20 that it and its W in R^{8x20} use: 4 is the size that agrees with both (the
ledger's erratum row)."""
WINDOW_SIZE = WINDOW_WORDS * WORD_VECTOR_SIZE  # x in R^20
HIDDEN_SIZE = 8
MARGIN = 1.0  # document 000 takes Delta = 1


@dataclass(frozen=True)
class WindowScorer:
    """The scorer's parameters (as a case's ``layers`` and ``params``) and two windows."""

    layers: list[dict[str, Any]]
    params: list[dict[str, np.ndarray]]
    window: np.ndarray  # x, the true window
    corrupt_window: np.ndarray  # x_c

    def built(self) -> list[Layer]:
        return impl.build_layers({"dtype": "float64", "layers": self.layers, "params": self.params})


def window_scorer(seed: int = 0) -> WindowScorer:
    """A 20 -> 8 (sigmoid) -> 1 (identity, no bias: s = U^T a) scorer and two windows.

    Values come from ``numpy.random.default_rng(seed)``; weights are scaled by
    1/sqrt(fan-in) so the sigmoids are not saturated.
    """
    rng = np.random.default_rng(seed)
    layers = [
        {"in": WINDOW_SIZE, "out": HIDDEN_SIZE, "activation": "sigmoid"},
        {"in": HIDDEN_SIZE, "out": 1, "activation": "identity"},
    ]
    params = [
        {
            "W": rng.normal(0, 1 / np.sqrt(WINDOW_SIZE), (HIDDEN_SIZE, WINDOW_SIZE)),
            "b": rng.normal(0, 0.5, HIDDEN_SIZE),
        },
        {"W": rng.normal(0, 1 / np.sqrt(HIDDEN_SIZE), (1, HIDDEN_SIZE)), "b": np.zeros(1)},
    ]
    # validate_case checks the shapes chain; its loss and targets are placeholders.
    validate_case(
        {
            "format": "backprop-case/1",
            "layers": layers,
            "params": params,
            "loss": {"name": "half_sse"},
            "inputs": np.zeros((1, WINDOW_SIZE)),
            "targets": np.zeros((1, 1)),
        }
    )
    return WindowScorer(layers, params, rng.normal(size=WINDOW_SIZE), rng.normal(size=WINDOW_SIZE))


@dataclass(frozen=True)
class MaxMargin:
    """J = max(0, margin - s + s_c), the scores, and dJ/d(every parameter)."""

    loss: float
    score: float  # s
    corrupt_score: float  # s_c
    score_gradient: tuple[float, float]  # (dJ/ds, dJ/ds_c)
    grads: list[dict[str, np.ndarray]]


def max_margin(scorer: WindowScorer, margin: float = MARGIN) -> MaxMargin:
    """Document 000's objective and its gradient, with impl's forward and backward passes."""
    layers = scorer.built()
    batch = np.stack([scorer.window, scorer.corrupt_window])  # row 0: x, row 1: x_c
    cache = impl.forward(layers, batch)
    score, corrupt_score = cache.activations[-1][:, 0]
    loss = max(0.0, margin - score + corrupt_score)
    # dJ/ds = -dJ/ds_c = -1 while the margin is violated, 0 once it is met (document 000).
    active = 1.0 if loss > 0 else 0.0
    score_gradient = (-active, active)
    grads, _ = impl.backward(layers, cache, np.array([[score_gradient[0]], [score_gradient[1]]]))
    return MaxMargin(float(loss), float(score), float(corrupt_score), score_gradient, grads)


Grads = list[dict[str, np.ndarray]]


def max_margin_by_delta_rule(scorer: WindowScorer, margin: float = MARGIN) -> Grads:
    """The same gradient from document 000's formulas, written out with numpy.

    ds/dW_ij = U_i f'(z_i) x_j = delta_i x_j, ds/db_i = delta_i, ds/dU_i = a_i
    (with f' = f (1 - f) for the sigmoid); J's gradient is dJ/ds times that for
    the true window plus dJ/ds_c times that for the corrupt one.
    """
    (first, second) = scorer.params
    W, b = first["W"], first["b"]
    grad_W, grad_b, grad_U = np.zeros_like(W), np.zeros_like(b), np.zeros(HIDDEN_SIZE)
    signs = _score_gradients(scorer, margin)
    for sign, x in zip(signs, (scorer.window, scorer.corrupt_window), strict=True):
        _, a, delta = _by_formula(scorer, x)
        grad_W += sign * np.outer(delta, x)
        grad_b += sign * delta
        grad_U += sign * a
    # The output bias (0 here, as s = U^T a has none) gets dJ/ds + dJ/ds_c = 0.
    return [{"W": grad_W, "b": grad_b}, {"W": grad_U[None, :], "b": np.array([sum(signs)])}]


def _by_formula(scorer: WindowScorer, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """One window's score s = U^T a, a = f(W x + b) with the sigmoid, and
    delta_i = ds/dz_i = U_i f'(z_i) (document 000), with numpy alone."""
    (first, second) = scorer.params
    U = second["W"][0]
    a = 1 / (1 + np.exp(-(first["W"] @ x + first["b"])))
    return float(U @ a), a, U * a * (1 - a)


def max_margin_by_formula(scorer: WindowScorer, margin: float = MARGIN) -> float:
    """J = max(0, margin - s + s_c), the scores by document 000's formula with numpy."""
    s, s_c = (_by_formula(scorer, x)[0] for x in (scorer.window, scorer.corrupt_window))
    return max(0.0, margin - s + s_c)


def _score_gradients(scorer: WindowScorer, margin: float = MARGIN) -> tuple[float, float]:
    """(dJ/ds, dJ/ds_c): (-1, 1) while the margin is violated, (0, 0) once it is met."""
    s, s_c = (_by_formula(scorer, x)[0] for x in (scorer.window, scorer.corrupt_window))
    active = 1.0 if margin - s + s_c > 0 else 0.0
    return -active, active


def max_margin_window_gradients_by_delta_rule(
    scorer: WindowScorer, margin: float = MARGIN
) -> tuple[np.ndarray, np.ndarray]:
    """(dJ/dx, dJ/dx_c): the delta rule carried one layer further down, to the window
    itself. Document 000 generalises delta^(k) to delta^(k-1) through W^T; x has no
    activation, so dJ/dx_j = dJ/ds sum_i W_ij delta_i."""
    W = scorer.params[0]["W"]
    signs = _score_gradients(scorer, margin)
    windows = (scorer.window, scorer.corrupt_window)
    dx, dx_c = (
        sign * (W.T @ _by_formula(scorer, x)[2]) for sign, x in zip(signs, windows, strict=True)
    )
    return dx, dx_c


def max_margin_by_scalar_engine(scorer: WindowScorer, margin: float = MARGIN) -> Grads:
    """The same gradient from the scalar engine: every multiply and add its own node."""
    (first, second) = scorer.params
    W = [[Scalar(v) for v in row] for row in first["W"]]
    b = [Scalar(v) for v in first["b"]]
    U = [Scalar(v) for v in second["W"][0]]
    c = Scalar(second["b"][0])

    def score(x: np.ndarray) -> Scalar:
        hidden = [
            total([*(w * float(xj) for w, xj in zip(row, x, strict=True)), bias]).sigmoid()
            for row, bias in zip(W, b, strict=True)
        ]
        return total([*(u * h for u, h in zip(U, hidden, strict=True)), c])

    loss = (margin - score(scorer.window) + score(scorer.corrupt_window)).relu()
    loss.backward()
    return [
        {"W": np.array([[w.grad for w in row] for row in W]), "b": np.array([v.grad for v in b])},
        {"W": np.array([[u.grad for u in U]]), "b": np.array([c.grad])},
    ]


# ---------------------------------------------------------------------------
# Document 000 as a version 2 case: the scorer on a window of word vectors.
# ---------------------------------------------------------------------------

VOCAB_SIZE = 10
CORRUPTED_WORD = WINDOW_WORDS // 2  # the corrupt window replaces the centre word
WINDOW_CASE_STEM = "doc000_window_max_margin_as_dot_loss"
WINDOW_CASE = f"{WINDOW_CASE_STEM}.json"
SCORE_GRADIENTS = ((-1.0,), (1.0,))
"""The dot loss's upstream on the scores of [true, corrupt]: (dJ/ds, dJ/ds_c) while
the margin is violated (document 000: dJ/ds = -dJ/ds_c = -1)."""

REDRAWS = 100


def window_max_margin_case(seed: int = 0) -> Case:
    """Document 000's scorer on word vectors, J written with the ``dot`` loss.

    Layers: ``embedding`` (E, VOCAB_SIZE x WORD_VECTOR_SIZE: x is the 5 rows of the
    window's ids concatenated, in R^20) -> dense 20 -> 8 sigmoid (W, b) -> dense
    8 -> 1 identity (U^T, and a bias fixed at 0: s = U^T a has none). Inputs: the
    true window's ids and the corrupt window's (the centre word replaced), as a batch
    of two. Loss: dot with upstream [[-1], [1]], so loss = -s + s_c = J - 1 and the
    gradients are J's, since the draw violates the margin (1 - s + s_c >=
    KINK_CLEARANCE). The true window holds one id twice and shares four words with
    the corrupt one, so E's gradient adds up over repeats and over both windows.

    Values from ``numpy.random.default_rng(seed)``: E ~ N(0, 1), W ~ N(0, 1/20),
    b ~ N(0, 0.25), U ~ N(0, 1/8); the ids redrawn until both conditions hold.
    """
    rng = np.random.default_rng(seed)
    E = rng.normal(0, 1, (VOCAB_SIZE, WORD_VECTOR_SIZE))
    W = rng.normal(0, 1 / np.sqrt(WINDOW_SIZE), (HIDDEN_SIZE, WINDOW_SIZE))
    b = rng.normal(0, 0.5, HIDDEN_SIZE)
    U = rng.normal(0, 1 / np.sqrt(HIDDEN_SIZE), HIDDEN_SIZE)
    params = [{"E": E}, {"W": W, "b": b}, {"W": U[None, :], "b": np.zeros(1)}]
    for _ in range(REDRAWS):
        ids = rng.integers(0, VOCAB_SIZE, size=WINDOW_WORDS)
        corrupt = ids.copy()
        corrupt[CORRUPTED_WORD] = rng.choice(np.setdiff1d(np.arange(VOCAB_SIZE), ids))
        case = validate_case(
            {
                "format": "backprop-case/2",
                "name": "doc 000 window scorer s = U^T f(W x + b) on word vectors, max-margin "
                "J = max(0, 1 - s + s_c) where the margin is violated: dot loss with upstream "
                "[[-1], [1]] on [true, corrupt] windows = J - 1, gradients = J's",
                "dtype": "float64",
                "layers": [
                    {"type": "embedding", "vocab": VOCAB_SIZE, "dim": WORD_VECTOR_SIZE},
                    {"type": "dense", "in": WINDOW_SIZE, "out": HIDDEN_SIZE,
                     "activation": "sigmoid"},
                    {"type": "dense", "in": HIDDEN_SIZE, "out": 1, "activation": "identity"},
                ],
                "params": params,
                "loss": {"name": "dot", "reduction": "sum", "upstream": SCORE_GRADIENTS},
                "inputs": np.stack([ids, corrupt]),
            }
        )  # fmt: skip
        scorer = window_scorer_of(case)
        s, s_c = (_by_formula(scorer, x)[0] for x in (scorer.window, scorer.corrupt_window))
        repeated = len(set(ids.tolist())) < WINDOW_WORDS
        if repeated and MARGIN - s + s_c >= KINK_CLEARANCE:
            return case
    raise RuntimeError(f"no window in {REDRAWS} draws (seed {seed}) violates the margin")


def window_scorer_of(case: Case) -> WindowScorer:
    """The window case's scorer, and its two windows looked up in E: for the formulas."""
    E = case["params"][0]["E"]
    ids, corrupt = case["inputs"]
    layers = [
        {"in": WINDOW_SIZE, "out": HIDDEN_SIZE, "activation": "sigmoid"},
        {"in": HIDDEN_SIZE, "out": 1, "activation": "identity"},
    ]
    params = [{key: np.array(value) for key, value in p.items()} for p in case["params"][1:]]
    return WindowScorer(layers, params, E[ids].ravel(), E[corrupt].ravel())


def word_vector_gradient_by_delta_rule(case: Case, margin: float = MARGIN) -> np.ndarray:
    """dJ/dE: each window's dJ/dx (the delta rule) cut into its words' rows and added to
    the rows of their ids, repeats and words shared by both windows included."""
    E = case["params"][0]["E"]
    grad_E = np.zeros_like(E)
    windows = max_margin_window_gradients_by_delta_rule(window_scorer_of(case), margin)
    for ids, dx in zip(case["inputs"], windows, strict=True):
        np.add.at(grad_E, ids, dx.reshape(WINDOW_WORDS, WORD_VECTOR_SIZE))
    return grad_E
