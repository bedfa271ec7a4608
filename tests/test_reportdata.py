"""The renderer test estate is itself a valid results document."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.reportdata import build_estate, write_results

# the estate is written in the dccscan/1 shape (chains inline), which every reader still reads
SCHEMA = Path(__file__).resolve().parents[1] / "scanner" / "schema" / "results-dccscan1.schema.json"


def test_estate_is_schema_valid_and_mixed(tmp_path: Path) -> None:
    document = build_estate(complete=False)
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    statuses = {(ep["profile"] or {}).get("status") for ep in document["endpoints"]}
    assert {"compliant", "noncompliant", "grandfathered", None} <= statuses
    assert any(c["subject"] and "alert(1)" in c["subject"] for ep in document["endpoints"] for c in ep["chain"])
    path = write_results(document, tmp_path)
    assert json.loads(path.read_text())["endpoints"] == document["endpoints"]
