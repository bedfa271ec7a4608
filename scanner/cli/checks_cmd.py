"""``dccscan checks``: print the check catalogue without scanning anything (pkilint-style)."""

from __future__ import annotations

import json
from typing import Any

import click

from scanner.checks import catalogue

COLUMNS = ("id", "severity", "source", "title")


def render_table(entries: list[dict[str, Any]]) -> str:
    """Fixed-width columns: id, severity, source, title."""
    widths = {c: max(len(c), *(len(str(e[c])) for e in entries)) for c in COLUMNS[:-1]}
    head = "  ".join(c.upper().ljust(widths[c]) for c in COLUMNS[:-1]) + "  TITLE"
    rows = ["  ".join(str(e[c]).ljust(widths[c]) for c in COLUMNS[:-1]) + "  " + e["title"] for e in entries]
    return "\n".join([head, *rows])


def render_markdown(entries: list[dict[str, Any]]) -> str:
    """One table row per check with citation, effective date and advice (for docs and audits)."""
    def cell(value: Any) -> str:
        return str(value if value is not None else "").replace("|", "\\|")
    out = ["| id | severity | source | title | citation | effective | advice |", "|---|---|---|---|---|---|---|"]
    out += [f"| `{e['id']}` | {e['severity']} | {cell(e['source'])} | {cell(e['title'])} | {cell(e['citation'])} | "
            f"{cell(e['effective_date'])} | {cell(e['advice'])} |" for e in entries]
    return "\n".join(out)


@click.command("checks")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True)
def checks(fmt: str) -> None:
    """Print every check dccscan can report: id, severity, source, citation, advice."""
    entries = catalogue()
    if fmt == "json":
        click.echo(json.dumps(entries, indent=2))
    elif fmt == "markdown":
        click.echo(render_markdown(entries))
    else:
        click.echo(render_table(entries))
