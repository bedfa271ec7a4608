"""report.html in real headless Chromium: no console errors, no network, key content present,
hostile markup shown as text; a screenshot is kept in test-artifacts/report.png."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from scanner.report import write_reports
from tests.reportdata import HOSTILE_SAN, build_estate, write_results

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


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
    page = browser.new_page(viewport={"width": 1280, "height": 900}, java_script_enabled=javascript)
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
        assert HOSTILE_SAN in text and "<script>alert(1)</script>" in text
        assert page.locator("script").count() == 1  # ours; the hostile CN made no element
        page.locator("#matrix thead button").first.click()  # the optional sort enhancement
        assert page.locator("#matrix thead th[aria-sort]").count() == 1 and errors == []
        page.evaluate("window.scrollTo(0, 0)")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
        assert (ARTIFACTS / "report.png").stat().st_size > 0
    finally:
        close()


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
        assert "ssi-portal" in page.inner_text("#endpoints") and errors == []
        page.check("#fs-noncompliant")  # CSS-only filter: only the non-compliant endpoint stays
        visible = page.locator("#matrix tbody tr.filterable:visible").all_inner_texts()
        assert len(visible) == 1 and "ssi-portal" in visible[0]
        assert page.locator("article.endpoint:visible").count() == 1
        page.check("#fs-all")
        page.check("#fi-gateway")
        names = page.locator("#matrix tbody tr.filterable:visible th").all_inner_texts()
        assert len(names) == 2 and all(n.startswith("gateway-") for n in names)
        assert page.locator("#matrix tr.group:visible").count() == 1
        page.emulate_media(media="print")  # printing shows everything, without the filter controls
        assert page.locator("article.endpoint:visible").count() == 7
        assert page.locator(".filters:visible").count() == 0
    finally:
        close()
