"""The cron and systemd recipes in docs/ parse, run the nightly scan as documented, and are the
ones the README shows; run as cron and systemd run them (no terminal, stdin closed, a minimal
environment, output captured as cron mails it) against a real loopback estate, a clean night
prints nothing and a night with something wrong prints what."""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from scanner.cli.history_cmd import prune
from scanner.history import list_scans
from scanner.lab.pki import Issued, LabPKI
from scanner.lab.servers import LabEstate
from tests.lab_fixtures import pki, tls_spec, write  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
ENV_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")
SCAN_FLAGS = {"--targets", "--db", "--quiet", "--evidence"}


def _commands(shell_text: str) -> list[list[str]]:
    """Simple commands of a shell line, split at ``;``, ``&&`` and ``||`` (quotes respected)."""
    lexer = shlex.shlex(shell_text, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in (";", "&&", "||"):
            commands.append([])
        elif token == "exec" and not commands[-1]:
            continue
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _scan(commands: list[list[str]]) -> list[str]:
    (scan,) = [c for c in commands if Path(c[0]).name == "dccscan" and c[1] == "scan"]
    return scan


def _cron_entries() -> list[tuple[list[str], str]]:
    entries = []
    for line in (DOCS / "cron.example").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ENV_LINE.match(line):
            continue
        parts = line.split(None, 5)
        entries.append((parts[:5], parts[5]))
    return entries


def _systemd(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DOCS / name).read_text(encoding="utf-8"))
    return parser


def _systemd_argv(command: str) -> list[str]:
    """ExecStart= argv with systemd's prefixes and escapes undone, and ``sh -c '...'`` unwrapped."""
    argv = shlex.split(command.lstrip("-@:+!").replace("%%", "%").replace("$$", "$"))
    if Path(argv[0]).name == "sh" and argv[1] == "-c":
        return _scan(_commands(argv[2]))
    return argv


def test_cron_line_has_five_fields_and_runs_the_nightly_scan() -> None:
    (entry,) = _cron_entries()
    fields, command = entry
    assert len(fields) == 5 and all(CRON_FIELD.match(f) for f in fields), fields
    commands = _commands(command.replace("\\%", "%"))
    assert SCAN_FLAGS <= set(_scan(commands))
    assert any(c[0] == "find" and "-mtime" in c for c in commands)
    assert any(c[:2] == ["dccscan", "prune"] and "--keep-days" in c for c in commands)
    assert "%" not in command.replace("\\%", ""), "unescaped % ends a cron command"


def test_systemd_service_and_timer() -> None:
    service, timer = _systemd("dccscan-nightly.service"), _systemd("dccscan-nightly.timer")
    assert service["Service"]["Type"] == "oneshot"
    scan = _systemd_argv(service["Service"]["ExecStart"])
    assert Path(scan[0]).name == "dccscan" and scan[1] == "scan" and SCAN_FLAGS <= set(scan)
    pre = service["Service"]["ExecStartPre"]  # strict=False keeps the last of the repeated keys
    assert "prune" in pre and "--keep-days" in pre
    assert "-mtime +" in (DOCS / "dccscan-nightly.service").read_text(encoding="utf-8")
    assert timer["Timer"]["OnCalendar"].strip()
    assert timer["Timer"]["Unit"] == "dccscan-nightly.service"
    assert timer["Install"]["WantedBy"] == "timers.target"


def _options(command: click.Command) -> set[str]:
    return {opt for param in command.params for opt in getattr(param, "opts", [])}


def test_recipes_use_only_options_that_exist() -> None:
    """Every option the recipes pass to ``prune`` and ``scan`` exists."""
    (entry,) = _cron_entries()
    commands = _commands(entry[1].replace("\\%", "%"))
    (prune_argv,) = [c for c in commands if c[:2] == ["dccscan", "prune"]]
    assert {a for a in prune_argv if a.startswith("--")} <= _options(prune)
    from scanner.cli import scan_cmd
    service_scan = _systemd_argv(_systemd("dccscan-nightly.service")["Service"]["ExecStart"])
    for argv in (_scan(commands), service_scan):
        assert {a for a in argv if a.startswith("--")} <= _options(scan_cmd.scan)


def test_readme_shows_the_recipes_verbatim() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- section: nightly -->", 1)[1].split("<!-- section:", 1)[0]
    for name in ("cron.example", "dccscan-nightly.service", "dccscan-nightly.timer"):
        assert (DOCS / name).read_text(encoding="utf-8").strip() in section, name


# --- the recipes, run ----------------------------------------------------------------------------

HOST = "gw.dcc-user.example"
HANG = 300.0  # hang detection only, never a speed requirement
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class Machine:
    """A stand-in for the nightly machine: the recipes' absolute paths mapped into ``tmp``."""

    tmp: Path
    state: Path  # /var/lib/dccscan
    home: Path
    bin: Path  # holds the ``dccscan`` the recipes call
    paths: dict[str, str]

    def local(self, text: str) -> str:
        for real, here in self.paths.items():
            text = text.replace(real, here)
        return text


@pytest.fixture
def machine(pki: LabPKI, tmp_path: Path) -> Machine:  # noqa: F811 - the fixture imported above
    state, home, bindir = tmp_path / "var-lib-dccscan", tmp_path / "home", tmp_path / "bin"
    for folder in (state, home, bindir):
        folder.mkdir()
    program = bindir / "dccscan"  # the installed command, as `pip install` makes it: python -m scanner
    program.write_text(f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(ROOT))} exec {shlex.quote(sys.executable)} "
                       "-m scanner \"$@\"\n", encoding="utf-8")
    program.chmod(0o755)
    write(tmp_path / "root.pem", pki.root.pem)
    paths = {"/var/lib/dccscan": str(state), "/etc/dccscan/targets.toml": str(tmp_path / "targets.toml"),
             "/usr/local/bin/dccscan": str(program)}
    return Machine(tmp=tmp_path, state=state, home=home, bin=bindir, paths=paths)


def _targets(machine: Machine, port: int) -> None:
    write(machine.tmp / "targets.toml",
          f'[defaults]\ntrust_anchors = ["{machine.tmp / "root.pem"}"]\ntimeout = 20\n\n[[target]]\n'
          f'name = "gateway"\ninterface = "gateway"\nhost = "127.0.0.1"\nport = {port}\n'
          f'hostname = "{HOST}"\n'.encode())


def _run_detached(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """``argv`` as a daemon starts a job: ``env -i`` plus ``env``, a new session (no controlling
    terminal), stdin a pipe closed at once, stdout and stderr captured together (one mail)."""
    done = subprocess.run(["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv], cwd=cwd,
                          input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                          timeout=HANG)
    return done.returncode, done.stdout.decode("utf-8", "replace")


def _cron_text(command: str) -> str:
    """A crontab command field as cron hands it to the shell: ``\\%`` is ``%``; a bare ``%`` would
    end the command (the rest is stdin), which the recipe must not do."""
    assert "%" not in command.replace("\\%", "")
    return command.replace("\\%", "%")


def run_cron_night(machine: Machine) -> str:
    """The crontab line, as cron runs it: ``/bin/sh -c`` in the user's home with cron's environment."""
    (entry,) = _cron_entries()
    env = {"SHELL": "/bin/sh", "HOME": str(machine.home), "LOGNAME": "dccscan", "USER": "dccscan",
           "PATH": f"{machine.bin}:/usr/bin:/bin"}
    for line in (DOCS / "cron.example").read_text(encoding="utf-8").splitlines():
        if ENV_LINE.match(line) and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip()
    _, output = _run_detached(["/bin/sh", "-c", machine.local(_cron_text(entry[1]))], env, machine.home)
    return output


def _service_lines() -> list[tuple[str, str]]:
    """(key, value) of every ExecStartPre= / ExecStart= line, in order (configparser keeps one)."""
    lines = []
    for line in (DOCS / "dccscan-nightly.service").read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key in ("ExecStartPre", "ExecStart", "WorkingDirectory"):
            lines.append((key, value))
    return lines


def run_systemd_night(machine: Machine) -> str:
    """The service as systemd runs it: each Exec line's argv (``%%``/``$$`` unescaped, no shell
    unless the line asks for one) in WorkingDirectory, in order; a failing line without ``-``
    stops the run. Returns everything written to the journal."""
    env = {"PATH": SYSTEMD_PATH, "HOME": str(machine.home), "LOGNAME": "dccscan", "USER": "dccscan"}
    journal = ""
    lines = _service_lines()
    workdir = Path(machine.local(next(value for key, value in lines if key == "WorkingDirectory")))
    for key, value in lines:
        if key == "WorkingDirectory":
            continue
        ignore_failure = value.startswith("-")
        argv = shlex.split(machine.local(value.lstrip("-@:+!")).replace("%%", "%").replace("$$", "$"))
        code, output = _run_detached(argv, env, workdir)
        journal += output
        if code != 0 and not ignore_failure:
            journal += f"[{key} failed with status {code}]\n"
            break
    return journal


@pytest.mark.parametrize("night", [run_cron_night, run_systemd_night], ids=["cron", "systemd"])
def test_a_clean_night_prints_nothing_and_a_bad_night_says_what(night, machine: Machine,  # type: ignore[no-untyped-def]
                                                                 pki: LabPKI) -> None:  # noqa: F811
    leaf: Issued = pki.leaf(HOST, dns=[HOST])
    with LabEstate([tls_spec(leaf)]) as (port,):
        _targets(machine, port)
        first = night(machine)  # the first night: no history database, no report folders yet
        assert first == "", first
        assert night(machine) == ""  # a second clean night (now with history to compare with)
    stopped = night(machine)  # the endpoint is down: unscanned, exit 3
    assert f"gateway@127.0.0.1:{port}" in stopped and "refused" in stopped, stopped
    with LabEstate([tls_spec(leaf, port=port)]):
        recovered = night(machine)
    assert recovered == "", recovered  # back to normal: quiet again
    scans = list_scans(machine.state / "history.db")
    assert [s["exit_code"] for s in scans] == [0, 0, 3, 0]
    assert len(list((machine.state / "evidence").glob("nightly-*.zip"))) >= 1
    assert len([p for p in (machine.state / "reports").iterdir() if (p / "results.json").is_file()]) >= 1


def test_a_busy_lock_is_a_night_with_output(machine: Machine, pki: LabPKI) -> None:  # noqa: F811
    """Another run holding the database (exit 4) must reach the mailbox, not vanish."""
    from scanner.runlock import run_lock

    leaf: Issued = pki.leaf(HOST, dns=[HOST])
    with LabEstate([tls_spec(leaf)]) as (port,):
        _targets(machine, port)
        assert run_cron_night(machine) == ""
        with run_lock(machine.state / "history.db"):
            text = machine.local(_cron_text(_cron_entries()[0][1])).replace("--wait-lock 600", "--wait-lock 0")
            _, output = _run_detached(["/bin/sh", "-c", text],
                                      {"HOME": str(machine.home), "PATH": f"{machine.bin}:/usr/bin:/bin"},
                                      machine.home)
    assert "another dccscan run holds" in output, output
