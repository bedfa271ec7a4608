"""RFC 5280 structure checks on individual certificates (parsing, extensions, serial, validity)."""

from __future__ import annotations

from typing import Callable

from scanner.checks.model import Catalogue, Context, Outcome, Runner

_CATALOGUE = Catalogue()
define = _CATALOGUE.define

PKIX_CERT = "mozilla::pkix lib/mozpkix/lib/pkixcert.cpp BackCert::Init"
BSSL_PARSE = "BoringSSL pki/parse_certificate.cc"


def _serial(check_id: str, test: Callable[[int], bool], what: str) -> Runner:
    def run(ctx: Context) -> list[Outcome]:
        out = []
        for i, f in enumerate(ctx.chain):
            if f.cert is None:
                out.append(Outcome(check_id, "not-applicable", i))
            elif test(f.serial):
                out.append(Outcome(check_id, "fail", i, f"certificate {i} has serial number {f.serial} ({what})"))
            else:
                out.append(Outcome(check_id, "pass", i))
        return out
    return run


define("rfc5280.validity.expired", "The server certificate has expired", "error", "Chrome and Firefox",
       "RFC 5280 4.1.2.5; mozilla::pkix pkixcheck.cpp CheckValidity (SEC_ERROR_EXPIRED_CERTIFICATE); "
       "BoringSSL pki/verify_certificate_chain.cc (kValidityFailedNotAfter)", "Renew the certificate and install it.")
define("rfc5280.validity.not_yet_valid", "The server certificate is not yet valid", "error", "Chrome and Firefox",
       "RFC 5280 4.1.2.5; mozilla::pkix pkixcheck.cpp CheckValidity (MOZILLA_PKIX_ERROR_NOT_YET_VALID_CERTIFICATE)",
       "Check the issuing system's clock; install a certificate that is valid now.")
define("rfc5280.certificate.unparseable", "A certificate does not parse as X.509 DER", "error", "RFC 5280",
       f"RFC 5280 4.1; {BSSL_PARSE} ParseCertificate; {PKIX_CERT} (SEC_ERROR_BAD_DER)",
       "Replace the certificate with a well-formed DER certificate.")
define("rfc5280.extension.duplicate", "The same extension appears twice", "error", "RFC 5280",
       f"RFC 5280 4.2; {PKIX_CERT} (SEC_ERROR_EXTENSION_VALUE_INVALID); {BSSL_PARSE} ParseExtensions",
       "Reissue the certificate with each extension once.")
define("rfc5280.extension.malformed", "An extension's value does not parse", "error", "RFC 5280",
       f"RFC 5280 4.2; {BSSL_PARSE}; {PKIX_CERT}", "Reissue the certificate with well-formed extensions.")
define("rfc5280.extension.unknown_critical", "Unknown critical extension", "error", "Chrome and Firefox",
       f"RFC 5280 4.2; {PKIX_CERT} (SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION; on a presented intermediate gecko "
       "NSSCertDBTrustDomain::FindIssuer skips the certificate: SEC_ERROR_UNKNOWN_ISSUER); BoringSSL "
       "pki/verify_certificate_chain.cc VerifyNoUnconsumedCriticalExtensions", "Reissue the certificate without the critical extension, or mark it non-critical.")
define("rfc5280.signature.algorithm_mismatch", "Outer signatureAlgorithm differs from the TBS signature field",
       "error", "Chrome and Firefox", "RFC 5280 4.1.1.2; Chromium net/cert/cert_verify_proc.cc "
       "InspectSignatureAlgorithmForCert; BoringSSL kSignatureAlgorithmMismatch; mozilla::pkix pkixcheck.cpp "
       "CheckSignatureAlgorithm (ERROR_SIGNATURE_ALGORITHM_MISMATCH, deferred for a leaf by pkixbuild.cpp BuildForward: "
       "the signature, checked with the outer algorithm, usually fails first as SEC_ERROR_BAD_SIGNATURE)",
       "Reissue the certificate; the CA software is producing inconsistent certificates.")
define("rfc5280.san.empty", "subjectAltName extension with no entries", "error", "Chrome",
       f"RFC 5280 4.2.1.6 (GeneralNames SIZE 1..MAX); {BSSL_PARSE} / general_names.cc (the certificate does not parse: "
       "ERR_CERT_INVALID); mozilla::pkix pkixnames.cpp SearchNames tolerates it (no names: SSL_ERROR_BAD_CERT_DOMAIN)",
       "Reissue the certificate with the hostname(s) in subjectAltName.")
define("rfc5280.serial.negative", "Negative serial number", "warning", "RFC 5280",
       "RFC 5280 4.1.2.2; BoringSSL pki/parse_certificate.cc VerifySerialNumber (warning only)",
       "Ask the CA to issue positive serial numbers.", _serial("rfc5280.serial.negative", lambda s: s < 0, "negative"))
define("rfc5280.serial.zero", "Zero serial number", "notice", "RFC 5280",
       "RFC 5280 4.1.2.2; BoringSSL pki/parse_certificate.cc VerifySerialNumber (warning only)",
       "Ask the CA to issue positive, unique serial numbers.", _serial("rfc5280.serial.zero", lambda s: s == 0, "zero"))

CHECKS = _CATALOGUE.freeze()
