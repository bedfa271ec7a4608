"""AIA caIssuers: the probe fetches a missing issuer over plain HTTP (bounded), and Chrome's verdict
is based on what was fetched. A real HTTP server on loopback serves the CA certificate, a PKCS#7
bundle, an oversized answer, a 404 and a silence; the engine is then given those records."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
import time
from collections import Counter
from typing import Any, Iterator

import pytest
import trio
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import AuthorityInformationAccessOID

from scanner.evaluate import evaluate, with_handshake
from scanner.lab.pki import LabPKI, issue, name
from scanner.probe import aia

HOST = "aia.dcc.test"


class _Handler(http.server.BaseHTTPRequestHandler):
    bodies: dict[str, bytes] = {}
    hits: Counter[str] = Counter()

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        self.hits[self.path] += 1
        if self.path == "/slow":
            time.sleep(3)
        body = self.bodies.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (the time-bound test)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.create(org="AIA Lab")


@pytest.fixture(scope="module")
def server(pki: LabPKI) -> Iterator[str]:
    other = LabPKI.create(org="AIA Other")
    _Handler.bodies = {
        "/ca.der": pki.issuing.der,
        "/ca.p7c": pkcs7.serialize_certificates([pki.issuing.cert], Encoding.DER),
        "/wrong.der": other.issuing.der,
        "/big": b"\x30" * (aia.MAX_BYTES + 10),
        "/slow": pki.issuing.der,
        "/text": b"hello",
    }
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _leaf(pki: LabPKI, url: str) -> bytes:
    ext = x509.AuthorityInformationAccess([x509.AccessDescription(
        AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(url))])
    return pki.leaf(dns=[HOST], extra=[(ext, False)]).der


def _fetch(url: str, timeout: float = aia.TIMEOUT_S) -> aia.AiaFetch:
    return trio.run(lambda: aia.fetch(url, timeout=timeout))


def test_fetches_a_der_certificate_and_a_pkcs7_bundle(pki: LabPKI, server: str) -> None:
    for path in ("/ca.der", "/ca.p7c"):
        got = _fetch(server + path)
        assert got.error is None and got.certificates == (pki.issuing.der,)
        record = got.to_json()
        assert record["status"] == "fetched" and record["certificates"][0].startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("path, said", [
    ("/big", "larger than"), ("/missing", "HTTP 404"), ("/text", "neither a DER certificate nor a PKCS#7"),
])
def test_a_bad_answer_is_a_plain_error(server: str, path: str, said: str) -> None:
    got = _fetch(server + path)
    assert got.certificates == () and got.error is not None and said in got.error
    assert got.to_json()["status"] == "failed"


def test_time_and_scheme_are_bounded(server: str) -> None:
    slow = _fetch(server + "/slow", timeout=0.5)
    assert slow.error is not None and "within 0.5s" in slow.error
    assert "only http://" in (_fetch("https://127.0.0.1:1/ca.der").error or "")
    refused = _fetch("http://127.0.0.1:1/ca.der")
    assert refused.error is not None and refused.error.startswith("could not fetch")


def test_only_missing_issuers_are_fetched(pki: LabPKI, server: str) -> None:
    leaf = _leaf(pki, server + "/ca.der")
    assert aia.missing_issuer_urls([leaf]) == [server + "/ca.der"]
    assert aia.missing_issuer_urls([leaf, pki.issuing.der]) == []
    fetched = trio.run(aia.AiaFetcher().missing, [leaf])
    assert [f.url for f in fetched] == [server + "/ca.der"] and fetched[0].certificates == (pki.issuing.der,)


def _aia_ext(url: str) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess([x509.AccessDescription(
        AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(url))])


def test_an_issuer_among_the_trust_anchors_is_not_fetched(pki: LabPKI, server: str) -> None:
    """The usual chain, leaf + issuing CA, whose issuing CA names the root's caIssuers URL: Chrome
    has the root, so nothing is fetched when it is an anchor; an anchor that only shares the
    root's name (another key) does not complete the path, so the URL is fetched."""
    issuing = issue(subject=name("AIA Issuing", o="AIA Lab"), issuer=pki.root, ca=True, path_length=0,
                    extra=[(_aia_ext(server + "/root.der"), False)])
    leaf = issue(subject=name(HOST), issuer=issuing, dns=[HOST])
    chain = [leaf.der, issuing.der]
    assert aia.missing_issuer_urls(chain, [pki.root.der]) == []
    assert aia.missing_issuer_urls(chain) == [server + "/root.der"]
    impostor = issue(subject=pki.root.cert.subject, issuer=None, ca=True)
    assert aia.missing_issuer_urls(chain, [impostor.der]) == [server + "/root.der"]


def test_each_url_is_fetched_once_per_scan(pki: LabPKI, server: str) -> None:
    """Twenty endpoints under one issuing CA that they do not send: one GET for all of them, and
    every endpoint gets the same answer."""
    leaves = [_leaf(pki, server + "/once.der") for _ in range(20)]
    _Handler.bodies["/once.der"] = pki.issuing.der
    fetcher = aia.AiaFetcher()

    async def all_of_them() -> list[tuple[aia.AiaFetch, ...]]:
        got: list[tuple[aia.AiaFetch, ...]] = []

        async def one(leaf: bytes) -> None:
            got.append(await fetcher.missing([leaf]))

        async with trio.open_nursery() as nursery:
            for leaf in leaves:
                nursery.start_soon(one, leaf)
        return got

    answers = trio.run(all_of_them)
    assert _Handler.hits["/once.der"] == 1
    assert len(answers) == 20 and all(a == answers[0] and a[0].certificates == (pki.issuing.der,) for a in answers)


def _verdicts(pki: LabPKI, leaf: bytes, records: list[dict[str, Any]] | None) -> dict[str, Any]:
    return evaluate([leaf], HOST, anchors=[pki.root.der], at=dt.datetime.now(dt.timezone.utc), aia=records)


def test_chrome_accepts_when_the_fetched_issuer_completes_the_path(pki: LabPKI, server: str) -> None:
    leaf = _leaf(pki, server + "/ca.der")
    result = _verdicts(pki, leaf, [_fetch(server + "/ca.der").to_json()])
    assert result["browsers"]["chrome"]["accepted"] is True
    assert result["browsers"]["firefox"]["error"] == "SEC_ERROR_UNKNOWN_ISSUER"
    assert "chain.incomplete.aia" in {f["id"] for f in result["findings"]}


def test_chrome_rejects_when_the_fetch_fails_and_says_so(pki: LabPKI, server: str) -> None:
    leaf = _leaf(pki, server + "/missing")
    result = _verdicts(pki, leaf, [_fetch(server + "/missing").to_json()])
    chrome = result["browsers"]["chrome"]
    assert chrome["error"] == "ERR_CERT_AUTHORITY_INVALID"
    assert chrome["reasons"][0]["check"] == "chain.incomplete.aia_unfetched"
    assert "could not fetch" in chrome["reasons"][0]["message"] and "HTTP 404" in chrome["reasons"][0]["message"]


def test_chrome_rejects_when_the_url_serves_the_wrong_ca(pki: LabPKI, server: str) -> None:
    leaf = _leaf(pki, server + "/wrong.der")
    result = _verdicts(pki, leaf, [_fetch(server + "/wrong.der").to_json()])
    assert result["browsers"]["chrome"]["error"] == "ERR_CERT_AUTHORITY_INVALID"
    assert "chain.incomplete.aia_unusable" in {f["id"] for f in result["findings"]}


def test_without_fetch_records_chrome_is_assumed_to_fetch(pki: LabPKI, server: str) -> None:
    """A results file from before the probe fetched (no ``aia`` records): the old assumption."""
    result = _verdicts(pki, _leaf(pki, server + "/ca.der"), None)
    assert result["browsers"]["chrome"]["accepted"] is True


def test_the_probe_records_the_fetch_and_the_verdict_uses_it(pki: LabPKI, server: str, tmp_path: Any) -> None:
    """End to end: a loopback server sends only the leaf; the probe fetches the caIssuers URL from the
    loopback HTTP server; the endpoint record carries what was fetched (valid against the schema),
    and Chrome's verdict (and a re-evaluation from the record alone) rests on it."""
    import json
    from pathlib import Path

    import jsonschema

    from scanner.lab.hostile import raw_certificates, serve_handler
    from scanner.probe.runner import scan_targets
    from scanner.assess import endpoint_record
    from scanner.targets import parse_cli_target

    schema = json.loads((Path(__file__).resolve().parents[1] / "scanner/schema/results.schema.json").read_text())
    records: dict[str, dict[str, Any]] = {}
    for path in ("/ca.der", "/missing"):
        leaf = _leaf(pki, server + path)

        async def scan(served: bytes = leaf) -> Any:
            async with trio.open_nursery() as nursery:
                port = await nursery.start(serve_handler, lambda stream: raw_certificates([served], stream))
                target = parse_cli_target(f"127.0.0.1:{port}", hostname=HOST, timeout=10)
                outcomes: list[Any] = []
                await scan_targets([target], concurrency=1, sink=outcomes.append)  # the handshake, then the fetch
                outcome = outcomes[0]
                nursery.cancel_scope.cancel()
                return outcome

        outcome = trio.run(scan)
        record = endpoint_record(outcome, anchors=[pki.root.der], profile=None)
        jsonschema.validate(record["aia"], schema["$defs"]["endpoint"]["properties"]["aia"])
        records[path] = record
    from scanner.results import ResultsWriter, iter_endpoints

    now = dt.datetime.now(dt.timezone.utc)
    writer = ResultsWriter(tmp_path / "out", started_at=now, targets_file=None,
                           settings={"concurrency": 1, "timeout": 10, "fail_on": "error", "trust_anchors": [],
                                     "profile": None})
    for record in records.values():
        writer.add(record)
    written = writer.finish(now)
    jsonschema.validate(json.loads(written.read_text()), schema)
    assert [ep.get("aia") for ep in iter_endpoints(written)] == [r["aia"] for r in records.values()]
    fetched, missing = records["/ca.der"], records["/missing"]
    assert fetched["aia"][0]["status"] == "fetched" and fetched["browsers"]["chrome"]["accepted"] is True
    assert missing["aia"][0]["status"] == "failed" and "HTTP 404" in missing["aia"][0]["error"]
    assert missing["browsers"]["chrome"]["error"] == "ERR_CERT_AUTHORITY_INVALID"
    again = evaluate([leaf], HOST, anchors=[pki.root.der], at=dt.datetime.now(dt.timezone.utc), aia=missing["aia"])
    again = with_handshake(again, missing["tls"], dt.datetime.now(dt.timezone.utc))  # the client simulation's half
    assert again["browsers"] == missing["browsers"]
