"""Rendering text a user controls (case names, file names, messages of their exceptions).

Such text reaches a terminal, a CI log or a JUnit XML file. A raw escape sequence
recolours a terminal, a raw newline or carriage return forges a line of the log (a
case named ``"x\\nexit code 0: all checks agree"``), a lone surrogate cannot be
encoded and crashes the print, and XML 1.0 forbids most control characters. Every
such string is passed through :func:`printable` (or :func:`xml_text`) where it is
rendered: the characters ``str.isprintable`` rejects are written as Python escapes
(``\\x1b``, ``\\n``, ``\\ud800``), everything else is kept as it is.
"""

from __future__ import annotations

from collections.abc import Sequence


def _escape(char: str) -> str:
    return repr(char)[1:-1] if char not in "'\"" else char


def printable(text: object, *, keep: str = "") -> str:
    """``text`` with every non-printable character (control characters, line and
    paragraph separators, format characters, lone surrogates) escaped, except those in
    ``keep``. Safe to print on one line of a terminal or log."""
    value = str(text)
    if value.isprintable() and not keep:
        return value
    return "".join(c if c.isprintable() or c in keep else _escape(c) for c in value)


def xml_text(text: object) -> str:
    """``text`` safe for XML 1.0 (attribute or element text) and for a CI log: as
    :func:`printable`, keeping newlines and tabs, which XML allows."""
    return printable(text, keep="\n\t")


TERMINAL_WIDTH = 99
"""What a line the tool prints fits in: a terminal of 100 columns (a CI log's too)."""


def wrapped(line: str, width: int = TERMINAL_WIDTH) -> list[str]:
    """``line`` cut at spaces into lines of at most ``width`` columns (a wide character
    takes two, see :func:`display_width`; a word longer than that stays whole), the
    continuation lines indented two more than the first."""
    import re

    indent = line[: len(line) - len(line.lstrip(" "))]
    lines: list[str] = []
    current, space = indent, ""
    for chunk in re.findall(r" +|[^ ]+", line[len(indent) :]):
        if chunk.startswith(" "):
            space = chunk
            continue
        if current.strip() and display_width(current + space + chunk) > width:
            lines.append(current)
            current = indent + "  " + chunk
        else:
            current += space + chunk
        space = ""
    return [*lines, current]


def display_width(text: str) -> int:
    """The columns ``text`` takes on a terminal: two for a wide character (CJK), one for
    any other."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _cut(text: str, width: int) -> tuple[str, str]:
    """The longest start of ``text`` that fits ``width`` columns, and the rest."""
    used = 0
    for index, char in enumerate(text):
        used += display_width(char)
        if used > width:
            return text[:index], text[index:]
    return text, ""


def _cell_lines(text: str, width: int) -> list[str]:
    """``text`` cut into lines of at most ``width`` columns, after a space, an underscore
    or a comma where it can (``softmax_cross_`` / ``entropy``), mid-word where it
    cannot."""
    import re

    lines = [""]
    for piece in filter(None, re.findall(r"[^ _,]*[ _,]?", text)):
        if lines[-1] and display_width(lines[-1] + piece.rstrip()) > width:
            lines.append("")
        lines[-1] += piece
        while display_width(lines[-1].rstrip()) > width:  # longer than the column: cut it
            head, rest = _cut(lines[-1], width)
            lines[-1:] = [head, rest]
    return [line.rstrip() for line in lines if line.strip()] or [""]


def _pad(text: str, width: int, *, right: bool) -> str:
    space = " " * max(0, width - display_width(text))
    return space + text if right else text + space


def table_lines(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    flexible: Sequence[int] = (),
    right: Sequence[int] = (),
    width: int = TERMINAL_WIDTH,
    minimum: int = 8,
) -> list[str]:
    """An aligned table that fits in ``width`` columns: the ``flexible`` columns (by
    index) give up width, the widest first, down to ``minimum``, and their cells wrap
    onto more lines; the ``right`` columns are right-aligned. Columns are two spaces
    apart."""
    widths = [
        max(display_width(line[i]) for line in (header, *rows)) for i in range(len(header))
    ]
    while sum(widths) + 2 * (len(widths) - 1) > width:
        candidates = [i for i in flexible if widths[i] > minimum]
        if not candidates:
            break  # it cannot fit: the fixed columns alone are too wide
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
    lines = []
    for line in (header, *rows):
        cells = [_cell_lines(cell, widths[i]) for i, cell in enumerate(line)]
        for depth in range(max(len(cell) for cell in cells)):
            parts = [
                _pad(cell[depth] if depth < len(cell) else "", widths[i], right=i in right)
                for i, cell in enumerate(cells)
            ]
            lines.append("  ".join(parts).rstrip())
    return lines
