"""Whatever text a certificate or server carries, the renderers keep their structure: the HTML
has exactly the elements it has for harmless text (but for the line-break points after a
hostname's dots), JUnit stays well-formed XML, the CSV keeps
one row per endpoint and the terminal table stays free of control characters."""

from __future__ import annotations

import copy
import csv
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import markupsafe
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.report import write_reports
from scanner.assess import catalogue
from scanner.report.terminal import render_summary
from tests.reportdata import build_estate, write_results

CERTIFICATE_CHECKS = tuple(entry["id"] for entry in catalogue())  # what a scan records in results.json


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "wbr" or (tag == "span" and ("class", "hp") in attrs):
            return  # a hostname's line-break points: one per dot in the text, by design
        self.elements.append(tag + "|" + ",".join(sorted(k for k, _ in attrs)))


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    document = build_estate()
    document["endpoints"] = [ep for ep in document["endpoints"] if ep["target"]["name"] == "hostile"]
    return document


def _fill(document: dict[str, Any], text: str) -> dict[str, Any]:
    """Put ``text`` in every server- or certificate-controlled string the report shows."""
    doc = copy.deepcopy(document)
    ep = doc["endpoints"][0]
    ep["chain"][0]["subject"] = ep["chain"][0]["issuer"] = text
    ep["chain"][0]["san"] = [{"type": "dns", "value": text}]
    ep["tls"]["alpn"] = ep["tls"]["cipher"] = text
    ep["tls"]["acceptable_ca_names"] = [text]
    ep["browsers"]["chrome"]["error"] = text
    ep["browsers"]["chrome"]["reasons"][0]["message"] = text
    for key in ("title", "detail", "advice", "citation"):
        ep["findings"][0][key] = text
    return doc


def _elements(html: str) -> list[str]:
    parser = _Elements()
    parser.feed(html)
    return parser.elements


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=40))
def test_any_text_keeps_every_renderer_intact(base: dict[str, Any], tmp_path: Path, text: str) -> None:
    reference = write_results(_fill(base, "x"), tmp_path / "ref")
    expected = _elements(write_reports(reference, tmp_path / "ref", ["html"])[0].read_text())
    results = write_results(_fill(base, text), tmp_path / "run")
    html, junit, table = write_reports(results, tmp_path / "run", ["html", "junit", "csv"])
    assert _elements(html.read_text()) == expected
    fired = {f["id"] for f in base["endpoints"][0]["findings"]}
    # scan + the one finding + every other certificate check, passed
    assert len(ET.parse(junit).getroot().findall(".//testcase")) == 2 + len(set(CERTIFICATE_CHECKS) - fired)
    assert len(list(csv.reader(table.open(encoding="utf-8", newline="")))) == 2
    summary = render_summary(results, color=True)
    assert not any(ord(c) < 32 and c not in "\n\x1b" for c in summary)


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "\" onmouseover=\"alert(1)", "' autofocus onfocus='x",
                                  "\u202egnp.exe\u202c", "\u2067<b>x</b>\u2069.example", "{{ 7*7 }}{% if 1 %}",
                                  "None", "{'a': True}"])
def test_named_hostile_text_stays_text_in_the_html(base: dict[str, Any], tmp_path: Path, text: str) -> None:
    """Script tags, quotes, bidi controls and template syntax, in every field the renderers
    show: the same elements as harmless text, the text itself present (escaped)."""
    reference = write_results(_fill(base, "x"), tmp_path / "ref")
    expected = _elements(write_reports(reference, tmp_path / "ref", ["html"])[0].read_text())
    results = write_results(_fill(base, text), tmp_path / "run")
    page = write_reports(results, tmp_path / "run", ["html"])[0].read_text()
    assert _elements(page) == expected
    shown = str(markupsafe.escape(text))  # what autoescaping writes
    assert shown.split(".")[0] in page  # (a hostname's dots are line-break points)
