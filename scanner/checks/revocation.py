"""Revocation checks: is a presented certificate revoked, and could dccscan tell?

These checks are not run by ``run_all`` over a chain alone: their evidence is the CRLs and OCSP
responses the probe fetched (or the server stapled, or the operator gave with ``--crl``), which
``scanner.evaluate.revocation.assess`` judges. They are registered here like every other check so
the catalogue (``dccscan checks``), JUnit and the reports know their ids and metadata; their
runners report "not applicable" because a chain by itself says nothing about revocation.

Severities: a revoked certificate in service is an error (RFC 5280 6.3: a relying party must not
accept it). A stale source or one that could not be reached is a warning: the status is unknown,
which is an outage to fix, not proof of a problem. A CRL or OCSP response whose signature does
not verify under the issuing CA (or an authorised responder) is an error: unlike an outage it does
not heal by itself, and it is either corrupted at the CA or forged on the way (RFC 6960 3.2 and
section 5: such a response must be rejected; RFC 5280 6.3.3 (f)-(g)), so nothing the scan relies
on for that certificate can be trusted until the CA fixes it. A certificate with no source at all
(no CRL distribution point, no OCSP URL, no ``--crl`` file from its issuer) is status ``unknown``
with that reason in the results, not a finding: most private PKIs and every test PKI publish none.
"""

from __future__ import annotations

from scanner.checks.model import Catalogue, Context, Outcome, Runner

_CATALOGUE = Catalogue()
define = _CATALOGUE.define

RFC5280_63 = "RFC 5280 6.3 (CRL validation)"
RFC6960 = "RFC 6960 (OCSP)"


def _never_on_a_chain(check_id: str) -> Runner:
    """A chain alone says nothing about revocation: ``assess`` reports these checks."""
    inapplicable = Outcome(check_id, "not-applicable", None)  # shared: immutable

    def run(ctx: Context) -> list[Outcome]:
        return [inapplicable]
    return run


REVOKED = "revocation.revoked"
UNREACHABLE = "revocation.unreachable"
STALE = "revocation.stale"
BAD_SIGNATURE = "revocation.bad_signature"
UNUSABLE = "revocation.unusable"

define(REVOKED, "A presented certificate is revoked by its CA", "error", "RFC 5280",
       f"{RFC5280_63}; RFC 5280 5.3.1 (reasonCode); RFC 6960 2.2 (certStatus revoked)",
       "Replace the certificate now: request a new one (new key if the reason is keyCompromise) and install it; "
       "a revoked certificate must not stay in service.", _never_on_a_chain(REVOKED))
define(UNREACHABLE, "A revocation source (CRL distribution point or OCSP responder) could not be fetched", "warning",
       "RFC 5280", "RFC 5280 4.2.1.13 (cRLDistributionPoints), 4.2.2.1 (authorityInfoAccess id-ad-ocsp); RFC 6960 A.1",
       "Check that the scanner can reach the URL (proxy, firewall, DNS) and that the CA publishes there; where it "
       "cannot, give the CA's CRL with --crl FILE.", _never_on_a_chain(UNREACHABLE))
define(STALE, "A CRL or OCSP response is out of date (nextUpdate has passed)", "warning", "RFC 5280",
       "RFC 5280 5.1.2.5 and 6.3.3 (a)(2) (nextUpdate); RFC 6960 4.2.2.1 and 3.2 (7) (thisUpdate/nextUpdate)",
       "Ask the CA to publish a current CRL / fix its OCSP responder; a --crl file must be refreshed before its "
       "nextUpdate.", _never_on_a_chain(STALE))
define(BAD_SIGNATURE, "A CRL or OCSP response is not signed by the issuing CA or an authorised responder", "error",
       "RFC 5280", "RFC 5280 6.3.3 (f)-(g) (CRL signature under the issuer's key, cRLSign); RFC 6960 3.2 and "
       "4.2.2.2 (responder is the CA or a delegate it issued with id-kp-OCSPSigning)",
       "Report it to the CA: the published CRL / OCSP response does not verify under the issuing CA's key (wrong "
       "signing key, corruption, or a forged answer on the way). Until fixed, revocation cannot be checked.",
       _never_on_a_chain(BAD_SIGNATURE))
define(UNUSABLE, "A revocation source answered, but not with usable status for this certificate", "warning",
       "RFC 5280", "RFC 5280 6.3.3 (b) (CRL scope: issuer, distribution point, onlyContains*), 5.2 (critical "
       "extensions); RFC 6960 2.3 (responseStatus), 2.2 (unknown), 4.1.1 (CertID)",
       "Check the CA's CRL distribution point and OCSP responder configuration for this issuing CA (the detail says "
       "what did not match).", _never_on_a_chain(UNUSABLE))
REVOCATION_CHECKS = (REVOKED, UNREACHABLE, STALE, BAD_SIGNATURE, UNUSABLE)
CHECKS = _CATALOGUE.freeze()
