"""The certificate cases the real browsers are asked about, built fresh at test time.

Each case is one hostname to browse, one chain to serve (leaf first, as a server would send it),
and the trust anchors dccscan's engine is given. Every case has its own hierarchy with names that
carry the case id: Firefox caches every intermediate it sees during a session and NSS wants one
nickname per subject, so sharing a CA between cases would let one case's chain rescue another's.
All anchors of all cases are installed in both browsers at once.

Rule ids refer to ``/work/shared/reference/browser-rules.md`` (H = hostname, P = path/profile).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from scanner.certinfo import der_to_pem
from scanner.lab import der
from scanner.lab.pki import CLIENT_AUTH, SERVER_AUTH, UTC, Issued, LabPKI, issue, name, new_key, resign

DOMAIN = "dcclab.example"
AIA_HOST = f"aia.{DOMAIN}"  # Chromium maps it to the server's HTTP port; port 80 in the URL
UNKNOWN_CRITICAL = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.7.1"), b"\x05\x00")


@dataclass(frozen=True)
class Case:
    """One certificate situation: what to serve, for which hostname, trusting what."""

    id: str
    rule: str
    description: str
    hostname: str
    chain: tuple[bytes, ...]  # DER, exactly as served, leaf first
    key_pem: bytes  # the leaf's private key (PKCS#8 PEM)
    anchors: tuple[bytes, ...]  # DER roots installed in the browsers for this case
    aia_der: bytes | None = None  # served over plain HTTP at aia_url(id), for AIA-fetching browsers

    @property
    def is_ip(self) -> bool:
        """IP-literal cases cannot be told apart by SNI, so each gets its own port."""
        try:
            ipaddress.ip_address(self.hostname)
        except ValueError:
            return False
        return True

    @property
    def chain_pem(self) -> bytes:
        return b"".join(der_to_pem(d).encode() for d in self.chain)

    def url(self, port: int) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"https://{host}:{port}/"


def aia_url(case_id: str) -> str:
    return f"http://{AIA_HOST}/{case_id}.der"


def _now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0)


def _host(case_id: str) -> str:
    return f"{case_id}.{DOMAIN}"


def _pki(case_id: str, key: str = "ec-p256") -> LabPKI:
    """A root and issuing CA named after the case, so no two cases share a CA."""
    return LabPKI.create(org=f"Oracle {case_id}", key=key)


def _ca(case_id: str, role: str, issuer: Issued | None = None, **kwargs: Any) -> Issued:
    """A CA certificate named after the case (root when ``issuer`` is None)."""
    kwargs.setdefault("not_before", _now() - dt.timedelta(days=10))
    kwargs.setdefault("days", 1000)
    return issue(subject=name(f"{role} CA", o=f"Oracle {case_id}"), issuer=issuer, ca=True, **kwargs)


def _case(case_id: str, rule: str, description: str, leaf: Issued, *, hostname: str | None = None,
          served: Sequence[Issued] | None = None, anchors: Sequence[Issued] | None = None,
          aia: Issued | None = None) -> Case:
    """Assemble a case; by default serve leaf + intermediates and trust the leaf's root."""
    served = list(served) if served is not None else [leaf, *[c for c in leaf.chain if c.cert.issuer != c.cert.subject]]
    if anchors is None:
        anchors = [leaf.chain[-1]] if leaf.chain else [leaf]
    return Case(id=case_id, rule=rule, description=description, hostname=hostname or _host(case_id),
                chain=tuple(c.der for c in served), key_pem=leaf.key_pem, anchors=tuple(a.der for a in anchors),
                aia_der=aia.der if aia else None)


def _simple(case_id: str, rule: str, description: str, *, hostname: str | None = None,
            cn: str | None = None, dns: Sequence[str] | None = None, key: str = "ec-p256",
            subject_empty: bool = False, **leaf_kwargs: Any) -> Case:
    """A leaf from a fresh two-level hierarchy; ``dns`` defaults to the case hostname."""
    host = hostname or _host(case_id)
    pki = _pki(case_id, key="rsa-2048" if key.startswith("rsa") else "ec-p256")
    subject = x509.Name([]) if subject_empty else name(cn, ou="DCCKI Infrastructure")
    leaf = issue(subject=subject, issuer=pki.issuing, dns=[host] if dns is None else dns, key=key, **leaf_kwargs)
    return _case(case_id, rule, description, leaf, hostname=host)


# --- TBS editing for certificates cryptography will not build ---------------------------------

def _edit_extensions(edit: Callable[[list[bytes]], list[bytes]]) -> Callable[[list[bytes]], list[bytes]]:
    """A ``resign(edit_tbs=...)`` function that rewrites the list of extension encodings."""

    def edit_tbs(fields: list[bytes]) -> list[bytes]:
        out = []
        for whole in fields:
            tag, body, _ = der.read_tlv(whole)
            if tag == 0xA3:
                _, seq, _ = der.read_tlv(body)
                exts = [w for _, _, w in der.children(seq)]
                whole = der.tlv(0xA3, der.sequence(*edit(exts)))
            out.append(whole)
        return out

    return edit_tbs


def _v1(fields: list[bytes]) -> list[bytes]:
    """Drop the version and extensions: an X.509 v1 certificate."""
    return [f for f in fields if f[0] not in (0xA0, 0xA3)]


def _negative_serial(fields: list[bytes]) -> list[bytes]:
    fields = list(fields)
    fields[1] = der.tlv(0x02, b"\xfe\x12\x34\x56\x78\x9a")
    return fields


def _resigned(issued: Issued, issuer: Issued, **kwargs) -> Issued:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return resign(issued, issuer.key, **kwargs)


# --- the cases, grouped by rule family ---------------------------------------------------------

def _name_cases() -> list[Case]:
    wild = f"wild.{DOMAIN}"
    return [
        _simple("san-exact", "H1", "SAN dNSName equals the hostname (conformant baseline)"),
        _simple("san-mismatch", "H1", "SAN names another host", dns=[f"other.{DOMAIN}"]),
        _simple("cn-only", "H1/H2", "hostname only in the subject CN, no SAN", cn=_host("cn-only"), dns=[]),
        _simple("cn-ignored-san-present", "H1/H2", "CN is the hostname, SAN names another host",
                cn=_host("cn-ignored-san-present"), dns=[f"elsewhere.{DOMAIN}"]),
        _simple("ip-ipaddress-san", "H4", "IPv4 host, SAN iPAddress 127.0.0.1", hostname="127.0.0.1",
                dns=[], ips=["127.0.0.1"]),
        _simple("ip-in-dnsname", "H4", "IPv4 host, the address only as a SAN dNSName", hostname="127.0.0.1",
                dns=["127.0.0.1"]),
        _simple("ip-cn-only", "H4", "IPv4 host, the address only in the CN", hostname="127.0.0.1",
                cn="127.0.0.1", dns=[]),
        _simple("ipv6-ipaddress-san", "H4", "IPv6 host ::1, SAN iPAddress ::1", hostname="::1", dns=[], ips=["::1"]),
        _simple("dns-host-ip-san", "H4", "DNS host, SAN has only iPAddress 127.0.0.1", dns=[], ips=["127.0.0.1"]),
        _simple("case-insensitive", "H5", "SAN in mixed case", dns=[_host("case-insensitive").upper()]),
        _simple("san-trailing-dot", "H6", "SAN dNSName ends with a dot", dns=[_host("san-trailing-dot") + "."]),
        _simple("wildcard-leftmost", "H7", "*.wild... matches one leftmost label", hostname=f"a.{wild}",
                dns=[f"*.{wild}"]),
        _simple("wildcard-apex", "H7", "*.wild2... does not match the apex", hostname=f"wild2.{DOMAIN}",
                dns=[f"*.wild2.{DOMAIN}"]),
        _simple("wildcard-two-labels", "H7", "*.wild3... does not match two labels",
                hostname=f"a.b.wild3.{DOMAIN}", dns=[f"*.wild3.{DOMAIN}"]),
        _simple("wildcard-partial-prefix", "H7", "partial wildcard f*.pw...", hostname=f"foo.pw.{DOMAIN}",
                dns=[f"f*.pw.{DOMAIN}"]),
        _simple("wildcard-partial-suffix", "H7", "partial wildcard *oo.ps...", hostname=f"foo.ps.{DOMAIN}",
                dns=[f"*oo.ps.{DOMAIN}"]),
        _simple("wildcard-not-leftmost", "H7", "wildcard in a middle label", hostname=f"a.b.nl.{DOMAIN}",
                dns=[f"a.*.nl.{DOMAIN}"]),
        _simple("wildcard-icann-suffix", "H8", "*.co.uk: ICANN public suffix", hostname="dccscan-oracle.co.uk",
                dns=["*.co.uk"]),
        _simple("wildcard-private-suffix", "H8", "*.appspot.com: private PSL suffix",
                hostname="dccscan-oracle.appspot.com", dns=["*.appspot.com"]),
        _simple("wildcard-unknown-tld", "H8", "*.test: a two-label wildcard over an unknown TLD",
                hostname="dccscan-oracle.test", dns=["*.test"]),
        _simple("wildcard-idn", "H10", "wildcard over an A-label parent", hostname=f"a.xn--bcher-kva.{DOMAIN}",
                dns=[f"*.xn--bcher-kva.{DOMAIN}"]),
        _simple("san-invalid-entry-skipped", "H11", "a malformed SAN dNSName next to the right one",
                dns=[f"bad..name.{DOMAIN}", _host("san-invalid-entry-skipped")]),
        _simple("hostname-trailing-dot", "H6", "absolute hostname (trailing dot), SAN without it",
                hostname=_host("hostname-trailing-dot") + ".", dns=[_host("hostname-trailing-dot")]),
        _simple("underscore-name", "H11/H12", "underscore in the hostname and SAN",
                hostname=f"under_score.{DOMAIN}"),
        _simple("san-empty", "H13", "SAN extension with no names, CN is the hostname",
                cn=_host("san-empty"), dns=[], san=True),
        _simple("san-critical-empty-subject", "H1", "empty subject, critical SAN with the hostname",
                san_critical=True, subject_empty=True),
    ]


def _validity_cases() -> list[Case]:
    now = _now()
    expired_int = _pki("expired-intermediate")
    old = _ca("expired-intermediate", "Expired Issuing", expired_int.root,
              not_before=now - dt.timedelta(days=400), days=200)
    expired_root = _ca("expired-root", "Expired Root", not_before=now - dt.timedelta(days=400), days=200)
    exp_root_int = _ca("expired-root", "Issuing", expired_root)
    return [
        _simple("expired-leaf", "P16", "leaf expired yesterday",
                not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)),
        _simple("not-yet-valid-leaf", "P16", "leaf valid from tomorrow",
                not_before=now + dt.timedelta(days=1), days=100),
        _case("expired-intermediate", "P16", "issuing CA expired",
              issue(subject="leaf", issuer=old, dns=[_host("expired-intermediate")])),
        _case("expired-root", "P16", "installed root expired (is anchor validity checked?)",
              issue(subject="leaf", issuer=exp_root_int, dns=[_host("expired-root")])),
        _simple("long-validity-5y", "P10", "5-year leaf under a local root (no 398-day rule)", days=5 * 365),
    ]


def _trust_cases() -> list[Case]:
    stray = _pki("untrusted-root")
    decoy = _pki("untrusted-root-decoy")
    self_signed = issue(subject=name(_host("self-signed-leaf")), dns=[_host("self-signed-leaf")])
    missing = _pki("missing-intermediate")
    m_leaf = missing.leaf(dns=[_host("missing-intermediate")])
    aia_pki = _pki("missing-intermediate-aia")
    aia_ext = x509.AuthorityInformationAccess([x509.AccessDescription(
        AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(aia_url("missing-intermediate-aia")))])
    aia_leaf = aia_pki.leaf(dns=[_host("missing-intermediate-aia")], extra=[(aia_ext, False)])
    extra_pki, unrelated = _pki("chain-extra-cert"), _pki("chain-extra-cert-unrelated")
    x_leaf = extra_pki.leaf(dns=[_host("chain-extra-cert")])
    deep_root = _ca("chain-unordered", "Root")
    deep_a = _ca("chain-unordered", "Upper", deep_root)
    deep_b = _ca("chain-unordered", "Lower", deep_a)
    u_leaf = issue(subject="leaf", issuer=deep_b, dns=[_host("chain-unordered")])
    dup = _pki("chain-duplicate")
    d_leaf = dup.leaf(dns=[_host("chain-duplicate")])
    incl = _pki("chain-includes-root")
    i_leaf = incl.leaf(dns=[_host("chain-includes-root")])
    return [
        _case("untrusted-root", "P15", "chain to a root no browser trusts",
              stray.leaf(dns=[_host("untrusted-root")]), anchors=[decoy.root]),
        _case("self-signed-leaf", "P15", "self-signed leaf, not installed", self_signed, anchors=[decoy.root]),
        _case("missing-intermediate", "P14", "only the leaf is served (intermediate never served anywhere)",
              m_leaf, served=[m_leaf]),
        _case("missing-intermediate-aia", "P14",
              "only the leaf is served; its AIA caIssuers URL serves the intermediate",
              aia_leaf, served=[aia_leaf], aia=aia_pki.issuing),
        _case("chain-extra-cert", "P15", "an unrelated CA certificate appended", x_leaf,
              served=[x_leaf, extra_pki.issuing, unrelated.issuing]),
        _case("chain-unordered", "P15", "two intermediates served upper before lower", u_leaf,
              served=[u_leaf, deep_a, deep_b]),
        _case("chain-duplicate", "P15", "the intermediate served twice", d_leaf,
              served=[d_leaf, dup.issuing, dup.issuing]),
        _case("chain-includes-root", "P15", "the root served too", i_leaf,
              served=[i_leaf, incl.issuing, incl.root]),
    ]


def _signature_cases() -> list[Case]:
    rsa_l = _pki("sha1-leaf", key="rsa-2048")
    rsa_i_root = _ca("sha1-intermediate", "Root", key="rsa-2048")
    rsa_i = _ca("sha1-intermediate", "Issuing", rsa_i_root, key="rsa-2048", hash_name="sha1")
    sha1_root = _ca("sha1-root", "Root", key="rsa-2048", hash_name="sha1")
    sha1_root_int = _ca("sha1-root", "Issuing", sha1_root, key="rsa-2048")
    md5 = _pki("md5-leaf", key="rsa-2048")
    mism = _pki("sig-alg-mismatch")
    mism_leaf = _resigned(mism.leaf(dns=[_host("sig-alg-mismatch")]), mism.issuing, outer_hash_name="sha384")
    k1 = _pki("ec-secp256k1-intermediate")
    k1_int = _ca("ec-secp256k1-intermediate", "secp256k1 Issuing", k1.root, key="ec-secp256k1")
    return [
        _case("sha1-leaf", "P8", "leaf signed with SHA-1 (RSA)",
              rsa_l.leaf(dns=[_host("sha1-leaf")], key="rsa-2048", hash_name="sha1")),
        _case("sha1-intermediate", "P8", "issuing CA signed with SHA-1 (RSA)",
              issue(subject="leaf", issuer=rsa_i, dns=[_host("sha1-intermediate")], key="rsa-2048")),
        _case("sha1-root", "P8", "self-signed root signed with SHA-1 (anchor: allowed)",
              issue(subject="leaf", issuer=sha1_root_int, dns=[_host("sha1-root")], key="rsa-2048")),
        _case("md5-leaf", "P8", "leaf signed with MD5 (RSA)",
              md5.leaf(dns=[_host("md5-leaf")], key="rsa-2048", hash_name="md5")),
        _case("sig-alg-mismatch", "P9", "outer signatureAlgorithm differs from the TBS one", mism_leaf),
        _simple("rsa1024-leaf", "P7", "RSA-1024 leaf", key="rsa-1024"),
        _simple("rsa2048-leaf", "P7", "RSA-2048 leaf", key="rsa-2048"),
        _simple("ec-p384-leaf", "P7", "EC P-384 leaf", key="ec-p384"),
        _simple("ec-p521-leaf", "P7", "EC P-521 leaf", key="ec-p521"),
        _simple("ec-secp256k1-leaf", "P7", "EC secp256k1 leaf", key="ec-secp256k1"),
        _case("ec-secp256k1-intermediate", "P7", "issuing CA with a secp256k1 key",
              issue(subject="leaf", issuer=k1_int, dns=[_host("ec-secp256k1-intermediate")])),
    ]


def _usage_cases() -> list[Case]:
    any_eku = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
    eku_int_pki = _pki("intermediate-eku-no-serverauth")
    eku_int = _ca("intermediate-eku-no-serverauth", "clientAuth Issuing", eku_int_pki.root, eku=[CLIENT_AUTH])
    any_int_pki = _pki("intermediate-eku-any")
    any_int = _ca("intermediate-eku-any", "anyEKU Issuing", any_int_pki.root, eku=[any_eku])
    srv_int_pki = _pki("intermediate-eku-serverauth")
    srv_int = _ca("intermediate-eku-serverauth", "serverAuth Issuing", srv_int_pki.root, eku=[SERVER_AUTH])
    return [
        _simple("eku-absent", "P1", "leaf without EKU", eku=None),
        _simple("eku-clientauth-only", "P1", "leaf EKU clientAuth only", eku=[CLIENT_AUTH]),
        _simple("eku-any-only", "P1", "leaf EKU anyExtendedKeyUsage only", eku=[any_eku]),
        _simple("eku-server-client", "P1", "leaf EKU serverAuth + clientAuth", eku=[SERVER_AUTH, CLIENT_AUTH]),
        _simple("eku-empty", "P1", "leaf EKU extension with no purposes", eku=[],
                extra=[(x509.ExtendedKeyUsage([]), False)]),
        _simple("eku-server-ocspsigning", "P1", "leaf EKU serverAuth + OCSPSigning",
                eku=[SERVER_AUTH, ExtendedKeyUsageOID.OCSP_SIGNING]),
        _simple("eku-server-codesigning", "P1", "leaf EKU serverAuth + codeSigning (strict modes refuse)",
                eku=[SERVER_AUTH, ExtendedKeyUsageOID.CODE_SIGNING]),
        _case("intermediate-eku-any", "P1", "issuing CA with EKU anyExtendedKeyUsage only",
              issue(subject="leaf", issuer=any_int, dns=[_host("intermediate-eku-any")])),
        _case("intermediate-eku-serverauth", "P1", "issuing CA with EKU serverAuth",
              issue(subject="leaf", issuer=srv_int, dns=[_host("intermediate-eku-serverauth")])),
        _case("intermediate-eku-no-serverauth", "P1", "issuing CA with EKU clientAuth only",
              issue(subject="leaf", issuer=eku_int, dns=[_host("intermediate-eku-no-serverauth")])),
        _simple("ku-rsa-no-digitalsignature", "P2", "RSA leaf, keyUsage keyEncipherment only",
                key="rsa-2048", key_usage=["key_encipherment"]),
        _simple("ku-ec-no-digitalsignature", "P2", "EC leaf, keyUsage keyAgreement only",
                key_usage=["key_agreement"]),
    ]


def _constraint_cases() -> list[Case]:
    out: list[Case] = [
        _simple("leaf-ca-true", "P3", "leaf with basicConstraints cA=TRUE", basic_constraints=False,
                extra=[(x509.BasicConstraints(ca=True, path_length=None), True)]),
        _simple("leaf-unknown-critical-ext", "P4", "leaf with an unknown critical extension",
                extra=[(UNKNOWN_CRITICAL, True)]),
        _simple("leaf-unknown-noncritical-ext", "P4", "leaf with an unknown non-critical extension",
                extra=[(UNKNOWN_CRITICAL, False)]),
    ]
    flawed_issuers: list[tuple[str, str, str, dict[str, Any]]] = [
        ("intermediate-no-basicconstraints", "P3", "issuing CA without basicConstraints",
         {"basic_constraints": False}),
        ("intermediate-no-keycertsign", "P2", "issuing CA keyUsage without keyCertSign",
         {"key_usage": ["digital_signature", "crl_sign"]}),
        ("intermediate-unknown-critical-ext", "P4", "issuing CA with an unknown critical extension",
         {"extra": [(UNKNOWN_CRITICAL, True)]}),
    ]
    for case_id, rule, description, kwargs in flawed_issuers:
        root = _ca(case_id, "Root")
        inter = _ca(case_id, "Issuing", root, **kwargs)
        out.append(_case(case_id, rule, description, issue(subject="leaf", issuer=inter, dns=[_host(case_id)])))
    out += [*_pathlen_cases(), _v1_intermediate_case(), _duplicate_extension_case(), _negative_serial_case()]
    return out


def _pathlen_cases() -> list[Case]:
    out = []
    for case_id, upper_len, description in [
        ("intermediate-pathlen-violated", 0, "pathLen 0 CA above another CA"),
        ("intermediate-pathlen-ok", 1, "pathLen 1 CA above a pathLen 0 CA"),
    ]:
        root = _ca(case_id, "Root")
        upper = _ca(case_id, "Upper", root, path_length=upper_len)
        lower = _ca(case_id, "Lower", upper, path_length=0)
        out.append(_case(case_id, "P3", description, issue(subject="leaf", issuer=lower, dns=[_host(case_id)])))
    return out


def _v1_intermediate_case() -> Case:
    root = _ca("v1-intermediate", "Root")
    inter = _resigned(_ca("v1-intermediate", "Issuing", root), root, edit_tbs=_v1)
    leaf = issue(subject="leaf", issuer=inter, dns=[_host("v1-intermediate")])
    return _case("v1-intermediate", "P3", "X.509 v1 issuing CA (no extensions)", leaf)


def _duplicate_extension_case() -> Case:
    """certificatePolicies twice: both browsers parse it, and OpenSSL (our server) still loads it."""
    pki = _pki("duplicate-extension")
    policies = x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.1"), None)])
    leaf = pki.leaf(dns=[_host("duplicate-extension")], extra=[(policies, False)])
    leaf = _resigned(leaf, pki.issuing, edit_tbs=_edit_extensions(lambda exts: [*exts, exts[-1]]))
    return _case("duplicate-extension", "P5", "leaf carries certificatePolicies twice", leaf)


def _negative_serial_case() -> Case:
    pki = _pki("serial-negative")
    leaf = _resigned(pki.leaf(dns=[_host("serial-negative")]), pki.issuing, edit_tbs=_negative_serial)
    return _case("serial-negative", "P6", "leaf with a negative serial number", leaf)


def _constrained(permitted: Sequence[x509.GeneralName] = (),
                 excluded: Sequence[x509.GeneralName] = ()) -> x509.NameConstraints:
    return x509.NameConstraints(permitted_subtrees=list(permitted) or None, excluded_subtrees=list(excluded) or None)


def _name_constraint_cases() -> list[Case]:
    ok, bad, loopback = x509.DNSName(f"ok.{DOMAIN}"), x509.DNSName(f"bad.{DOMAIN}"), ipaddress.ip_network("127.0.0.0/8")
    table: list[tuple[str, str, x509.NameConstraints, str, list[str], list[str]]] = [
        # case id, description, constraints on the issuing CA, hostname, leaf SAN dNSNames, leaf SAN iPAddresses
        ("nc-permitted-ok", "SAN inside permitted subtree", _constrained([ok]),
         f"nc-permitted-ok.ok.{DOMAIN}", [f"nc-permitted-ok.ok.{DOMAIN}"], []),
        ("nc-permitted-violated", "SAN outside the permitted subtree", _constrained([ok]),
         _host("nc-permitted-violated"), [_host("nc-permitted-violated")], []),
        ("nc-excluded-violated", "SAN inside an excluded subtree", _constrained(excluded=[bad]),
         f"nc-excluded-violated.bad.{DOMAIN}", [f"nc-excluded-violated.bad.{DOMAIN}"], []),
        ("nc-excluded-ok", "SAN outside the excluded subtree", _constrained(excluded=[bad]),
         _host("nc-excluded-ok"), [_host("nc-excluded-ok")], []),
        ("nc-wildcard-vs-permitted-host", "wildcard SAN over a permitted single host",
         _constrained([x509.DNSName(f"a.ncw.{DOMAIN}")]), f"a.ncw.{DOMAIN}", [f"*.ncw.{DOMAIN}"], []),
        ("nc-ip-permitted-ok", "iPAddress SAN inside a permitted 127.0.0.0/8",
         _constrained([x509.IPAddress(loopback)]), "127.0.0.1", [], ["127.0.0.1"]),
        ("nc-ip-excluded-violated", "iPAddress SAN inside an excluded 127.0.0.0/8",
         _constrained(excluded=[x509.IPAddress(loopback)]), "127.0.0.1", [], ["127.0.0.1"]),
    ]
    out = []
    for case_id, description, constraints, hostname, dns, ips in table:
        root = _ca(case_id, "Root")
        inter = _ca(case_id, "Constrained Issuing", root, name_constraints=constraints)
        leaf = issue(subject="leaf", issuer=inter, dns=dns, ips=ips)
        out.append(_case(case_id, "P12", description, leaf, hostname=hostname))
    return out


def _path_choice_case() -> Case:
    """One issuing CA key and subject certified twice: expired under root A, valid under root B."""
    root_a, root_b = _ca("chain-alternate-path", "Root A"), _ca("chain-alternate-path", "Root B")
    key = new_key("ec-p256")
    subject = name("Cross Issuing CA", o="Oracle chain-alternate-path")
    now = _now()
    expired = issue(subject=subject, issuer=root_a, key=key, ca=True, not_before=now - dt.timedelta(days=400), days=200)
    valid = issue(subject=subject, issuer=root_b, key=key, ca=True, not_before=now - dt.timedelta(days=10), days=1000)
    leaf = issue(subject="leaf", issuer=valid, dns=[_host("chain-alternate-path")])
    return _case("chain-alternate-path", "P15", "expired and valid certificates for the same issuing CA served",
                 leaf, served=[leaf, expired, valid], anchors=[root_a, root_b])


def _v1_root_case() -> Case:
    root = _ca("v1-root", "Root")
    root = _resigned(root, root, edit_tbs=_v1)
    inter = _ca("v1-root", "Issuing", root)
    return _case("v1-root", "P3", "installed root is X.509 v1 (no basicConstraints)",
                 issue(subject="leaf", issuer=inter, dns=[_host("v1-root")]))


# --- issue 14: trust-anchor constraints, depth, error priority, more from the sources ---------

def _anchor_leaf(case_id: str, *, description: str, rule: str, direct: bool = False,
                 dns: Sequence[str] | None = None, hostname: str | None = None, **root_kwargs: Any) -> Case:
    """Root carrying ``root_kwargs`` (its constraints) -> issuing CA -> leaf, or root -> leaf."""
    root = _ca(case_id, "Root", **root_kwargs)
    issuer = root if direct else _ca(case_id, "Issuing", root)
    host = hostname or _host(case_id)
    leaf = issue(subject="leaf", issuer=issuer, dns=[host] if dns is None else dns)
    return _case(case_id, rule, description, leaf, hostname=host)


def _anchor_cases() -> list[Case]:
    now = _now()
    ok = x509.DNSName(f"ok.{DOMAIN}")
    return [
        _anchor_leaf("anchor-bc-ca-false", rule="P3", description="installed root with basicConstraints cA=FALSE",
                     basic_constraints=False, extra=[(x509.BasicConstraints(ca=False, path_length=None), True)]),
        _anchor_leaf("anchor-no-basicconstraints", rule="P3", description="installed v3 root without basicConstraints",
                     basic_constraints=False),
        _anchor_leaf("anchor-pathlen-0-violated", rule="P3", description="installed root pathLen 0 above an issuing CA", path_length=0),
        _anchor_leaf("anchor-pathlen-0-direct", rule="P3", description="installed root pathLen 0 issues the leaf directly",
                     direct=True, path_length=0),
        _anchor_leaf("anchor-no-keycertsign", rule="P2", description="installed root keyUsage without keyCertSign",
                     key_usage=["digital_signature", "crl_sign"]),
        _anchor_leaf("anchor-eku-clientauth", rule="P1", description="installed root with EKU clientAuth only", eku=[CLIENT_AUTH]),
        _anchor_leaf("anchor-eku-serverauth", rule="P1", description="installed root with EKU serverAuth", eku=[SERVER_AUTH]),
        _anchor_leaf("anchor-eku-any", rule="P1", description="installed root with EKU anyExtendedKeyUsage only",
                     eku=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]),
        _anchor_leaf("anchor-nc-violated", rule="P12", description="installed root permits ok.<domain> only; leaf outside",
                     name_constraints=_constrained([ok])),
        _anchor_leaf("anchor-nc-ok", rule="P12", description="installed root permits ok.<domain>; leaf inside",
                     hostname=f"anchor-nc-ok.ok.{DOMAIN}", name_constraints=_constrained([ok])),
        _anchor_leaf("anchor-not-yet-valid", rule="P16", description="installed root valid from tomorrow",
                     not_before=now + dt.timedelta(days=1), days=1000),
        _anchor_leaf("anchor-unknown-critical-ext", rule="P4", description="installed root with an unknown critical extension",
                     extra=[(UNKNOWN_CRITICAL, True)]),
        _anchor_leaf("anchor-nc-malformed-wildcard", rule="P12", description="installed root nameConstraints permits the pattern "
                     "*.<domain> (a wildcard is not a subtree: limbo rfc5280::nc::invalid-dnsname-wildcard)",
                     extra=[(_raw_name_constraints(0x82, f"*.{DOMAIN}".encode()), True)]),
        _anchor_leaf("anchor-aki-issuer-without-serial", rule="P15", description="installed root AKI with authorityCertIssuer but no "
                     "serial (limbo webpki::aki::root-with-aki-authoritycertissuer)", ski_aki=False,
                     extra=[(_raw_aki_issuer_only("Oracle anchor-aki-issuer-without-serial"), False)]),
        _anchor_leaf("anchor-nc-malformed-ip", rule="P12", description="installed root nameConstraints iPAddress of 5 bytes (not address+mask: "
                     "limbo rfc5280::nc::invalid-ipv4-address)",
                     extra=[(_raw_name_constraints(0x87, bytes([127, 0, 0, 0, 255])), True)]),
    ]


def _raw_aki_issuer_only(org: str) -> x509.UnrecognizedExtension:
    """An authorityKeyIdentifier naming an authorityCertIssuer without its serial (RFC 5280 4.2.1.1
    wants both or neither; cryptography will not build it)."""
    issuer_name = name("Root CA", o=org).public_bytes()
    return x509.UnrecognizedExtension(x509.oid.ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
                                      der.sequence(der.tlv(0xA1, der.tlv(0xA4, issuer_name))))


def _raw_name_constraints(tag: int, value: bytes) -> x509.UnrecognizedExtension:
    """A nameConstraints extension with one permitted subtree, encoded by hand: cryptography will
    not build a malformed one. ``tag``: the GeneralName's implicit tag (0x82 dNSName, 0x87 iPAddress)."""
    subtree = der.sequence(der.tlv(tag, value))
    return x509.UnrecognizedExtension(x509.oid.ExtensionOID.NAME_CONSTRAINTS, der.sequence(der.tlv(0xA0, subtree)))


def _deep(case_id: str, intermediates: int) -> Case:
    """Root -> ``intermediates`` CAs -> leaf, everything served."""
    issuer = _ca(case_id, "Root")
    for level in range(intermediates):
        issuer = _ca(case_id, f"Level {level + 1}", issuer)
    leaf = issue(subject="leaf", issuer=issuer, dns=[_host(case_id)])
    return _case(case_id, "P15", f"{intermediates} intermediates between the installed root and the leaf", leaf)


def _depth_cases() -> list[Case]:
    return [_deep(f"depth-{n}-intermediates", n) for n in (5, 6, 7, 8, 10, 14)]


def _alternative_issuers(case_id: str, description: str, flaws: Sequence[dict[str, Any]]) -> Case:
    """One issuing CA (same subject and key) certified once per flaw, each under its own root."""
    key = new_key("ec-p256")
    subject = name("Alt Issuing CA", o=f"Oracle {case_id}")
    roots, issuing = [], []
    for index, flaw in enumerate(flaws):
        root = _ca(case_id, f"Root {chr(65 + index)}")
        kwargs: dict[str, Any] = {"not_before": _now() - dt.timedelta(days=10), "days": 1000, "ca": True, **flaw}
        roots.append(root)
        issuing.append(issue(subject=subject, issuer=root, key=key, **kwargs))
    leaf = issue(subject="leaf", issuer=issuing[-1], dns=[_host(case_id)])
    return _case(case_id, "P15", description, leaf, served=[leaf, *issuing], anchors=roots)


def _alternative_untrusted() -> Case:
    """The issuing CA certified twice: expired under the installed root A, valid under a root B
    that is neither installed nor served (one candidate fails on time, the other has no anchor)."""
    case_id = "alt-expired-vs-untrusted"
    key = new_key("ec-p256")
    subject = name("Alt Issuing CA", o=f"Oracle {case_id}")
    root_a, root_b = _ca(case_id, "Root A"), _ca(case_id, "Root B")
    now = _now()
    expired = issue(subject=subject, issuer=root_a, key=key, ca=True, not_before=now - dt.timedelta(days=400), days=200)
    stray = issue(subject=subject, issuer=root_b, key=key, ca=True, not_before=now - dt.timedelta(days=10), days=1000)
    leaf = issue(subject="leaf", issuer=stray, dns=[_host(case_id)])
    return _case(case_id, "P15", "two certificates for the issuing CA: expired under the installed root, "
                 "valid under a root nobody trusts", leaf, served=[leaf, expired, stray], anchors=[root_a])


def _priority_cases() -> list[Case]:
    now = _now()
    expired = {"not_before": now - dt.timedelta(days=30), "not_after": now - dt.timedelta(days=1)}
    stray, decoy = _pki("prio-date-trust"), _pki("prio-date-trust-decoy")
    stray2, decoy2 = _pki("prio-name-trust"), _pki("prio-name-trust-decoy")
    old_root = _ca("prio-constraints-date", "Root")
    nokcs = _ca("prio-constraints-date", "Issuing", old_root, key_usage=["digital_signature"])
    exp_i_root = _ca("prio-name-expired-issuer", "Root")
    exp_i = _ca("prio-name-expired-issuer", "Issuing", exp_i_root, not_before=now - dt.timedelta(days=400), days=200)
    eku_root = _ca("prio-eku-date", "Root")
    eku_i = _ca("prio-eku-date", "Issuing", eku_root, eku=[CLIENT_AUTH])
    past = {"not_before": now - dt.timedelta(days=400), "days": 200}
    return [
        _simple("prio-name-date", "P16", "expired leaf for another hostname", dns=[f"other-nd.{DOMAIN}"], **expired),
        _case("prio-date-trust", "P16", "expired leaf under a root nobody trusts",
              stray.leaf(dns=[_host("prio-date-trust")], **expired), anchors=[decoy.root]),
        _case("prio-name-trust", "P16", "wrong hostname under a root nobody trusts",
              stray2.leaf(dns=[f"other-nt.{DOMAIN}"]), hostname=_host("prio-name-trust"), anchors=[decoy2.root]),
        _case("prio-constraints-date", "P16", "issuing CA without keyCertSign, leaf expired",
              issue(subject="leaf", issuer=nokcs, dns=[_host("prio-constraints-date")], **expired)),
        _case("prio-name-expired-issuer", "P16", "expired issuing CA and wrong hostname",
              issue(subject="leaf", issuer=exp_i, dns=[f"other-nei.{DOMAIN}"]),
              hostname=_host("prio-name-expired-issuer")),
        _case("prio-eku-date", "P16", "issuing CA EKU clientAuth only, leaf expired",
              issue(subject="leaf", issuer=eku_i, dns=[_host("prio-eku-date")], **expired)),
        _simple("prio-eku-name", "P16", "leaf EKU clientAuth only and wrong hostname", eku=[CLIENT_AUTH],
                dns=[f"other-en.{DOMAIN}"]),
        _simple("prio-sha1-date", "P16", "SHA-1 leaf, expired", key="rsa-2048", hash_name="sha1", **expired),
        _alternative_issuers("alt-expired-vs-nokeycertsign",
                             "two certificates for the issuing CA: one expired, one without keyCertSign",
                             [past, {"key_usage": ["digital_signature"]}]),
        _alternative_issuers("alt-expired-vs-clientauth",
                             "two certificates for the issuing CA: one expired, one EKU clientAuth only",
                             [past, {"eku": [CLIENT_AUTH]}]),
        _alternative_issuers("alt-pathlen-vs-expired",
                             "two certificates for the issuing CA: one not a CA, one expired",
                             [{"ca": False, "basic_constraints": False}, past]),
        _alternative_untrusted(),
        _alternative_issuers("alt-expired-vs-valid",
                             "two certificates for the issuing CA: the expired one served first, the valid last",
                             [past, {}]),
    ]


def _pss(issued: Issued, signer: Issued) -> Issued:
    """``issued`` signed again by ``signer`` with RSASSA-PSS (SHA-256, salt 32)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    cert = issued.cert
    builder = (x509.CertificateBuilder().subject_name(cert.subject).issuer_name(cert.issuer)
               .public_key(cert.public_key()).serial_number(cert.serial_number)
               .not_valid_before(cert.not_valid_before_utc).not_valid_after(cert.not_valid_after_utc))
    for ext in cert.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    signed = builder.sign(signer.key, hashes.SHA256(), rsa_padding=pss)  # type: ignore[arg-type]
    return Issued(cert=signed, key=issued.key, chain=issued.chain)


def _more_cases() -> list[Case]:
    out: list[Case] = []
    # RSA-PSS at every position
    root = _ca("rsa-pss-leaf", "Root", key="rsa-2048")
    inter = _ca("rsa-pss-leaf", "Issuing", root, key="rsa-2048")
    leaf = _pss(issue(subject="leaf", issuer=inter, dns=[_host("rsa-pss-leaf")], key="rsa-2048"), inter)
    out.append(_case("rsa-pss-leaf", "P8", "leaf signed with RSASSA-PSS", leaf))
    root = _ca("rsa-pss-intermediate", "Root", key="rsa-2048")
    inter = _pss(_ca("rsa-pss-intermediate", "Issuing", root, key="rsa-2048"), root)
    out.append(_case("rsa-pss-intermediate", "P8", "issuing CA signed with RSASSA-PSS",
                     issue(subject="leaf", issuer=inter, dns=[_host("rsa-pss-intermediate")], key="rsa-2048")))
    root = _ca("rsa-pss-root", "Root", key="rsa-2048")
    root = _pss(root, root)
    inter = _ca("rsa-pss-root", "Issuing", root, key="rsa-2048")
    out.append(_case("rsa-pss-root", "P8", "installed root self-signed with RSASSA-PSS",
                     issue(subject="leaf", issuer=inter, dns=[_host("rsa-pss-root")], key="rsa-2048")))
    # policy constraints and inhibitAnyPolicy on the issuing CA; the leaf has no policies
    for case_id, ext, description in [
        ("policy-require-explicit", x509.PolicyConstraints(require_explicit_policy=0, inhibit_policy_mapping=None),
         "issuing CA requireExplicitPolicy 0, leaf without certificatePolicies"),
        ("policy-inhibit-any", x509.InhibitAnyPolicy(0), "issuing CA inhibitAnyPolicy 0 (no policies anywhere)"),
    ]:
        root = _ca(case_id, "Root")
        inter = _ca(case_id, "Issuing", root, extra=[(ext, True)])
        out.append(_case(case_id, "P4", description, issue(subject="leaf", issuer=inter, dns=[_host(case_id)])))
    # cross-certificate: issuing CA under root B, B cross-signed by trusted A; only A installed
    root_a, key_b = _ca("cross-signed", "Root A"), new_key("ec-p256")
    b_self = issue(subject=name("Root B CA", o="Oracle cross-signed"), key=key_b, ca=True, days=1000)
    b_cross = issue(subject=name("Root B CA", o="Oracle cross-signed"), issuer=root_a, key=key_b, ca=True, days=1000)
    inter = _ca("cross-signed", "Issuing", b_self)
    c_leaf = issue(subject="leaf", issuer=inter, dns=[_host("cross-signed")])
    out.append(_case("cross-signed", "P15", "root B cross-signed by the installed root A (B not installed)",
                     c_leaf, served=[c_leaf, inter, b_cross], anchors=[root_a]))
    # two installed roots with the same name, different keys; the path uses the second
    same = name("Same Name Root CA", o="Oracle same-name-anchors")
    first = issue(subject=same, ca=True, days=1000, key=new_key("ec-p256"))
    second = issue(subject=same, ca=True, days=1000, key=new_key("ec-p256"))
    inter = _ca("same-name-anchors", "Issuing", second)
    s_leaf = issue(subject="leaf", issuer=inter, dns=[_host("same-name-anchors")])
    out.append(_case("same-name-anchors", "P15", "two installed roots share a name; the second signed the chain",
                     s_leaf, anchors=[first, second]))
    # a pool of 20 decoys with the issuing CA's name but other keys, the right one served last
    pool_pki = _pki("pool-decoys")
    decoys = [issue(subject=pool_pki.issuing.cert.subject, issuer=pool_pki.root, ca=True, days=1000)
              for _ in range(20)]
    p_leaf = pool_pki.leaf(dns=[_host("pool-decoys")])
    out.append(_case("pool-decoys", "P15", "20 same-name decoy intermediates before the right one",
                     p_leaf, served=[p_leaf, *decoys, pool_pki.issuing]))
    # unknown critical extension on the root (the anchor) was added above; SHA-1 on an EC leaf
    ec_sha1 = _pki("sha1-ecdsa-leaf")
    out.append(_case("sha1-ecdsa-leaf", "P8", "leaf signed with ECDSA-SHA1",
                     ec_sha1.leaf(dns=[_host("sha1-ecdsa-leaf")], hash_name="sha1")))
    return out


def build_cases() -> list[Case]:
    """Every case, freshly generated (keys and validity dates relative to now)."""
    cases = [*_name_cases(), *_validity_cases(), *_trust_cases(), *_signature_cases(), *_usage_cases(),
             *_constraint_cases(), *_name_constraint_cases(), _path_choice_case(), _v1_root_case(),
             *_anchor_cases(), *_depth_cases(), *_priority_cases(), *_more_cases()]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    dns_hosts = [c.hostname.rstrip(".") for c in cases if not c.is_ip]
    assert len(dns_hosts) == len(set(dns_hosts)), "DNS-named cases are told apart by SNI: hostnames must be unique"
    return cases


# Every case id, in order, with what browser-rules.md / browser-oracle.md predict:
# (Chrome accepts?, Firefox accepts?), None where the notes are silent. The browsers decide.
_BOTH, _NEITHER = (True, True), (False, False)
NOTES: dict[str, tuple[bool | None, bool | None]] = {
    "san-exact": _BOTH, "san-mismatch": _NEITHER, "cn-only": _NEITHER, "cn-ignored-san-present": _NEITHER,
    "ip-ipaddress-san": _BOTH, "ip-in-dnsname": _NEITHER, "ip-cn-only": _NEITHER, "ipv6-ipaddress-san": _BOTH,
    "dns-host-ip-san": _NEITHER, "case-insensitive": _BOTH, "san-trailing-dot": (True, False),
    "wildcard-leftmost": _BOTH, "wildcard-apex": _NEITHER, "wildcard-two-labels": _NEITHER,
    "wildcard-partial-prefix": _NEITHER, "wildcard-partial-suffix": _NEITHER, "wildcard-not-leftmost": _NEITHER,
    "wildcard-icann-suffix": (False, True), "wildcard-private-suffix": _BOTH, "wildcard-unknown-tld": _NEITHER,
    "wildcard-idn": _BOTH, "san-invalid-entry-skipped": _BOTH, "hostname-trailing-dot": _BOTH,
    "underscore-name": _BOTH, "san-empty": _NEITHER, "san-critical-empty-subject": _BOTH,
    "expired-leaf": _NEITHER, "not-yet-valid-leaf": _NEITHER, "expired-intermediate": _NEITHER,
    "expired-root": (None, None), "long-validity-5y": _BOTH,
    "untrusted-root": _NEITHER, "self-signed-leaf": _NEITHER, "missing-intermediate": _NEITHER,
    "missing-intermediate-aia": (True, False), "chain-extra-cert": _BOTH, "chain-unordered": _BOTH,
    "chain-duplicate": _BOTH, "chain-includes-root": _BOTH,
    "sha1-leaf": (False, True), "sha1-intermediate": (False, True), "sha1-root": _BOTH, "md5-leaf": (None, None),
    "sig-alg-mismatch": (False, None), "rsa1024-leaf": _BOTH, "rsa2048-leaf": _BOTH, "ec-p384-leaf": _BOTH,
    "ec-p521-leaf": _BOTH, "ec-secp256k1-leaf": (False, None), "ec-secp256k1-intermediate": (False, None),
    "eku-absent": _BOTH, "eku-clientauth-only": _NEITHER, "eku-any-only": (True, False),
    "eku-server-client": _BOTH, "eku-empty": _NEITHER, "eku-server-ocspsigning": (True, False),
    "eku-server-codesigning": (None, True),
    "intermediate-eku-any": (True, False), "intermediate-eku-serverauth": _BOTH,
    "intermediate-eku-no-serverauth": _NEITHER, "ku-rsa-no-digitalsignature": (False, True),
    "ku-ec-no-digitalsignature": (None, True), "leaf-ca-true": (True, False),
    "leaf-unknown-critical-ext": _NEITHER, "leaf-unknown-noncritical-ext": _BOTH,
    "intermediate-no-basicconstraints": _NEITHER, "intermediate-no-keycertsign": _NEITHER,
    "intermediate-unknown-critical-ext": _NEITHER, "intermediate-pathlen-violated": _NEITHER,
    "intermediate-pathlen-ok": _BOTH, "v1-intermediate": _NEITHER, "duplicate-extension": _NEITHER,
    "serial-negative": _BOTH, "nc-permitted-ok": _BOTH, "nc-permitted-violated": _NEITHER,
    "nc-excluded-violated": _NEITHER, "nc-excluded-ok": _BOTH, "nc-wildcard-vs-permitted-host": (None, False),
    "nc-ip-permitted-ok": _BOTH, "nc-ip-excluded-violated": _NEITHER,
    "chain-alternate-path": _BOTH, "v1-root": (None, True),
    # issue 14 (the browsers decide; the notes are silent or unverified on most)
    "anchor-bc-ca-false": (None, None), "anchor-no-basicconstraints": (None, None), "anchor-pathlen-0-violated": (None, None), "anchor-pathlen-0-direct": (None, None), "anchor-no-keycertsign": (None, None), "anchor-eku-clientauth": (None, None), "anchor-eku-serverauth": (None, None), "anchor-eku-any": (None, None), "anchor-nc-violated": (None, None), "anchor-nc-ok": (None, None), "anchor-not-yet-valid": (None, None), "anchor-unknown-critical-ext": (None, None), "anchor-nc-malformed-wildcard": (None, None), "anchor-aki-issuer-without-serial": (None, None), "anchor-nc-malformed-ip": (None, None), "depth-5-intermediates": (None, None), "depth-6-intermediates": (None, None), "depth-7-intermediates": (None, None), "depth-8-intermediates": (None, None), "depth-10-intermediates": (None, None), "depth-14-intermediates": (None, None), "prio-name-date": (None, None), "prio-date-trust": (None, None), "prio-name-trust": (None, None), "prio-constraints-date": (None, None), "prio-name-expired-issuer": (None, None), "prio-eku-date": (None, None), "prio-eku-name": (None, None), "prio-sha1-date": (None, None), "alt-expired-vs-nokeycertsign": (None, None), "alt-expired-vs-clientauth": (None, None), "alt-pathlen-vs-expired": (None, None), "alt-expired-vs-untrusted": (None, None), "alt-expired-vs-valid": (None, None), "rsa-pss-leaf": (None, None), "rsa-pss-intermediate": (None, None), "rsa-pss-root": (None, None), "policy-require-explicit": (None, None), "policy-inhibit-any": (None, None), "cross-signed": (None, None), "same-name-anchors": (None, None), "pool-decoys": (None, None), "sha1-ecdsa-leaf": (None, None),
}

CASE_IDS: tuple[str, ...] = tuple(NOTES)  # for parametrizing without generating keys at collection
