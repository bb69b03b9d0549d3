"""Text the tool prints fits a terminal: tables wrap their long cells, lines wrap at spaces."""

from __future__ import annotations

from conformance.text import display_width, table_lines, wrapped


def test_a_table_too_wide_for_the_terminal_wraps_its_flexible_columns():
    rows = [
        ("softmax_cross_entropy_gradient_assumes_distribution", "killed", "12"),
        ("relu_mask_forgotten", "survived", "400"),
    ]
    lines = table_lines(("mutant", "result", "cases"), rows, flexible=(0,), right=(2,), width=30)
    assert lines == [
        "mutant         result    cases",
        "softmax_       killed       12",
        "cross_",
        "entropy_",
        "gradient_",
        "assumes_",
        "distribution",
        "relu_mask_     survived    400",
        "forgotten",
    ]
    assert all(len(line) <= 30 for line in lines)
    # a table that fits is left as it is
    assert table_lines(("a", "b"), [("x", "y")], flexible=(0,)) == ["a  b", "x  y"]


def test_wide_characters_take_two_columns():
    assert display_width("计算 ok") == 7
    lines = table_lines(("printed", "status"), [("inf: 计算将无法完成", "match")], flexible=(0,),
                        width=20)  # fmt: skip
    assert all(display_width(line) <= 20 for line in lines)
    assert lines[1].endswith("match")


def test_a_long_line_wraps_at_spaces_with_its_indent_kept():
    line = "    --activations: the reasons name relu, softmax; e.g. --activations identity,tanh"
    assert wrapped(line, width=40) == [
        "    --activations: the reasons name",
        "      relu, softmax; e.g. --activations",
        "      identity,tanh",
    ]


def test_a_line_of_wide_characters_wraps_by_the_columns_it_takes():
    line = "  (词向量维度为2) and 5 words, which make x in R^10"  # 6 wide characters
    lines = wrapped(line, width=30)  # counted by len(), "which" would fit on the first
    assert lines == ["  (词向量维度为2) and 5 words,", "    which make x in R^10"]
    assert [display_width(text) for text in lines] == [30, 24]
