#!/usr/bin/env python3
"""Set up everything the test suite needs, from the project's own files, then run it.

    python3 tests/run.py [--no-lint] [pytest arguments]

Only the standard library is used here, so this works on a fresh machine with just Python 3.11+.
Steps: create ``.venv`` (if absent), install dccscan with its ``test`` extra into it, install the
real browsers the oracle tests ask (Debian's chromium and firefox-esr, plus certutil) when they are
missing and this machine can install them, and the command-line tools some tests run
(``TOOL_PACKAGES``: nginx-light, prometheus, openssl), run the linter (``ruff check scanner tests
benchmarks``) and the type checker (``mypy``, configured in pyproject.toml), then run pytest. A
lint or type error fails the run before any test starts (``--no-lint`` skips both, for a quick
local run of a few tests). Where the browsers cannot be had, the reason is passed to the tests,
which skip with it visibly; nothing is silently left out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BROWSER_PACKAGES = ["chromium", "firefox-esr", "libnss3-tools"]
BROWSER_BINARIES = ["/usr/bin/chromium", "/usr/bin/firefox-esr"]
# Command-line tools some tests run (they skip, saying why, without them): binary -> Debian package.
TOOL_PACKAGES = {"/usr/bin/promtool": "prometheus",  # checks metrics.prom and docs/prometheus-alerts.yml
                 "/usr/bin/prometheus-node-exporter": "prometheus-node-exporter",  # serves metrics.prom
                 "/usr/sbin/nginx": "nginx-light",  # tests/test_client_auth.py starts one on 127.0.0.1
                 "/usr/bin/openssl": "openssl"}  # tests/test_revocation*.py: `openssl ocsp` and `openssl s_server`


def say(message: str) -> None:
    print(f"[tests/run.py] {message}", flush=True)


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv() -> Path:
    if not venv_python().exists():
        say(f"creating {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    python = venv_python()
    say("installing dccscan[test] into the virtual environment")
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", f"{ROOT}[test]"], check=True)
    return python


def browsers_present() -> bool:
    return all(Path(b).exists() for b in BROWSER_BINARIES) and shutil.which("certutil") is not None


def ensure_browsers() -> str | None:
    """Install the browsers if needed; return None when present, else why they are not."""
    if os.environ.get("DCCSCAN_SKIP_BROWSERS"):
        return "DCCSCAN_SKIP_BROWSERS is set"
    if browsers_present():
        return None
    apt = shutil.which("apt-get")
    if apt is None:
        return "chromium/firefox-esr are not installed and this machine has no apt-get"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return ("chromium/firefox-esr are not installed and installing them needs root: "
                f"sudo apt-get install -y {' '.join(BROWSER_PACKAGES)}")
    say(f"installing {', '.join(BROWSER_PACKAGES)} with apt-get (once per machine)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run([apt, "update", "-q"], env=env, check=False, stdout=subprocess.DEVNULL)
    done = subprocess.run([apt, "install", "-y", "-q", *BROWSER_PACKAGES], env=env, check=False,
                          stdout=subprocess.DEVNULL)
    if done.returncode != 0 or not browsers_present():
        return f"apt-get install {' '.join(BROWSER_PACKAGES)} failed (exit {done.returncode})"
    return None


LINT_PATHS = ["scanner", "tests", "benchmarks"]


def static_checks(python: Path) -> int:
    """ruff, then mypy (both run, so one pass shows every finding); 0 when both pass."""
    failed = []
    for command in ([str(python), "-m", "ruff", "check", *LINT_PATHS], [str(python), "-m", "mypy"]):
        say(" ".join(command))
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            failed.append(command[2])
    if failed:
        say(f"{' and '.join(failed)} failed: fix the findings above; the tests were not run")
        return 1
    return 0


def ensure_tools() -> None:
    """Install the Debian packages of missing tools when this machine can (root with apt-get)."""
    missing = [package for binary, package in TOOL_PACKAGES.items() if not Path(binary).exists()]
    apt = shutil.which("apt-get")
    if not missing or apt is None or (hasattr(os, "geteuid") and os.geteuid() != 0):
        if missing:
            say(f"tests needing {', '.join(missing)} will skip: install with apt-get as root")
        return
    say(f"installing {', '.join(missing)} with apt-get (once per machine)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run([apt, "update", "-q"], env=env, check=False, stdout=subprocess.DEVNULL)
    subprocess.run([apt, "install", "-y", "-q", "--no-install-recommends", *missing], env=env, check=False,
                   stdout=subprocess.DEVNULL)


def main(argv: list[str]) -> int:
    lint = "--no-lint" not in argv
    argv = [arg for arg in argv if arg != "--no-lint"]
    python = ensure_venv()
    if lint:
        status = static_checks(python)
        if status != 0:
            return status
    ensure_tools()
    env = dict(os.environ)
    reason = ensure_browsers()
    if reason:
        say(f"browser oracle tests will skip: {reason}")
        env["DCCSCAN_BROWSERS_UNAVAILABLE"] = reason
    command = [str(python), "-m", "pytest", *argv]
    say(" ".join(command))
    return subprocess.run(command, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
