"""The ledger (conformance/worked/ledger.py): every worked number of the documents holds.

Each row cites its document by file name; errata and rounded prints carry the
correct value, which is what is tested. The rows' computed values come from
running code: breaking that code makes rows fail (tested below).
"""

from __future__ import annotations

import os
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conformance.worked import ledger
from conformance.worked.examples import WINDOW_CASE
from conformance.worked.ledger import (
    DOC_000,
    DOC_001,
    DOC_002,
    DOC_003,
    DOC_004,
    LEDGER,
    STATUSES,
    decimals,
    evaluate,
    ledger_rows,
    parse_value,
)

DOCUMENTS_VARIABLE = "BACKPROP_DOCUMENTS"
"""The source documents are not part of the repository; where a folder of them is at
hand (CI sets this variable), the printed numbers are also checked against their text."""
DOCUMENTS = Path(os.environ.get(DOCUMENTS_VARIABLE) or "/nonexistent")
DOCUMENT_FILES = (DOC_000, DOC_001, DOC_002, DOC_003, DOC_004)

# Every worked number the documents print (or imply), by document: (document, quantity,
# correct value). This list is the record the ledger is checked against.
WORKED_NUMBERS = [
    # 003, section 一: the nudging table
    (DOC_003, "J = w^2: J(3)", "9"),
    (DOC_003, "J = w^2: J(3.001)", "9.006001"),
    (DOC_003, "J = w^2: dJ/dw at w = 3", "6"),
    (DOC_003, "J = w^2, epsilon = 0.002: J(3.002)", "9.012004"),
    (DOC_003, "J = w^2: J(2)", "4"),
    (DOC_003, "J = w^2: J(2.001)", "4.004001"),
    (DOC_003, "J = w^2: dJ/dw at w = 2", "4"),
    (DOC_003, "J = w^2: J(-3)", "9"),
    (DOC_003, "J = w^2: J(-2.999)", "8.994001"),
    (DOC_003, "J = w^2: dJ/dw at w = -3", "-6"),
    (DOC_003, "J = w^3: J(2)", "8"),
    (DOC_003, "J = w^3: J(2.001)", "8.012006001"),
    (DOC_003, "J = w^3: dJ/dw at w = 2", "12"),
    (DOC_003, "J = w: J(2)", "2"),
    (DOC_003, "J = w: J(2.001)", "2.001"),
    (DOC_003, "J = w: dJ/dw", "1"),
    (DOC_003, "J = 1/w: J(2)", "0.5"),
    (DOC_003, "J = 1/w: J(2.001)", "0.4997501249"),
    (DOC_003, "J = 1/w: dJ/dw at w = 2", "-1/4"),
    # 003, section 二: the computation graph
    (DOC_003, "c = w x", "-4"),
    (DOC_003, "a = c + b", "4"),
    (DOC_003, "d = a - y", "2"),
    (DOC_003, "J = d^2 / 2", "2"),
    (DOC_003, "dJ/dd", "2"),
    (DOC_003, "dJ/da", "2"),
    (DOC_003, "dJ/dc", "2"),
    (DOC_003, "dJ/db", "2"),
    (DOC_003, "dJ/dw", "-4"),
    (DOC_003, "J at w = 2.001", "1.996002"),
    # 003, section 二.4: the complexity claim's arithmetic
    (DOC_003, "backprop steps, n = 10,000 nodes, p = 100,000 parameters", "110000"),
    (DOC_003, "nudging steps, n = 10,000 nodes, p = 100,000 parameters", "1000000000"),
    # 003, section 三: the two-layer ReLU network
    (DOC_003, "a1", "2"),
    (DOC_003, "a2", "7"),
    (DOC_003, "J = (a2 - y)^2 / 2", "2"),
    (DOC_003, "dJ/da2", "2"),
    (DOC_003, "dJ/dz2", "2"),
    (DOC_003, "dJ/db2", "2"),
    (DOC_003, "dJ/dt2 (t2 = w2 a1)", "2"),
    (DOC_003, "dJ/da1", "6"),
    (DOC_003, "dJ/dz1", "6"),
    (DOC_003, "dJ/dw1", "6"),
    (DOC_003, "dJ/dw2", "4"),
    (DOC_003, "dJ/db1", "6"),
    (DOC_003, "a1 at w1 = 2.001", "2.001"),
    (DOC_003, "a2 at w1 = 2.001", "7.003"),
    (DOC_003, "J at w1 = 2.001", "2.0060045"),
    # 002: the 2-2-2 network (reconstructed parameters)
    (DOC_002, "output out_o1", "0.7987314002"),
    (DOC_002, "output out_o2", "0.8374488853"),
    (DOC_002, "net_h1", "0.6"),
    (DOC_002, "out_h1", "0.6456563062"),
    (DOC_002, "net_h2", "0.66"),
    (DOC_002, "out_h2", "0.6592603885"),
    (DOC_002, "net_o1", "1.3783843862"),
    (DOC_002, "net_o2", "1.6393677251"),
    (DOC_002, "E_total = 1/2 sum (t - out)^2", "0.3226845322"),
    (DOC_002, "dE/dw5", "0.0818667050"),
    (DOC_002, "w5 after one SGD step (lr 0.5)", "0.4590666475"),
    (DOC_002, "dE/dw1", "0.0011178739"),
    (DOC_002, "w1 after one SGD step (lr 0.5)", "0.0994410630"),
    (DOC_002, "parameters w1..w4, b1, w5..w8, b2",
     "[0.1, 0.2, 0.3, 0.4, 0.55, 0.5, 0.6, 0.7, 0.8, 0.66]"),
    (DOC_002, "dE/db1, one bias shared by h1 and h2 (scalar engine)", "0.0245366031"),
    # 001: cross-entropy, softmax, L2
    (DOC_001, "-log 0.9", "0.1053605157"),
    (DOC_001, "softmax of logits [1000, 999, 998], maximum C subtracted",
     "[0.6652409558, 0.2447284711, 0.0900305732]"),
    (DOC_001, "softmax-with-loss backward at logits [1000, 999, 998], t = (1, 0, 0)",
     "[-0.3347590442, 0.2447284711, 0.0900305732]"),
    (DOC_001, "gradient added by lambda/2 W^2 (lambda = 0.1), W = [[0.5, -1], [2, 0.25]]",
     "[0.05, -0.1, 0.2, 0.025]"),
    # 000: shapes and the max-margin rules
    (DOC_000, "x, the input window", "20"),
    (DOC_000, "W", "8 x 20"),
    (DOC_000, "b", "8"),
    (DOC_000, "U (s = U^T a)", "8 x 1"),
    (DOC_000, "s, the score of one window", "1"),
    (DOC_000, "dJ/ds while the margin is violated", "-1"),
    (DOC_000, "dJ/ds_c while the margin is violated", "1"),
    (DOC_000, "dJ/dW_ij = delta_i a_j: max |impl backprop - formula|", "0"),
    (DOC_000, "bias gradient = delta_i: max |impl backprop - formula|", "0"),
    (DOC_000, "word-vector size, 5 words per window and x in R^20", "4"),
    # 000: the window of word vectors as a version 2 case (dot loss = J - 1)
    (DOC_000, "x, the window's 5 word vectors concatenated (case file)", "20"),
    (DOC_000, "dot loss upstream on the scores of [true, corrupt] (case file)", "[-1, 1]"),
    (DOC_000, "J by the formula - (dot loss + 1) (case file)", "0"),
    (DOC_000, "dJ/dU: max |impl on the case file - delta rule|", "0"),
    (DOC_000, "dJ/dW: max |impl on the case file - delta rule|", "0"),
    (DOC_000, "dJ/db: max |impl on the case file - delta rule|", "0"),
    (DOC_000, "dJ/dE, the word vectors: max |impl on the case file - delta rule|", "0"),
    (DOC_000, "gradient of the score's bias (case file)", "0"),
    # 004: the rules
    (DOC_004, "logistic derivative at z = 0.5", "0.2350037122"),
    (DOC_004, "dE/dy for E = 1/2 (t - y)^2 at y = 0.8, t = 0.3", "0.5"),
    (DOC_004, "recursive delta of h1 in document 002's network", "0.0111787392"),
]  # fmt: skip


def _entry(document: str, quantity: str) -> ledger.Entry:
    found = [e for e in LEDGER if e.document == document and e.quantity == quantity]
    assert len(found) == 1, f"{document}: expected one ledger row {quantity!r}, found {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def rows():
    return ledger_rows()


@pytest.mark.parametrize(
    ("document", "quantity", "correct"), WORKED_NUMBERS, ids=[q for _, q, _ in WORKED_NUMBERS]
)
def test_every_worked_number_is_a_row_that_holds(document, quantity, correct):
    entry = _entry(document, quantity)
    assert entry.correct == correct
    row = evaluate(entry)
    assert row.holds, f"{document} {quantity}: computed {row.computed}, correct {row.correct}"


def test_every_row_holds_and_cites_a_document_file(rows):
    failing = [(row.document, row.quantity, row.computed) for row in rows if not row.holds]
    assert not failing
    assert {row.document for row in rows} == set(DOCUMENT_FILES)
    assert all(row.status in STATUSES and row.how for row in rows)


def test_errata_are_stated_with_their_correct_values():
    # 003 section 三: dJ/db1 printed 0, correct 6; 001: -log 0.9 printed 0.046 (base 10),
    # correct -ln 0.9 = 0.1053605157.
    db1 = _entry(DOC_003, "dJ/db1")
    assert (db1.printed, db1.correct, db1.status) == ("0", "6", "erratum")
    log = _entry(DOC_001, "-log 0.9")
    assert (log.printed, log.correct, log.status) == ("0.046", "0.1053605157", "erratum")
    assert "base-10" in log.note
    # 000: word vectors of size 2 and 5 words cannot make x in R^20; size 4 does.
    size = _entry(DOC_000, "word-vector size, 5 words per window and x in R^20")
    assert (size.printed, size.correct, size.status) == ("2", "4", "erratum")
    assert "R^10" in size.note
    errata = {(e.document, e.correct) for e in LEDGER if e.status == "erratum"}
    assert errata == {(DOC_003, "6"), (DOC_001, "0.1053605157"), (DOC_000, "4")}


def test_rounded_prints_are_stated_with_their_exact_values():
    reciprocal = _entry(DOC_003, "J = 1/w: J(2.001)")
    assert (reciprocal.printed, reciprocal.correct, reciprocal.status) == (
        "0.49975", "0.4997501249", "rounded"
    )
    relu = _entry(DOC_003, "J at w1 = 2.001")
    assert (relu.printed, relu.correct, relu.status) == ("2.006005", "2.0060045", "rounded")


def _half_unit(text: str) -> Fraction:
    return Fraction(1, 2 * 10 ** decimals(text))


@pytest.mark.parametrize("entry", LEDGER, ids=[f"{e.document[:3]} {e.quantity}" for e in LEDGER])
def test_each_status_agrees_with_the_printed_and_correct_values(entry):
    printed = parse_value(entry.printed) if entry.printed is not None else None
    correct = parse_value(entry.correct)
    if entry.status in ("reconstruction", "implied"):
        assert entry.printed is None, "a value the text does not print has no printed value"
        return
    assert entry.printed is not None
    if not isinstance(printed, Fraction) or not isinstance(correct, Fraction):
        return  # a rule or text ("y - t", "R^20"), not a number
    gap = abs(printed - correct)
    if entry.status == "match":
        assert gap <= _half_unit(entry.printed), "a match prints the value to its digits"
    elif entry.status == "rounded":
        assert 0 < gap <= _half_unit(entry.printed), "rounded: same to the printed digits"
    elif entry.status == "erratum":
        assert gap > _half_unit(entry.printed), "an erratum differs beyond rounding"


def test_document_002_reconstruction_is_said_plainly():
    parameters = _entry(DOC_002, "parameters w1..w4, b1, w5..w8, b2")
    assert parameters.status == "reconstruction" and parameters.printed is None
    assert "missing" in parameters.note and "ten digits" in parameters.note
    assert "missing" in STATUSES["reconstruction"]


@pytest.mark.skipif(
    not DOCUMENTS.is_dir(), reason=f"set {DOCUMENTS_VARIABLE} to the source documents' folder"
)
def test_every_printed_decimal_occurs_in_its_document():
    for entry in LEDGER:
        text = (DOCUMENTS / entry.document).read_text(encoding="utf-8")
        if entry.printed is not None and re.fullmatch(r"-?\d+\.\d+", entry.printed):
            assert entry.printed in text, f"{entry.printed} is not in {entry.document}"


# -- the computed values come from running code ------------------------------------


def test_a_broken_impl_makes_the_case_file_rows_fail(monkeypatch):
    real = ledger.worked_result

    def doubled(file_name):
        result = real(file_name)
        return dict(result, loss=2 * result["loss"])

    monkeypatch.setattr(ledger, "worked_result", doubled)
    failing = {row.quantity for row in ledger_rows() if not row.holds}
    assert "J (case file)" in failing and "E_total = 1/2 sum (t - out)^2" in failing
    assert "J by the formula - (dot loss + 1) (case file)" in failing


def test_a_wrong_word_vector_gradient_makes_only_its_window_row_fail(monkeypatch):
    real = ledger.worked_result

    def repeated_id_counted_once(file_name):
        result = real(file_name)
        if file_name != WINDOW_CASE:
            return result
        grad_E = result["grads"][0]["E"].copy()
        true_ids = ledger.worked_case(file_name)["inputs"][0]
        repeated = max(true_ids.tolist(), key=true_ids.tolist().count)
        grad_E[repeated] /= 2  # as if one occurrence had overwritten the other's share
        return dict(result, grads=[{"E": grad_E}, *result["grads"][1:]])

    monkeypatch.setattr(ledger, "worked_result", repeated_id_counted_once)
    failing = {row.quantity for row in ledger_rows() if not row.holds}
    assert failing == {"dJ/dE, the word vectors: max |impl on the case file - delta rule|"}


def test_a_broken_scalar_engine_makes_the_graph_rows_fail(monkeypatch):
    from impl.scalar import Scalar

    real_relu = Scalar.relu

    def relu_with_no_gradient(self):
        out = real_relu(self)
        out._backward = lambda: None
        return out

    monkeypatch.setattr(Scalar, "relu", relu_with_no_gradient)
    failing = {(row.document, row.quantity) for row in ledger_rows() if not row.holds}
    assert (DOC_003, "dJ/dw1") in failing and (DOC_003, "dJ/da1") in failing
    assert (DOC_003, "dJ/dw") not in failing  # the first graph has no relu


def test_holds_compares_numbers_vectors_and_text():
    entry = _entry(DOC_002, "output out_o1")  # stated to ten decimals
    assert ledger.holds(0.79873140024, entry) and not ledger.holds(0.7987314003, entry)
    shape = _entry(DOC_000, "W")
    assert ledger.holds((8, 20), shape) and not ledger.holds((20, 8), shape)
    vector = next(e for e in LEDGER if e.correct == "[0.05, -0.1, 0.2, 0.025]")
    assert ledger.holds(np.array([0.05, -0.1, 0.2, 0.025]), vector)
    assert not ledger.holds(np.array([0.05, -0.1, 0.2]), vector)
    assert not ledger.holds(float("nan"), _entry(DOC_003, "dJ/dw"))
