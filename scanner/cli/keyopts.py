"""The command-line side of ``scanner.passwords``: one ``--…-password-file`` option per key.

The option sets its source's file for this invocation (None when not given) through a callback
and hands nothing to the command, so any command that reads such a key gains it with one
decorator, and ``scan``'s nightly option plumbing stays unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from scanner.passwords import SHARED_ENV, PasswordSource

F = TypeVar("F", bound=Callable[..., Any])


def password_file_option(source: PasswordSource) -> Callable[[F], F]:
    """``source.option FILE``: the key's password is the first line of FILE."""

    def remember(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
        source.use_file(value)

    return click.option(source.option, type=click.Path(path_type=Path, dir_okay=False), default=None,
                        expose_value=False, callback=remember, metavar="FILE",
                        help=f"File whose first line is the {source.what}'s password (without it: {source.env}, "
                        f"then {SHARED_ENV}).")
