"""report.html in real headless Chromium: the first screen (1400 x 900) answers which endpoints
each browser refuses, with the error, the reason and the fix, and shows unreachable endpoints in
their own state; no console errors, no network, hostile markup shown as text, codes and
hostnames never broken inside a word; a screenshot is kept in test-artifacts/report.png."""

from __future__ import annotations

import copy
import os
import threading
import zipfile
from pathlib import Path
from typing import Any, Callable

import pytest

from scanner.evidence import build_pack
from scanner.report import write_reports
from scanner.report._facts import anchor
from scanner.report.html import MATRIX_CHUNK, View
from tests.reportdata import HOSTILE_SAN, build_estate, write_results

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
VIEWPORT = {"width": 1400, "height": 900}


def _unavailable() -> str | None:
    if os.environ.get("DCCSCAN_BROWSERS_UNAVAILABLE"):
        return "DCCSCAN_BROWSERS_UNAVAILABLE: " + os.environ["DCCSCAN_BROWSERS_UNAVAILABLE"]
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[test]')"
    return None


def _open(report: Path, *, javascript: bool = True) -> tuple[Any, list[str], list[str], list[str], Any]:
    """Open the report; return (page, console errors, request URLs, dialogs, closer)."""
    from playwright.sync_api import sync_playwright

    manager = sync_playwright().start()
    browser = manager.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"])
    page = browser.new_page(viewport=VIEWPORT, java_script_enabled=javascript)
    errors: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(report.as_uri(), wait_until="load")

    def close() -> None:
        browser.close()
        manager.stop()

    return page, errors, requests, dialogs, close


def _in_own_thread(check: Callable[[Path], None], tmp_path: Path) -> None:
    """Run a Playwright check on a thread of its own.

    Playwright's sync API refuses to start on a thread whose asyncio loop is already running, and
    the browser-oracle session keeps one running on the main thread for the whole test session.
    """
    failure: list[BaseException] = []

    def run() -> None:
        try:
            check(tmp_path)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="report-browser")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


def test_report_in_headless_chromium(tmp_path: Path) -> None:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    _in_own_thread(_check_report_in_headless_chromium, tmp_path)


def _check_report_in_headless_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    document = build_estate(complete=False)
    results = write_results(document, tmp_path)
    (report,) = write_reports(results, tmp_path, ["html"])
    page, errors, requests, dialogs, close = _open(report)
    try:
        text = page.inner_text("body")
        assert errors == [], errors
        assert requests == [report.as_uri()], requests
        assert dialogs == []
        for expected in ("gateway-primary", "ssi-portal", "registration", "gateway-secondary",
                         "dcc-user-interface", "noncompliant", "grandfathered", "refused",
                         "client-cert-required", "ERR_CERT_COMMON_NAME_INVALID",
                         "SSL_ERROR_BAD_CERT_DOMAIN", "Incomplete run", "never-scanned"):
            assert expected in text, expected
        assert page.locator("script").count() == 1  # ours; the hostile CN made no element
        _check_first_screen(page)
        _check_nothing_breaks_inside_a_word(page)
        page.locator("#matrix thead button").first.click()  # the optional sort enhancement
        assert page.locator("#matrix thead th[aria-sort]").count() == 1 and errors == []
        page.fill("#q", "err_cert_common")  # the search box: names, hostnames, errors, finding ids
        expect(page.locator("#q-count")).to_have_text("3 endpoints match")
        names = page.locator("#matrix tbody tr.filterable:visible th a").all_inner_texts()
        assert sorted(names) == ["hostile", "registration", "ssi-portal"], names
        page.fill("#q", "")
        expect(page.locator("#q-count")).to_have_text("")
        assert page.locator("#matrix tbody tr.filterable:visible").count() == 7
        page.evaluate("window.scrollTo(0, 0)")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
        assert (ARTIFACTS / "report.png").stat().st_size > 0
        page.locator("#matrix tbody th a", has_text="hostile").click()  # its details page
        hostile = page.locator("#" + anchor("hostile@127.0.0.1:8449"))
        expect(hostile).to_contain_text(HOSTILE_SAN, use_inner_text=True)  # retried until rendered
        assert "<script>alert(1)</script>" in hostile.inner_text()
        assert page.locator("script").count() == 1 and errors == [] and dialogs == []
        assert all(url.startswith(report.parent.as_uri() + "/") for url in requests), requests
    finally:
        close()


def _visible(page: Any, selector: str) -> None:
    """Every element ``selector`` matches is inside the first screen, without scrolling."""
    boxes = page.locator(selector).evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right]; })")
    assert boxes, selector
    for top, bottom, left, right in boxes:
        assert 0 <= top and bottom <= VIEWPORT["height"] and 0 <= left and right <= VIEWPORT["width"], (selector, boxes)


def _check_first_screen(page: Any) -> None:
    """Refused endpoints with their errors, reasons and fixes, and the unreachable endpoint, in
    the first 1400 x 900 pixels; the unreachable one is not among the refused and not green."""
    page.evaluate("window.scrollTo(0, 0)")
    refused = page.locator("table.refused tbody tr")
    assert refused.count() == 3
    names = page.locator("table.refused tbody th a.name").all_inner_texts()
    assert sorted(names) == ["hostile", "registration", "ssi-portal"], names
    for part in ("th a.name", "ul.by code.err", "p.why", "p.fix"):
        _visible(page, f"table.refused tbody {part}")
    codes = page.locator("table.refused tbody ul.by code.err").all_inner_texts()
    assert codes.count("ERR_CERT_COMMON_NAME_INVALID") == 3 and codes.count("SSL_ERROR_BAD_CERT_DOMAIN") == 3
    fixes = page.locator("table.refused tbody p.fix").all_inner_texts()
    assert len(fixes) == 3 and all(fixes), fixes
    _visible(page, "table.unreachable tbody th a.name")
    _visible(page, "table.unreachable tbody td")
    assert page.locator("table.unreachable tbody th a.name").all_inner_texts() == ["gateway-secondary"]
    assert "connection refused" in page.locator("table.unreachable tbody").inner_text()
    _visible(page, ".tiles li")
    tiles = page.locator(".tiles li").all_inner_texts()
    assert any(t.startswith("3") and "Chrome refuses" in t for t in tiles), tiles
    assert any(t.startswith("1") and "unreachable" in t for t in tiles), tiles
    ok_green = page.locator("#matrix tr.st-unreachable .badge.ok, #matrix tr.st-unreachable .sev-none")
    assert ok_green.count() == 0


def _check_nothing_breaks_inside_a_word(page: Any) -> None:
    """Error codes, check ids and each dot-separated part of a hostname lie on one line."""
    broken = page.evaluate("""() => Array.from(document.querySelectorAll('code.err, .hp'))
        .filter(e => e.getClientRects().length > 1).map(e => e.textContent)""")
    assert broken == [], broken


def test_report_reads_and_filters_without_javascript(tmp_path: Path) -> None:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    _in_own_thread(_check_report_reads_and_filters_without_javascript, tmp_path)


def _check_report_reads_and_filters_without_javascript(tmp_path: Path) -> None:
    results = write_results(build_estate(), tmp_path)
    (report,) = write_reports(results, tmp_path, ["html"])
    page, errors, requests, _, close = _open(report, javascript=False)
    try:
        assert "ssi-portal" in (page.text_content("#matrix") or "") and errors == []
        page.click('label[for="fs-noncompliant"]')  # CSS-only filter: only the non-compliant endpoint stays
        visible = page.locator("#matrix tbody tr.filterable:visible").all_inner_texts()
        assert len(visible) == 1 and "ssi-portal" in visible[0]
        page.click('label[for="fs-all"]')
        page.click('label[for="fi-gateway"]')
        names = page.locator("#matrix tbody tr.filterable:visible th").all_inner_texts()
        assert len(names) == 2 and all(n.startswith("gateway-") for n in names)
        page.click('label[for="fi-all"]')
        page.click('label[for="fv-none"]')  # "no finding" never lists an unreachable or refused endpoint
        names = page.locator("#matrix tbody tr.filterable:visible th a").all_inner_texts()
        assert sorted(names) == ["dcc-user-interface", "gateway-primary"], names
        page.click('label[for="fv-all"]')
        page.click('label[for="fb-refused"]')
        names = page.locator("#matrix tbody tr.filterable:visible th a").all_inner_texts()
        assert sorted(names) == ["hostile", "registration", "ssi-portal"], names
        page.click('label[for="fb-refused"]')
        page.emulate_media(media="print")  # printing shows every row, without the filter controls
        assert page.locator("#matrix tbody tr.filterable:visible").count() == 7
        assert page.locator(".filters:visible").count() == 0
        page.emulate_media(media="screen")
        page.locator("#matrix tbody th a", has_text="ssi-portal").click()  # details without javascript
        assert page.url == report.parent.as_uri() + "/details/0001.html#" + anchor("ssi-portal@127.0.0.1:8444")
        assert "ssi-portal" in page.locator("article.endpoint:target").inner_text()
    finally:
        close()


def test_details_open_offline_from_an_unzipped_evidence_pack(tmp_path: Path) -> None:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    _in_own_thread(_check_details_open_offline_from_an_unzipped_evidence_pack, tmp_path)


def _check_details_open_offline_from_an_unzipped_evidence_pack(tmp_path: Path) -> None:
    """A row's link opens that endpoint's details from the pack's files alone: the right page,
    scrolled to the right endpoint, no request outside the unzipped folder, no error."""
    scan = tmp_path / "scan"
    write_reports(write_results(build_estate(), scan), scan, ["html"])
    unzipped = tmp_path / "unzipped"
    with zipfile.ZipFile(build_pack(scan, tmp_path / "pack.zip")) as archive:
        archive.extractall(unzipped)
    page, errors, requests, dialogs, close = _open(unzipped / "report.html")
    try:
        for name, ep_id, host in (("registration", "registration@127.0.0.1:8445", "reg.dcc.test"),
                                  ("gateway-primary", "gateway-primary@127.0.0.1:8443", "gw.dcc.test")):
            page.locator("#matrix tbody th a", has_text=name).first.click()
            assert page.url == (unzipped / "details" / "0001.html").as_uri() + "#" + anchor(ep_id)
            target = page.locator("article.endpoint:target")
            assert target.count() == 1
            text = target.inner_text()
            assert text.startswith(name + " ") and ep_id in text and host in text.replace("\u200b", "")
            box = target.bounding_box()
            assert box is not None and -2 < box["y"] < VIEWPORT["height"]  # scrolled to it
            page.locator("article.endpoint:target a", has_text="Back to the matrix").click()
            assert page.url == (unzipped / "report.html").as_uri() + "#matrix-h"
        assert errors == [] and dialogs == []
        assert requests and all(url.startswith(unzipped.as_uri() + "/") for url in requests), requests
    finally:
        close()


def test_search_and_sort_across_a_matrix_of_many_tables(tmp_path: Path) -> None:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    _in_own_thread(_check_search_and_sort_across_a_matrix_of_many_tables, tmp_path)


def _check_search_and_sort_across_a_matrix_of_many_tables(tmp_path: Path) -> None:
    """The matrix of a larger estate is several tables (MATRIX_CHUNK rows each): the search box
    filters rows in all of them by name, hostname, error code and finding id and hides the tables
    left empty; sorting orders every row, across the tables."""
    from playwright.sync_api import expect

    document = build_estate()
    endpoints = []
    for i in range(2 * MATRIX_CHUNK + 50):
        ep = copy.deepcopy(document["endpoints"][i % len(document["endpoints"])])
        ep["target"]["name"] = f"{ep['target']['name']}-{i:04d}"
        ep["target"]["hostname"] = f"h{i:04d}.{ep['target']['hostname']}"
        ep["id"] = f"{ep['target']['name']}@127.0.0.1:{ep['target']['port']}"
        endpoints.append(ep)
    document["endpoints"] = endpoints
    (report,) = write_reports(write_results(document, tmp_path), tmp_path, ["html"])
    words = [View.of(ep, i).search_text() for i, ep in enumerate(endpoints)]
    page, errors, _, _, close = _open(report)
    try:
        rows = page.locator("#matrix tbody tr.filterable:visible")
        assert page.locator("#matrix .mchunk").count() == 3 and rows.count() == len(endpoints)
        last = endpoints[-1]["target"]["name"]
        for query in (last, "h0007.", "err_cert_common_name_invalid", "dccki.tls_san.san_missing ssi-portal", "browser.name"):
            page.fill("#q", query)
            expected = [ep["target"]["name"] for ep, w in zip(endpoints, words)
                        if all(q in w for q in query.lower().split())]
            assert expected, query
            count = f"{len(expected)} endpoint{'s' if len(expected) != 1 else ''} match{'es' if len(expected) == 1 else ''}"
            expect(rows.locator("th a")).to_have_text(expected)  # retried until the search has run
            expect(page.locator("#q-count")).to_have_text(count)
        page.fill("#q", last)
        expect(page.locator("#q-count")).to_have_text("1 endpoint matches")
        assert page.locator("#matrix .mchunk:visible").count() == 1  # the empty tables are hidden
        page.fill("#q", "")
        expect(page.locator("#q-count")).to_have_text("")
        assert page.locator("#matrix .mchunk:visible").count() == 3 and rows.count() == len(endpoints)
        page.locator("#matrix thead button", has_text="Endpoint").click()
        names = page.locator("#matrix tbody th a").all_text_contents()  # off-screen tables are not rendered
        assert sorted(names) == sorted(ep["target"]["name"] for ep in endpoints)
        assert page.evaluate("n => n.every((x, i) => i === 0 || n[i - 1].localeCompare(x) <= 0)", names)
        assert [page.locator("#matrix .mchunk").nth(i).locator("tbody tr").count() for i in range(3)] == [
            MATRIX_CHUNK, MATRIX_CHUNK, 50]
        assert errors == []
    finally:
        close()
