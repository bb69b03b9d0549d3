"""Reading a case's structure from one byte string: the choices of the strategies.

Hypothesis draws one short byte string per case (a draw costs it ~30 microseconds of
bookkeeping, and a case has a few dozen choices), and :class:`Choices` reads the
structure from it in order. Byte 0 always picks the simplest option, so shrinking a
byte string towards zero bytes shrinks a counterexample towards the simplest case that
still fails. :mod:`conformance.strategies` (version 1 networks) and
:mod:`conformance.families` (version 2 architectures) read their choices here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

RARE_BYTES = 32
"""Of the 256 values of a size byte, the top RARE_BYTES (1 in 8) pick the rare, larger
sizes above the usual range."""


class Choices:
    """Choices read in order from a byte string that Hypothesis draws in one go.

    Byte ``b`` picks option ``b * n // 256`` of ``n``: byte 0 picks the first (the
    simplest) option, and the pick never goes down as the byte goes up. Hypothesis
    shrinks a byte string towards zero bytes, so it shrinks every choice towards its
    simplest option, as it would shrink separate draws. Reading past the end is a bug
    in the caller's byte count (IndexError).
    """

    def __init__(self, data: bytes):
        self._data = data
        self._next = 0

    @property
    def used(self) -> int:
        """How many bytes have been read."""
        return self._next

    def _byte(self) -> int:
        byte = self._data[self._next]
        self._next += 1
        return byte

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return low + self._byte() * (high - low + 1) // 256

    def size(self, low: int, usual: int, high: int) -> int:
        """An integer in [low, high]: in [low, min(usual, high)] for the first 256 -
        RARE_BYTES byte values, above ``usual`` for the rest (when high > usual)."""
        byte = self._byte()
        usual = max(low, min(usual, high))
        if high == usual:
            return low + byte * (usual - low + 1) // 256
        common = 256 - RARE_BYTES
        if byte < common:
            return low + byte * (usual - low + 1) // common
        return usual + 1 + (byte - common) * (high - usual) // RARE_BYTES

    def pick(self, options: Sequence[T]) -> T:
        """One of ``options``, the first for byte 0."""
        return options[self.integer(0, len(options) - 1)]

    def seed(self) -> int:
        """A 32-bit seed (4 bytes)."""
        return int.from_bytes(bytes(self._byte() for _ in range(4)), "big")
