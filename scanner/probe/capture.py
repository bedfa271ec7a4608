"""What one handshake showed: the ``Capture`` the probe fills and its errors carry.

A module of its own so that ``errors`` (which carries a partial capture) and ``tls`` (which fills
one) both depend on it and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# none: no CertificateRequest. required: the TLS layer refused us without a certificate.
# requested: a CertificateRequest came and the handshake completed without one; nothing more is
# known. required-by-application / optional: the HTTP check (``scanner.probe.http``) found the
# application refusing a request for want of a certificate / serving it without one.
ClientAuth = Literal["none", "requested", "required", "required-by-application", "optional"]


@dataclass
class Capture:
    """What one handshake showed; ``to_tls_json()`` is the schema's ``tls`` object."""

    chain: list[bytes] = field(default_factory=list)
    version: str | None = None
    cipher: str | None = None
    alpn: str | None = None
    cert_requested: bool = False
    client_auth: ClientAuth = "none"
    client_cert_sent: bool = False
    client_auth_http: dict[str, Any] | None = None  # the HTTP check's request and answer, when made
    acceptable_ca_names: list[str] = field(default_factory=list)
    certificates_presented: int = 0  # before the MAX_CHAIN_CERTS cap
    ocsp_staple: bytes | None = None  # the OCSP response the server stapled (status_request), if any

    def to_tls_json(self) -> dict[str, Any]:
        return {"version": self.version, "cipher": self.cipher, "alpn": self.alpn,
                "client_auth": self.client_auth, "client_cert_sent": self.client_cert_sent,
                "acceptable_ca_names": list(self.acceptable_ca_names), "client_auth_http": self.client_auth_http}
