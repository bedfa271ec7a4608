"""Why an endpoint could not be scanned, as exceptions a person can act on.

Modelled on httpx's exception tree: catch the branch you care about, and every leaf maps to one
``error.kind`` of the results schema. The probe raises these; the runner turns them into
``status: "error"`` records, so none of them ever escapes a scan::

    ProbeError                      (kind "internal": a bug or something we did not foresee)
    +-- DnsError                    "dns": the name has no A/AAAA address
    +-- ConnectError                (connection-level failures)
    |   +-- RefusedError            "refused": nothing listens on that port
    |   +-- ResetError              "reset": the peer reset the TCP connection
    +-- TimeoutError                "timeout": connect + handshake exceeded the deadline
    +-- NotTLSError                 "not-tls": the port answered, but not with TLS
    +-- TLSAlertError(alert)        "tls-alert": the server ended the handshake with an alert
    |   +-- ClientCertRejectedError "client-cert-rejected": our client certificate was refused
    +-- HandshakeError              "handshake": any other handshake failure
    +-- CertificateParseError       "certificate-parse": the presented chain could not be read
    +-- ProtocolError               "protocol": the server broke TLS framing or a safety limit
                                    (oversized handshake, too many certificates)

An error may carry the partial ``capture`` (e.g. the server chain that arrived before a client
certificate was rejected), so the evidence keeps what the server did present.
"""

from __future__ import annotations

from typing import Any, ClassVar

from scanner.probe.capture import Capture


class ProbeError(Exception):
    """Base of every per-endpoint failure; ``kind`` is the schema's ``error.kind``."""

    kind: ClassVar[str] = "internal"

    def __init__(self, message: str, *, phase: str | None = None, alert: str | None = None,
                 capture: Capture | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.phase = phase
        self.alert = alert
        self.capture = capture

    def to_json(self) -> dict[str, Any]:
        """The schema's ``error`` object."""
        return {"kind": self.kind, "message": self.message, "alert": self.alert, "phase": self.phase}


class DnsError(ProbeError):
    kind = "dns"


class ConnectError(ProbeError):
    kind = "refused"


class RefusedError(ConnectError):
    kind = "refused"


class ResetError(ConnectError):
    kind = "reset"


class TimeoutError(ProbeError):  # noqa: A001 - deliberate, mirrors httpx; import it qualified
    kind = "timeout"


class NotTLSError(ProbeError):
    kind = "not-tls"


class TLSAlertError(ProbeError):
    kind = "tls-alert"


class ClientCertRejectedError(TLSAlertError):
    kind = "client-cert-rejected"


class HandshakeError(ProbeError):
    kind = "handshake"


class CertificateParseError(ProbeError):
    kind = "certificate-parse"


class ProtocolError(ProbeError):
    """The server sent more than a sane handshake holds, or broke the record layer: we stop
    reading (memory stays bounded) and say what it did."""

    kind = "protocol"


# What a person can do about an alert, for the alerts servers actually send in a handshake.
ALERT_ADVICE: dict[str, str] = {
    "handshake_failure": "the server found no protocol version, cipher or key exchange it shares "
                         "with us, or refused the client certificate; compare its TLS settings",
    "protocol_version": "the server supports none of the TLS versions we offer",
    "unrecognized_name": "the server does not serve this hostname (SNI); check 'hostname'",
    "certificate_required": "the server requires a client certificate; configure client_cert",
    "unknown_ca": "the server does not trust the issuer of our client certificate",
    "bad_certificate": "the server rejected our client certificate",
    "certificate_unknown": "the server rejected our client certificate",
    "access_denied": "the server refused us after the handshake (client certificate not authorised)",
    "internal_error": "the server hit an internal error; ask its operator",
}


def alert_message(alert: str) -> str:
    """A sentence for the report when the server sent ``alert``."""
    advice = ALERT_ADVICE.get(alert, "see the server's TLS configuration and logs")
    return f"the server sent the TLS alert {alert}: {advice}"
