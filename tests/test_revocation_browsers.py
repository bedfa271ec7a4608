"""What the real browsers do with a revoked certificate under a locally installed root (README
"Revocation"): both are shown a leaf that its CA revoked, whose CRL (served over HTTP) lists it and
whose OCSP responder (a real ``openssl ocsp``) answers ``revoked``. Chromium runs as the oracle
suite runs it; Firefox keeps its own default revocation preferences (the oracle profile switches
OCSP off, this one does not). dccscan's own finding for the same endpoint is ``revocation.revoked``
either way: the browser verdicts follow the browsers, the revocation finding is dccscan's."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest
from cryptography import x509

from scanner.lab.servers import LabEstate
from tests.browsers import firefox as firefox_module
from tests.browsers.chromium import Chromium
from tests.browsers.firefox import Firefox
from tests.browsers.session import unavailable_reason
from tests.lab_fixtures import tls_spec
from tests.revocation_fixtures import HOST, RevocationLab, crl, revocation_lab, revocation_leaf  # noqa: F401

pytestmark = pytest.mark.browser
REVOCATION_PREFS = ("security.OCSP.enabled", "security.OCSP.require", "security.pki.crlite_mode",
                    "security.remote_settings.crlite_filters.enabled")


@pytest.fixture(scope="module")
def revoked_site(revocation_lab: RevocationLab) -> Iterator[dict[str, Any]]:
    lab = revocation_lab
    leaf = revocation_leaf(lab.pki, "browser-revoked", crl_url=lab.crls.url("/browser.crl"), ocsp_url=lab.ocsp.url)
    when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)
    lab.crls.files["/browser.crl"] = crl(lab.pki.issuing, [(leaf.cert, when, x509.ReasonFlags.key_compromise)])
    lab.ocsp.add(leaf.cert, revoked=when, reason="keyCompromise")
    with LabEstate([tls_spec(leaf)]) as (port,):
        yield {"url": f"https://{HOST}:{port}/", "root": lab.pki.root.der, "lab": lab}


def test_chrome_does_no_revocation_check_for_a_local_root(revoked_site: dict[str, Any]) -> None:
    reason = unavailable_reason("chrome")
    if reason:
        pytest.skip(reason)
    before = len(revoked_site["lab"].crls.requests)
    browser = Chromium([revoked_site["root"]])
    try:
        assert browser.error_for(revoked_site["url"]) is None  # accepted although revoked
    finally:
        browser.close()
    assert len(revoked_site["lab"].crls.requests) == before  # and it never asked for the CRL


def test_firefox_default_revocation_behaviour(revoked_site: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    reason = unavailable_reason("firefox")
    if reason:
        pytest.skip(reason)
    defaults = {k: v for k, v in firefox_module.PREFS.items() if k not in REVOCATION_PREFS}
    monkeypatch.setattr(firefox_module, "PREFS", defaults)
    browser = Firefox([revoked_site["root"]], [HOST])
    try:
        error = browser.error_for(revoked_site["url"])
    finally:
        browser.close()
    assert error == "SEC_ERROR_REVOKED_CERTIFICATE"
