"""Chain checks: path building, trust, issuer rules (browser-rules.md P1-P16).

The path builder (``scanner/evaluate/path.py``) finds the problems; this module gives each one
its metadata. Which error each browser shows for it is the table in ``scanner/evaluate/browsers.py``.
"""

from __future__ import annotations

from scanner.checks.model import Catalogue, Context, Outcome

_CATALOGUE = Catalogue()
define = _CATALOGUE.define

BSSL_VERIFY = "BoringSSL pki/verify_certificate_chain.cc"
PKIX_CHECK = "mozilla::pkix lib/mozpkix/lib/pkixcheck.cpp"
PKIX_BUILD = "mozilla::pkix lib/mozpkix/lib/pkixbuild.cpp BuildForward"
CHROME_BUILTIN = "Chromium net/cert/cert_verify_proc_builtin.cc MapPathBuilderErrorsToCertStatus"


_CT_INAPPLICABLE = Outcome("chain.public_store.ct_unchecked", "not-applicable", 0)  # shared: immutable


def _ct_unchecked(ctx: Context) -> list[Outcome]:
    if not ctx.public_store or not ctx.path.trusted:
        return [_CT_INAPPLICABLE]
    return [Outcome("chain.public_store.ct_unchecked", "fail", 0,
                    "the chain ends at a public root: Chrome and Firefox also require Certificate Transparency "
                    "(SCTs), which an offline evaluation cannot check")]


define("chain.incomplete", "Incomplete chain: the leaf's issuing CA certificate is not sent", "error",
       "Chrome and Firefox", f"{PKIX_BUILD} (ERROR_UNKNOWN_ISSUER); {CHROME_BUILTIN} (kNoIssuersFound); RFC 5246 7.4.2",
       "Configure the server to send the issuing CA certificate(s) after the leaf. Browsers do not reliably "
       "fetch missing intermediates (Firefox never does for a private PKI).")
define("chain.incomplete.aia", "Incomplete chain: the issuing CA certificate is not sent (AIA caIssuers names it)",
       "error", "Chrome and Firefox", f"{PKIX_BUILD} (ERROR_UNKNOWN_ISSUER; gecko never fetches AIA); Chromium "
       "net/cert/cert_verify_proc_builtin.cc with cert_issuer_source_aia.cc (Chrome fetches the http caIssuers URL)",
       "Configure the server to send the issuing CA certificate(s) after the leaf: Chrome recovers by fetching "
       "the AIA URL, Firefox does not.")
define("chain.incomplete.aia_unusable", "Incomplete chain: the AIA caIssuers URL serves nothing that completes it",
       "error", "Chrome and Firefox", f"{PKIX_BUILD} (ERROR_UNKNOWN_ISSUER); Chromium cert_issuer_source_aia.cc "
       "(the fetched certificate is one more candidate issuer; it must complete a valid path)",
       "Configure the server to send the issuing CA certificate(s), and serve the right CA certificate at the "
       "AIA URL.")
define("chain.incomplete.aia_unfetched", "Incomplete chain: the scanner could not fetch the AIA caIssuers URL",
       "error", "Chrome and Firefox", f"{PKIX_BUILD} (ERROR_UNKNOWN_ISSUER); Chromium cert_issuer_source_aia.cc "
       "(Chrome fetches http caIssuers URLs itself; whether it can reach this one is not known to the scanner)",
       "Configure the server to send the issuing CA certificate(s) after the leaf; do not rely on AIA fetching.")
define("chain.untrusted_root", "Chain ends at a root that is not trusted", "error", "Chrome and Firefox",
       f"{PKIX_BUILD} (ERROR_UNKNOWN_ISSUER); {CHROME_BUILTIN} (kNoIssuersFound)",
       "Use a certificate issued under the DCCKI hierarchy, and install the DCCKI Root CA as a trust anchor "
       "(or pass it with --trust-anchor).")
define("chain.self_signed_leaf", "Self-signed leaf certificate that is not trusted", "error", "Chrome and Firefox",
       "gecko SSLServerCertVerification.cpp (MOZILLA_PKIX_ERROR_SELF_SIGNED_CERT); " + CHROME_BUILTIN,
       "Replace the self-signed certificate with one issued by the DCCKI issuing CA.")
define("chain.bad_signature", "A certificate's signature does not verify under its issuer", "error",
       "Chrome and Firefox", "mozilla::pkix pkixverify.cpp VerifySignedData (SEC_ERROR_BAD_SIGNATURE); "
       f"{CHROME_BUILTIN} (kVerifySignedDataFailed)",
       "The presented issuer is not the one that signed the certificate: send the right intermediate.")
define("chain.path_building_limit", "Path building stopped at its work limit", "warning", "dccscan",
       "Chromium cert_verify_proc_builtin.cc kPathBuilderIterationLimit (browsers cap path building too)",
       "Send only the leaf and its own issuing chain; remove unrelated certificates.")
define("chain.pool.unparseable", "A certificate sent after the leaf does not parse", "warning", "RFC 5280",
       "RFC 5246 7.4.2; Chromium x509_util CreateX509CertificateFromBuffers (unparseable intermediates are dropped)",
       "Remove the malformed certificate from the server's chain file.")
define("chain.issuer.expired", "An issuing CA certificate in the chain has expired", "error", "Chrome and Firefox",
       f"{PKIX_CHECK} CheckValidity (SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE); {BSSL_VERIFY} (kValidityFailedNotAfter)",
       "Install the current issuing CA certificate on the server.")
define("chain.issuer.not_yet_valid", "An issuing CA certificate in the chain is not yet valid", "error",
       "Chrome and Firefox", f"{PKIX_CHECK} CheckValidity; {BSSL_VERIFY} (kValidityFailedNotBefore)",
       "Check the CA certificate and the clocks of the issuing system.")
define("chain.anchor_expired", "The trust anchor has expired (both browsers reject a locally installed one)",
       "error", "Chrome and Firefox", f"{PKIX_CHECK} CheckValidity on the trust anchor (reported as "
       "SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE by pkixbuild.cpp RecordResult); Chromium net/cert/internal/"
       "trust_store_nss.cc (locally installed anchors: CertificateTrust WithEnforceAnchorExpiry); BoringSSL "
       "pki/verify_certificate_chain.cc (enforce_anchor_expiry)", "Install the renewed root certificate as a trust anchor.")
define("chain.ca.not_ca", "An issuing certificate is not a CA (basicConstraints cA missing)", "error",
       "Chrome and Firefox", f"{PKIX_CHECK} CheckBasicConstraints (SEC_ERROR_CA_CERT_INVALID); {BSSL_VERIFY} "
       "(kMissingBasicConstraints)", "Send the real issuing CA certificate; a leaf cannot issue certificates.")
define("chain.ca.v1", "A version 1 certificate is used as an intermediate CA", "error", "Chrome and Firefox",
       f"{PKIX_CHECK} CheckBasicConstraints (MOZILLA_PKIX_ERROR_V1_CERT_USED_AS_CA); {BSSL_VERIFY}",
       "Reissue the intermediate as a v3 certificate with basicConstraints cA=TRUE.")
define("chain.ca.key_cert_sign_missing", "An issuing CA's keyUsage lacks keyCertSign", "error", "Chrome and Firefox",
       f"{PKIX_CHECK} CheckKeyUsage (SEC_ERROR_INADEQUATE_KEY_USAGE); {BSSL_VERIFY} (RFC 5280 6.1.4 n)",
       "Reissue the CA certificate with keyUsage keyCertSign.")
define("chain.ca.path_length", "A CA's pathLenConstraint is exceeded", "error", "Chrome and Firefox",
       f"{PKIX_CHECK} CheckBasicConstraints (SEC_ERROR_PATH_LEN_CONSTRAINT_INVALID); {BSSL_VERIFY}; RFC 5280 4.2.1.9",
       "Issue from a CA whose pathLenConstraint allows the intermediates in the chain.")
define("chain.name_constraints.violation", "A name is outside an issuing CA's nameConstraints", "error",
       "Chrome and Firefox", "mozilla::pkix pkixnames.cpp CheckNameConstraints (SEC_ERROR_CERT_NOT_IN_NAME_SPACE); "
       "BoringSSL pki/name_constraints.cc; RFC 5280 4.2.1.10",
       "Request the certificate only for names the issuing CA is constrained to.")
define("chain.signature.sha1", "SHA-1 signature on a certificate in the chain", "error", "Chrome and Firefox",
       "Chromium net/cert/cert_verify_proc.cc InspectSignatureAlgorithmsInChain; BoringSSL DigestPolicy::kStrong; "
       "gecko NSSCertDBTrustDomain::CheckSignatureDigestAlgorithm (SHA-1 is ERROR_CERT_SIGNATURE_ALGORITHM_DISABLED "
       "whatever the root), called from mozilla::pkix pkixcheck.cpp CheckSignatureAlgorithm", "Reissue the certificate with SHA-256 or stronger.")
define("chain.signature.md5", "MD5 (or MD2) signature on a certificate in the chain", "error", "Chrome and Firefox",
       "Chromium net/cert/cert_verify_proc.cc InspectSignatureAlgorithmsInChain", "Reissue the certificate with SHA-256 or stronger.")
define("chain.key.weak", "RSA or DSA key shorter than 1024 bits", "error", "Chrome and Firefox",
       "Chromium cert_verify_proc_builtin.cc SimplePathBuilderDelegate(1024); gecko CertVerifier.cpp MIN_RSA_BITS_WEAK "
       "(MOZILLA_PKIX_ERROR_INADEQUATE_KEY_SIZE)", "Use RSA 2048 or stronger, or ECDSA P-256/P-384.")
define("chain.key.unsupported_curve", "EC key on a curve browsers do not support", "error", "Chrome and Firefox",
       "BoringSSL pki/verify_certificate_chain.cc PathVerifier::ParseAndCheckPublicKey (kFailedParsingSpki, "
       "ERR_CERT_INVALID in Chrome); mozilla::pkix pkixcheck.cpp CheckSubjectPublicKeyInfoContents "
       "(ERROR_UNSUPPORTED_ELLIPTIC_CURVE)",
       "Use ECDSA on P-256 or P-384.")
define("chain.key.unsupported_algorithm", "Key algorithm browsers do not accept (DSA, Ed25519, ...)", "error",
       "Chrome and Firefox", "BoringSSL pki/simple_path_builder_delegate.cc IsPublicKeyAcceptable; "
       "mozilla::pkix pkixnss.cpp (SEC_ERROR_UNSUPPORTED_KEYALG)", "Use RSA 2048+ or ECDSA P-256/P-384.")
define("chain.anchor.unknown_critical", "The trust anchor has an unknown critical extension (both browsers reject)",
       "error", "Chrome and Firefox", "mozilla::pkix pkixcert.cpp BackCert::Init (trust anchors are parsed too); "
       "BoringSSL pki/verify_certificate_chain.cc ProcessRootCertificate with enforce_anchor_constraints "
       "(VerifyNoUnconsumedCriticalExtensions on the anchor; Chromium trust_store_nss.cc sets it for local anchors)",
       "Install a root certificate without unknown critical extensions.")
define("chain.anchor_not_yet_valid", "The trust anchor is not yet valid (both browsers reject a locally installed one)",
       "error", "Chrome and Firefox", f"{PKIX_CHECK} CheckValidity on the trust anchor "
       "(MOZILLA_PKIX_ERROR_NOT_YET_VALID_ISSUER_CERTIFICATE via pkixbuild.cpp RecordResult); BoringSSL "
       "pki/verify_certificate_chain.cc (enforce_anchor_expiry covers notBefore too)",
       "Check the root certificate's notBefore and the clock of the machine that made it.")
define("firefox.anchor.no_basic_constraints", "The trust anchor is a v3 certificate without basicConstraints "
       "(Firefox rejects)", "error", "Firefox", f"{PKIX_CHECK} CheckBasicConstraints (only a v1 trust anchor may lack "
       "basicConstraints: SEC_ERROR_CA_CERT_INVALID); BoringSSL requires basicConstraints on an anchor only when it "
       "is present (Chrome accepts)", "Install a root certificate with basicConstraints cA=TRUE.")
define("chrome.anchor.unparseable", "The trust anchor does not parse for Chrome's verifier (Chrome has no anchor)",
       "error", "Chrome", "BoringSSL pki/parsed_certificate.cc ParsedCertificate::Create (authorityKeyIdentifier and "
       "nameConstraints parsed eagerly; RFC 5280 4.2.1.1 authorityCertIssuer needs authorityCertSerialNumber, "
       "4.2.1.10 iPAddress constraints are address and mask)",
       "Reissue the root certificate with well-formed extensions and install it again.")
define("chrome.anchor.name_constraints_pattern", "The trust anchor's nameConstraints holds a DNS pattern ('*'), "
       "which no name is inside (Chrome rejects)", "error", "Chrome", "BoringSSL pki/name_constraints.cc (a dNSName "
       "subtree is compared as a domain suffix, never as a pattern; the violation maps to ERR_CERT_INVALID)",
       "Reissue the root with nameConstraints naming domains (example.com), not patterns (*.example.com).")
define("firefox.name_constraints.malformed", "A nameConstraints entry is malformed (Firefox rejects when it "
       "applies)", "error", "Firefox", "mozilla::pkix pkixnames.cpp CheckNameConstraints (a constraint of the "
       "presented name's type that is not a valid DNS ID or address+mask: SEC_ERROR_BAD_DER)",
       "Reissue the CA certificate with well-formed nameConstraints (DNS subtrees without '*').")
define("chain.path_depth_limit", "Path building stopped at dccscan's depth bound", "warning", "dccscan",
       "dccscan's own bound (scanner/evaluate/path.py MAX_DEPTH) against hostile chains; Chromium's path builder has "
       "no depth limit of its own, mozilla::pkix stops at 6 intermediates",
       "Serve a chain of at most a few intermediates.")
define("firefox.path.too_long", "More intermediate CAs than Firefox allows (6)", "error", "Firefox",
       f"{PKIX_BUILD} (MAX_SUBCA_COUNT = 6: a longer path is SEC_ERROR_UNKNOWN_ISSUER)",
       "Shorten the hierarchy: at most 6 intermediate CAs between the server certificate and the root.")
define("firefox.path.alternatives_differ", "Every candidate path fails, each for a different reason "
       "(Firefox reports an unknown issuer)", "error", "Firefox",
       "mozilla::pkix pkixbuild.cpp PathBuildingStep::RecordResult (different errors from alternative issuers "
       "become ERROR_UNKNOWN_ISSUER)", "Serve only the valid issuing CA certificate; fix or remove the others.")
define("chrome.policy.explicit_required", "An explicit certificate policy is required but none is valid (Chrome "
       "rejects)", "error", "Chrome", "BoringSSL pki/verify_certificate_chain.cc policy processing (RFC 5280 6.1.3 f, "
       "6.1.5; kNoValidPolicy, mapped to ERR_CERT_INVALID); Firefox processes policies only for EV",
       "Assert the required certificatePolicies in every certificate below the CA that sets requireExplicitPolicy, "
       "or drop the constraint.")
define("chrome.extension.unconsumed_critical", "Critical AKI, SKI or AIA extension (Chrome's verifier rejects it)",
       "error", "Chrome", "BoringSSL pki/verify_certificate_chain.cc VerifyNoUnconsumedCriticalExtensions; "
       "RFC 5280 4.2.1.1, 4.2.1.2, 4.2.2.1 (MUST be non-critical)", "Reissue with these extensions non-critical.")
define("firefox.issuer.empty_name", "A certificate names an empty issuer (Firefox rejects)", "error", "Firefox",
       "mozilla::pkix pkixbuild.cpp (MOZILLA_PKIX_ERROR_EMPTY_ISSUER_NAME); RFC 5280 4.1.2.6",
       "Reissue the CA certificate with a non-empty distinguished name.")
define("chain.public_store.ct_unchecked", "Certificate Transparency not checked (public root)", "notice", "Chrome",
       "Chromium net/cert/ct_policy_enforcer; gecko CertVerifier::VerifyCertificateTransparencyPolicy",
       "Check that the certificate carries SCTs; DCCKI certificates under a locally installed root need none.",
       _ct_unchecked)
define("chrome.validity.too_long", "Validity longer than Chrome allows for public roots", "error", "Chrome",
       "Chromium net/cert/cert_verify_proc.cc HasTooLongValidity (398 days from 2020-09-01)",
       "Reissue with a validity of at most 398 days.")
define("rfc5280.eku.server_auth_missing", "extendedKeyUsage present without serverAuth", "error", "Chrome and Firefox",
       f"{PKIX_CHECK} CheckExtendedKeyUsage (SEC_ERROR_INADEQUATE_CERT_TYPE); {BSSL_VERIFY} VerifyExtendedKeyUsage",
       "Include id-kp-serverAuth in the extendedKeyUsage of the leaf and of every CA that has an EKU.")
define("rfc5280.eku.empty", "extendedKeyUsage extension with no purposes", "error", "Chrome and Firefox",
       f"RFC 5280 4.2.1.12 (SIZE 1..MAX); BoringSSL pki/extended_key_usage.cc ParseEKUExtension (the certificate does "
       f"not parse: ERR_CERT_INVALID); {PKIX_CHECK} CheckExtendedKeyUsage (EmptyAllowed::No: SEC_ERROR_INADEQUATE_CERT_TYPE)",
       "Reissue the certificate with extendedKeyUsage serverAuth.")
define("firefox.eku.ocsp_signing_leaf", "The leaf's extendedKeyUsage includes OCSPSigning (Firefox rejects)", "error",
       "Firefox", f"{PKIX_CHECK} CheckExtendedKeyUsage (an end-entity with id-kp-OCSPSigning: ERROR_INADEQUATE_CERT_TYPE)",
       "Reissue the server certificate without id-kp-OCSPSigning.")
define("firefox.eku.any_only", "extendedKeyUsage has anyExtendedKeyUsage but not serverAuth (Firefox rejects)",
       "error", "Firefox", f"{PKIX_CHECK} MatchEKU (anyExtendedKeyUsage is not accepted)",
       "Include id-kp-serverAuth explicitly.")
define("firefox.leaf.is_ca", "The leaf is a CA certificate (Firefox rejects it as a server certificate)", "error",
       "Firefox", f"{PKIX_CHECK} CheckBasicConstraints (MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY)",
       "Reissue the server certificate with basicConstraints cA=FALSE (or without basicConstraints).")
define("firefox.key_usage.leaf_unusable", "Leaf keyUsage allows no TLS server use (Firefox rejects)", "error",
       "Firefox", f"{PKIX_CHECK} CheckKeyUsage; gecko CertVerifier.cpp BuildCertChainForOneKeyUsage",
       "Include digitalSignature in the leaf's keyUsage.")
define("chrome.tls.no_signature_scheme", "Leaf key Chrome's TLS client cannot use (P-521, other curves, non-RSA/EC)",
       "error", "Chrome", "Chromium net/socket/ssl_client_socket_impl.cc kVerifyPrefs (ECDSA P-256/P-384 and RSA only): "
       "the handshake fails before verification (ERR_SSL_VERSION_OR_CIPHER_MISMATCH)",
       "Use an RSA 2048+ or ECDSA P-256/P-384 key for the server certificate.")
define("firefox.tls.no_signature_scheme", "Leaf EC key on a curve Firefox's TLS client cannot use", "error", "Firefox",
       "NSS lib/ssl ssl3con.c default signature schemes (ECDSA P-256, P-384, P-521): the handshake fails before "
       "verification (SSL_ERROR_NO_CYPHER_OVERLAP)", "Use an RSA 2048+ or ECDSA P-256/P-384 key for the server certificate.")
define("chrome.key_usage.tls_incompatible", "Leaf keyUsage lacks digitalSignature (Chrome's TLS handshake fails)",
       "error", "Chrome", "BoringSSL ssl/handshake_client.cc (enforce RSA key usage); Chromium "
       "net/socket/ssl_client_socket_impl.cc (ERR_SSL_KEY_USAGE_INCOMPATIBLE)",
       "Include digitalSignature in the leaf's keyUsage.")

CHECKS = _CATALOGUE.freeze()
