"""What the real browsers do with a revoked certificate under a locally installed root (README
"Revocation"): both are shown a leaf that its CA revoked, whose CRL (served over HTTP) lists it and
whose OCSP responder (a real ``openssl ocsp``) answers ``revoked``, and one whose OCSP responder
does not answer. Chromium runs as the oracle suite runs it; Firefox keeps its own default
revocation preferences (the oracle profile switches OCSP off, this one does not). dccscan scans
the same endpoints: its browser verdicts must be what the browsers did, and its own finding is
``revocation.revoked`` whatever the browsers do."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography import x509

from click.testing import CliRunner

from scanner.cli import cli
from scanner.lab.servers import LabEstate
from tests.browsers import firefox as firefox_module
from tests.browsers.chromium import Chromium
from tests.browsers.firefox import Firefox
from tests.browsers.session import unavailable_reason
from tests.lab_fixtures import tls_spec
from tests.revocation_fixtures import (HOST, RevocationLab, closed_port, crl, revocation_lab,  # noqa: F401
                                       revocation_leaf)

pytestmark = pytest.mark.browser
REVOCATION_PREFS = ("security.OCSP.enabled", "security.OCSP.require", "security.pki.crlite_mode",
                    "security.remote_settings.crlite_filters.enabled")


@pytest.fixture(scope="module")
def revoked_site(revocation_lab: RevocationLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    lab = revocation_lab
    leaf = revocation_leaf(lab.pki, "browser-revoked", crl_url=lab.crls.url("/browser.crl"), ocsp_url=lab.ocsp.url)
    when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)
    lab.crls.files["/browser.crl"] = crl(lab.pki.issuing, [(leaf.cert, when, x509.ReasonFlags.key_compromise)])
    lab.ocsp.add(leaf.cert, revoked=when, reason="keyCompromise")
    silent = revocation_leaf(lab.pki, "browser-no-answer", ocsp_url=f"http://127.0.0.1:{closed_port()}/")
    with LabEstate([tls_spec(leaf), tls_spec(silent)]) as (port, unreachable):
        out = tmp_path_factory.mktemp("revocation-browsers")
        root = out / "root.pem"
        root.write_bytes(lab.pki.root.pem)
        CliRunner().invoke(cli, ["scan", f"127.0.0.1:{port}", f"127.0.0.1:{unreachable}", "--hostname", HOST,
                                 "--trust-anchor", str(root), "--out", str(out), "--format", "json", "--quiet"])
        by_port = {e["target"]["port"]: e for e in json.loads((out / "results.json").read_text())["endpoints"]}
        yield {"url": f"https://{HOST}:{port}/", "unreachable_url": f"https://{HOST}:{unreachable}/",
               "root": lab.pki.root.der, "lab": lab, "dccscan": by_port[port], "dccscan_unreachable": by_port[unreachable]}


def predicted(endpoint: dict[str, Any], browser: str) -> str | None:
    verdict = endpoint["browsers"][browser]
    return None if verdict["accepted"] else verdict["error"]


def test_dccscan_reports_revoked_whatever_the_browsers_do(revoked_site: dict[str, Any]) -> None:
    ids = [f["id"] for f in revoked_site["dccscan"]["findings"]]
    assert "revocation.revoked" in ids
    assert "revocation.unreachable" in [f["id"] for f in revoked_site["dccscan_unreachable"]["findings"]]


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
    assert predicted(revoked_site["dccscan"], "chrome") is None
    assert len(revoked_site["lab"].crls.requests) == before  # and it never asked for the CRL


def test_firefox_asks_ocsp_and_soft_fails(revoked_site: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    reason = unavailable_reason("firefox")
    if reason:
        pytest.skip(reason)
    defaults = {k: v for k, v in firefox_module.PREFS.items() if k not in REVOCATION_PREFS}
    monkeypatch.setattr(firefox_module, "PREFS", defaults)
    browser = Firefox([revoked_site["root"]], [HOST])
    try:
        revoked = browser.error_for(revoked_site["url"])
        unreachable = browser.error_for(revoked_site["unreachable_url"])
    finally:
        browser.close()
    assert revoked == "SEC_ERROR_REVOKED_CERTIFICATE"  # the responder's "revoked" is enforced
    assert unreachable is None  # soft-fail: no answer from the responder, the certificate is accepted
    assert predicted(revoked_site["dccscan"], "firefox") == revoked
    assert predicted(revoked_site["dccscan_unreachable"], "firefox") == unreachable
