"""Structured log lines: one event per line on stderr, as text or JSON."""

from __future__ import annotations

import json
import logging

import pytest

from scanner.log import configure, log_event


def test_json_lines_carry_event_and_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure("json")
    log_event("scan.started", targets=3, path="/etc/dccscan/targets.toml")
    log_event("webhook.failed", logging.WARNING, error="refused")
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["event"] == "scan.started" and first["level"] == "info" and first["targets"] == 3
    assert first["time"].endswith("Z") and second["level"] == "warning" and second["error"] == "refused"


def test_text_lines_quote_values_with_spaces(capsys: pytest.CaptureFixture[str]) -> None:
    configure("text")
    log_event("run.locked", logging.ERROR, db="/tmp/a b.db", waited=0)
    (line,) = capsys.readouterr().err.splitlines()
    assert line.split(" ", 1)[1] == 'ERROR run.locked db="/tmp/a b.db" waited=0'


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError):
        configure("yaml")
