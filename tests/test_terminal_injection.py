"""Issue 15 item 7: hostile text from a certificate, a CSR, a targets file or a recorded scan
never reaches the terminal raw.

A CN holding CR/LF must not print a forged "No findings." line; escape sequences (colours, cursor
moves, OSC 8 hidden links) and bidirectional controls (U+202E and friends) are shown as visible
escapes in ``check``, ``check-csr``, ``diff`` and every bad-input message. Real commands, real
certificates and requests made with cryptography.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scanner.history.diff import render_text
from scanner.lab.pki import issue, name, request
from scanner.report._text import printable

ROOT = Path(__file__).resolve().parents[1]
OSC8 = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
FORGED = "gw\r\nNo findings.\r\nOK: no findings"
BIDI = "gw.\u202egpj.exe\u202c\u2066x\u2069\u200e\u200f\u061c"
HOSTILE = [FORGED, "\x1b[2J\x1b[31mred", OSC8, BIDI]
INVISIBLE = {"\r", "\n", "\x1b", "\x07", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067",
             "\u2068", "\u2069", "\u200e", "\u200f", "\u061c"}


def _dccscan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def _raw(text: str) -> set[str]:
    """Which dangerous characters survive in ``text`` (line breaks between lines excepted)."""
    return {ch for line in text.split("\n") for ch in line if ch in INVISIBLE}


@pytest.mark.parametrize("text", [*HOSTILE, "\u202a\u202b\u202d\u2067\u2068"])
def test_printable_shows_every_dangerous_character(text: str) -> None:
    shown = printable(text)
    assert _raw(shown) == set() and "\n" not in shown
    assert printable("gw.dcc-user.example é") == "gw.dcc-user.example é"  # ordinary text untouched


@pytest.mark.parametrize("cn", HOSTILE, ids=["crlf", "csi", "osc8", "bidi"])
def test_check_csr_escapes_the_request(tmp_path: Path, cn: str) -> None:
    csr = tmp_path / "req.csr"
    csr.write_bytes(request(subject=name(cn), dns=["gw.dcc-user.example"]).der)
    done = _dccscan("check-csr", str(csr), "--fail-on", "never")
    assert done.returncode == 0, done.stderr
    assert _raw(done.stdout) == set(), done.stdout
    lines = done.stdout.splitlines()
    assert not any(line.startswith("OK: no findings") for line in lines)  # no forged line
    assert sum(line.startswith("No findings.") for line in lines) <= 1  # at most the real one
    if cn == FORGED:
        assert "gw\\x0d\\x0aNo findings.\\x0d\\x0aOK: no findings" in done.stdout


@pytest.mark.parametrize("cn", HOSTILE, ids=["crlf", "csi", "osc8", "bidi"])
def test_check_escapes_the_certificate(tmp_path: Path, cn: str) -> None:
    chain = tmp_path / "chain.pem"
    chain.write_bytes(issue(subject=name(cn), dns=["gw.dcc-user.example"]).pem)
    done = _dccscan("check", str(chain), "--hostname", "gw.dcc-user.example", "--fail-on", "never")
    assert done.returncode == 0, done.stderr
    assert _raw(done.stdout) == set(), done.stdout
    if cn == BIDI:
        assert "\\u202e" in done.stdout


def test_bad_input_messages_escape_values_from_the_file(tmp_path: Path) -> None:
    targets = tmp_path / "t.toml"
    hostile = "gw\\u001b[2J\\u202e\\r\\nOK"  # TOML escapes: ESC, U+202E, CR, LF in the name
    targets.write_text(f'[[target]]\nname = "{hostile}"\nhost = "127.0.0.1"\nport = 1\n'
                       f'[[target]]\nname = "{hostile}"\nhost = "127.0.0.1"\nport = 2\n')
    done = _dccscan("scan", "--targets", str(targets), "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    assert _raw(done.stderr) == set() and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2  # the message and its fix, nothing forged


def test_diff_text_escapes_names_and_server_messages() -> None:
    changes = {"since": "2026-11-01T00:00:00Z", "from_scan": 1, "to_scan": 2,
               "unreachable": [{"endpoint": f"{FORGED}@127.0.0.1:443", "error_kind": "tls-alert",
                                "error": f"server said {OSC8}"}],
               "appeared": [{"endpoint": f"{BIDI}@127.0.0.1:443", "finding": "dccki.san.missing",
                             "severity": "error", "title": "\x1b[8mhidden"}]}
    text = render_text(changes)
    assert _raw(text) == set(), text
    assert len(text.splitlines()) == 5  # heading, two kind titles, one line each


def test_csv_junit_and_summary_show_bidi_controls(tmp_path: Path) -> None:
    import copy

    from scanner.report import write_reports
    from scanner.report.terminal import render_summary
    from tests.reportdata import build_estate, write_results

    document = build_estate()
    document["endpoints"] = [copy.deepcopy(next(ep for ep in document["endpoints"] if ep["findings"]))]
    ep = document["endpoints"][0]
    ep["id"] = f"{BIDI}@127.0.0.1:443"
    ep["chain"][0]["subject"] = BIDI
    ep["findings"][0]["detail"] = BIDI
    results = write_results(document, tmp_path)
    junit, table = write_reports(results, tmp_path, ["junit", "csv"])
    for text in (junit.read_text(encoding="utf-8"), table.read_text(encoding="utf-8"),
                 render_summary(results, color=False)):
        assert _raw(text) == set() and "\\u202e" in text
    coloured = render_summary(results, color=True)  # a terminal: Unicode kept, our colours only
    assert _raw(coloured) == {"\x1b"} and "\\u202e" in coloured and "\x1b]" not in coloured


def test_text_log_lines_escape_values() -> None:
    from scanner.log import _EventFormatter
    import logging

    record = logging.LogRecord("dccscan", logging.WARNING, __file__, 1, "evidence.warning", None, None)
    record.fields = {"message": f"chains/{OSC8}.pem", "target": BIDI}
    line = _EventFormatter("text").format(record)
    assert _raw(line) == set() and "\n" not in line
