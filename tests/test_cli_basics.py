"""The console entry point starts and answers --version / --help."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from scanner import __version__
from scanner.cli import cli


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_python_dash_m() -> None:
    out = subprocess.run([sys.executable, "-m", "scanner", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "dccscan" in out.stdout


def test_every_command_has_a_working_help_and_an_untruncated_summary() -> None:
    """`dccscan --help` lists each registered command with its whole summary; each --help runs."""
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"], terminal_width=80)
    listing = top.output.split("Commands:", 1)[1]
    assert top.exit_code == 0 and "..." not in listing, top.output
    assert len(cli.commands) >= 10  # scan, demo, check, checks, check-csr, evidence, verify-evidence, history, diff, prune
    for name, command in cli.commands.items():
        assert command.short_help and command.short_help in listing, name
        result = runner.invoke(cli, [name, "--help"], terminal_width=80)
        assert result.exit_code == 0, (name, result.output)
        assert result.output.startswith(f"Usage: cli {name} ") or result.output.startswith(f"Usage: dccscan {name} ")
