"""Reading a results document for the history store.

``scanner.results.read_header`` / ``iter_endpoints`` (the streaming reader) are used when they
exist; until then (and for any build without them) a whole-file ``json.load`` stands in. Either
way a file that is not a dccscan/1 results document is an ``InputError``, not a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

from scanner.errors import InputError

SCHEMA = "dccscan/1"
_FIX = "pass the results.json that a `dccscan scan` wrote"


def _streaming_reader() -> tuple[Callable[[Path], dict[str, Any]], Callable[[Path], Iterator[dict[str, Any]]]] | None:
    try:
        from scanner import results  # type: ignore[attr-defined]
    except ImportError:
        return None
    read_header = getattr(results, "read_header", None)
    iter_endpoints = getattr(results, "iter_endpoints", None)
    if read_header is None or iter_endpoints is None:
        return None
    return read_header, iter_endpoints


def _load_whole(path: Path) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno, fix=_FIX) from exc
    if not isinstance(document, dict):
        raise InputError("not a results document (expected a JSON object)", file=path, fix=_FIX)
    endpoints = document.pop("endpoints", [])
    return document, iter(endpoints)


def read_results(path: str | Path) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """``(header, endpoints)`` of a results file: every top-level key but ``endpoints``, and
    an iterator over the endpoint records in file order."""
    path = Path(path)
    if not path.is_file():
        raise InputError("results file not found", file=path, fix=_FIX)
    reader = _streaming_reader()
    try:
        if reader is None:
            header, endpoints = _load_whole(path)
        else:
            header, endpoints = reader[0](path), reader[1](path)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno, fix=_FIX) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read results: {exc}", file=path, fix=_FIX) from exc
    if header.get("schema") != SCHEMA:
        raise InputError(f"schema is {header.get('schema')!r}, expected {SCHEMA!r}", file=path, fix=_FIX)
    return header, endpoints
