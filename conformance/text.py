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
    """``line`` cut at spaces into lines of at most ``width`` characters (a word longer
    than that stays whole), the continuation lines indented two more than the first."""
    import textwrap

    indent = line[: len(line) - len(line.lstrip(" "))]
    return textwrap.wrap(
        line,
        width=width,
        initial_indent="",
        subsequent_indent=indent + "  ",
        break_long_words=False,
        break_on_hyphens=False,
        drop_whitespace=True,
    ) or [line]
