"""The cron and systemd recipes in docs/ parse, run the nightly scan as documented, and are the
ones the README shows."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import click

from scanner.cli.history_cmd import prune

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
