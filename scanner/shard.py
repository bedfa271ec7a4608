"""``--shard I/N``: a stable split of a targets file across machines.

A target belongs to shard ``I`` of ``N`` when the SHA-256 of its name, read as a number, is
``I - 1`` modulo ``N``. The name (not the position in the file) decides, so adding or reordering
targets never moves the others between machines, every target is in exactly one shard, and
every machine computes the split alone without talking to the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, Sequence, TypeVar

from scanner.errors import InputError



class _Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=_Named)
MAX_SHARDS = 10000


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, name: str) -> bool:
        """Whether the target called ``name`` is scanned by this shard."""
        return shard_of(name, self.count) == self.index

    def select(self, targets: Sequence[T]) -> list[T]:
        """The targets of this shard, in file order (objects with a ``name``)."""
        return [t for t in targets if self.holds(t.name)]


def shard_of(name: str, count: int) -> int:
    """The 1-based shard of a target name among ``count`` shards."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str) -> Shard:
    """``"2/5"`` -> Shard(2, 5); InputError with the fix otherwise."""
    fix = "write --shard I/N with 1 <= I <= N, e.g. --shard 1/4 on the first of four machines"
    index_text, sep, count_text = text.strip().partition("/")
    try:
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise InputError(f"--shard {text!r} is not of the form I/N", fix=fix) from None
    if not sep or count < 1 or count > MAX_SHARDS or not 1 <= index <= count:
        raise InputError(f"--shard {text!r} is out of range", fix=fix)
    return Shard(index, count)
