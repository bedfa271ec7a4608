"""Command-line entry point.

Each command lives in its own module in this package so that commands can grow independently;
this module only builds the group and registers them. Exit codes (kept by every command):

0  every endpoint scanned and nothing at or above the failure threshold
1  findings at or above the threshold (``--fail-on``)
2  invalid command line or input file
3  one or more endpoints could not be scanned (and no findings above the threshold)
4  another run holds the history database's lock (``--db``); nothing was scanned or changed
"""

from __future__ import annotations

import importlib

import click

from scanner import __version__

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_UNSCANNED = 3
EXIT_LOCKED = 4  # the same value as scanner.runlock.EXIT_LOCKED (a test keeps them equal)

# module name, attribute holding the click command, and the one-line summary `dccscan --help`
# lists (kept here, side by side, so the list reads as one text and fits 80 columns; each
# command's own --help shows its full docstring). A module that is absent is skipped so that a
# partially installed tree still starts.
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dccscan")
def cli() -> None:
    """dccscan: check TLS endpoints against Chrome, Firefox and the DCCKI TLS profile."""


def _register() -> None:
    for module_name, attr, summary in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        command = getattr(module, attr)
        command.short_help = summary
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="dccscan")
