"""Structured log lines on stderr (``--log-format text|json``).

Unattended runs are read by machines (journald, log shippers) as much as by people, so every log
line is one event with named fields: ``text`` renders ``TIME LEVEL event key=value ...`` for a
terminal, ``json`` renders one JSON object per line for a collector. Results never go to the log:
stdout and the results document carry them; the log says what happened to the run itself.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOG_FORMATS: tuple[str, ...] = ("text", "json")
LOGGER_NAME = "dccscan"


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))


def _text_value(value: Any) -> str:
    from scanner.report._text import printable  # lazy: scanner.report imports modules that log

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text == "" or any(ch in text for ch in " \"=\n") or printable(text) != text:
        return json.dumps(text)  # quoted, and every control or bidi character escaped (ensure_ascii)
    return text


class _EventFormatter(logging.Formatter):
    """Formats a record made by :func:`log_event` (message = event name, ``fields`` extra)."""

    def __init__(self, fmt: str) -> None:
        super().__init__()
        self.fmt = fmt

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = getattr(record, "fields", {})
        if self.fmt == "json":
            line = {"time": _utc(record.created), "level": record.levelname.lower(),
                    "event": record.getMessage(), **fields}
            return json.dumps(line, default=str, sort_keys=False)
        parts = [_utc(record.created), record.levelname, record.getMessage()]
        parts += [f"{key}={_text_value(value)}" for key, value in fields.items()]
        return " ".join(parts)


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time of the event (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - logging must never break a scan
            self.handleError(record)


def configure(fmt: str = "text", level: int = logging.INFO) -> logging.Logger:
    """Install the one stderr handler of the ``dccscan`` logger in format ``fmt``."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {LOG_FORMATS}, not {fmt!r}")
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        if isinstance(handler, _StderrHandler):
            logger.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(_EventFormatter(fmt))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger


def get_logger() -> logging.Logger:
    """The ``dccscan`` logger, configured as text on first use when nobody configured it."""
    logger = logging.getLogger(LOGGER_NAME)
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        configure("text")
    return logger


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Emit one structured event, e.g. ``log_event("webhook.failed", WARNING, url=u, error=e)``."""
    get_logger().log(level, event, extra={"fields": fields})
