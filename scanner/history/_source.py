"""Reading a results document for the history store.

Read through ``scanner.results.read_header`` / ``iter_endpoints`` (streaming, so a large scan is
recorded in bounded memory); dccscan/1 and dccscan/2 files are read alike (the reader gives
both the same endpoint shape); any other file is an ``InputError``, not a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from scanner.errors import InputError
from scanner.results import READABLE_SCHEMAS, iter_endpoints, read_header

_FIX = "pass the results.json that a `dccscan scan` wrote"


def read_results(path: str | Path) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """``(header, endpoints)`` of a results file: every top-level key but ``endpoints``, and
    an iterator over the endpoint records in file order."""
    path = Path(path)
    if not path.is_file():
        raise InputError("results file not found", file=path, fix=_FIX)
    try:
        header, endpoints = read_header(path), iter_endpoints(path)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno, fix=_FIX) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read results: {exc}", file=path, fix=_FIX) from exc
    if header.get("schema") not in READABLE_SCHEMAS:
        raise InputError(f"schema is {header.get('schema')!r}, expected one of {', '.join(READABLE_SCHEMAS)}",
                         file=path, fix=_FIX)
    return header, endpoints
