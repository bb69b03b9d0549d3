"""Bad case files: each gets a clear message naming the file and field, and exit code 2."""

import json

import pytest

from conformance.case import CaseError, load_case
from conformance.worked.examples import WORKED_DIR as WORKED  # noqa: E402
from tests.support import run_cli

GOOD = json.loads((WORKED / "doc002_2-2-2_sigmoid.json").read_text())


def _edited(**changes):
    case = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        target = case
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target[key]
        last = keys[-1]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value
    return case


_DELETE = object()

BAD_CASES = {
    "wrong format": (
        _edited(format="backprop-case/3"),
        ["'format'", "backprop-case/1", "backprop-case/2"],
    ),
    "unknown key": (_edited(lyers=[]), ["unknown key 'lyers'", "did you mean 'layers'"]),
    "origin not an object": (_edited(origin="mine"), ["'origin'", "expected a JSON object"]),
    "origin implementation not text": (
        _edited(origin={"implementation": 7}),
        ["'origin.implementation'", "expected a string, found 7"],
    ),
    "origin unknown key": (
        _edited(origin={"implementaton": "m:f"}),
        ["'origin'", "did you mean 'implementation'"],
    ),
    "unknown activation": (
        _edited(layers__1__activation="sigmod"),
        ["layers[1].activation", "'sigmod'", "did you mean 'sigmoid'"],
    ),
    "unknown loss": (_edited(loss__name="half_sse2"), ["loss.name", "did you mean 'half_sse'"]),
    "unknown reduction": (_edited(loss__reduction="avg"), ["loss.reduction", "sum, mean"]),
    "shapes do not chain": (
        _edited(layers__1__in=3),
        ["layers[1].in", "layer 1 takes 3 inputs but layer 0 gives 2"],
    ),
    "W of the wrong shape": (
        _edited(params__0__W=[[0.1, 0.2, 0.3], [0.3, 0.4, 0.5]]),
        ["params[0].W", "expected shape (2, 2), found (2, 3)"],
    ),
    "NaN in an input": (_edited(inputs=[[float("nan"), 0.2]]), ["inputs", "nan", "finite"]),
    "inf in a bias": (_edited(params__1__b=[0.66, float("inf")]), ["params[1].b", "inf"]),
    "ragged inputs": (_edited(inputs=[[0.1, 0.2], [0.3]]), ["inputs", "ragged"]),
    "targets of the wrong width": (_edited(targets=[[0.01]]), ["targets", "(1, 2)"]),
    "step layer needs a gradient": (
        _edited(layers__0__activation="step"),
        ["layers[0].activation", "'step'", "no useful derivative"],
    ),
    "negative l2": (_edited(l2=-0.1), ["'l2'", ">= 0"]),
    "option of another activation": (
        _edited(layers__0__negative_slope=0.1),
        ["unknown key 'negative_slope'", "layers[0]"],
    ),
    "missing key": (_edited(targets=_DELETE), ["missing required key 'targets'"]),
    "unknown dtype": (_edited(dtype="float16"), ["'dtype'", "float64, float32"]),
    "activation that is not a string": (
        _edited(layers__0__activation=["relu"]),
        ["layers[0].activation", "expected a activation name (a string)"],
    ),
    "dtype that is not a string": (_edited(dtype=["float32"]), ["'dtype'", "a string"]),
    "loss name that is not a string": (_edited(loss__name={"a": 1}), ["loss.name", "a string"]),
    "strings as numbers": (_edited(inputs=[["0.1", "0.2"]]), ["inputs", "strings"]),
    "booleans as numbers": (_edited(inputs=[[True, False]]), ["inputs", "true/false"]),
    "huge integer": (_edited(l2=10**400), ["'l2'", "finite number"]),
    "huge integer in an array": (_edited(inputs=[[10**400, 0.2]]), ["inputs", "finite"]),
    "a boolean among numbers": (_edited(inputs=[[True, 0.2]]), ["inputs", "true/false"]),
    "a boolean in a weight matrix": (
        _edited(params__0__W=[[0.1, False], [0.3, 0.4]]),
        ["params[0].W", "true/false"],
    ),
    "a boolean as a width": (_edited(layers__0__out=True), ["layers[0].out", "True"]),
    "an enormous width": (
        _edited(layers__0__out=10**400),
        ["layers[0].out", "a whole number of 401 digits", "at most 2147483647"],
    ),
    "an enormous negative l2": (_edited(l2=-(10**400)), ["'l2'", "401 digits"]),
}


def test_messages_stay_brief_whatever_the_value(tmp_path):
    for label in ("an enormous width", "an enormous negative l2", "huge integer"):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(BAD_CASES[label][0]))
        with pytest.raises(CaseError) as caught:
            load_case(path)
        assert len(str(caught.value)) < 300, str(caught.value)


@pytest.mark.parametrize("label", sorted(BAD_CASES))
def test_bad_case_is_rejected_with_field_and_fix(tmp_path, label):
    raw, fragments = BAD_CASES[label]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(CaseError) as caught:
        load_case(path)
    message = str(caught.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message


def test_malformed_json_names_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "format": "backprop-case/1",\n  "layers": [,]\n}')
    with pytest.raises(CaseError, match=r"malformed JSON at line 3, column 14"):
        load_case(path)


def test_duplicate_keys_are_rejected(tmp_path):
    path = tmp_path / "twice.json"
    text = json.dumps(GOOD)
    path.write_text(text.replace('"l2": 0.0', '"l2": 0.5, "l2": 0.0'))
    with pytest.raises(CaseError, match="key 'l2' appears twice"):
        load_case(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CaseError, match="no such file"):
        load_case(tmp_path / "absent.json")


def test_step_layer_is_fine_when_no_gradient_is_needed(tmp_path):
    path = tmp_path / "step.json"
    path.write_text(json.dumps(_edited(layers__0__activation="step")))
    case = load_case(path, need_gradient=False)
    assert case["layers"][0]["activation"] == "step"


def test_validation_does_not_mutate_its_input():
    raw = json.loads(json.dumps(GOOD))
    del raw["l2"]
    snapshot = json.dumps(raw)
    from conformance.case import validate_case

    case = validate_case(raw)
    assert case["l2"] == 0.0 and json.dumps(raw) == snapshot


@pytest.mark.parametrize(
    "label", ["unknown activation", "NaN in an input", "step layer needs a gradient"]
)
def test_cli_exits_2_with_one_paragraph_and_no_traceback(tmp_path, label):
    raw, fragments = BAD_CASES[label]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    completed = run_cli("grad", "--case", str(path))
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.startswith("error: case file")
    assert fragments[0] in completed.stderr
    assert json.loads(path.read_text()) == json.loads(json.dumps(raw))  # nothing overwritten


def test_cli_malformed_json_exits_2(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    completed = run_cli("grad", "--case", str(path))
    assert completed.returncode == 2 and "malformed JSON" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_cases_origin_is_read_apart_and_never_reaches_an_implementation(tmp_path):
    from conformance.case import load_saved_case

    origin = {"implementation": "mynet:gradients", "command": "python -m ...", "options": {}}
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(_edited(origin=origin)))
    case, found = load_saved_case(path)
    assert found == origin and "origin" not in case and "origin" not in load_case(path)
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(GOOD))
    assert load_saved_case(plain)[1] is None
