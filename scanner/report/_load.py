"""Reading results.json for the renderers.

The streaming readers belong to ``scanner.results`` (the pipeline's module); renderers call them
through here so that this package also works on a tree where that module is not installed yet.
The fallback loads the whole document, which is correct but not bounded in memory: the real
readers replace it as soon as ``scanner.results`` exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator


def _fallback_document(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


def read_header(path: Path) -> dict[str, Any]:
    """Every top-level key of results.json except ``endpoints``."""
    try:
        from scanner.results import read_header as real
    except ImportError:
        document = _fallback_document(path)
        document.pop("endpoints", None)
        return document
    return dict(real(path))


def iter_endpoints(path: Path) -> Iterator[dict[str, Any]]:
    """The endpoint records of results.json, one at a time."""
    try:
        from scanner.results import iter_endpoints as real
    except ImportError:
        yield from _fallback_document(path).get("endpoints", [])
        return
    yield from real(path)
