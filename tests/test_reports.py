"""Renderers: HTML content and escaping, streaming memory, terminal table, JUnit and CSV."""

from __future__ import annotations

import copy
import csv
import io
import re
import tracemalloc
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterable, Iterator

import pytest

from scanner.report import details, write_reports
from scanner.report.csv import COLUMNS
from scanner.report.html import render_html
from scanner.report.terminal import render_summary
from scanner.assess import catalogue
from tests.reportdata import HOSTILE_CA_NAME, HOSTILE_SAN, build_estate, write_results

CERTIFICATE_CHECKS = tuple(entry["id"] for entry in catalogue())  # what a scan records in results.json


@pytest.fixture(scope="module")
def estate() -> dict[str, Any]:
    return build_estate(complete=False)


def _write(document: dict[str, Any], tmp_path: Path, formats: list[str]) -> dict[str, Path]:
    results = write_results(document, tmp_path)
    return {p.name: p for p in write_reports(results, tmp_path, formats)}


class _Tags(HTMLParser):
    """Collects every element and attribute, to prove what the browser would build."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_write_reports_writes_each_format_and_ignores_json(estate: dict[str, Any], tmp_path: Path) -> None:
    written = _write(estate, tmp_path, ["json", "html", "junit", "csv", "html"])
    assert sorted(written) == ["junit.xml", "report.html", "results.csv"]
    results = tmp_path / "results.json"
    assert [p.name for p in write_reports(results, tmp_path / "s", "csv, html")] == ["results.csv", "report.html"]


def _pages(report: Path) -> dict[str, str]:
    """report.html and its details pages, by name relative to report.html's folder."""
    names = ["report.html", *details.page_names(len(build_estate(complete=False)["endpoints"]))]
    return {name: (report.parent / name).read_text() for name in names}


def test_html_has_summary_matrix_details_and_no_external_references(estate: dict[str, Any], tmp_path: Path) -> None:
    pages = _pages(_write(estate, tmp_path, ["html"])["report.html"])
    assert sorted(pages) == ["details/0001.html", "report.html"]
    assert sorted(p.name for p in (tmp_path / "details").iterdir()) == ["0001.html"]
    html = "".join(pages.values())
    for text in ("Endpoints by interface and outcome", "Certificates expiring soonest", "<svg",
                 "ERR_CERT_COMMON_NAME_INVALID", "grandfathered", "noncompliant", "refused",
                 "connection refused by 127.0.0.1:8446", "Acceptable CA names", "-----BEGIN CERTIFICATE-----",
                 "How to fix: Renew the certificate.", "SEC Appendix S, Annex B", "Incomplete run",
                 "never-scanned", estate["targets_file"]["sha256"], "@media print"):
        assert text in html, text
    local = {"report.html": ("#", "details/0001.html#"), "details/0001.html": ("#", "../report.html")}
    for name, page in pages.items():
        parser = _Tags()
        parser.feed(page)
        assert [t for t, _ in parser.tags].count("script") == 1
        assert 'http-equiv="Content-Security-Policy" content="default-src \'none\';' in page
        for tag, attrs in parser.tags:
            assert "src" not in attrs, tag
            assert (attrs.get("href") or "#").startswith(local[name]), (name, attrs)
            assert not any(k.startswith("on") for k in attrs), (tag, attrs)
    assert "-----BEGIN CERTIFICATE-----" not in pages["report.html"]  # details are in their pages


def test_hostile_markup_is_text(estate: dict[str, Any], tmp_path: Path) -> None:
    html = "".join(_pages(_write(estate, tmp_path, ["html"])["report.html"]).values())
    assert "<script>alert" not in html and "<img" not in html and "<b>bold" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;.example" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE_SAN.replace("<", "&lt;").replace(">", "&gt;") in html
    assert HOSTILE_CA_NAME.replace("<", "&lt;").replace(">", "&gt;") in html


def test_changes_section_only_when_header_has_changes(estate: dict[str, Any], tmp_path: Path) -> None:
    """Changes since the previous scan: tables with `dccscan diff`'s titles and content, no
    Python repr (None, True, dicts) anywhere, hostile text as text."""
    plain = _write(estate, tmp_path / "a", ["html"])["report.html"].read_text()
    assert "Changes since" not in plain
    changes = {"since": "2026-11-01T00:00:00Z", "from_scan": 4, "to_scan": 5,
               "resolved": [{"endpoint": "old@127.0.0.1:1", "target": "old", "finding": "chain.incomplete",
                             "severity": "error", "title": None, "certificate_sha256": None}],
               "verdict_changes": [{"endpoint": "x@127.0.0.1:2", "target": "<i>bad</i>", "browser": "chrome",
                                    "old": {"accepted": True, "error": None},
                                    "new": {"accepted": False, "error": "ERR_CERT_DATE_INVALID"}}],
               "expiry_windows": [{"endpoint": "e@127.0.0.1:3", "target": "e", "window_days": 30,
                                   "previous_window_days": None, "days_left": 12.5,
                                   "not_after": "2026-11-13T12:00:00Z", "sha256": "ab" * 32}],
               "rotated": ["<i>not a record</i>"], "appeared": []}
    html = _write(dict(estate, changes=changes), tmp_path / "b", ["html"])["report.html"].read_text()
    section = html.split('id="changes-h"', 1)[1].split("</section>", 1)[0]
    assert "Changes since 2026-11-01T00:00:00Z" in html and "(scan 4 to scan 5)" in section
    for text in ("Findings resolved (1)", "old@127.0.0.1:1", "chain.incomplete", "Browser verdict changes (1)",
                 "accepted</td><td>rejected (ERR_CERT_DATE_INVALID)", "Entering an expiry warning window (1)",
                 "inside the 30-day window", "Certificates rotated (1)", "&lt;i&gt;not a record&lt;/i&gt;"):
        assert text in section, text
    assert "Findings appeared" not in section and "<i>" not in section
    assert not re.search(r"\{'|: None\b|\bNone<|>None\b|\bTrue\b|\bFalse\b", html)


def _many(template: dict[str, Any], count: int) -> Iterator[dict[str, Any]]:
    """Endpoints that each own 8 KB of fresh text, so that keeping them would show."""
    for i in range(count):
        finding = dict(template["findings"][0], detail=f"{i:08d}" * 1000)
        yield dict(template, id=f"ep{i}@127.0.0.1:443", target=dict(template["target"], name=f"ep{i}"),
                   findings=[finding])


def _peak(header: dict[str, Any], template: dict[str, Any], count: int) -> int:
    tracemalloc.start()
    try:
        render_html(header, lambda: _many(template, count), _Discard(), _discard_page)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def _discard_page(name: str, chunks: Iterable[str]) -> None:
    _Discard().writelines(chunks)


def test_html_memory_does_not_grow_with_the_estate(estate: dict[str, Any]) -> None:
    header = {k: v for k, v in estate.items() if k != "endpoints"}
    template = estate["endpoints"][1]
    render_html(header, lambda: _many(template, 1), _Discard(), _discard_page)  # warm up (imports, static parts)
    # both estates fill whole details pages, the part held in memory (a page's endpoints)
    small, large = _peak(header, template, 2 * details.PER_PAGE), _peak(header, template, 10 * details.PER_PAGE)
    # 800 more endpoints would hold about 6 MB more if they were kept; streaming keeps it flat
    assert large < small + 1_000_000, (small, large)


def test_terminal_summary_plain_ascii_and_colour(estate: dict[str, Any], tmp_path: Path) -> None:
    document = copy.deepcopy(estate)
    document["endpoints"][0]["id"] = "evil\x1b]0;pwned\x07\u00e9@127.0.0.1:8443"
    results = write_results(document, tmp_path)
    plain = render_summary(results, color=False)
    assert plain.isascii() and "\x1b" not in plain and "\\x1b]0;pwned\\x07" in plain
    assert "ssi-portal@127.0.0.1:8444" in plain and "SSL_ERROR_BAD_CERT_DOMAIN" in plain
    assert "7 endpoint(s)" in plain and "INCOMPLETE: 1 target(s)" in plain
    coloured = render_summary(results, color=True)
    assert "\x1b[31m" in coloured and "\x1b]" not in coloured


def _junit(document: dict[str, Any], tmp_path: Path) -> ET.Element:
    return ET.parse(_write(document, tmp_path, ["junit"])["junit.xml"]).getroot()


@pytest.mark.parametrize("fail_on, failures", [("error", 2), ("warning", 3), ("info", 4), ("never", 0)])
def test_junit_counts_follow_fail_on(estate: dict[str, Any], tmp_path: Path, fail_on: str, failures: int) -> None:
    document = copy.deepcopy(estate)
    document["settings"]["fail_on"] = fail_on
    root = _junit(document, tmp_path)
    cases = root.findall("./testsuite/testcase")
    assert len(root.findall("./testsuite")) == 7
    passed_checks = sum(len(set(CERTIFICATE_CHECKS) - {f["id"] for f in ep["findings"]})
                        for ep in document["endpoints"] if ep["browsers"] is not None)
    assert passed_checks >= 6 * (len(CERTIFICATE_CHECKS) - 1)  # six evaluated endpoints
    assert int(root.get("tests", -1)) == len(cases) == 7 + 4 + passed_checks
    assert int(root.get("failures", -1)) == len(root.findall(".//failure")) == failures
    assert int(root.get("errors", -1)) == len(root.findall(".//error")) == 1
    error_case = root.find(".//error/..")
    assert error_case is not None and error_case.get("classname") == "gateway-secondary@127.0.0.1:8446"


def test_junit_lists_every_certificate_check_once_per_evaluated_endpoint(estate: dict[str, Any],
                                                                          tmp_path: Path) -> None:
    """Issue 4: one testcase per endpoint and check; checks that did not fire pass, with no body."""
    root = _junit(copy.deepcopy(estate), tmp_path)
    for ep, suite in zip(estate["endpoints"], root.findall("./testsuite"), strict=True):
        names = [case.get("name") for case in suite.findall("testcase")]
        fired = [f["id"] for f in ep["findings"]]
        if ep["browsers"] is None:
            assert names == ["scan"] + fired
            continue
        assert names[:1 + len(fired)] == ["scan"] + fired
        passed = names[1 + len(fired):]
        assert passed == sorted(set(CERTIFICATE_CHECKS) - set(fired))
        assert not any(n.startswith("csr.") for n in passed) and "dccscan.check.crashed" not in passed
        for case in suite.findall("testcase")[1 + len(fired):]:
            assert len(case) == 0 and case.get("classname") == ep["id"]
        assert int(suite.get("tests", -1)) == len(names)


def test_junit_survives_control_characters(estate: dict[str, Any], tmp_path: Path) -> None:
    document = copy.deepcopy(estate)
    document["endpoints"][1]["findings"][0]["detail"] = "bad\x00\x08 bytes <&>"
    root = _junit(document, tmp_path)
    assert "bad\\x00\\x08 bytes <&>" in (root.find(".//failure").text or "")


def test_csv_one_row_per_endpoint_stable_columns_and_formula_guard(estate: dict[str, Any], tmp_path: Path) -> None:
    document = copy.deepcopy(estate)
    document["endpoints"][0]["target"]["name"] = "=HYPERLINK(\"x\")"
    rows = list(csv.reader(_write(document, tmp_path, ["csv"])["results.csv"].open(newline="")))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 1 + 7
    by_name = {r[1]: dict(zip(COLUMNS, r)) for r in rows[1:]}
    assert "'=HYPERLINK(\"x\")" in by_name
    assert by_name["gateway-secondary"]["error_kind"] == "refused"
    assert by_name["ssi-portal"]["chrome"] == "ERR_CERT_COMMON_NAME_INVALID"
    assert by_name["expiring-soon"]["leaf_days_left"] in ("8", "9")
