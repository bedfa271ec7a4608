"""A revocation lab on loopback: a real ``openssl ocsp`` responder, CRLs served over HTTP, and
certificates whose CRL distribution points and OCSP URLs point at them.

Nothing here is mocked: the responder is OpenSSL's own (``openssl ocsp -index``, answering as a
delegated responder with id-kp-OCSPSigning), the CRLs are signed with cryptography's builder and
served by ``http.server`` on 127.0.0.1, and stapled responses come from ``openssl s_server
-status_file`` fed with a response fetched from the same responder.
"""

from __future__ import annotations

import datetime as dt
import http.server
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from scanner.lab.pki import Issued, LabPKI, issue, name, new_key

UTC = dt.timezone.utc
HOST = "gw.dcc-user.example"


class CrlServer:
    """``http.server`` on 127.0.0.1 serving ``files`` (path -> bytes; tests may swap them)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        files, requests = self.files, self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                requests.append(self.path)
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _started(process: subprocess.Popen[str], what: str) -> int:
    """The port an OpenSSL server printed in its ``ACCEPT host:port`` line. A thread keeps
    reading its output afterwards, so a chatty server never blocks on a full pipe."""
    lines: queue.Queue[str] = queue.Queue()

    def drain() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        found = re.search(r"ACCEPT .*:(\d+)", line)
        if found:
            return int(found.group(1))
        if not line:
            break
    process.kill()
    raise RuntimeError(f"{what} did not start")


def _index_serial(serial: int) -> str:
    text = f"{serial:X}"
    return "0" + text if len(text) % 2 else text


def _openssl_time(when: dt.datetime) -> str:
    return when.astimezone(UTC).strftime("%y%m%d%H%M%SZ")


class OcspResponder:
    """``openssl ocsp`` answering for the lab issuing CA from an index file, signed by a
    delegated responder certificate (EKU id-kp-OCSPSigning) that the issuing CA issued."""

    def __init__(self, folder: Path, pki: LabPKI, responder: Issued) -> None:
        self.folder = folder
        self.index = folder / "index.txt"
        self.issuer = pki.issuing.cert
        self.index.write_text("")
        (folder / "ca.pem").write_bytes(pki.issuing.pem)
        (folder / "rsigner.pem").write_bytes(responder.pem)
        (folder / "rkey.pem").write_bytes(responder.key_pem)
        self.lines: list[str] = []
        self._mtime = int(time.time())
        self.process = subprocess.Popen(
            ["openssl", "ocsp", "-index", str(self.index), "-port", "0", "-rsigner", str(folder / "rsigner.pem"),
             "-rkey", str(folder / "rkey.pem"), "-CA", str(folder / "ca.pem"), "-nmin", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.port = _started(self.process, "openssl ocsp")
        self.url = f"http://127.0.0.1:{self.port}"

    def add(self, cert: x509.Certificate, revoked: dt.datetime | None = None, reason: str | None = None) -> None:
        """One index line: V (valid) or R (revoked, with its time and reason). ``openssl ocsp``
        reads the index again when the file's mtime changed, but checks that between requests,
        before waiting for the next one: so one request is sent after the change, and every
        request after it is answered from the new index."""
        expiry = _openssl_time(cert.not_valid_after_utc)
        subject = "/" + "/".join(a.rfc4514_string() for a in cert.subject)
        if revoked is None:
            line = f"V\t{expiry}\t\t{_index_serial(cert.serial_number)}\tunknown\t{subject}"
        else:
            when = _openssl_time(revoked) + (f",{reason}" if reason else "")
            line = f"R\t{expiry}\t{when}\t{_index_serial(cert.serial_number)}\tunknown\t{subject}"
        self.lines.append(line)
        self.index.write_text("\n".join(self.lines) + "\n")
        # The responder notices a change by the file's mtime in whole seconds: two writes within
        # one second (two tests adding certificates) looked like one, and the second certificate
        # was answered "unknown". Each write gets a whole-second mtime of its own, later than any
        # before it.
        self._mtime = max(self._mtime + 1, int(time.time()) + 1)
        os.utime(self.index, (self._mtime, self._mtime))
        request = ocsp.OCSPRequestBuilder().add_certificate(cert, self.issuer, hashes.SHA1()).build()
        post = urllib.request.Request(self.url, data=request.public_bytes(Encoding.DER),
                                      headers={"Content-Type": "application/ocsp-request"})
        with urllib.request.urlopen(post, timeout=10) as answer:  # noqa: S310 - loopback responder
            answer.read()

    def response_for(self, cert: Issued, issuer: Issued, out: Path) -> bytes:
        """A response fetched from this responder with the openssl client (for stapling)."""
        (self.folder / "leaf.pem").write_bytes(cert.pem)
        subprocess.run(["openssl", "ocsp", "-issuer", str(self.folder / "ca.pem"), "-cert",
                        str(self.folder / "leaf.pem"), "-url", self.url, "-respout", str(out), "-noverify"],
                       check=True, capture_output=True, timeout=20)
        return out.read_bytes()

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class StaplingServer:
    """``openssl s_server`` presenting ``chain_pem`` and stapling the OCSP response file."""

    def __init__(self, folder: Path, leaf: Issued, status_file: Path) -> None:
        (folder / "server.pem").write_bytes(leaf.pem)
        (folder / "server.key").write_bytes(leaf.key_pem)
        (folder / "server-chain.pem").write_bytes(b"".join(i.pem for i in leaf.chain[:-1]))
        self.process = subprocess.Popen(
            ["openssl", "s_server", "-accept", "127.0.0.1:0", "-cert", str(folder / "server.pem"), "-key",
             str(folder / "server.key"), "-cert_chain", str(folder / "server-chain.pem"), "-status_file",
             str(status_file), "-naccept", "1000"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # stdin EOF would stop it
        self.port = _started(self.process, "openssl s_server")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def crl(issuer: Issued, revoked: list[tuple[x509.Certificate, dt.datetime, x509.ReasonFlags]] = (),  # type: ignore[assignment]
        *, this_update: dt.datetime | None = None, next_update: dt.datetime | None = None,
        signer: Any = None) -> bytes:
    """A DER CRL of ``issuer`` (signed by ``signer``, default the issuer's own key)."""
    now = dt.datetime.now(UTC).replace(microsecond=0)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.cert.subject)
               .last_update(this_update or now - dt.timedelta(hours=1))
               .next_update(next_update or now + dt.timedelta(days=1))
               .add_extension(x509.CRLNumber(1), critical=False))
    for cert, when, reason in revoked:
        entry = (x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(when)
                 .add_extension(x509.CRLReason(reason), critical=False).build())
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(signer or issuer.key, hashes.SHA256()).public_bytes(Encoding.DER)


def revocation_leaf(pki: LabPKI, cn: str, *, crl_url: str | None = None, ocsp_url: str | None = None) -> Issued:
    """A conformant leaf for HOST that names a CRL distribution point and/or an OCSP responder."""
    extra: list[tuple[x509.ExtensionType, bool]] = []
    if crl_url:
        extra.append((x509.CRLDistributionPoints([x509.DistributionPoint(
            [x509.UniformResourceIdentifier(crl_url)], None, None, None)]), False))
    if ocsp_url:
        extra.append((x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), False))
    return pki.leaf(cn, dns=[HOST], extra=extra)


@dataclass
class RevocationLab:
    """The PKI, the CRL server and the OCSP responder; leaves by role."""

    pki: LabPKI
    folder: Path
    crls: CrlServer
    ocsp: OcspResponder
    leaves: dict[str, Issued] = field(default_factory=dict)
    revoked_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(UTC).replace(microsecond=0)
                                    - dt.timedelta(hours=2))

    @property
    def root_pem(self) -> Path:
        path = self.folder / "root.pem"
        path.write_bytes(self.pki.root.pem)
        return path


@pytest.fixture(scope="module")
def revocation_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RevocationLab]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("revocation-lab")
    pki = LabPKI.create()
    responder = issue(subject=name("DCCKI Lab OCSP Responder"), issuer=pki.issuing, key=new_key("ec-p256"),
                      eku=(ExtendedKeyUsageOID.OCSP_SIGNING,), key_usage=["digital_signature"])
    crls = CrlServer()
    ocsp = OcspResponder(folder, pki, responder)
    lab = RevocationLab(pki, folder, crls, ocsp)
    try:
        yield lab
    finally:
        ocsp.close()
        crls.close()
