"""Predicted browser errors for generated certificate cases, and which error wins when several apply.

Each case is built with the lab PKI at test time; the expected codes are our reading of Chromium's
``MapCertStatusToNetError`` and mozilla::pkix / PSM (see ``scanner/evaluate/browsers.py``) and of
the differences the real-browser runs recorded in browser-oracle.md. The oracle suite checks the
same kind of cases against the real browsers.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from scanner.evaluate import evaluate
from scanner.lab import der
from scanner.lab.pki import LabPKI, Issued, issue, resign

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0)
HOST = "gw.dcc.test"


class Lab:
    """One DCCKI-like hierarchy (EC) and one RSA hierarchy, shared by the cases of this module."""

    def __init__(self) -> None:
        self.pki = LabPKI.create()
        self.rsa = LabPKI.create(org="RSA Lab", key="rsa-2048")
        self.other = LabPKI.create(org="Other Lab")

    def chain(self, leaf: Issued, *extra: Issued) -> list[bytes]:
        return [leaf.der, *(e.der for e in (extra or (self.pki.issuing,)))]


@pytest.fixture(scope="module")
def lab() -> Lab:
    return Lab()


def duplicate_san(fields: list[bytes]) -> list[bytes]:
    """Repeat the last extension inside the TBS extensions block (tag [3])."""
    _, body, _ = der.read_tlv(fields[-1])
    _, seq, _ = der.read_tlv(body)
    exts = [whole for _, _, whole in der.children(seq)]
    fields[-1] = der.tlv(0xA3, der.sequence(*exts, exts[-1]))
    return fields


def make_v1(fields: list[bytes]) -> list[bytes]:
    """Drop the version and extensions: a v1 certificate."""
    return [f for f in fields if f[0] not in (0xA0, 0xA3)]


def _probable_prime(bits: int, rng: random.Random) -> int:
    while True:
        n = rng.getrandbits(bits) | (1 << (bits - 1)) | 1
        if all(pow(a, n - 1, n) == 1 for a in (2, 3, 5, 7, 11, 13, 17, 19, 23)):
            return n


def weak_rsa_key() -> rsa.RSAPrivateKey:
    """A 512-bit RSA key (cryptography will not generate one; browsers must still judge one)."""
    rng = random.Random(512)
    e = 65537
    while True:
        p, q = _probable_prime(256, rng), _probable_prime(256, rng)
        phi = (p - 1) * (q - 1)
        if p != q and phi % e:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


Case = Callable[[Lab], tuple[list[bytes], str, list[bytes] | None]]


def _local(lab: Lab, chain: list[bytes], host: str = HOST) -> tuple[list[bytes], str, list[bytes] | None]:
    return chain, host, [lab.pki.root.der]


def leaf(lab: Lab, **kw: object) -> Issued:
    kw.setdefault("dns", [HOST])
    return lab.pki.leaf(HOST, **kw)  # type: ignore[arg-type]


def _intermediate(lab: Lab, **kw: object) -> Issued:
    return issue(subject="Odd Issuing CA", issuer=lab.pki.root, ca=True, **kw)  # type: ignore[arg-type]


CASES: dict[str, tuple[Case, str | None, str | None]] = {
    "good": (lambda lab: _local(lab, lab.chain(leaf(lab))), None, None),
    "mismatch": (lambda lab: _local(lab, lab.chain(leaf(lab)), "other.dcc.test"),
                 "ERR_CERT_COMMON_NAME_INVALID", "SSL_ERROR_BAD_CERT_DOMAIN"),
    "cn-only": (lambda lab: _local(lab, lab.chain(lab.pki.leaf(HOST))),
                "ERR_CERT_COMMON_NAME_INVALID", "SSL_ERROR_BAD_CERT_DOMAIN"),
    "expired": (lambda lab: _local(lab, lab.chain(leaf(lab, not_before=NOW - dt.timedelta(days=10), days=5))),
                "ERR_CERT_DATE_INVALID", "SEC_ERROR_EXPIRED_CERTIFICATE"),
    "expired+mismatch": (lambda lab: _local(lab, lab.chain(leaf(lab, not_before=NOW - dt.timedelta(days=10), days=5)),
                                            "other.dcc.test"),
                         "ERR_CERT_COMMON_NAME_INVALID", "SSL_ERROR_BAD_CERT_DOMAIN"),
    "not-yet-valid": (lambda lab: _local(lab, lab.chain(leaf(lab, not_before=NOW + dt.timedelta(days=2)))),
                      "ERR_CERT_DATE_INVALID", "MOZILLA_PKIX_ERROR_NOT_YET_VALID_CERTIFICATE"),
    "incomplete": (lambda lab: _local(lab, [leaf(lab).der]), "ERR_CERT_AUTHORITY_INVALID", "SEC_ERROR_UNKNOWN_ISSUER"),
    "untrusted-root": (lambda lab: (lab.chain(leaf(lab)), HOST, [lab.other.root.der]),
                       "ERR_CERT_AUTHORITY_INVALID", "SEC_ERROR_UNKNOWN_ISSUER"),
    "untrusted+mismatch": (lambda lab: (lab.chain(leaf(lab)), "x.dcc.test", [lab.other.root.der]),
                           "ERR_CERT_AUTHORITY_INVALID", "SEC_ERROR_UNKNOWN_ISSUER"),
    "self-signed": (lambda lab: _local(lab, [issue(subject=HOST, dns=[HOST]).der]),
                    "ERR_CERT_AUTHORITY_INVALID", "MOZILLA_PKIX_ERROR_SELF_SIGNED_CERT"),
    "eku-client-only": (lambda lab: _local(lab, lab.chain(leaf(lab, eku=[ExtendedKeyUsageOID.CLIENT_AUTH]))),
                        "ERR_CERT_INVALID", "SEC_ERROR_INADEQUATE_CERT_TYPE"),
    "eku-any-only": (lambda lab: _local(lab, lab.chain(leaf(lab, eku=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]))),
                     None, "SEC_ERROR_INADEQUATE_CERT_TYPE"),
    "leaf-is-ca": (lambda lab: _local(lab, lab.chain(leaf(lab, ca=True, key_usage=["digital_signature", "key_cert_sign"],
                                                          eku=[ExtendedKeyUsageOID.SERVER_AUTH]))),
                   None, "MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY"),
    "rsa-ku-encipherment-only": (lambda lab: ([lab.rsa.leaf(HOST, dns=[HOST], key="rsa-2048", key_usage=["key_encipherment"]).der,
                                               lab.rsa.issuing.der], HOST, [lab.rsa.root.der]),
                                 "ERR_SSL_KEY_USAGE_INCOMPATIBLE", None),
    "ku-crl-sign-only": (lambda lab: _local(lab, lab.chain(leaf(lab, key_usage=["crl_sign"]))),
                         "ERR_SSL_KEY_USAGE_INCOMPATIBLE", "SEC_ERROR_INADEQUATE_KEY_USAGE"),
    "sha1-leaf": (lambda lab: ([lab.rsa.leaf(HOST, dns=[HOST], hash_name="sha1").der, lab.rsa.issuing.der], HOST,
                               [lab.rsa.root.der]), "ERR_CERT_INVALID", "SEC_ERROR_CERT_SIGNATURE_ALGORITHM_DISABLED"),
    "sha1-leaf-expired": (lambda lab: ([lab.rsa.leaf(HOST, dns=[HOST], hash_name="sha1", not_before=NOW - dt.timedelta(days=9),
                                                     days=2).der, lab.rsa.issuing.der], HOST, [lab.rsa.root.der]),
                          # real Chromium 156 says ERR_CERT_INVALID (oracle case prio-sha1-date)
                          "ERR_CERT_INVALID", "SEC_ERROR_CERT_SIGNATURE_ALGORITHM_DISABLED"),
    "unknown-critical": (lambda lab: _local(lab, lab.chain(leaf(lab, extra=[(x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"), True)]))),
                         "ERR_CERT_INVALID", "SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION"),
    "duplicate-extension": (lambda lab: _local(lab, lab.chain(resign(leaf(lab), lab.pki.issuing.key, edit_tbs=duplicate_san))),
                            "ERR_CERT_INVALID", "SEC_ERROR_EXTENSION_VALUE_INVALID"),
    "algorithm-mismatch": (lambda lab: _local(lab, lab.chain(resign(leaf(lab), lab.pki.issuing.key, outer_hash_name="sha384"))),
                           "ERR_CERT_INVALID", "SEC_ERROR_BAD_SIGNATURE"),
    "intermediate-not-ca": (lambda lab: _not_ca(lab), "ERR_CERT_INVALID", "SEC_ERROR_CA_CERT_INVALID"),
    "intermediate-v1": (lambda lab: _v1(lab), "ERR_CERT_INVALID", "MOZILLA_PKIX_ERROR_V1_CERT_USED_AS_CA"),
    "intermediate-expired": (lambda lab: _expired_ca(lab, HOST), "ERR_CERT_DATE_INVALID", "SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE"),
    "intermediate-expired+mismatch": (lambda lab: _expired_ca(lab, "x.dcc.test"),
                                      "ERR_CERT_COMMON_NAME_INVALID", "SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE"),
    "ca-without-keycertsign": (lambda lab: _ca_leaf(lab, _intermediate(lab, key_usage=["digital_signature"])),
                               "ERR_CERT_INVALID", "SEC_ERROR_INADEQUATE_KEY_USAGE"),
    "path-length": (lambda lab: _path_length(lab), "ERR_CERT_INVALID", "SEC_ERROR_PATH_LEN_CONSTRAINT_INVALID"),
    "name-constraints": (lambda lab: _ca_leaf(lab, _intermediate(lab, name_constraints=x509.NameConstraints(
        permitted_subtrees=[x509.DNSName("allowed.test")], excluded_subtrees=None))),
                         "ERR_CERT_INVALID", "SEC_ERROR_CERT_NOT_IN_NAME_SPACE"),
    "wildcard-public-suffix": (lambda lab: _local(lab, lab.chain(leaf(lab, dns=["*.co.uk"])), "foo.co.uk"),
                               "ERR_CERT_COMMON_NAME_INVALID", None),
    "absolute-san": (lambda lab: _local(lab, lab.chain(leaf(lab, dns=[HOST + "."]))), None, "SSL_ERROR_BAD_CERT_DOMAIN"),
    "bad-signature": (lambda lab: _local(lab, [issue(subject=HOST, dns=[HOST], issuer=lab.other.issuing).der,
                                               _renamed_issuing(lab).der]),
                      "ERR_CERT_AUTHORITY_INVALID", "SEC_ERROR_BAD_SIGNATURE"),
    "unsupported-curve": (lambda lab: _local(lab, lab.chain(leaf(lab, key=ec.generate_private_key(ec.SECP256K1())))),
                          "ERR_SSL_VERSION_OR_CIPHER_MISMATCH", "SSL_ERROR_NO_CYPHER_OVERLAP"),
    "issuer-eku-before-leaf-ku": (lambda lab: _leaf_and_issuer_problems(lab),
                                  "ERR_CERT_INVALID", "SEC_ERROR_INADEQUATE_CERT_TYPE"),
    "weak-rsa-512": (lambda lab: _local(lab, lab.chain(leaf(lab, key=weak_rsa_key()))),
                     "ERR_CERT_WEAK_KEY", "MOZILLA_PKIX_ERROR_INADEQUATE_KEY_SIZE"),
    # corrected by the real-browser oracle (tests/browsers): see scanner/evaluate/browsers.py
    "empty-eku": (lambda lab: _local(lab, lab.chain(leaf(lab, eku=[], extra=[(x509.ExtendedKeyUsage([]), False)]))),
                  "ERR_CERT_INVALID", "SEC_ERROR_INADEQUATE_CERT_TYPE"),
    "eku-ocsp-signing": (lambda lab: _local(lab, lab.chain(leaf(lab, eku=[ExtendedKeyUsageOID.SERVER_AUTH,
                                                                      ExtendedKeyUsageOID.OCSP_SIGNING]))),
                         None, "SEC_ERROR_INADEQUATE_CERT_TYPE"),
    "empty-san": (lambda lab: _local(lab, lab.chain(lab.pki.leaf(HOST, dns=[], san=True))),
                  "ERR_CERT_INVALID", "SSL_ERROR_BAD_CERT_DOMAIN"),
    "incomplete-with-aia": (lambda lab: _local(lab, [leaf(lab, extra=[(_aia("http://ca.dcc.test/issuing.crt"), False)]).der]),
                            None, "SEC_ERROR_UNKNOWN_ISSUER"),
    "incomplete-with-https-aia": (lambda lab: _local(lab, [leaf(lab, extra=[(_aia("https://ca.dcc.test/i.crt"), False)]).der]),
                                  "ERR_CERT_AUTHORITY_INVALID", "SEC_ERROR_UNKNOWN_ISSUER"),
    "p521-leaf": (lambda lab: _local(lab, lab.chain(leaf(lab, key="ec-p521"))), "ERR_SSL_VERSION_OR_CIPHER_MISMATCH", None),
    "secp256k1-intermediate": (lambda lab: _ca_leaf(lab, _intermediate(lab, key=ec.generate_private_key(ec.SECP256K1()))),
                               "ERR_CERT_INVALID", "SEC_ERROR_UNSUPPORTED_ELLIPTIC_CURVE"),
    "intermediate-unknown-critical": (lambda lab: _ca_leaf(lab, _intermediate(lab, extra=[(x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"), True)])), "ERR_CERT_INVALID", "SEC_ERROR_UNKNOWN_ISSUER"),
    "intermediate-duplicate-extension": (lambda lab: _ca_leaf(lab, resign(_intermediate(lab), lab.pki.root.key,
                                                                         edit_tbs=duplicate_san)),
                                         "ERR_CERT_AUTHORITY_INVALID", "SEC_ERROR_UNKNOWN_ISSUER"),
    "anchor-expired": (lambda lab: _expired_anchor(lab), "ERR_CERT_DATE_INVALID", "SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE"),
    "ip-in-san": (lambda lab: _local(lab, lab.chain(leaf(lab, dns=[], ips=["127.0.0.1"])), "127.0.0.1"), None, None),
    "ip-as-dns": (lambda lab: _local(lab, lab.chain(leaf(lab, dns=["127.0.0.1"])), "127.0.0.1"),
                  "ERR_CERT_COMMON_NAME_INVALID", "SSL_ERROR_BAD_CERT_DOMAIN"),
    "unordered-pool": (lambda lab: _local(lab, [leaf(lab).der, lab.other.issuing.der, lab.pki.root.der, lab.pki.issuing.der,
                                                lab.pki.issuing.der]), None, None),
}


def _ca_leaf(lab: Lab, ca: Issued) -> tuple[list[bytes], str, list[bytes]]:
    return [issue(subject=HOST, dns=[HOST], issuer=ca).der, ca.der], HOST, [lab.pki.root.der]


def _not_ca(lab: Lab) -> tuple[list[bytes], str, list[bytes]]:
    ca = issue(subject="Not A CA", issuer=lab.pki.root, ca=False, key="ec-p256", key_usage=["digital_signature"])
    return _ca_leaf(lab, Issued(ca.cert, ca.key, ca.chain))


def _v1(lab: Lab) -> tuple[list[bytes], str, list[bytes]]:
    ca = _intermediate(lab)
    v1 = resign(ca, lab.pki.root.key, edit_tbs=make_v1)
    v1 = Issued(v1.cert, ca.key, ca.chain)
    return [issue(subject=HOST, dns=[HOST], issuer=v1, ski_aki=False).der, v1.der], HOST, [lab.pki.root.der]


def _expired_ca(lab: Lab, host: str) -> tuple[list[bytes], str, list[bytes]]:
    ca = _intermediate(lab, not_before=NOW - dt.timedelta(days=30), days=10)
    return [issue(subject=HOST, dns=[HOST], issuer=ca, not_before=NOW - dt.timedelta(days=25)).der, ca.der], host, \
        [lab.pki.root.der]


def _path_length(lab: Lab) -> tuple[list[bytes], str, list[bytes]]:
    upper = _intermediate(lab, path_length=0)
    lower = issue(subject="Lower CA", issuer=upper, ca=True)
    return [issue(subject=HOST, dns=[HOST], issuer=lower).der, lower.der, upper.der], HOST, [lab.pki.root.der]


def _leaf_and_issuer_problems(lab: Lab) -> tuple[list[bytes], str, list[bytes]]:
    """mozilla::pkix defers the leaf's own keyUsage error until a path is found (pkixbuild.cpp
    BuildForward, deferredEndEntityError), so the issuer's EKU, met while building the path, wins."""
    ca = _intermediate(lab, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    return [issue(subject=HOST, dns=[HOST], issuer=ca, key_usage=["crl_sign"]).der, ca.der], HOST, [lab.pki.root.der]


def _aia(url: str) -> x509.AuthorityInformationAccess:
    """AIA caIssuers pointing at ``url`` (Chrome fetches http URLs only)."""
    return x509.AuthorityInformationAccess([x509.AccessDescription(
        x509.oid.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(url))])


def _expired_anchor(lab: Lab) -> tuple[list[bytes], str, list[bytes] | None]:
    """A locally installed root that has expired: Chrome (NSS anchors) and Firefox both enforce it."""
    root = issue(subject="Short Root", ca=True, not_before=NOW - dt.timedelta(days=30), days=10)
    ca = issue(subject="CA", issuer=root, ca=True)
    return [issue(subject=HOST, dns=[HOST], issuer=ca).der, ca.der], HOST, [root.der]


def _renamed_issuing(lab: Lab) -> Issued:
    """A CA with the other lab's issuing name but our key: names chain, signatures do not."""
    return issue(subject=lab.other.issuing.cert.subject, issuer=lab.pki.root, ca=True)


@pytest.mark.parametrize("name", list(CASES))
def test_predicted_errors(lab: Lab, name: str) -> None:
    build, chrome, firefox = CASES[name]
    chain, host, anchors = build(lab)
    result = evaluate(chain, host, anchors=anchors, at=NOW)
    got = (result["browsers"]["chrome"]["error"], result["browsers"]["firefox"]["error"])
    assert got == (chrome, firefox), result["findings"]
    for verdict, expected in ((result["browsers"]["chrome"], chrome), (result["browsers"]["firefox"], firefox)):
        assert verdict["accepted"] is (expected is None)
        if expected is not None:
            assert verdict["reasons"][0]["code"] == expected  # the shown error's reason comes first
            assert all(r["check"] for r in verdict["reasons"])


def test_reasons_list_every_problem(lab: Lab) -> None:
    chain = lab.chain(leaf(lab, not_before=NOW - dt.timedelta(days=10), days=5, eku=[ExtendedKeyUsageOID.CLIENT_AUTH]))
    result = evaluate(chain, "other.dcc.test", anchors=[lab.pki.root.der], at=NOW)
    codes = {r["code"] for r in result["browsers"]["chrome"]["reasons"]}
    assert {"ERR_CERT_COMMON_NAME_INVALID", "ERR_CERT_DATE_INVALID", "ERR_CERT_INVALID"} <= codes
    assert result["browsers"]["chrome"]["error"] == "ERR_CERT_COMMON_NAME_INVALID"  # INVALID only without a path flag
    assert result["browsers"]["firefox"]["error"] == "SEC_ERROR_INADEQUATE_CERT_TYPE"


def test_public_store_rules(lab: Lab) -> None:
    """No anchors: the public store. A lab chain is untrusted there; CT is not applicable then."""
    result = evaluate(lab.chain(leaf(lab)), HOST, anchors=None, at=NOW)
    assert result["browsers"]["chrome"]["error"] == "ERR_CERT_AUTHORITY_INVALID"
    assert "chain.untrusted_root" in {f["id"] for f in result["findings"]}


def test_empty_eku_keeps_the_other_extensions(lab: Lab) -> None:
    """cryptography refuses every extension when the EKU list is empty; the browsers still read the
    SAN, so the only problem reported is the EKU itself (no hostname mismatch)."""
    chain = lab.chain(leaf(lab, eku=[], extra=[(x509.ExtendedKeyUsage([]), False)]))
    result = evaluate(chain, HOST, anchors=[lab.pki.root.der], at=NOW)
    ids = {f["id"] for f in result["findings"]}
    assert "rfc5280.eku.empty" in ids
    assert not ids & {"name.mismatch", "rfc5280.extension.malformed", "dccki.san.missing"}


def test_aia_recovery_is_listed_for_chrome(lab: Lab) -> None:
    """Chrome accepts a chain it completes over AIA, but its verdict still names the gap."""
    chain = [leaf(lab, extra=[(_aia("http://ca.dcc.test/issuing.crt"), False)]).der]
    chrome = evaluate(chain, HOST, anchors=[lab.pki.root.der], at=NOW)["browsers"]["chrome"]
    assert chrome["accepted"] and [r["check"] for r in chrome["reasons"]] == ["chain.incomplete.aia"]
