"""The README and ``--help`` agree: every option every command shows in ``--help`` is in the
README's option table for that command, with the same default, and the tables list nothing else.

The commands are walked as click builds them (each command's params: their spellings and the
default its ``--help`` prints), so a new option, a renamed one or a changed default fails here
until the README says the same. The README marks each table with ``<!-- options: COMMAND -->``.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import platformdirs
import pytest

from scanner.cli import cli

README = Path(__file__).resolve().parents[1] / "README.md"
TABLE = re.compile(r"<!-- options: ([a-z-]+) -->\n((?:\|.*\n)+)")
SPELLING = re.compile(r"`(-{1,2}[A-Za-z][\w-]*)")
# how --help states a default: click's "[default: X; ...]", else "(default: X)", else "...; default: X."
HELP_DEFAULT = (re.compile(r"\[default: ([^\];]*)"), re.compile(r"\(default: ([^)]*)\)"),
                re.compile(r"default: (.*?)\.?$"))
USER_DATA = str(Path(platformdirs.user_data_dir("dccscan")))


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


def readme_tables() -> dict[str, list[tuple[list[str], str]]]:
    """command -> rows of (option spellings, default cell without backticks)."""
    tables: dict[str, list[tuple[list[str], str]]] = {}
    for match in TABLE.finditer(README.read_text(encoding="utf-8")):
        header, _, *rows = match.group(2).splitlines()
        assert _cells(header)[:2] == ["option", "default"], header
        assert match.group(1) not in tables, f"two option tables for {match.group(1)}"
        tables[match.group(1)] = [(SPELLING.findall(_cells(row)[0]), _cells(row)[1].replace("`", "").strip())
                                  for row in rows]
    return tables


def help_default(param: click.Option, ctx: click.Context) -> str:
    """The default ``--help`` shows for ``param`` ("" when it shows none), machine paths generalised."""
    record = param.get_help_record(ctx)
    text = " ".join(record[1].split()) if record else ""
    for pattern in HELP_DEFAULT:
        found = pattern.search(text)
        if found:
            return found.group(1).strip().replace(USER_DATA, "<user data dir>/dccscan")
    return ""


def _commands() -> list[str]:
    return cli.list_commands(click.Context(cli, info_name="dccscan"))


def _options(name: str) -> tuple[click.Context, list[click.Option]]:
    command = cli.commands[name]
    ctx = click.Context(command, info_name=name, parent=click.Context(cli, info_name="dccscan"))
    return ctx, [p for p in command.get_params(ctx) if isinstance(p, click.Option) and "--help" not in p.opts]


def test_every_command_has_an_option_table() -> None:
    assert sorted(readme_tables()) == sorted(_commands())


@pytest.mark.parametrize("name", _commands())
def test_every_option_is_in_the_readme_with_the_same_default(name: str) -> None:
    rows = readme_tables().get(name, [])
    ctx, options = _options(name)
    shown = {opt for option in options for opt in [*option.opts, *option.secondary_opts]}
    documented = {opt for spellings, _ in rows for opt in spellings}
    assert shown - documented == set(), f"`dccscan {name} --help` shows options the README table lacks"
    assert documented - shown == set(), f"the README documents options `dccscan {name}` does not have"
    disagreements = []
    for option in options:
        readme = {default for spellings, default in rows if set(spellings) & set(option.opts)}
        wanted = help_default(option, ctx)
        if readme != {wanted}:
            disagreements.append(f"{'/'.join(option.opts)}: --help says {wanted!r}, README says {sorted(readme)}")
    assert disagreements == []


def test_help_default_reads_each_way_help_states_one() -> None:
    """The extraction itself: each phrasing in use gives the default, and none gives ""."""
    ctx = click.Context(click.Command("x"))
    cases = {"Output folder [default: reports/x/].": "reports/x/", "Evaluation time (default: now).": "now",
             "Name (SNI); default: HOST.": "HOST", "Format.": "", "Timeout [default: 10; overrides the file].": "10"}
    for text, expected in cases.items():
        assert help_default(click.Option(["--x"], help=text), ctx) == expected, text
    assert help_default(click.Option(["--n"], default=50, show_default=True, help="N."), ctx) == "50"
