"""Command-line entry point.

Each command lives in its own module in this package so that commands can grow independently;
this module only builds the group and registers them. Exit codes (kept by every command):

0  every endpoint scanned and nothing at or above the failure threshold
1  findings at or above the threshold (``--fail-on``)
2  invalid command line or input file
3  one or more endpoints could not be scanned (and no findings above the threshold)
4  another run holds the history database's lock (``--db``); nothing was scanned or changed

A command stopped by SIGINT or SIGTERM cleans up, says so on stderr and exits 3 (``scan`` first
writes what it gathered; ``demo --serve`` treats the signal as its normal end and exits 0).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping

import click

from scanner import __version__
from scanner.cli import stop

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_UNSCANNED = 3
EXIT_LOCKED = 4  # the same value as scanner.runlock.EXIT_LOCKED (a test keeps them equal)

# module name, attribute holding the click command, and the one-line summary `dccscan --help`
# lists (kept here, side by side, so the list reads as one text and fits 80 columns; each
# command's own --help shows its full docstring).
_COMMANDS: list[tuple[str, str, str]] = [
    ("scanner.cli.scan_cmd", "scan", "Scan TLS endpoints; write results, reports, chains."),
    ("scanner.cli.demo_cmd", "demo", "Scan a built-in demo estate on 127.0.0.1."),
    ("scanner.cli.check_cmd", "check", "Judge one PEM chain offline, as a scan would."),
    ("scanner.cli.checks_cmd", "checks", "List every check: id, severity, source, advice."),
    ("scanner.cli.evidence_cmd", "evidence", "Pack a finished scan into an evidence zip."),
    ("scanner.cli.evidence_cmd", "verify_evidence", "Verify an evidence pack; re-check its verdicts."),
    ("scanner.cli.history_cmd", "history", "List the scans recorded in a history database."),
    ("scanner.cli.history_cmd", "diff", "Show what changed between two recorded scans."),
    ("scanner.cli.history_cmd", "prune", "Delete recorded scans older than N days."),
    ("scanner.cli.merge_cmd", "merge", "Merge the results of sharded scans into one."),
    ("scanner.cli.csr_cmd", "check_csr", "Check a certificate request before sending it."),
]


class _LazyCommands(MutableMapping[str, click.Command]):
    """The group's command table, importing a command's module only when that command is used.

    Why: each command module pulls in its own dependencies (history, evidence, the lab PKI, ...);
    importing all of them cost `dccscan scan` about a quarter of a second of start-up on every
    run. Names and one-line summaries come from ``_COMMANDS``, so `dccscan --help` imports
    nothing; looking a command up (to run it, or to show its own --help) imports its module.
    """

    def __init__(self) -> None:
        self._where: dict[str, tuple[str, str, str]] = {}
        self._loaded: dict[str, click.Command] = {}
        for module_name, attr, summary in _COMMANDS:
            self._where[attr.replace("_", "-")] = (module_name, attr, summary)

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module_name, attr, summary = self._where[name]  # KeyError: no such command
            command: click.Command = getattr(importlib.import_module(module_name), attr)
            command.short_help = summary
            self._loaded[name] = command
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command
        self._where.setdefault(name, ("", "", command.short_help or ""))

    def __delitem__(self, name: str) -> None:
        self._where.pop(name)
        self._loaded.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)


class _LazyGroup(click.Group):
    """A click group whose top-level --help lists summaries without importing any command."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List ``_COMMANDS``' summaries (the same text and layout click would produce)."""
        table = self.commands
        assert isinstance(table, _LazyCommands)
        rows = [(name, table._where[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; a SIGINT or SIGTERM it did not handle itself becomes one line and exit 3.

        Why here: click would print "Aborted!" and exit 1, which reads as "findings" in our exit
        codes. The command's own ``finally`` blocks have run by now (locks released, temporary
        files removed, transactions rolled back).
        """
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            command = ctx.invoked_subcommand or "dccscan"
            click.echo(f"dccscan: {command} stopped by {stop.stopped_by()}", err=True)
            raise click.exceptions.Exit(stop.EXIT_STOPPED) from None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dccscan")
def cli() -> None:
    """dccscan: check TLS endpoints against Chrome, Firefox and the DCCKI TLS profile."""


cli.commands = _LazyCommands()


def main() -> None:
    stop.install()
    cli(prog_name="dccscan")
