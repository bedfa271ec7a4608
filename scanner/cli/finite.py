"""Numbers given as options are finite and in range (issue 15).

``click.FloatRange`` accepts ``inf`` and ``nan`` (``1e309`` is ``inf``): ``--wait-lock nan``
then waits forever (no time is ever past a NaN deadline), ``--max-duration nan`` stops a scan at
once, ``--timeout inf`` lets a silent endpoint hold a scan for ever. ``Seconds`` refuses them
with click's usual one-line usage error (exit 2).
"""

from __future__ import annotations

import math
from typing import Any

import click

DAY = 86_400.0


class Seconds(click.ParamType):
    """A finite number of seconds, above ``minimum`` (or equal when ``inclusive``), at most ``maximum``."""

    name = "seconds"

    def __init__(self, minimum: float = 0.0, maximum: float = DAY, *, inclusive: bool = False) -> None:
        self.minimum, self.maximum, self.inclusive = minimum, maximum, inclusive

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        low_ok = number >= self.minimum if self.inclusive else number > self.minimum
        if not (math.isfinite(number) and low_ok and number <= self.maximum):
            lower = f"{'at least' if self.inclusive else 'more than'} {self.minimum:g}"
            self.fail(f"{value!r} is not a finite number of seconds {lower} and at most {self.maximum:g}", param, ctx)
        return number
