"""The report's results reader yields exactly what scanner.results.iter_endpoints yields.

``scanner.report._reader`` stands a placeholder in for each issuing-CA certificate it has parsed
before (the report's largest cost is parsing endpoint lines); these tests hold it to the plain
reader on real layouts and on lines built to catch a wrong substitution.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scanner.report import _reader
from scanner.results import iter_endpoints
from tests.reportdata import build_estate, write_results


def _layout(tmp_path: Path, endpoints: list[Any]) -> Path:
    """A results.json in the scan's streaming layout (one compact line per endpoint)."""
    header = {k: v for k, v in build_estate().items() if k != "endpoints"}
    lines = ["{"] + [f"{json.dumps(k)}: {json.dumps(v)}," for k, v in header.items()] + ['"endpoints": [']
    lines.append(",\n".join(json.dumps(ep, ensure_ascii=False, separators=(",", ":")) for ep in endpoints))
    path = tmp_path / "results.json"
    path.write_text("\n".join(lines + ["]}"]) + "\n", encoding="utf-8")
    return path


def _ca_endpoints() -> list[dict[str, Any]]:
    eps = [ep for ep in build_estate()["endpoints"] if len(ep.get("chain") or []) >= 2]
    assert eps, "the estate has no endpoint with an issuing CA"
    return eps


def test_same_dicts_as_the_plain_reader(tmp_path: Path) -> None:
    path = write_results(build_estate(), tmp_path / "scan")
    assert list(_reader.iter_endpoints(path)) == list(iter_endpoints(path))


def test_repeated_ca_is_recognised_and_put_back(tmp_path: Path) -> None:
    ep = _ca_endpoints()[0]
    eps = [dict(ep, id=f"e{i}") for i in range(5)]
    path = _layout(tmp_path, eps)
    got = list(_reader.iter_endpoints(path))
    assert got == list(iter_endpoints(path))
    assert got[4]["chain"][1] is got[1]["chain"][1]  # the stand-in was used (parsed once)


def test_ca_text_elsewhere_in_a_line_is_left_alone(tmp_path: Path) -> None:
    """The CA's exact JSON as a finding value (not in the chain), and inside a string."""
    ep = _ca_endpoints()[0]
    ca = ep["chain"][1]
    odd = dict(ep, id="odd", findings=[{"id": "x", "severity": "info", "detail": ca}],
               address=json.dumps(ca, separators=(",", ":")))
    odd_chain = dict(ep, id="odd2", chain=[ep["chain"][0], "memo-not-a-token", ca, ca])
    path = _layout(tmp_path, [ep, odd, odd_chain, dict(ep, id="last")])
    assert list(_reader.iter_endpoints(path)) == list(iter_endpoints(path))


def test_invalid_line_fails_as_the_plain_reader_does(tmp_path: Path) -> None:
    ep = _ca_endpoints()[0]
    path = _layout(tmp_path, [ep, ep])
    text = path.read_text(encoding="utf-8").splitlines()
    ca = json.dumps(ep["chain"][1], ensure_ascii=False, separators=(",", ":"))
    broken = next(i for i in range(len(text) - 1, 0, -1) if ca in text[i])
    # the CA's text now inside a string that was never closed properly: invalid JSON
    text[broken] = text[broken].replace(ca, '"x' + ca[:-1] + '"}', 1)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(json.JSONDecodeError) as plain:
        list(iter_endpoints(path))
    with pytest.raises(json.JSONDecodeError) as ours:
        list(_reader.iter_endpoints(path))
    assert str(ours.value) == str(plain.value)


def test_not_the_streaming_layout_reads_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(build_estate(), indent=2), encoding="utf-8")
    assert list(_reader.iter_endpoints(path)) == list(iter_endpoints(path))
