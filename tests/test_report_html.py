"""The hand-built HTML report escapes like jinja2's autoescape did, everywhere.

The report is built in Python (``scanner.report.html``) rather than by jinja2 templates, so no
autoescape stands behind a forgotten call: these tests put hostile text in every string of the
results document, header included, and require the page to keep exactly the elements and
attributes it has for harmless text. ``esc`` itself must match ``markupsafe.escape`` byte for byte
(the report's output is pinned to what the jinja2 version wrote; see benchmarks/render_golden.py).
"""

from __future__ import annotations

import copy
import io
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import markupsafe
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.report import html
from scanner.results import iter_endpoints
from tests.reportdata import build_estate, write_results

HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(2)>',
    "' onmouseover='alert(3)",
    "</article></td></tr></tbody></table></section><p>",
    "&lt;b&gt; &amp; &#34; {{ 7*7 }} %s",
    "<!-- -->\x00\u2028<![CDATA[ ]]>",
]


class _Structure(HTMLParser):
    """Start tags with their attribute names, and every comment or declaration seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.items.append(tag + "|" + ",".join(sorted(k for k, _ in attrs)))

    def handle_endtag(self, tag: str) -> None:
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


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """Every section the page has: incomplete run, changes of each shape, every endpoint kind."""
    doc = build_estate(complete=False)
    doc["changes"] = {"since": "s", "appeared": [{"endpoint": "e", "finding": "f"}], "rotated": ["r"],
                      "novel_mapping": {"k": "v"}, "novel_text": "t", "novel_list": ["a", {"b": "c"}]}
    return doc


def _render(document: dict[str, Any], text: str) -> str:
    filled = _fill(document, text)
    header = {k: v for k, v in filled.items() if k != "endpoints"}
    out = io.StringIO()
    html.render_html(header, lambda: iter(filled["endpoints"]), out)
    return out.getvalue()


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_every_field_stays_text(document: dict[str, Any], text: str) -> None:
    expected = _structure(_render(document, "harmless"))
    page = _render(document, text)
    assert _structure(page) == expected
    assert text not in page  # each hostile string has a character that must be escaped
    assert page.count("<script>") == 1 and page.count("<img") == 0


@given(st.text(max_size=30))
def test_esc_is_markupsafe_escape(text: str) -> None:
    want = str(markupsafe.escape(text))
    assert html.esc(text) == want
    assert html._escape_text(text) == want  # the fallback without markupsafe's C speedups


@pytest.mark.parametrize("value", [None, 0, -7, 2**70, 1.5, True, ["<a>", "'"], {"k": '"v"'}, markupsafe.Markup("<b>ok</b>")])
def test_esc_prints_non_strings_as_jinja2_did(value: Any) -> None:
    assert html.esc(value) == str(markupsafe.escape(value))


def test_static_parts_are_package_data() -> None:
    """The CSS and script come from files beside the module (shipped in the wheel), whole."""
    assert html._static("report.css").rstrip().endswith("}") and "@media print" in html._static("report.css")
    assert html._static("enhance.js").rstrip().endswith("})();")


def _chained(document: dict[str, Any]) -> dict[str, Any]:
    """An endpoint of ``document`` whose chain has two or more certificates."""
    return next(ep for ep in document["endpoints"] if len(ep.get("chain") or []) >= 2)


def test_shared_certificate_table_is_reused_only_for_an_equal_certificate(document: dict[str, Any]) -> None:
    """The certificate-table cache (for the issuing CA every endpoint presents) must never hand
    one certificate's table to another: a hostile results.json can give two certificates one
    sha256, and the same certificate shows different days left to endpoints scanned apart."""
    ca = copy.deepcopy(_chained(document)["chain"][1])
    html._CERT_CACHE.clear()
    first = html.cert_block(ca, 30)
    assert html.cert_block(copy.deepcopy(ca), 30) is first  # an equal certificate: reused
    forged = dict(ca, subject="CN=<forged>")  # same sha256, other content
    assert "CN=&lt;forged&gt;" in html.cert_block(forged, 30)
    assert "(29 days left)" in html.cert_block(ca, 29) and "(30 days left)" in first
    assert html.cert_block(ca, 30) == html._cert_block(ca, 30)
    for n in range(html.CERT_CACHE_SIZE * 2):  # bounded: many distinct CAs pass through
        html.cert_block(dict(ca, sha256=f"{n:064x}"), n)
    leaf = dict(ca, index=0)
    assert html.cert_block(leaf, 30) == html._cert_block(leaf, 30) and "#0 leaf" in html.cert_block(leaf, 30)
    assert len(html._CERT_CACHE) <= html.CERT_CACHE_SIZE


def test_text_stream_and_file_get_the_same_bytes(document: dict[str, Any], tmp_path: Path) -> None:
    """render_html (any text stream) decodes the spools that write_html copies as bytes; long
    non-ASCII text makes spool blocks end inside a character."""
    filled = copy.deepcopy(document)
    for i, ep in enumerate(filled["endpoints"]):
        ep["target"]["name"] = "ü" * (i + 1) + "𝔘" * 40_000
    results = write_results(filled, tmp_path / "scan")
    header = {k: v for k, v in filled.items() if k != "endpoints"}
    out = io.StringIO()
    html.render_html(header, lambda: iter_endpoints(results), out)
    written = html.write_html(results, tmp_path / "report.html").read_bytes()
    assert written == out.getvalue().encode("utf-8")
    assert "ü𝔘𝔘" in written.decode("utf-8") and "\x00spool" not in out.getvalue()


@pytest.mark.parametrize("text", ["harmless", *HOSTILE])
def test_fragments_looked_up_by_value_equal_the_built_ones(document: dict[str, Any], text: str) -> None:
    """The TLS facts and verdict tables cached by value are what building them gives, for
    every endpoint kind and hostile text in every field."""
    for ep in _fill(document, text)["endpoints"]:
        e = html.Endpoint.of(ep)
        tls = ep.get("tls")
        assert html.tls_block(tls) == (html._tls_block(tls) if tls else "")
        want = html._verdicts(ep.get("browsers"), ep.get("profile"), e.chrome, e.firefox, e.profile_status)
        assert html.verdicts_block(e) == (want if ep.get("browsers") or ep.get("profile") else "")
        for days in (None, -3, 12, 400):
            assert html._facts.days_left(ep.get("scanned_at"), ep.get("scanned_at")) in (0, None)
            for c in ep.get("chain") or []:
                assert html.cert_block(c, days) == html._cert_block(c, days)


def test_cached_verdict_table_keeps_each_browser_in_its_row(document: dict[str, Any]) -> None:
    ep = dict(document["endpoints"][0], browsers={"chrome": {"accepted": True, "reasons": []},
                                                  "firefox": {"accepted": False, "error": "SEC_ERROR_<X>", "reasons": []}},
              profile={"name": "p", "status": "compliant", "breaches": []})
    table = html.verdicts_block(html.Endpoint.of(ep))
    chrome, firefox = table.split("<tr>")[2:4]
    assert "accepted" in chrome and "SEC_ERROR_&lt;X&gt;" in firefox and "SEC_ERROR" not in chrome


@pytest.mark.parametrize("to_file", [True, False])
def test_spool_copy_appends_whole_spool(tmp_path: Path, to_file: bool) -> None:
    """The spool copy: in the kernel between files, through a buffer otherwise (no file)."""
    spool = html._spool()
    body = "".join(f"<p>{i} ü𝔘</p>\n" for i in range(50_000)).encode("utf-8")
    spool.write(body)
    out: Any = open(tmp_path / "out", "w+b", buffering=html.BUFFER) if to_file else io.BytesIO()
    with spool, out:
        out.write(b"head ")
        html._copy(spool, out)
        out.write(b" tail")
        out.seek(0)
        assert out.read() == b"head " + body + b" tail"
