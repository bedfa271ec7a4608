"""Nightly: a certificate that the CA revokes between two real scans with ``--db`` is named in the
diff ("revoked since the previous scan"), in results.json's ``changes`` and in the webhook."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from cryptography import x509

from scanner.cli import cli
from scanner.lab.servers import LabEstate
from scanner.results import read_header
from tests.lab_fixtures import tls_spec
from tests.revocation_fixtures import HOST, RevocationLab, crl, revocation_lab, revocation_leaf  # noqa: F401


class Receiver:
    """A webhook receiver on 127.0.0.1 keeping every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_certificate_revoked_between_two_scans_is_named(revocation_lab: RevocationLab, tmp_path: Path) -> None:
    lab = revocation_lab
    doomed = revocation_leaf(lab.pki, "doomed", crl_url=lab.crls.url("/nightly.crl"))
    steady = revocation_leaf(lab.pki, "steady", crl_url=lab.crls.url("/nightly.crl"))
    lab.crls.files["/nightly.crl"] = crl(lab.pki.issuing)
    db, receiver = tmp_path / "history.db", Receiver()
    try:
        with LabEstate([tls_spec(doomed), tls_spec(steady)]) as (doomed_port, steady_port):
            hosts = [f"127.0.0.1:{doomed_port}", f"127.0.0.1:{steady_port}"]
            common = [*hosts, "--hostname", HOST, "--trust-anchor", str(lab.root_pem), "--format", "json,html",
                      "--db", str(db), "--quiet"]
            first = CliRunner().invoke(cli, ["scan", *common, "--out", str(tmp_path / "night1")])
            assert first.exit_code == 0, first.output
            when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(minutes=10)
            lab.crls.files["/nightly.crl"] = crl(lab.pki.issuing, [(doomed.cert, when, x509.ReasonFlags.superseded)])
            second = CliRunner().invoke(cli, ["scan", *common, "--out", str(tmp_path / "night2"),
                                              "--notify-webhook", receiver.url])
            assert second.exit_code == 1, second.output
    finally:
        receiver.close()
    changes = read_header(tmp_path / "night2/results.json")["changes"]
    (revoked,) = changes["revoked"]
    assert revoked["endpoint"].endswith(f"127.0.0.1:{doomed_port}")
    assert revoked["certificate_sha256"] == __import__("hashlib").sha256(doomed.der).hexdigest()
    assert revoked["revoked_at"] == when.strftime("%Y-%m-%dT%H:%M:%SZ") and revoked["reason"] == "superseded"
    assert [a["finding"] for a in changes["appeared"]] == ["revocation.revoked"]
    text = CliRunner().invoke(cli, ["diff", "--db", str(db)])
    assert "Revoked since the previous scan (1):" in text.output
    assert f"127.0.0.1:{doomed_port}" in text.output and "(superseded)" in text.output
    (body,) = receiver.bodies
    assert body["change_counts"]["revoked"] == 1
    # the report shows the change as a table row and the certificate's status in the endpoint's card
    import re
    page = (tmp_path / "night2/report.html").read_text()
    assert "Revoked since the previous scan" in page
    page = (tmp_path / "night2/details/0001.html").read_text()  # the endpoint's card, in its details page
    assert re.search(r'<strong class="revocation-revoked">revoked</strong> on ' + re.escape(revoked["revoked_at"])
                     + r" \(superseded\)", page)
    assert [r["endpoint"] for r in body["revoked"]] == [revoked["endpoint"]]
