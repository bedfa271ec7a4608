"""Real browsers agree: dccscan's predicted error equals what Chromium and Firefox really say.

Every case in ``cases.py`` is served on loopback and browsed by Debian's Chromium (playwright)
and Firefox ESR (Marionette), both trusting all case roots as locally installed anchors. For each
case and browser the engine's ``browsers.<browser>.error`` must equal the browser's own code
(None when the page loads). The browsers are always asked live; ``docs/browser-observations.md``
is only a record of one run.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from .cases import CASE_IDS, Case, build_cases
from .server import OracleServer
from .session import BROWSERS, CODE, BrowserDriver, predicted_error, start_browser, unavailable_reason

pytestmark = pytest.mark.browser

# (case id, browser) -> why that browser's answer varies between runs. Such a case is still asked
# and compared every time; a mismatch is then reported as an expected failure that names the
# reason (non-strict xfail), never skipped or dropped. Empty: no case varied in the runs recorded
# for issue 14 (Chromium 156.0.8078.129, Firefox 153.8.0; docs/browser-observations.md and a full
# pytest run of this file), so every case must match exactly.
FLAKY: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="session")
def oracle_cases() -> dict[str, Case]:
    return {case.id: case for case in build_cases()}


@pytest.fixture(scope="session")
def oracle_server(oracle_cases: dict[str, Case]) -> Iterator[OracleServer]:
    with OracleServer(oracle_cases.values()) as server:
        yield server


def _driver(browser: str, cases: dict[str, Case], server: OracleServer) -> Iterator[BrowserDriver]:
    reason = unavailable_reason(browser)
    if reason:
        pytest.skip(reason)
    driver = start_browser(browser, list(cases.values()), server)
    try:
        yield driver
    finally:
        driver.close()


@pytest.fixture(scope="module")  # closed with this module: a live Playwright loop would refuse later tests
def chrome_driver(oracle_cases: dict[str, Case], oracle_server: OracleServer) -> Iterator[BrowserDriver]:
    yield from _driver("chrome", oracle_cases, oracle_server)


@pytest.fixture(scope="module")  # closed with this module: a live Playwright loop would refuse later tests
def firefox_driver(oracle_cases: dict[str, Case], oracle_server: OracleServer) -> Iterator[BrowserDriver]:
    yield from _driver("firefox", oracle_cases, oracle_server)


@pytest.mark.parametrize("browser", BROWSERS)
def test_harness_canaries(browser: str, oracle_cases: dict[str, Case], oracle_server: OracleServer,
                          request: pytest.FixtureRequest) -> None:
    """The set-up itself works (roots trusted, names resolved, chains served), engine or not."""
    driver: BrowserDriver = request.getfixturevalue(f"{browser}_driver")
    assert driver.error_for(oracle_server.url(oracle_cases["san-exact"])) is None
    assert driver.error_for(oracle_server.url(oracle_cases["untrusted-root"])) in (
        "ERR_CERT_AUTHORITY_INVALID", "SEC_ERROR_UNKNOWN_ISSUER")
    assert driver.error_for(oracle_server.url(oracle_cases["san-mismatch"])) in (
        "ERR_CERT_COMMON_NAME_INVALID", "SSL_ERROR_BAD_CERT_DOMAIN")


@pytest.mark.parametrize("browser", BROWSERS)
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_prediction_matches_real_browser(case_id: str, browser: str, oracle_cases: dict[str, Case],
                                          oracle_server: OracleServer, request: pytest.FixtureRequest) -> None:
    case = oracle_cases[case_id]
    if case.id in oracle_server.unavailable:
        pytest.skip(oracle_server.unavailable[case.id])
    driver: BrowserDriver = request.getfixturevalue(f"{browser}_driver")
    observed = driver.error_for(oracle_server.url(case))
    assert observed is None or CODE.fullmatch(observed), f"{browser} gave no error code: {observed}"
    predicted = predicted_error(case, browser)
    if predicted != observed and (case.id, browser) in FLAKY:
        pytest.xfail(f"{case.id} is flaky in {browser} ({FLAKY[case.id, browser]}): predicted {predicted!r}, "
                     f"observed {observed!r} this time")
    assert predicted == observed, (
        f"{case.id} ({case.rule}: {case.description}), host {case.hostname}: "
        f"dccscan predicts {predicted!r} for {browser}, the real browser says {observed!r}")
