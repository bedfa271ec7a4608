"""report.html from jinja2 templates: autoescaped everywhere, readable text instead of Python
values, unreachable endpoints never shown as passing, each CA certificate tabled once, and an
interrupted render never leaves half a report.

Hostile text goes into every string of the results document, header included; the page must
keep exactly the elements and attributes it has for harmless text (but for the line-break
points the ``host`` filter puts after a hostname's dots).
"""

from __future__ import annotations

import copy
import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator

import pytest

from scanner.report import details, html
from scanner.report import write_reports
from tests.reportdata import build_estate, write_results

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "' onmouseover='alert(3)",
    "</article></td></tr></tbody></table></section><p>",
    "&lt;b&gt; &amp; &#34; {{ 7*7 }} {% raw %} %s",
    "<!-- -->\x00\u2028<![CDATA[ ]]>",
    "\u202egnp.exe\u202c \u2066<b>\u2069 a.b.c",  # bidi controls and dots
]
REPR = re.compile(r"\{'|\['|: None\b|>None\b|\bNone<|\bTrue\b|\bFalse\b")
TEMPLATES = Path(html.__file__).parent / "templates"


class _Structure(HTMLParser):
    """Start tags with their attribute names, end tags, and every comment or declaration."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "wbr" or (tag == "span" and ("class", "hp") in attrs):
            return
        self.items.append(tag + "|" + ",".join(sorted(k for k, _ in attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag != "span":  # hostname parts close spans too; the start tags are compared
            self.items.append("/" + tag)

    def handle_comment(self, data: str) -> None:
        self.items.append("comment")

    def unknown_decl(self, data: str) -> None:
        self.items.append("decl")


def _structure(page: str) -> list[str]:
    parser = _Structure()
    parser.feed(page)
    parser.close()
    return parser.items


def _fill(value: Any, text: str) -> Any:
    """Every string leaf replaced by ``text``; keys, numbers, booleans and nulls kept."""
    if isinstance(value, str):
        return text
    if isinstance(value, list):
        return [_fill(v, text) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, text) for k, v in value.items()}
    return value


TREND = [{"scan_id": i, "started_at": f"2026-11-{10 + i:02d}T02:00:00Z", "endpoints": 7,
          "refused": {"chrome": 3 - i % 2, "firefox": 3}, "noncompliant": 1, "unreachable": i % 2, "expiring": 1}
         for i in range(1, 6)]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """Every section the page has: incomplete run, changes, trend, every endpoint kind."""
    doc = build_estate(complete=False)
    doc["changes"] = {"since": "2026-11-14T02:00:00Z", "from_scan": 4, "to_scan": 5,
                      "appeared": [{"endpoint": "e", "target": "t", "finding": "f", "severity": "error",
                                    "title": "x", "certificate_sha256": None}],
                      "rotated": ["r"], "unreachable": [{"endpoint": "u", "error_kind": None, "error": None}]}
    doc["trend"] = TREND
    return doc


def _render_pages(document: dict[str, Any]) -> dict[str, str]:
    """report.html and each details page, by name."""
    header = {k: v for k, v in document.items() if k != "endpoints"}
    out = io.StringIO()
    pages: dict[str, str] = {}
    html.render_html(header, lambda: iter(document["endpoints"]), out,
                     lambda name, chunks: pages.__setitem__(name, "".join(chunks)))
    return {"report.html": out.getvalue(), **pages}


def _render(document: dict[str, Any]) -> str:
    """Every page of the report, one after the other (report.html first)."""
    return "".join(_render_pages(document).values())


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_every_field_stays_text(document: dict[str, Any], text: str) -> None:
    expected = _structure(_render(_fill(document, "harmless")))
    page = _render(_fill(document, text))
    assert _structure(page) == expected
    assert text not in page  # each hostile string has a character that must be escaped
    assert page.count("<script>") == 2 and page.count("<img") == 0 and "<b>" not in page  # report, one details page


def test_no_python_repr_anywhere(document: dict[str, Any]) -> None:
    """None, booleans, lists and dicts print as text for people, in every field of every part."""
    page = _render(document)
    assert not REPR.search(page), REPR.search(page)
    odd = copy.deepcopy(document)  # values of unexpected types where text is expected
    ep = odd["endpoints"][0]
    ep["target"]["name"] = {"a": None}
    ep["target"]["tags"] = [True, None, {"k": False}]
    ep["chain"][0]["subject"] = ["x", None]
    ep["tls"]["cipher"] = True
    odd["settings"]["fail_on"] = None
    odd["changes"]["rotated"] = [{"endpoint": None, "old_sha256": None, "new_sha256": False}]
    page = _render(odd)
    assert not REPR.search(page), REPR.search(page)
    assert "a: " in page and "yes, , k: no" in page


def test_plain_prints_values_for_people() -> None:
    assert html.plain(None) == "" and html.plain(True) == "yes" and html.plain(False) == "no"
    assert html.plain({"a": None, "b": [1, True]}) == "a: ; b: 1, yes"
    assert html.plain(3) == 3 and html.plain("x") == "x"


def _row(page: str, name: str) -> str:
    """The matrix row of the endpoint called ``name``."""
    body = page.split('<div class="matrix" id="matrix">', 1)[1].split("</section>", 1)[0]
    return next(r for r in body.split("<tr ")[1:] if f">{name}</a>" in r)


def test_unreachable_endpoints_are_never_shown_as_passing(document: dict[str, Any]) -> None:
    page = _render(document)
    row = _row(page, "gateway-secondary")  # connection refused
    assert "st-unreachable" in row and "sev-na" in row and "br-na" in row
    assert "sev-none" not in row and "badge ok" not in row and "compliant<" not in row
    assert "not checked" in row and "unreachable" in row
    first = page.split('id="refused-h"', 1)[1].split('id="changes-h"', 1)[0]
    assert "Unreachable: not checked (1)" in first and "gateway-secondary" in first.split('id="unreachable-h"')[1]
    assert "gateway-secondary" not in first.split('id="unreachable-h"')[0]  # not listed as refused
    article = page.split('<article', 1)[1]
    article = next(a for a in page.split("<article")[1:] if ">gateway-secondary <" in a)
    assert "No findings: the endpoint could not be checked." in article


def test_refused_endpoints_first_with_error_reason_and_fix(document: dict[str, Any]) -> None:
    page = _render(document)
    refused = page.split('id="refused-h"', 1)[1].split("</table>", 1)[0]
    assert "Refused by a browser (3)" in page
    for name in ("ssi-portal", "registration", "hostile"):
        assert f">{name}</a>" in refused
    for name in ("gateway-primary", "expiring-soon", "dcc-user-interface"):
        assert f">{name}</a>" not in refused
    assert '<code class="err">ERR_CERT_COMMON_NAME_INVALID</code>' in refused
    assert "Request a new certificate with the hostname in subjectAltName." in refused  # the fix
    assert "No subjectAltName" in refused or "no subjectAltName" in refused  # the reason in words
    assert page.index('id="refused-h"') < page.index('id="changes-h"') < page.index('id="matrix-h"')


def test_worst_finding_shows_the_check_and_its_title(document: dict[str, Any]) -> None:
    row = _row(_render(document), "ssi-portal")
    assert "dccki.</span><wbr>" in row and "No subjectAltName" in row and "sev-error" in row


def _replicated(document: dict[str, Any], count: int) -> dict[str, Any]:
    """``document`` with ``count`` endpoints: its own endpoints over and over, each its own id."""
    endpoints = []
    for i in range(count):
        ep = copy.deepcopy(document["endpoints"][i % len(document["endpoints"])])
        ep["target"]["name"] = f"{ep['target']['name']}-{i:04d}"
        ep["id"] = f"{ep['target']['name']}@127.0.0.1:{ep['target']['port']}"
        endpoints.append(ep)
    return dict(document, endpoints=endpoints)


def test_each_row_links_to_its_endpoint_in_its_details_page(document: dict[str, Any]) -> None:
    """Pages of PER_PAGE endpoints in results order; every row's link names the page that holds
    the endpoint's details, under its anchor, and each page links back to the report."""
    big = _replicated(document, 2 * details.PER_PAGE + 7)
    pages = _render_pages(big)
    assert list(pages) == ["report.html", "details/0001.html", "details/0002.html", "details/0003.html"]
    links = re.findall(r'<th scope="row"><a href="([^"#]+)#([^"]+)">([^<]+)</a>', pages["report.html"])
    assert [name for _, _, name in links] == [ep["target"]["name"] for ep in big["endpoints"]]  # stable order
    for position, (page, anchor, name) in enumerate(links):
        assert page == details.page_of(position) == f"details/{position // details.PER_PAGE + 1:04d}.html"
        article = pages[page].split(f'<article class="endpoint" id="{anchor}"', 1)[1].split("</article>", 1)[0]
        assert f">{name} <" in article
    assert [p.count("<article") for p in pages.values()] == [0, details.PER_PAGE, details.PER_PAGE, 7]
    assert 'href="0002.html" rel="next"' in pages["details/0001.html"]
    assert 'href="0001.html" rel="prev"' in pages["details/0002.html"] and 'rel="next"' not in pages["details/0003.html"]
    assert all('href="../report.html#matrix-h"' in p for name, p in pages.items() if name != "report.html")


def test_ca_certificates_are_tabled_once_per_page_and_say_nothing_about_the_subject_cn(
        document: dict[str, Any]) -> None:
    big = _replicated(document, details.PER_PAGE + 30)
    pages = _render_pages(big)
    cas = {c["sha256"] for ep in big["endpoints"] for c in ep["chain"] if c["index"] != 0}
    assert cas
    for number, name in enumerate(details.page_names(len(big["endpoints"]))):
        page = pages[name]
        on_page = big["endpoints"][number * details.PER_PAGE:(number + 1) * details.PER_PAGE]
        for sha in cas:
            anchor = html.ca_anchor(sha)
            presenting = sum(1 for ep in on_page for c in ep["chain"] if c["sha256"] == sha)
            assert page.count(f'id="{anchor}"') == (1 if presenting else 0)
            assert page.count(f'href="#{anchor}"') == presenting
            if presenting:
                table = page.split(f'id="{anchor}"', 1)[1].split("</div>", 1)[0]
                assert "browsers ignore the Subject CN" not in table and sha in table
        assert "-----BEGIN CERTIFICATE-----" not in pages["report.html"]
    leaf = next(a for a in _render(document).split("<article")[1:] if ">ssi-portal <" in a)  # CN-only leaf
    assert "(browsers ignore the Subject CN)" in leaf


def test_hostnames_break_only_after_dots() -> None:
    assert str(html.break_at_dots("gw-dr.dcc-user.example")) == (
        '<span class="hp">gw-dr.</span><wbr><span class="hp">dcc-user.</span><wbr><span class="hp">example</span>')
    assert str(html.break_at_dots('<a b="c">.d')) == (
        '<span class="hp">&lt;a b=&#34;c&#34;&gt;.</span><wbr><span class="hp">d</span>')
    css = (TEMPLATES / "report.css").read_text()
    assert "code.err" in css and ".host .hp { white-space: nowrap; }" in css
    assert not re.search(r"\.(mono|host)[^{]*\{[^}]*overflow-wrap: anywhere", css)


def test_trend_chart_from_the_header(document: dict[str, Any]) -> None:
    page = _render(document)
    chart = page.split('<figure class="trend">', 1)[1].split("</figure>", 1)[0]
    assert "Trend over the last 5 scans" in chart and chart.count("<polyline") == 5
    assert "Chrome refuses: 2" in chart and "Firefox refuses: 3" in chart and "Unreachable: 1" in chart
    assert html.trend_chart(None) is None and html.trend_chart(TREND[:1]) is None
    hostile = [{"refused": {"chrome": "<b>"}, "noncompliant": True, "expiring": -1, "started_at": "<i>"}] * 2
    chart_data = html.trend_chart(hostile)
    assert chart_data is not None and chart_data["series"] == []  # only counts are drawn


def test_static_parts_hold_no_template_syntax() -> None:
    """The CSS and script are included by the page template, so they must not contain jinja2
    syntax (it would be executed)."""
    for name in ("report.css", "enhance.js"):
        text = (TEMPLATES / name).read_text()
        assert not re.search(r"\{[{%#]", text), name


def test_no_private_library_api_and_no_hand_escaping() -> None:
    source = Path(html.__file__).read_text() + "".join(p.read_text() for p in TEMPLATES.iterdir())
    assert "_speedups" not in source and "copy_file_range" not in source and "placeholder" not in source.lower()
    assert not re.search(r"\.replace\(\"&\"|&amp;|&lt;", source)


def _failing(document: dict[str, Any], after: int) -> Iterator[dict[str, Any]]:
    for n, ep in enumerate(document["endpoints"]):
        if n == after:
            raise OSError("disk went away")
        yield ep


def test_an_interrupted_render_leaves_the_previous_report(document: dict[str, Any], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    results = write_results(document, tmp_path)
    (report,) = write_reports(results, tmp_path, ["html"])
    before = report.read_bytes()
    calls = iter(range(10))
    monkeypatch.setattr("scanner.results.iter_endpoints",
                        lambda path: _failing(document, 3) if next(calls) == 1 else iter(document["endpoints"]))
    page = tmp_path / "details" / "0001.html"
    page_before = page.read_bytes()
    with pytest.raises(OSError, match="disk went away"):
        html.write_html(results, report)  # the second pass (the matrix and the details pages) fails
    assert report.read_bytes() == before and page.read_bytes() == page_before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert sorted(p.name for p in page.parent.iterdir()) == ["0001.html"]


def test_written_page_equals_the_streamed_text(document: dict[str, Any], tmp_path: Path) -> None:
    filled = copy.deepcopy(document)
    for i, ep in enumerate(filled["endpoints"]):
        ep["target"]["name"] = "ü" * (i + 1) + "𝔘" * 4_000
    results = write_results(filled, tmp_path / "scan")
    html.write_html(results, tmp_path / "report.html")
    expected = _render_pages(dict(filled, endpoints=[*filled["endpoints"]]))
    assert {name: (tmp_path / name).read_text(encoding="utf-8") for name in expected} == expected


def test_a_smaller_estate_leaves_no_stale_page(document: dict[str, Any], tmp_path: Path) -> None:
    """Rendering again with fewer pages removes the extra pages, and only files a report writes."""
    results = write_results(_replicated(document, 2 * details.PER_PAGE + 1), tmp_path / "big")
    html.write_html(results, tmp_path / "report.html")
    (tmp_path / "details" / "notes.txt").write_text("mine")
    assert sorted(p.name for p in (tmp_path / "details").iterdir()) == ["0001.html", "0002.html", "0003.html",
                                                                      "notes.txt"]
    html.write_html(write_results(document, tmp_path / "small"), tmp_path / "report.html")
    assert sorted(p.name for p in (tmp_path / "details").iterdir()) == ["0001.html", "notes.txt"]


def test_a_reused_out_folder_loses_the_previous_reports_pages_only(tmp_path: Path) -> None:
    """``--out`` re-used (scanner.outdir): the details pages of the previous report go with its
    report.html, and a killed render's temporaries with them; anything else in details/ stays."""
    from scanner.outdir import claim

    for keep in (True, False):
        out = tmp_path / f"out-{keep}"
        (out / "details").mkdir(parents=True)
        (out / "results.json").write_text("{}")
        for name in ("report.html", "details/0001.html", "details/0002.html",
                     "details/.0003.html.999999999-0123abcd.tmp"):
            (out / name).write_text("previous")
        if keep:
            (out / "details" / "notes.txt").write_text("mine")
        removed = claim(out).sweep([])
        assert {"report.html", "details/0001.html", "details/0002.html",
                "details/.0003.html.999999999-0123abcd.tmp"} <= set(removed)
        left = sorted(p.name for p in (out / "details").iterdir()) if (out / "details").exists() else None
        assert left == (["notes.txt"] if keep else None)
