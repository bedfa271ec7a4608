"""The console entry point starts and answers --version / --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_readme_commands_section_names_every_command() -> None:
    """The README's commands section indexes every registered command (and `merge`, planned)."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- section: commands -->", 1)[1].split("<!-- section:", 1)[0]
    for name in set(cli.commands) | {"merge"}:
        assert f"`{name}`" in section, name
    assert readme.startswith("# dccscan\n\n```sh\npython3 -m venv .venv && .venv/bin/pip install -e . && "
                             ".venv/bin/dccscan demo\npython3 tests/run.py\n```\n")
