"""Evidence packs: a zip an auditor can verify offline, months after the scan.

Layout (every name sorted in the zip, fixed timestamps and permissions, so the same scan always
packs to the same bytes)::

    manifest.json     {"format", "files": {name: {"sha256", "size"}}, "signature"}: every file but
                      manifest.json and manifest.sig
    manifest.sig      optional: detached signature over the bytes of manifest.json
    signer.pem        optional: the signer's public key or certificate (listed in the manifest)
    results.json      the scan's results, byte for byte
    report.html       the report as written by the scan (rendered from results.json if absent)
    chains/*.pem      every presented chain, leaf first
    targets.toml      the targets file, when the scan used one
    profile.toml      the user profile, when the scan used one
    versions.json     scanner and dependency versions (recorded at scan time and at packing)

Verification checks every hash, that no file is missing or extra, the signature, that each
chains/*.pem matches results.json, and finally re-evaluates every captured chain with the engine
(``scanner.evaluate``) at the recorded scan time with the recorded anchors and profile: a verdict
that does not reproduce is reported, naming the endpoint.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Mapping, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from scanner import __version__
from scanner.certinfo import sha256_hex
from scanner import pem as pem_module
from scanner.errors import InputError, read_input
from scanner.evaluate import evaluate
from scanner.evaluate.profile import Profile
from scanner.passwords import SIGN_KEY
from scanner.results import iter_endpoints, read_header, safe_id

FORMAT = "dccscan-evidence/1"
MANIFEST, SIGNATURE, SIGNER = "manifest.json", "manifest.sig", "signer.pem"
OPTIONAL_INPUTS = ("targets.toml", "profile.toml")
DEPENDENCIES = ("trio", "pyOpenSSL", "cryptography", "click", "jinja2", "publicsuffixlist", "platformdirs", "certifi")
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644

SigningKey = Union[ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]
PublicKey = Union[ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey, rsa.RSAPublicKey]


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, fixed separators, UTF-8, final newline."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def chain_file_name(endpoint_id: str) -> str:
    """``chains/<stem>.pem`` for an endpoint id, as the results schema defines the stem."""
    return f"chains/{safe_id(endpoint_id)}.pem"


# --- signing keys -------------------------------------------------------------------------------

def _pem_blocks(data: bytes, label: str) -> list[bytes]:
    return [b.text.encode("ascii") for b in pem_module.blocks(data.decode("ascii", errors="replace")) if b.label == label]


def load_signing_key(path: Path) -> tuple[SigningKey, bytes]:
    """The private key in ``path`` and the PEM to embed as signer.pem: the certificate(s) in the
    same file when present (they must match the key), else the public key."""
    data = read_input(path, "the signing key", fix="pass a PEM file holding an Ed25519, ECDSA or RSA private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # encrypted: its own password source (scanner.passwords), never the client key's
        password = SIGN_KEY.password()
        if password is None:
            raise InputError("the signing key is encrypted and no password was given", file=path,
                             fix=SIGN_KEY.fix(prompt=False)) from None
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (TypeError, ValueError) as exc:
            raise InputError("the signing key's password is wrong", file=path,
                             fix=f"check {SIGN_KEY.where()}") from exc
    except ValueError as exc:
        raise InputError(f"not a usable PEM private key ({exc})", file=path,
                         fix="pass a PEM file holding an Ed25519, ECDSA or RSA private key") from exc
    if not isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise InputError(f"{type(key).__name__} keys cannot sign evidence", file=path,
                         fix="use an Ed25519, ECDSA or RSA key")
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    certs = _pem_blocks(data, "CERTIFICATE")
    if certs:
        leaf = x509.load_pem_x509_certificate(certs[0]).public_key()
        leaf_pem = leaf.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        if leaf_pem != public:
            raise InputError("the certificate in the key file is not for this private key", file=path,
                             fix="put the signer's own certificate first, or leave certificates out")
        return key, b"".join(certs)
    return key, public


def load_public_key(path: Path) -> PublicKey:
    """A public key from a PEM public key or certificate (the first one in the file)."""
    data = read_input(path, "the public key", fix="pass the signer's public key or certificate as PEM")
    return _public_key_from_pem(data, path)


def _public_key_from_pem(data: bytes, path: Path | str) -> PublicKey:
    try:
        certs = _pem_blocks(data, "CERTIFICATE")
        key = (x509.load_pem_x509_certificate(certs[0]).public_key() if certs
               else serialization.load_pem_public_key(data))
    except ValueError as exc:
        raise InputError(f"not a PEM public key or certificate ({exc})", file=path,
                         fix="pass the signer's public key or certificate as PEM") from exc
    if not isinstance(key, (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise InputError(f"{type(key).__name__} keys are not used for evidence", file=path,
                         fix="pass an Ed25519, ECDSA or RSA public key")
    return key


def signature_algorithm(key: SigningKey | PublicKey) -> str:
    if isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return "ed25519"
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ecdsa-sha256"
    return "rsa-pkcs1v15-sha256"


def sign(key: SigningKey, data: bytes) -> bytes:
    """Deterministic signatures (Ed25519, RFC 6979 ECDSA, PKCS#1 v1.5), so packs reproduce."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def signature_valid(key: PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        else:
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# --- building -----------------------------------------------------------------------------------

def _versions(results: Path) -> dict[str, Any]:

    packer: dict[str, str] = {"dccscan": __version__, "python": platform.python_version()}
    for name in DEPENDENCIES:
        try:
            packer[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packer[name] = "not installed"
    return {"scan": read_header(results).get("scanner"), "packer": packer}


def _chain_files(results_dir: Path, results: Path) -> Iterator[tuple[str, bytes]]:
    """The chains/*.pem files the scan wrote; derived from results.json when the folder is absent."""
    chains = results_dir / "chains"
    if chains.is_dir():
        for pem in sorted(chains.glob("*.pem")):
            yield "chains/" + pem.name, pem.read_bytes()
        return

    for ep in iter_endpoints(results):
        if ep.get("chain"):
            yield chain_file_name(str(ep.get("id"))), "".join(c["pem"] for c in ep["chain"]).encode()


def _report_html(results_dir: Path, results: Path) -> bytes:
    existing = results_dir / "report.html"
    if existing.is_file():
        return existing.read_bytes()
    from scanner.report.html import write_html

    with tempfile.TemporaryDirectory() as scratch:
        return write_html(results, Path(scratch) / "report.html").read_bytes()


def pack_members(results_dir: Path, sign_key_path: Path | None = None) -> dict[str, bytes]:
    """Every file of the pack, by name (manifest and signature included)."""
    results = results_dir / "results.json"
    if not results.is_file():
        raise InputError("no results.json here", file=results_dir,
                         fix="pass the folder a scan wrote (it holds results.json, report.html, chains/)")
    members: dict[str, bytes] = {"results.json": results.read_bytes(),
                                 "report.html": _report_html(results_dir, results),
                                 "versions.json": canonical_json(_versions(results))}
    members.update(_chain_files(results_dir, results))
    for name in OPTIONAL_INPUTS:
        if (results_dir / name).is_file():
            members[name] = (results_dir / name).read_bytes()
    key = None
    if sign_key_path is not None:
        key, signer = load_signing_key(sign_key_path)
        members[SIGNER] = signer
    manifest = {"format": FORMAT, "algorithm": "sha256",
                "files": {n: {"sha256": sha256_hex(b), "size": len(b)} for n, b in sorted(members.items())},
                "signature": {"algorithm": signature_algorithm(key), "signer": SIGNER} if key else None}
    members[MANIFEST] = canonical_json(manifest)
    if key is not None:
        members[SIGNATURE] = sign(key, members[MANIFEST])
    return members


def write_zip(members: Mapping[str, bytes], pack_path: Path) -> Path:
    """Write ``members`` as a reproducible zip, atomically (temporary file, fsync, rename)."""
    pack_path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{pack_path.name}.", suffix=".tmp", dir=pack_path.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            with zipfile.ZipFile(raw, "w") as archive:
                for name in sorted(members):
                    info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.create_system = 3
                    info.external_attr = FILE_MODE << 16
                    archive.writestr(info, members[name], compresslevel=9)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temp, pack_path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return pack_path


def build_pack(results_dir: Path, pack_path: Path, sign_key_path: Path | None = None) -> Path:
    """Pack a scan's output folder into ``pack_path``; sign the manifest with ``sign_key_path``.
    Raises ``InputError`` for a folder without results.json or an unusable key."""
    return write_zip(pack_members(Path(results_dir), sign_key_path), Path(pack_path))


# --- verifying ----------------------------------------------------------------------------------

@dataclass
class Verification:
    """What verify_pack found: ``problems`` (each names a file or an endpoint) and ``notes``."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files_checked: int = 0
    endpoints_reevaluated: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_members(archive: zipfile.ZipFile, result: Verification) -> dict[str, bytes]:
    members: dict[str, bytes] = {}
    for info in archive.infolist():
        if info.filename in members:
            result.problems.append(f"{info.filename}: appears twice in the pack")
            continue
        try:
            members[info.filename] = archive.read(info)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:  # CRC errors and the like
            result.problems.append(f"{info.filename}: unreadable ({exc})")
    return members


def _check_manifest(members: Mapping[str, bytes], result: Verification) -> dict[str, Any] | None:
    if MANIFEST not in members:
        result.problems.append(f"{MANIFEST}: missing from the pack")
        return None
    try:
        manifest = json.loads(members[MANIFEST])
        files = manifest["files"]
        assert isinstance(files, dict)
    except (ValueError, KeyError, TypeError, AssertionError):
        result.problems.append(f"{MANIFEST}: not a dccscan evidence manifest")
        return None
    for name in sorted(files):
        if name not in members:
            result.problems.append(f"{name}: listed in {MANIFEST} but missing from the pack")
        elif sha256_hex(members[name]) != str(files[name].get("sha256")):
            result.problems.append(f"{name}: SHA-256 does not match {MANIFEST} (the file was altered)")
        else:
            result.files_checked += 1
    for name in sorted(set(members) - set(files) - {MANIFEST, SIGNATURE}):
        result.problems.append(f"{name}: in the pack but not listed in {MANIFEST}")
    if "results.json" not in files:
        result.problems.append(f"results.json: not listed in {MANIFEST}")
    return dict(manifest)


def _check_signature(members: Mapping[str, bytes], manifest: Mapping[str, Any] | None, public_key: Path | None,
                     result: Verification) -> None:
    if SIGNATURE not in members:
        if manifest is not None and manifest.get("signature"):
            result.problems.append(f"{SIGNATURE}: missing, but {MANIFEST} says the pack was signed")
        elif public_key is not None:
            result.problems.append(f"{SIGNATURE}: missing: the pack is not signed, so it cannot match {public_key}")
        else:
            result.notes.append("the pack is not signed: integrity rests on the manifest hashes alone")
        return
    if public_key is not None:
        key = load_public_key(public_key)
        if signature_valid(key, members[SIGNATURE], members.get(MANIFEST, b"")):
            result.notes.append(f"signature over {MANIFEST} verified with the key in {public_key}")
        else:
            result.problems.append(f"{SIGNATURE}: does not verify {MANIFEST} with the public key in {public_key}")
        return
    if SIGNER not in members:
        result.problems.append(f"{SIGNER}: missing, so {SIGNATURE} cannot be checked (pass --public-key)")
        return
    try:
        key = _public_key_from_pem(members[SIGNER], SIGNER)
    except InputError:
        result.problems.append(f"{SIGNER}: not a PEM public key or certificate")
        return
    if signature_valid(key, members[SIGNATURE], members.get(MANIFEST, b"")):
        result.notes.append(f"signature checked against the key embedded in the pack ({SIGNER}) only: "
                            "pass --public-key to tie it to a signer you trust")
    else:
        result.problems.append(f"{SIGNATURE}: does not verify {MANIFEST} with the embedded {SIGNER}")


def _check_chains(results: Path, members: Mapping[str, bytes], result: Verification) -> None:

    for ep in iter_endpoints(results):
        if not ep.get("chain"):
            continue
        name = chain_file_name(str(ep.get("id")))
        recorded = "".join(c.get("pem", "") for c in ep["chain"]).encode()
        if name not in members:
            result.problems.append(f"{name}: missing (endpoint {ep.get('id')} has a recorded chain)")
        elif members[name] != recorded:
            result.problems.append(f"{name}: differs from the chain recorded in results.json")


def pem_der(text: str) -> bytes:
    """The DER inside one PEM block, without parsing it: a captured certificate may be one that
    no parser accepts, and the engine must still get its exact bytes."""
    (block,) = pem_module.blocks(text)
    return block.der or b""


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _reevaluate(results: Path, result: Verification) -> None:
    settings = read_header(results).get("settings") or {}
    anchors = [pem_der(a["pem"]) for a in settings.get("trust_anchors") or []] or None
    try:
        profile = Profile.from_json(settings["profile"]) if settings.get("profile") else None
    except Exception as exc:  # noqa: BLE001 - a profile the engine refuses is a finding about the pack
        result.problems.append(f"results.json: the engine cannot load the recorded profile ({exc})")
        return
    for ep in iter_endpoints(results):
        if ep.get("chain"):
            _reevaluate_one(ep, evaluate, anchors, profile, result)


def _reevaluate_one(ep: Mapping[str, Any], evaluate: Any, anchors: list[bytes] | None, profile: Any,
                    result: Verification) -> None:
    ident = ep.get("id")
    chain = [pem_der(c["pem"]) for c in ep["chain"]]
    at = datetime.fromisoformat(str(ep["scanned_at"]).replace("Z", "+00:00"))
    try:
        fresh = evaluate(chain, ep["target"]["hostname"], anchors=anchors, at=at, profile=profile, aia=ep.get("aia"))
    except Exception as exc:  # noqa: BLE001 - one endpoint's failure must not hide the others
        result.problems.append(f"endpoint {ident}: the engine failed on its chain ({exc})")
        return
    result.endpoints_reevaluated += 1
    for key in ("browsers", "profile", "findings"):
        if _normal(fresh.get(key)) != _normal(ep.get(key)):
            result.problems.append(f"endpoint {ident}: {key} does not reproduce: recorded "
                                   f"{_brief(ep.get(key))}, re-evaluated {_brief(fresh.get(key))}")


def _brief(value: Any) -> str:
    text = json.dumps(_normal(value), sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


def verify_pack(pack_path: Path, public_key: Path | None = None) -> Verification:
    """Check a pack; ``InputError`` only for a pack or key file that cannot be read at all."""
    result = Verification()
    try:
        archive = zipfile.ZipFile(pack_path)
    except FileNotFoundError as exc:
        raise InputError("no such evidence pack", file=pack_path, fix="give the path of a PACK.zip") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        result.problems.append(f"{pack_path}: not a readable zip archive ({exc})")
        return result
    with archive:
        members = _read_members(archive, result)
    manifest = _check_manifest(members, result)
    _check_signature(members, manifest, public_key, result)
    if manifest is None or "results.json" not in members or any(p.startswith("results.json:") for p in result.problems):
        result.notes.append("verdicts not re-evaluated: results.json is missing or altered")
        return result
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "results.json"
        results.write_bytes(members["results.json"])
        try:
            _check_chains(results, members, result)
            _reevaluate(results, result)
        except (ValueError, KeyError, TypeError) as exc:
            result.problems.append(f"results.json: cannot be read as dccscan results ({exc})")
    return result
