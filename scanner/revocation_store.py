"""Recorded revocation data of one scan: each CRL and OCSP response once, by SHA-256.

The probe hands every fetched (or stapled, or operator-given) CRL and OCSP response to
``RevocationStore.put``; it is written once as ``OUT/revocation/<sha256>.crl`` or ``.ocsp``, however
many endpoints refer to it, and ``to_json()`` is the results' top-level ``revocation_data`` table.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from scanner.facts.revocation import blob_name
from scanner.results import write_atomic


def _iso_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RevocationStore:
    """Recorded CRLs and OCSP responses, each once by SHA-256, as ``revocation/<sha256>.crl`` or
    ``.ocsp`` under the output folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries: dict[str, dict[str, Any]] = {}

    def put(self, kind: str, data: bytes, location: str | None) -> str:
        sha = hashlib.sha256(data).hexdigest()
        entry = self.entries.get(sha)
        if entry is None:
            name = blob_name(sha, kind)
            (self.folder / "revocation").mkdir(parents=True, exist_ok=True)
            write_atomic(self.folder / name, data)
            entry = {"sha256": sha, "kind": "crl" if name.endswith(".crl") else "ocsp", "file": name,
                     "size": len(data), "fetched_at": _iso_now(), "locations": []}
            self.entries[sha] = entry
        if location and location not in entry["locations"] and len(entry["locations"]) < 16:
            entry["locations"].append(location)
        return sha

    def to_json(self) -> list[dict[str, Any]]:
        """The results' top-level ``revocation_data`` table, sorted by hash."""
        return [dict(self.entries[sha], locations=list(self.entries[sha]["locations"])) for sha in sorted(self.entries)]


