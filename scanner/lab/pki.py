"""Generate DCCKI-like test PKIs at run time: roots, issuing CAs and leaves with every knob a
browser rule depends on.

``issue()`` builds well-formed certificates with cryptography; ``resign()`` rewrites a
certificate's TBS (signature algorithm, extensions, version) and signs it again, for the
certificates cryptography rightly refuses to build (SHA-1, duplicate extensions, v1 CAs).
Keys are cached per kind within a process when ``fresh_key=False``: RSA generation dominates
the cost of a large lab.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Sequence, Union

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from scanner.lab import der

PrivateKey = Union[rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey]

UTC = dt.timezone.utc
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH

KEY_USAGE_FLAGS = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
)

# signature algorithm OIDs by (key family, hash name), for resign()
SIG_OIDS = {
    ("rsa", "sha1"): "1.2.840.113549.1.1.5",
    ("rsa", "sha256"): "1.2.840.113549.1.1.11",
    ("rsa", "sha384"): "1.2.840.113549.1.1.12",
    ("rsa", "sha512"): "1.2.840.113549.1.1.13",
    ("rsa", "md5"): "1.2.840.113549.1.1.4",
    ("ec", "sha1"): "1.2.840.10045.4.1",
    ("ec", "sha256"): "1.2.840.10045.4.3.2",
    ("ec", "sha384"): "1.2.840.10045.4.3.3",
}
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512, "md5": hashes.MD5}


def new_key(kind: str = "ec-p256") -> PrivateKey:
    """``rsa-<bits>``, ``ec-p256``, ``ec-p384``, ``ec-p521``, ``ec-secp256k1`` or ``ed25519``."""
    if kind.startswith("rsa-"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(kind[4:]))
    curves: dict[str, Callable[[], ec.EllipticCurve]] = {"ec-p256": ec.SECP256R1, "ec-p384": ec.SECP384R1, "ec-p521": ec.SECP521R1,
              "ec-secp256k1": ec.SECP256K1}
    if kind in curves:
        return ec.generate_private_key(curves[kind]())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key kind {kind!r}")


@lru_cache(maxsize=None)
def shared_key(kind: str = "ec-p256") -> PrivateKey:
    """One key per kind per process: fine for leaves whose key is not what a test is about."""
    return new_key(kind)


@dataclass
class Issued:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: PrivateKey
    chain: list["Issued"] = field(default_factory=list)  # issuers above it, nearest first

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def chain_pem(self, include_root: bool = False) -> bytes:
        """This certificate then its issuers (the root only when asked), as a server sends it."""
        parts = [self, *self.chain]
        if not include_root and len(parts) > 1 and _self_issued(parts[-1].cert):
            parts = parts[:-1]
        return b"".join(p.pem for p in parts)


def _self_issued(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def name(cn: str | None = None, *, o: str | None = "DCCKI Lab", ou: str | None = None,
         c: str | None = "GB") -> x509.Name:
    attrs = []
    if c:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, c))
    if o:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o))
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    if cn is not None:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _general_names(dns: Iterable[str], ips: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    out += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    return out


def issue(
    *,
    subject: x509.Name | str | None = None,
    issuer: Issued | None = None,
    key: PrivateKey | str | None = None,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    san: bool | None = None,
    san_critical: bool = False,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int = 365,
    ca: bool = False,
    path_length: int | None = None,
    basic_constraints: bool | None = None,
    key_usage: Sequence[str] | None = None,
    eku: Sequence[x509.ObjectIdentifier] | None = (SERVER_AUTH, CLIENT_AUTH),
    serial: int | None = None,
    hash_name: str = "sha256",
    name_constraints: x509.NameConstraints | None = None,
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
    ski_aki: bool = True,
) -> Issued:
    """Issue one certificate. ``issuer=None`` makes it self-signed.

    Defaults give a DCCKI-profile-conformant leaf: SAN with the given names, EKU serverAuth and
    clientAuth, keyUsage digitalSignature (+ keyEncipherment for RSA), SHA-256, one year.
    ``san=None`` adds a SAN only when names are given; ``eku=None`` omits the EKU;
    ``key_usage=[]`` omits keyUsage; ``basic_constraints=None`` adds it for CAs and leaves alike.
    """
    if isinstance(key, str) or key is None:
        key = shared_key(key or "ec-p256") if not ca else new_key(key or "ec-p256")
    if isinstance(subject, str) or subject is None:
        subject = name(subject)
    now = dt.datetime.now(UTC).replace(microsecond=0)
    not_before = not_before or now - dt.timedelta(days=1)
    not_after = not_after or not_before + dt.timedelta(days=days)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if basic_constraints is None or basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
                                        critical=True)
    if key_usage is None:
        key_usage = ["key_cert_sign", "crl_sign"] if ca else (
            ["digital_signature", "key_encipherment"] if isinstance(key, rsa.RSAPrivateKey) else ["digital_signature"])
    if key_usage:
        flags = {f: (f in key_usage) for f in KEY_USAGE_FLAGS}
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    names = _general_names(dns, ips)
    if san or (san is None and names):
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=san_critical)
    if eku and not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    elif eku and ca and eku != (SERVER_AUTH, CLIENT_AUTH):
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if name_constraints is not None:
        builder = builder.add_extension(name_constraints, critical=True)
    if ski_aki:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        if issuer:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    for ext, critical in extra:
        builder = builder.add_extension(ext, critical=critical)
    algorithm = None if isinstance(signer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(signer_key, algorithm)
    chain = [issuer, *issuer.chain] if issuer else []
    issued = Issued(cert=cert, key=key, chain=chain)
    if hash_name != "sha256":
        issued = resign(issued, signer_key, hash_name=hash_name)
    return issued


def _key_family(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ec"
    raise ValueError("resign() supports RSA and EC signers")


def _sign(key: PrivateKey, data: bytes, hash_name: str) -> bytes:
    algorithm = HASHES[hash_name]()
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), algorithm)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key.sign(data, ec.ECDSA(algorithm))


def _alg_id(family: str, hash_name: str) -> bytes:
    parts = [der.oid(SIG_OIDS[(family, hash_name)])]
    if family == "rsa":
        parts.append(b"\x05\x00")
    return der.sequence(*parts)


def resign(
    issued: Issued,
    signer_key: PrivateKey,
    *,
    hash_name: str = "sha256",
    outer_hash_name: str | None = None,
    edit_tbs: "callable | None" = None,  # type: ignore[valid-type]
) -> Issued:
    """Sign ``issued``'s TBS again, possibly edited, with ``hash_name`` (SHA-1 and MD5 included).

    ``outer_hash_name`` puts a different algorithm in the outer signatureAlgorithm than in the
    TBS (a mismatch browsers reject); ``edit_tbs(list_of_tbs_elements) -> list`` may rewrite the
    TBS fields (each a whole DER encoding) before signing.
    """
    family = _key_family(signer_key)
    _, cert_body, _ = der.read_tlv(issued.der)
    tbs_whole = der.children(cert_body)[0][2]
    _, tbs_body, _ = der.read_tlv(tbs_whole)
    fields = [whole for _, _, whole in der.children(tbs_body)]
    sig_index = 1 if fields[0][0] == 0xA0 else 0
    fields[sig_index + 1] = _alg_id(family, hash_name)  # TBS signature field
    if edit_tbs is not None:
        fields = edit_tbs(fields)
    tbs = der.sequence(*fields)
    signature = _sign(signer_key, tbs, hash_name)
    cert_der = der.sequence(tbs, _alg_id(family, outer_hash_name or hash_name), der.bit_string(signature))
    return Issued(cert=x509.load_der_x509_certificate(cert_der), key=issued.key, chain=issued.chain)


@dataclass
class LabPKI:
    """A DCCKI-like hierarchy: DCCKI Root CA -> DCCKI Issuing CA -> leaves."""

    root: Issued
    issuing: Issued

    @classmethod
    def create(cls, *, org: str = "DCCKI Lab", key: str = "ec-p256") -> "LabPKI":
        root = issue(subject=name("DCCKI Lab Root CA", o=org), ca=True, key=key, days=3650,
                     not_before=dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(days=30))
        issuing = issue(subject=name("DCCKI Lab Issuing CA 1", o=org), issuer=root, ca=True,
                        path_length=0, key=key, days=1825,
                        not_before=dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(days=20))
        return cls(root=root, issuing=issuing)

    def leaf(self, cn: str | None = None, *, dns: Sequence[str] = (), ips: Sequence[str] = (), **kwargs) -> Issued:
        """A leaf from the issuing CA (conformant unless told otherwise)."""
        return issue(subject=name(cn, ou="DCCKI Infrastructure"), issuer=self.issuing, dns=dns, ips=ips, **kwargs)


@dataclass
class Requested:
    """A certificate request (PKCS#10) with the private key that signed it."""

    der: bytes
    key: PrivateKey

    @property
    def pem(self) -> bytes:
        return x509.load_der_x509_csr(self.der).public_bytes(serialization.Encoding.PEM)


def request(
    *,
    subject: x509.Name | str | None = None,
    key: PrivateKey | str | None = None,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    eku: Sequence[x509.ObjectIdentifier] | None = (SERVER_AUTH, CLIENT_AUTH),
    key_usage: Sequence[str] | None = None,
    ca: bool | None = None,
    hash_name: str = "sha256",
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> Requested:
    """A CSR as a DCC User makes it for a DCCKI TLS certificate. Defaults conform to the profile:
    SAN with the given names (none when none are given), EKU serverAuth and clientAuth, keyUsage
    digitalSignature (+ keyEncipherment for RSA), SHA-256. ``ca=True``/``False`` adds
    basicConstraints; ``key_usage=[]`` and ``eku=None`` omit those; other hashes (SHA-1) are made
    by re-signing the CertificationRequestInfo (:func:`resign_request`)."""
    if isinstance(key, str) or key is None:
        key = shared_key(key or "ec-p256")
    if isinstance(subject, str) or subject is None:
        subject = name(subject, ou="DCCKI Infrastructure")
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    names = _general_names(dns, ips)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if key_usage is None:
        key_usage = ["digital_signature", "key_encipherment"] if isinstance(key, rsa.RSAPrivateKey) else ["digital_signature"]
    if key_usage:
        builder = builder.add_extension(x509.KeyUsage(**{f: (f in key_usage) for f in KEY_USAGE_FLAGS}), critical=True)
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    for ext, critical in extra:
        builder = builder.add_extension(ext, critical=critical)
    csr = builder.sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    made = Requested(der=csr.public_bytes(serialization.Encoding.DER), key=key)
    return resign_request(made, hash_name) if hash_name != "sha256" else made


def resign_request(made: Requested, hash_name: str) -> Requested:
    """Sign the request's CertificationRequestInfo again with ``hash_name`` (SHA-1 included, which
    cryptography refuses to build)."""
    family = _key_family(made.key)
    _, body, _ = der.read_tlv(made.der)
    info = der.children(body)[0][2]
    signature = _sign(made.key, info, hash_name)
    return Requested(der=der.sequence(info, _alg_id(family, hash_name), der.bit_string(signature)), key=made.key)
