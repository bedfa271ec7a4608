"""The hand-built HTML report escapes like jinja2's autoescape did, everywhere.

The report is built in Python (``scanner.report.html``) rather than by jinja2 templates, so no
autoescape stands behind a forgotten call: these tests put hostile text in every string of the
results document, header included, and require the page to keep exactly the elements and
attributes it has for harmless text. ``esc`` itself must match ``markupsafe.escape`` byte for byte
(the report's output is pinned to what the jinja2 version wrote; see benchmarks/render_golden.py).
"""

from __future__ import annotations

import io
from html.parser import HTMLParser
from typing import Any

import markupsafe
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.report import html
from tests.reportdata import build_estate

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
