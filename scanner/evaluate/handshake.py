"""The handshake half of a browser verdict, from the server's recorded answer to that browser.

Pure: input is ``tls.simulation`` (``scanner.probe.simulate``: the raw ServerHello or alert the
server sent in reply to the browser's own recorded ClientHello, or how the connection ended);
output is what the browser does with it and the exact error code it shows. Messages are read
with tlslite-ng (as ``scanner.clienthellos`` explains).

Where each rule comes from (and tests/browsers/test_handshake_oracle.py proves them against the
real Chromium and Firefox ESR on a real nginx and ``openssl s_server``):

Chromium (BoringSSL errors mapped by ``MapOpenSSLErrorSSL`` in net/ssl/openssl_ssl_util.cc):
  * a handshake_failure alert in reply to the ClientHello: BoringSSL ssl/handshake.cc adds
    SSL_R_HANDSHAKE_FAILURE_ON_CLIENT_HELLO, which maps to ERR_SSL_VERSION_OR_CIPHER_MISMATCH;
  * protocol_version or insufficient_security alerts, and a ServerHello version outside the
    client's range (SSL_R_UNSUPPORTED_PROTOCOL): ERR_SSL_VERSION_OR_CIPHER_MISMATCH;
  * bad_certificate, unsupported_certificate, certificate_revoked/expired/unknown, access_denied,
    certificate_required, unknown_ca: ERR_BAD_SSL_CLIENT_AUTH_CERT; decrypt_error:
    ERR_SSL_DECRYPT_ERROR_ALERT; unrecognized_name: ERR_SSL_UNRECOGNIZED_NAME_ALERT;
    bad_record_mac: ERR_SSL_BAD_RECORD_MAC_ALERT; any other alert: ERR_SSL_PROTOCOL_ERROR;
  * the peer closing or resetting the TCP connection: ERR_CONNECTION_CLOSED / ERR_CONNECTION_RESET
    (net/base/net_error_list.h).
Firefox (NSS lib/ssl/ssl3con.c ``ssl3_HandleAlert``: one SSL_ERROR_*_ALERT code per alert):
  * handshake_failure while waiting for the ServerHello: SSL_ERROR_NO_CYPHER_OVERLAP;
  * protocol_version: SSL_ERROR_PROTOCOL_VERSION_ALERT, and so on (ALERT_CODES_NSS below);
  * a ServerHello version outside the client's range: SSL_ERROR_UNSUPPORTED_VERSION
    (``ssl3_NegotiateVersion`` in lib/ssl/ssl3con.c);
  * the peer closing during the handshake: PR_END_OF_FILE_ERROR; a reset: PR_CONNECT_RESET_ERROR.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
# The lowest version each browser accepts (Chrome 84 and Firefox 78 removed TLS 1.0/1.1; the
# recorded hellos offer TLSv1.3 and TLSv1.2 only: tests/test_clienthellos.py keeps them in step).
MIN_VERSION = {"chrome": 0x0303, "firefox": 0x0303}
# RFC 8446 section 4.1.3: a ServerHello with this random is a HelloRetryRequest.
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

ALERT_CODES_CHROME = {
    "handshake_failure": "ERR_SSL_VERSION_OR_CIPHER_MISMATCH",  # in reply to the ClientHello
    "protocol_version": "ERR_SSL_VERSION_OR_CIPHER_MISMATCH",
    "insufficient_security": "ERR_SSL_VERSION_OR_CIPHER_MISMATCH",
    "bad_certificate": "ERR_BAD_SSL_CLIENT_AUTH_CERT",
    "unsupported_certificate": "ERR_BAD_SSL_CLIENT_AUTH_CERT",
    "certificate_revoked": "ERR_BAD_SSL_CLIENT_AUTH_CERT",
    "certificate_expired": "ERR_BAD_SSL_CLIENT_AUTH_CERT",
    "certificate_unknown": "ERR_BAD_SSL_CLIENT_AUTH_CERT",
    "access_denied": "ERR_BAD_SSL_CLIENT_AUTH_CERT",
    "certificate_required": "ERR_BAD_SSL_CLIENT_AUTH_CERT",
    "unknown_ca": "ERR_BAD_SSL_CLIENT_AUTH_CERT",
    "decompression_failure": "ERR_SSL_DECOMPRESSION_FAILURE_ALERT",
    "bad_record_mac": "ERR_SSL_BAD_RECORD_MAC_ALERT",
    "decrypt_error": "ERR_SSL_DECRYPT_ERROR_ALERT",
    "unrecognized_name": "ERR_SSL_UNRECOGNIZED_NAME_ALERT",
}
ALERT_CODES_NSS = {
    "close_notify": "SSL_ERROR_CLOSE_NOTIFY_ALERT",
    "unexpected_message": "SSL_ERROR_HANDSHAKE_UNEXPECTED_ALERT",
    "bad_record_mac": "SSL_ERROR_BAD_MAC_ALERT",
    "decryption_failed": "SSL_ERROR_DECRYPTION_FAILED_ALERT",
    "record_overflow": "SSL_ERROR_RECORD_OVERFLOW_ALERT",
    "decompression_failure": "SSL_ERROR_DECOMPRESSION_FAILURE_ALERT",
    "handshake_failure": "SSL_ERROR_NO_CYPHER_OVERLAP",  # in reply to the ClientHello
    "no_certificate": "SSL_ERROR_NO_CERTIFICATE",
    "bad_certificate": "SSL_ERROR_BAD_CERT_ALERT",
    "unsupported_certificate": "SSL_ERROR_UNSUPPORTED_CERT_ALERT",
    "certificate_revoked": "SSL_ERROR_REVOKED_CERT_ALERT",
    "certificate_expired": "SSL_ERROR_EXPIRED_CERT_ALERT",
    "certificate_unknown": "SSL_ERROR_CERTIFICATE_UNKNOWN_ALERT",
    "illegal_parameter": "SSL_ERROR_ILLEGAL_PARAMETER_ALERT",
    "unknown_ca": "SSL_ERROR_UNKNOWN_CA_ALERT",
    "access_denied": "SSL_ERROR_ACCESS_DENIED_ALERT",
    "decode_error": "SSL_ERROR_DECODE_ERROR_ALERT",
    "decrypt_error": "SSL_ERROR_DECRYPT_ERROR_ALERT",
    "export_restriction": "SSL_ERROR_EXPORT_RESTRICTION_ALERT",
    "protocol_version": "SSL_ERROR_PROTOCOL_VERSION_ALERT",
    "insufficient_security": "SSL_ERROR_INSUFFICIENT_SECURITY_ALERT",
    "internal_error": "SSL_ERROR_INTERNAL_ERROR_ALERT",
    "inappropriate_fallback": "SSL_ERROR_INAPPROPRIATE_FALLBACK_ALERT",
    "user_canceled": "SSL_ERROR_USER_CANCELED_ALERT",
    "no_renegotiation": "SSL_ERROR_NO_RENEGOTIATION_ALERT",
    "missing_extension": "SSL_ERROR_MISSING_EXTENSION_ALERT",
    "unsupported_extension": "SSL_ERROR_UNSUPPORTED_EXTENSION_ALERT",
    "certificate_unobtainable": "SSL_ERROR_CERTIFICATE_UNOBTAINABLE_ALERT",
    "unrecognized_name": "SSL_ERROR_UNRECOGNIZED_NAME_ALERT",
    "bad_certificate_status_response": "SSL_ERROR_BAD_CERT_STATUS_RESPONSE_ALERT",
    "bad_certificate_hash_value": "SSL_ERROR_BAD_CERT_HASH_VALUE_ALERT",
    "certificate_required": "SSL_ERROR_RX_CERTIFICATE_REQUIRED_ALERT",
    "no_application_protocol": "SSL_ERROR_NEXT_PROTOCOL_NO_PROTOCOL",
    "ech_required": "SSL_ERROR_ECH_REQUIRED_ALERT",
}
CONNECTION_CODES = {
    "chrome": {"closed": "ERR_CONNECTION_CLOSED", "reset": "ERR_CONNECTION_RESET", "timeout": "ERR_TIMED_OUT",
               "not_tls": "ERR_SSL_PROTOCOL_ERROR", "unexpected": "ERR_SSL_PROTOCOL_ERROR",
               "refused": "ERR_CONNECTION_REFUSED"},
    "firefox": {"closed": "PR_END_OF_FILE_ERROR", "reset": "PR_CONNECT_RESET_ERROR", "timeout": "NS_ERROR_NET_TIMEOUT",
                "not_tls": "SSL_ERROR_RX_RECORD_TOO_LONG", "unexpected": "SSL_ERROR_RX_UNEXPECTED_HANDSHAKE",
                "refused": "NS_ERROR_CONNECTION_REFUSED"},
}


def parse_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """The facts in one recorded answer: version, cipher suite, group, alert (None when absent)."""
    from tlslite.constants import AlertDescription, CipherSuite, GroupName  # imported here: 0.2 s, scans only
    from tlslite.messages import ServerHello
    from tlslite.utils.codec import Parser

    facts: dict[str, Any] = {"outcome": answer.get("outcome"), "version": None, "cipher": None, "group": None,
                             "alert": None, "alert_level": None, "hello_retry": False}
    raw = bytes.fromhex(answer["received"]) if answer.get("received") else b""
    if facts["outcome"] == "alert" and len(raw) >= 2:
        facts["alert_level"] = "fatal" if raw[0] == 2 else "warning"
        facts["alert"] = AlertDescription.toStr(raw[1]) or f"alert {raw[1]}"
    elif facts["outcome"] == "server_hello":
        try:
            hello = ServerHello().parse(Parser(bytearray(raw[1:])))
        except Exception:  # noqa: BLE001 - a hostile ServerHello is a protocol error, not a crash
            facts["outcome"] = "unexpected"
            return facts
        version = hello.server_version[0] << 8 | hello.server_version[1]
        selected = hello.getExtension(43)  # supported_versions (TLS 1.3, RFC 8446 section 4.2.1)
        if selected is not None and getattr(selected, "version", None):
            version = selected.version[0] << 8 | selected.version[1]
        facts["version"] = VERSIONS.get(version, f"0x{version:04x}")
        facts["version_code"] = version
        facts["cipher"] = CipherSuite.ietfNames.get(hello.cipher_suite, f"0x{hello.cipher_suite:04x}")
        facts["hello_retry"] = bytes(hello.random) == HRR_RANDOM
        share = hello.getExtension(51)
        group = getattr(share, "selected_group", None) or getattr(getattr(share, "server_share", None), "group", None)
        if group is not None:
            facts["group"] = GroupName.toStr(group) or f"0x{group:04x}"
    return facts


def verdict(browser: str, answer: dict[str, Any]) -> dict[str, Any]:
    """``{"completed", "error", "reasons", "client", version, cipher, group, alert}``: whether
    ``browser`` gets past the ServerHello with this server, and the code it shows if not."""
    facts = parse_answer(answer)
    result: dict[str, Any] = {"client": answer.get("client"), "completed": False, "error": None, "reasons": [],
                              **{k: facts[k] for k in ("version", "cipher", "group", "alert", "hello_retry")}}
    outcome = facts["outcome"]
    if outcome == "server_hello":
        if facts.get("version_code", 0) < MIN_VERSION[browser]:
            result["error"] = "ERR_SSL_VERSION_OR_CIPHER_MISMATCH" if browser == "chrome" else "SSL_ERROR_UNSUPPORTED_VERSION"
            _reason(result, "tls.version_unsupported", f"the server chose {facts['version']}, which "
                    f"{_name(browser)} no longer speaks (TLS 1.2 is its minimum; RFC 8996)")
        else:
            result["completed"] = True
        return result
    if outcome == "alert":
        alert = facts["alert"]
        codes = ALERT_CODES_CHROME if browser == "chrome" else ALERT_CODES_NSS
        fallback = "ERR_SSL_PROTOCOL_ERROR" if browser == "chrome" else "SSL_ERROR_RX_UNKNOWN_ALERT"
        result["error"] = codes.get(alert, fallback)
        _reason(result, f"tls.alert.{alert}", f"the server answered {_name(browser)}'s ClientHello with a "
                f"{facts['alert_level']} {alert} alert: {_alert_meaning(alert)}")
        return result
    key = outcome if outcome in CONNECTION_CODES[browser] else "unexpected"
    result["error"] = CONNECTION_CODES[browser][key]
    _reason(result, f"tls.connection.{key}", f"the server did not answer {_name(browser)}'s ClientHello with a "
            f"ServerHello: {answer.get('detail') or key}")
    return result


def _alert_meaning(alert: str | None) -> str:
    return {"handshake_failure": "nothing the browser offers (suites, groups, signature algorithms for the "
                                 "server's key) is acceptable to the server",
            "protocol_version": "the server speaks no TLS version the browser offers (TLS 1.2 and 1.3)",
            "insufficient_security": "the server wants stronger parameters than the browser offered",
            }.get(alert or "", "the server refused the handshake")


def _name(browser: str) -> str:
    return {"chrome": "Chrome", "firefox": "Firefox"}.get(browser, browser)


def _reason(result: dict[str, Any], code: str, message: str) -> None:
    result["reasons"].append({"code": code, "message": message, "check": None, "certificate_index": None})


# TLS 1.3 refuses a client after the client's Finished, when Chrome is already sending its request:
# if the server closes at once (openssl s_server does) its close can overtake the alert in Chrome,
# which then shows ERR_SOCKET_NOT_CONNECTED (about one load in four on this machine).
TLS13_RACE = ("; in TLS 1.3 Chrome may show ERR_SOCKET_NOT_CONNECTED instead when the server closes the "
              "connection right after its alert")
CHROME_TLS13_REFUSAL_ALTERNATIVES = ("ERR_SOCKET_NOT_CONNECTED",)


def client_auth_refusal(browser: str, alert: str | None) -> str:
    """The code a browser with no client certificate shows when the server refuses it.

    Chromium: net/socket/ssl_client_socket_impl.cc maps a handshake_failure alert after a
    CertificateRequest, with no certificate sent, to ERR_BAD_SSL_CLIENT_AUTH_CERT (crbug.com/
    646567), and certificate_required, access_denied etc. map there anyway. NSS: its alert code
    (handshake_failure after the ServerHello is SSL_ERROR_HANDSHAKE_FAILURE_ALERT)."""
    if browser == "chrome":
        code = ALERT_CODES_CHROME.get(alert or "", "ERR_SSL_PROTOCOL_ERROR")
        if alert is None:
            return "ERR_CONNECTION_CLOSED"
        return "ERR_BAD_SSL_CLIENT_AUTH_CERT" if alert == "handshake_failure" or code == "ERR_SSL_PROTOCOL_ERROR" else code
    if alert is None:
        return "PR_END_OF_FILE_ERROR"
    if alert == "handshake_failure":
        return "SSL_ERROR_HANDSHAKE_FAILURE_ALERT"
    return ALERT_CODES_NSS.get(alert, "SSL_ERROR_RX_UNKNOWN_ALERT")


def combine(browsers: dict[str, Any] | None, tls: dict[str, Any] | None) -> dict[str, Any] | None:
    """The browsers object with the handshake half: per browser ``handshake`` (``verdict``) and
    ``certificate`` (the chain verdict, None without a chain); ``accepted`` needs both, and
    ``error`` is what the browser shows: the handshake's error first (the browser never sees the
    certificate when the handshake fails), then the certificate's (a browser checks the server's
    certificate before it answers a CertificateRequest), then a refusal for want of a client
    certificate (``tls.client_auth`` required: the browsers hold none)."""
    simulation = (tls or {}).get("simulation")
    if not simulation:
        return browsers
    combined: dict[str, Any] = {}
    for browser in ("chrome", "firefox"):
        cert = (browsers or {}).get(browser)
        answer = simulation.get(browser)
        if answer is None:
            combined[browser] = dict(cert, handshake=None, certificate=dict(cert)) if cert else None
            continue
        hs = verdict(browser, answer)
        if not hs["completed"]:
            accepted, error, reasons = False, hs["error"], list(hs["reasons"])
        elif cert is None:
            accepted, error = False, None
            reasons = [{"code": "certificate.not_captured", "message": "the handshake starts, but no certificate "
                        "chain was captured to judge", "check": None, "certificate_index": None}]
        else:
            accepted, error, reasons = cert["accepted"], cert["error"], list(cert["reasons"])
            if accepted and (tls or {}).get("client_auth") == "required":
                alert = (tls or {}).get("client_auth_alert")
                accepted, error = False, client_auth_refusal(browser, alert)
                reasons.append({"code": "tls.client_certificate_required", "message": "the server requires a client "
                                f"certificate and refused the handshake without one ({alert or 'connection closed'}); "
                                "a browser without a certificate for this server cannot open it"
                                + (TLS13_RACE if browser == "chrome" and hs["version"] == "TLSv1.3" else ""),
                                "check": None, "certificate_index": None})
        combined[browser] = {"accepted": accepted, "error": error, "reasons": reasons, "handshake": hs,
                             "certificate": dict(cert) if cert else None}
    if any(v is None for v in combined.values()):
        return browsers
    return combined


def with_handshake(verdicts: dict[str, Any] | None, tls: dict[str, Any] | None, at: datetime) -> dict[str, Any]:
    """``scanner.evaluate.evaluate``'s result (None without a chain) with the handshake half:
    ``browsers`` combined (``combine``) and the TLS findings (``scanner.checks.tls``) appended.
    The scan and ``verify-evidence``'s offline re-evaluation both call this, so they agree."""
    from scanner.checks.tls import handshake_findings

    verdicts = verdicts or {}
    browsers = combine(verdicts.get("browsers"), tls)
    return dict(verdicts, browsers=browsers,
                findings=list(verdicts.get("findings") or []) + handshake_findings(browsers, at, tls))
