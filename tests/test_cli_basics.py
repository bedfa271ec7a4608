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
