"""results.json's endpoints for the HTML report, parsing each repeated certificate once.

Parsing the endpoint lines is the largest single cost of rendering the report, and a good part
of every line is the issuing CA's certificate, written identically by every endpoint it signed.
``iter_endpoints`` here yields what ``scanner.results.iter_endpoints`` yields (equal dicts, same
errors), but once a certificate presented after the leaf has been parsed, its exact JSON text is
recognised in later lines and stood in for by a placeholder before parsing, then the parsed
certificate put back.

Why that is exact: a recognised text ``T`` is a complete JSON object starting ``{"index":``. In a
valid line its ``{`` cannot be inside a string (the ``"`` after it would end that string, and a
string cannot be followed by ``index"``), so it starts a value and ``T`` is that whole value;
replacing it with another value leaves every other value as it was. The placeholder starts with
a raw newline, which no JSON string may contain, so a line that was invalid (``T`` inside a
broken string) stays invalid; a placeholder found anywhere but in the chain makes the line be
parsed again the ordinary way. The certificate put back is ``json.loads(T)`` itself.

The yielded dicts may share those certificate dicts: the renderer reads them, never changes them.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Iterator

from scanner.results import ENDPOINTS_LINE, iter_endpoints as _plain_endpoints

START = '{"index":'  # how the scan writes each chain entry
KEY = 96  # characters of a certificate's text used to look it up (index and part of the PEM)
KNOWN_MAX = 32  # certificates remembered per file: the issuing CAs, never every leaf
_SCAN = json.JSONDecoder().scan_once  # one JSON value at a position


class _Known:
    """The certificates recognised so far: lookup key -> (exact text, parsed certificate)."""

    def __init__(self) -> None:
        self.texts: dict[str, tuple[str, dict[str, Any]]] = {}
        self.tries = 0  # lines searched: bounded too, in case no text ever matches again
        self.token = "memo-" + secrets.token_hex(16)  # no results.json value can equal it
        self.placeholder = f'\n"{self.token}"\n'

    def learn(self, line: str, endpoint: dict[str, Any]) -> None:
        """Remember the exact text, in ``line`` (which parsed as ``endpoint``), of the
        certificates presented after the leaf: whatever the writer's key order or spacing."""
        chain = endpoint.get("chain")
        if type(chain) is not list or len(chain) < 2 or self.tries >= 2 * KNOWN_MAX:
            return
        self.tries += 1
        at = line.find(START)
        while at >= 0 and len(self.texts) < KNOWN_MAX:
            try:
                cert, end = _SCAN(line, at)  # a value: the line is valid JSON (see the docstring)
            except (StopIteration, ValueError):  # pragma: no cover - cannot happen in a valid line
                return
            text = line[at:end]
            if type(cert) is dict and cert.get("index") != 0 and cert in chain[1:] and len(text) > KEY:
                self.texts.setdefault(text[:KEY], (text, cert))
            at = line.find(START, end)

    def parse(self, line: str) -> dict[str, Any] | None:
        """``line`` parsed with the known certificates stood in; None when none was found (or the
        placeholders did not all land in the chain: then the caller parses it plainly)."""
        found: list[dict[str, Any]] = []
        parts: list[str] = []
        done = 0
        at = line.find(START)
        while at >= 0:
            known = self.texts.get(line[at:at + KEY])
            if known is not None and line.startswith(known[0], at):
                parts += (line[done:at], self.placeholder)
                found.append(known[1])
                done = at + len(known[0])
                at = line.find(START, done)
            else:
                at = line.find(START, at + 1)
        if not found:
            return None
        parts.append(line[done:])
        try:
            endpoint = json.loads("".join(parts))
        except ValueError:
            return None  # the caller's plain parse raises the file's own error
        chain = endpoint.get("chain") if type(endpoint) is dict else None
        if type(chain) is not list:
            return None
        put = 0  # the chain lists its entries in the line's order: the n-th stand-in is found[n]
        for i, cert in enumerate(chain):
            if cert == self.token and put < len(found):
                chain[i] = found[put]
                put += 1
        return endpoint if put == len(found) else None


def iter_endpoints(path: str | Path) -> Iterator[dict[str, Any]]:
    """What ``scanner.results.iter_endpoints(path)`` yields, cheaper for the scan's own layout."""
    with open(path, encoding="utf-8") as handle:
        if not any(line.rstrip("\r\n") == ENDPOINTS_LINE for line in handle):  # stops at that line
            yield from _plain_endpoints(path)  # not the streaming layout: read whole
            return
        known = _Known()
        for line in handle:
            text = line.strip().rstrip(",")
            if text in ("]}", "]", ""):
                continue
            endpoint = known.parse(text) if known.texts else None
            if endpoint is None:
                endpoint = json.loads(text)
                if type(endpoint) is dict:
                    known.learn(text, endpoint)
            yield endpoint
