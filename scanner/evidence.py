"""Evidence packs: a zip an auditor can verify offline, months after the scan.

Layout (every name sorted in the zip, fixed timestamps and permissions, so the same scan always
packs to the same bytes)::

    manifest.json     {"format", "files": {name: {"sha256", "size"}}, "signature"}: every file but
                      manifest.json and manifest.sig
    manifest.sig      optional: detached signature over the bytes of manifest.json
    signer.pem        optional: the signer's public key or certificate (listed in the manifest)
    results.json      the scan's results, byte for byte
    report.html       the report as written by the scan, with its details pages (details/NNNN.html);
                      all rendered from results.json when any of them is absent
    chains/*.pem      every presented chain, leaf first
    targets.toml      the targets file, when the scan used one
    profile.toml      the user profile, when the scan used one
    versions.json     scanner and dependency versions (recorded at scan time and at packing) and
                      the scan's pinned verdict inputs (public root store, public-suffix list)

Verification checks every hash, that no file is missing or extra, the signature, that each
chains/*.pem matches results.json, and finally re-evaluates every captured chain with the engine
(``scanner.evaluate``) at the recorded scan time with the recorded anchors and profile: a verdict
that does not reproduce is reported, naming the endpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import platform
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from scanner import __version__
from scanner.certinfo import sha256_hex
from scanner import pem as pem_module
from scanner.errors import InputError, read_input
from scanner.evaluate import compare_pinned, evaluate, with_handshake
from scanner.evaluate.profile import Profile
from scanner.passwords import SIGN_KEY
from scanner.results import chain_file, iter_endpoints, read_header

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
    data = read_input(path, "the public key", fix="pass the signer's public key or certificate as PEM", pipes=True)
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
    header = read_header(results)
    # the verdict inputs the scan recorded (public root store, public-suffix list), so the signed
    # pack itself names and hashes them, not only the results.json inside it
    return {"scan": header.get("scanner"), "packer": packer, "inputs": header.get("inputs")}


def _own_file(path: Path, what: str) -> bytes:
    """A file of the results folder, refused when it is a symbolic link or not a regular file:
    a pack carries the scan's own files, never what a link points at."""
    return read_input(path, what, fix="a results folder holds only the files the scan wrote",
                      follow_symlinks=False)


def _chain_files(results_dir: Path, results: Path, warn: Callable[[str], None]) -> Iterator[tuple[str, bytes]]:
    """The chain file of every endpoint, as results.json lists them (never a glob of the folder):
    the file the scan wrote, or, when the folder has none, the chain recorded in results.json.
    A file in chains/ that belongs to no endpoint is not packed, and ``warn`` is told."""
    chains = results_dir / "chains"
    if chains.is_symlink():
        raise InputError("chains is a symbolic link; only the scan's own files are packed", file=chains,
                         fix="replace the link with the folder the scan wrote")
    listed: set[str] = set()
    for ep in iter_endpoints(results):
        name = endpoint_chain_file(ep)
        if name is None or name in listed:
            continue
        listed.add(name)
        path = results_dir / name
        if path.exists() or path.is_symlink():
            yield name, _own_file(path, f"the chain file of {ep.get('id')}")
        else:
            yield name, "".join(c["pem"] for c in ep["chain"]).encode()
    if chains.is_dir():
        for extra in sorted(p for p in chains.iterdir() if "chains/" + p.name not in listed):
            warn(f"chains/{extra.name}: belongs to no endpoint in results.json; not packed")


def _revocation_files(results_dir: Path, results: Path) -> Iterator[tuple[str, bytes]]:
    """The CRLs and OCSP responses the scan recorded, as ``revocation_data`` lists them
    (``revocation/<sha256>.crl`` or ``.ocsp``; never a glob of the folder), so verify-evidence
    re-judges revocation offline from the very bytes the scan judged."""
    for entry in read_header(results).get("revocation_data") or []:
        name = str(entry.get("file", ""))
        if name.startswith("revocation/") and "/" not in name[len("revocation/"):]:
            path = results_dir / name
            if path.exists() or path.is_symlink():
                yield name, _own_file(path, f"the recorded revocation data {name}")


def _report_files(results_dir: Path, results: Path) -> dict[str, bytes]:
    """report.html and its details pages (``details/NNNN.html``, named by the endpoint count,
    never a glob of the folder): the files the scan wrote when every one is there, else all of
    them rendered afresh from results.json (a report is one set; never a mix of two renders)."""
    from scanner.report import details

    names = ["report.html", *details.page_names(sum(1 for _ in iter_endpoints(results)))]
    if all((results_dir / name).exists() or (results_dir / name).is_symlink() for name in names):
        return {name: _own_file(results_dir / name, f"the report file {name}") for name in names}
    from scanner.report.html import write_html

    with tempfile.TemporaryDirectory() as scratch:
        write_html(results, Path(scratch) / "report.html")
        return {name: (Path(scratch) / name).read_bytes() for name in names}


def _log_warning(message: str) -> None:
    from scanner.log import log_event

    log_event("evidence.warning", logging.WARNING, message=message)


def pack_members(results_dir: Path, sign_key_path: Path | None = None,
                 warn: Callable[[str], None] = _log_warning) -> dict[str, bytes]:
    """Every file of the pack, by name (manifest and signature included). A symbolic link or a
    special file among the scan's files is an ``InputError``; an extra chain file is left out
    and ``warn`` is told."""
    results = results_dir / "results.json"
    if not (results.exists() or results.is_symlink()):
        raise InputError("no results.json here", file=results_dir,
                         fix="pass the folder a scan wrote (it holds results.json, report.html, chains/)")
    members: dict[str, bytes] = {"results.json": _own_file(results, "results.json")}
    try:
        members["versions.json"] = canonical_json(_versions(results))
        members.update(_chain_files(results_dir, results, warn))
        members.update(_revocation_files(results_dir, results))
        members.update(_report_files(results_dir, results))
    except RecursionError:
        raise InputError("results.json nests too deeply to be dccscan results", file=results,
                         fix="pack the folder a scan wrote") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"results.json cannot be read as dccscan results ({exc})", file=results,
                         fix="pack the folder a scan wrote") from None
    for name in OPTIONAL_INPUTS:
        if (results_dir / name).exists() or (results_dir / name).is_symlink():
            members[name] = _own_file(results_dir / name, name)
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


def build_pack(results_dir: Path, pack_path: Path, sign_key_path: Path | None = None,
               warn: Callable[[str], None] = _log_warning) -> Path:
    """Pack a scan's output folder into ``pack_path``; sign the manifest with ``sign_key_path``.
    Raises ``InputError`` for a folder without results.json, a linked or special file among the
    scan's files, or an unusable key; ``warn`` hears of files left out."""
    return write_zip(pack_members(Path(results_dir), sign_key_path, warn), Path(pack_path))


# --- verifying ----------------------------------------------------------------------------------
#
# A pack is hostile input until proven otherwise: every entry's declared size and the number of
# entries are checked against these bounds before anything is decompressed; entries are then
# streamed (never more than CHUNK bytes in memory, never more than the declared size, which
# zipfile enforces) into a scratch folder under names of our own, so no entry name is ever a path.

MAX_ENTRIES = 200_000  # a 100,000-endpoint scan packs ~100,000 chain files
MAX_ENTRY_BYTES = 1 << 30  # 1 GiB: results.json of the largest estate is far below this
MAX_TOTAL_BYTES = 4 << 30
MAX_MANIFEST_BYTES = 64 << 20
MAX_SMALL_BYTES = 1 << 20  # manifest.sig and signer.pem
CHUNK = 1 << 20
EXIT_UNPINNED = 5  # verify-evidence: intact, but the signer was not pinned by the auditor
SIGNATURE_ALGORITHMS = ("ed25519", "ecdsa-sha256", "rsa-pkcs1v15-sha256")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def key_fingerprint(key: SigningKey | PublicKey) -> str:
    """``SHA256:<hex>`` of the key's DER SubjectPublicKeyInfo: what an auditor pins."""
    public = key.public_key() if isinstance(key, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey,
                                                  rsa.RSAPrivateKey)) else key
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + sha256_hex(der)


def parse_fingerprint(text: str) -> str:
    """A pinned fingerprint as ``SHA256:<64 lower-case hex>``: the prefix is optional, colons and
    case are ignored (``openssl`` prints ``AB:CD:...``); anything else is an ``InputError``."""
    value = text.strip()
    if value.upper().startswith("SHA256:"):
        value = value[len("SHA256:"):]
    value = value.replace(":", "").lower()
    if not _HEX64.fullmatch(value):
        raise InputError(f"{text!r} is not a SHA-256 key fingerprint", file="--signer-fingerprint",
                         fix="pass SHA256:<64 hex digits>, as `dccscan evidence` printed when it signed the pack")
    return "SHA256:" + value


@dataclass(frozen=True)
class Pins:
    """The signer the auditor named: a public key file and/or a key fingerprint."""

    public_key: Path | None = None
    fingerprint: str | None = None

    @property
    def any(self) -> bool:
        return self.public_key is not None or self.fingerprint is not None


@dataclass
class Verification:
    """What verify_pack found: ``problems`` (each names a file or an endpoint) and ``notes``.

    ``ok``: no problem (the files match the manifest, the signature, if any, verifies, the
    verdicts reproduce). ``proven``: ok AND the manifest is signed by a key the auditor pinned;
    only then is it known who made the pack."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files_checked: int = 0
    endpoints_reevaluated: int = 0
    signer: str | None = None  # fingerprint of the key whose signature verified
    pinned: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def proven(self) -> bool:
        return self.ok and self.pinned and self.signer is not None


@dataclass(frozen=True)
class _Member:
    path: Path  # its bytes, in the scratch folder
    sha256: str
    size: int

    def read(self) -> bytes:
        return self.path.read_bytes()


def _size_problems(infos: list[zipfile.ZipInfo]) -> list[str]:
    """Bounds checked on the zip's declared sizes and count, before any entry is decompressed."""
    if len(infos) > MAX_ENTRIES:
        return [f"the pack has {len(infos)} entries, more than the {MAX_ENTRIES} a pack may hold "
                "(refused before reading)"]
    problems = [f"{i.filename}: declares {i.file_size} bytes uncompressed, more than the {MAX_ENTRY_BYTES} "
                "a pack entry may hold (refused before reading)" for i in infos if i.file_size > MAX_ENTRY_BYTES]
    total = sum(i.file_size for i in infos)
    if not problems and total > MAX_TOTAL_BYTES:
        problems.append(f"the pack declares {total} bytes uncompressed in all, more than {MAX_TOTAL_BYTES} "
                        "(refused before reading)")
    return problems


def _extract(archive: zipfile.ZipFile, scratch: Path, result: Verification) -> dict[str, _Member]:
    """Every entry streamed to ``scratch`` (hashed on the way), or no entry when a bound is broken."""
    infos = archive.infolist()
    bounds = _size_problems(infos)
    if bounds:
        result.problems.extend(bounds)
        return {}
    members: dict[str, _Member] = {}
    for number, info in enumerate(infos):
        if info.filename in members:
            result.problems.append(f"{info.filename}: appears twice in the pack")
            continue
        target = scratch / f"{number:06d}"
        digest = hashlib.sha256()
        size = 0
        try:
            with archive.open(info) as source, open(target, "wb") as sink:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    digest.update(chunk)
                    sink.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
            result.problems.append(f"{info.filename}: unreadable ({exc})")  # CRC errors, encryption, ...
            continue
        members[info.filename] = _Member(target, digest.hexdigest(), size)
    return members


def manifest_problems(value: Any) -> list[str]:
    """What is wrong with a parsed manifest.json, checked before any of it is used (its schema:
    ``format``, ``algorithm``, ``files`` {name: {sha256, size}}, ``signature`` null or
    {algorithm, signer})."""
    if not isinstance(value, dict):
        return [f"is a JSON {type(value).__name__}, not an object"]
    problems = []
    keys = {"format", "algorithm", "files", "signature"}
    if set(value) != keys:
        problems.append(f"has keys {sorted(value)}, expected {sorted(keys)}")
    if value.get("format") != FORMAT:
        problems.append(f"format is {_short(value.get('format'))}, not {FORMAT!r}")
    if value.get("algorithm") != "sha256":
        problems.append(f"algorithm is {_short(value.get('algorithm'))}, not 'sha256'")
    files = value.get("files")
    if not isinstance(files, dict):
        problems.append("files is not an object of file names")
    else:
        bad = [name for name, entry in files.items() if not _file_entry_ok(name, entry)]
        problems += [f"files[{_short(name)}] is not {{sha256: 64 hex digits, size: bytes}}" for name in bad[:5]]
        if len(bad) > 5:
            problems.append(f"... and {len(bad) - 5} more malformed file entries")
    signature = value.get("signature")
    if signature is not None and not (isinstance(signature, dict) and set(signature) == {"algorithm", "signer"}
                                      and signature.get("algorithm") in SIGNATURE_ALGORITHMS
                                      and signature.get("signer") == SIGNER):
        problems.append(f"signature is not null or {{algorithm: one of {', '.join(SIGNATURE_ALGORITHMS)}, "
                        f"signer: {SIGNER!r}}}")
    return problems


def _file_entry_ok(name: str, entry: Any) -> bool:
    return (bool(name) and isinstance(entry, dict) and set(entry) == {"sha256", "size"}
            and isinstance(entry["sha256"], str) and bool(_HEX64.fullmatch(entry["sha256"]))
            and type(entry["size"]) is int and 0 <= entry["size"] <= MAX_ENTRY_BYTES)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _load_manifest(members: Mapping[str, _Member], result: Verification) -> dict[str, Any] | None:
    member = members.get(MANIFEST)
    if member is None:
        result.problems.append(f"{MANIFEST}: missing from the pack")
        return None
    if member.size > MAX_MANIFEST_BYTES:
        result.problems.append(f"{MANIFEST}: {member.size} bytes, more than the {MAX_MANIFEST_BYTES} a manifest may hold")
        return None
    try:
        manifest = json.loads(member.read())
    except RecursionError:
        result.problems.append(f"{MANIFEST}: nested too deeply to be a dccscan evidence manifest")
        return None
    except ValueError as exc:
        result.problems.append(f"{MANIFEST}: not JSON ({exc})")
        return None
    problems = manifest_problems(manifest)
    if problems:
        result.problems += [f"{MANIFEST}: not a dccscan evidence manifest: {p}" for p in problems]
        return None
    return dict(manifest)


def _check_manifest(members: Mapping[str, _Member], manifest: Mapping[str, Any], result: Verification) -> None:
    files = manifest["files"]
    for name in sorted(files):
        member = members.get(name)
        if member is None:
            result.problems.append(f"{name}: listed in {MANIFEST} but missing from the pack")
        elif member.sha256 != files[name]["sha256"] or member.size != files[name]["size"]:
            result.problems.append(f"{name}: SHA-256 does not match {MANIFEST} (the file was altered)")
        else:
            result.files_checked += 1
    for name in sorted(set(members) - set(files) - {MANIFEST, SIGNATURE}):
        result.problems.append(f"{name}: in the pack but not listed in {MANIFEST}")
    if "results.json" not in files:
        result.problems.append(f"results.json: not listed in {MANIFEST}")


def _small(members: Mapping[str, _Member], name: str, result: Verification) -> bytes | None:
    member = members.get(name)
    if member is None:
        return None
    if member.size > MAX_SMALL_BYTES:
        result.problems.append(f"{name}: {member.size} bytes, far too large")
        return None
    return member.read()


def _check_signature(members: Mapping[str, _Member], manifest: Mapping[str, Any] | None, pins: Pins,
                     result: Verification) -> None:
    """Who signed the manifest, and whether that is a key the auditor pinned."""
    declared = manifest is not None and manifest.get("signature") is not None
    if SIGNATURE not in members:
        if declared:
            result.problems.append(f"{SIGNATURE}: missing, but {MANIFEST} says the pack was signed")
        elif pins.any:
            result.problems.append(f"{SIGNATURE}: missing: the pack is not signed, so it cannot be tied to the "
                                   "signer you pinned")
        return
    signature, manifest_bytes = _small(members, SIGNATURE, result), _small(members, MANIFEST, result)
    if signature is None or manifest_bytes is None:
        return
    if manifest is not None and not declared:
        result.problems.append(f"{SIGNATURE}: present, but {MANIFEST} records no signature")
        return
    key = _signing_key(members, pins, result)
    if key is None:
        return
    fingerprint = key_fingerprint(key)
    if pins.fingerprint is not None and fingerprint != pins.fingerprint:
        result.problems.append(f"{SIGNATURE}: made with key {fingerprint}, not the pinned {pins.fingerprint}")
        return
    where = f"the key in {pins.public_key}" if pins.public_key is not None else f"the embedded {SIGNER}"
    if not signature_valid(key, signature, manifest_bytes):
        result.problems.append(f"{SIGNATURE}: does not verify {MANIFEST} with {where}")
        return
    result.signer, result.pinned = fingerprint, pins.any


def _signing_key(members: Mapping[str, _Member], pins: Pins, result: Verification) -> PublicKey | None:
    """The pinned public key, else the one embedded in the pack (signer.pem)."""
    if pins.public_key is not None:
        return load_public_key(pins.public_key)
    embedded = _small(members, SIGNER, result)
    if embedded is None:
        result.problems.append(f"{SIGNER}: missing, so {SIGNATURE} cannot be checked (pass --public-key)")
        return None
    try:
        return _public_key_from_pem(embedded, SIGNER)
    except InputError:
        result.problems.append(f"{SIGNER}: not a PEM public key or certificate")
        return None


def endpoint_chain_file(ep: Mapping[str, Any]) -> str | None:
    """The chain file of an endpoint (``chains/...pem``), or None when it has no chain: the one
    place packing and verifying learn an endpoint's file. results.json records it as
    ``chain_file`` (``scanner.results.chain_file`` checks it, since results.json is input: one
    plain file directly in chains/); older results name it after the endpoint id."""
    if not ep.get("chain"):
        return None
    return chain_file(ep)


def _check_chains(results: Path, members: Mapping[str, _Member], result: Verification) -> None:
    for ep in iter_endpoints(results):
        name = endpoint_chain_file(ep)
        if name is None:
            continue
        recorded = "".join(c.get("pem", "") for c in ep["chain"]).encode()
        member = members.get(name)
        if member is None:
            result.problems.append(f"{name}: missing (endpoint {ep.get('id')} has a recorded chain)")
        elif member.size != len(recorded) or member.read() != recorded:
            result.problems.append(f"{name}: differs from the chain recorded in results.json")


def pem_der(text: str) -> bytes:
    """The DER inside one PEM block, without parsing it: a captured certificate may be one that
    no parser accepts, and the engine must still get its exact bytes."""
    (block,) = pem_module.blocks(text)
    return block.der or b""


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _reevaluate(results: Path, result: Verification, members: Mapping[str, Any] | None = None) -> None:
    header = read_header(results)
    settings = header.get("settings") or {}
    # The public root store and public-suffix list are not in the pack: say plainly when the ones
    # this evaluation uses are not the ones the scan recorded (verdicts then re-derived may differ,
    # and any that do are problems below).
    result.notes.extend(f"inputs: {message}" for message in compare_pinned(header.get("inputs") or {}))
    anchors = [pem_der(a["pem"]) for a in settings.get("trust_anchors") or []] or None
    try:
        profile = Profile.from_json(settings["profile"]) if settings.get("profile") else None
    except Exception as exc:  # noqa: BLE001 - a profile the engine refuses is a finding about the pack
        result.problems.append(f"results.json: the engine cannot load the recorded profile ({exc})")
        return
    for ep in iter_endpoints(results):
        if ep.get("chain"):
            _reevaluate_one(ep, evaluate, anchors, profile, result, members or {})


def _reevaluate_one(ep: Mapping[str, Any], evaluate: Any, anchors: list[bytes] | None, profile: Any,
                    result: Verification, members: Mapping[str, Any] | None = None) -> None:
    ident = ep.get("id")
    chain = [pem_der(c["pem"]) for c in ep["chain"]]
    at = datetime.fromisoformat(str(ep["scanned_at"]).replace("Z", "+00:00"))
    try:
        fresh = evaluate(chain, ep["target"]["hostname"], anchors=anchors, at=at, profile=profile, aia=ep.get("aia"))
    except Exception as exc:  # noqa: BLE001 - one endpoint's failure must not hide the others
        result.problems.append(f"endpoint {ident}: the engine failed on its chain ({exc})")
        return
    keys: tuple[str, ...] = ("browsers", "profile", "findings")
    if ep.get("revocation") is not None:  # judged again from the pack's revocation/ files, as of the scan
        fresh = _with_revocation(fresh, ep, chain, anchors, at, members or {})
        keys += ("revocation",)
    fresh = with_handshake(fresh, ep.get("tls"), at)  # last, as scanner/assess.py joins it
    result.endpoints_reevaluated += 1
    for key in keys:
        if _normal(fresh.get(key)) != _normal(ep.get(key)):
            result.problems.append(f"endpoint {ident}: {key} does not reproduce: recorded "
                                   f"{_brief(ep.get(key))}, re-evaluated {_brief(fresh.get(key))}")


def _with_revocation(fresh: Mapping[str, Any], ep: Mapping[str, Any], chain: list[bytes],
                     anchors: list[bytes] | None, at: datetime, members: Mapping[str, Any]) -> dict[str, Any]:
    """``fresh`` with the revocation judgement the scan made (scanner/assess.py), made again from
    the recorded sources and the pack's ``revocation/`` files."""
    from scanner.evaluate.revocation import assess, blob_name, source_inputs, with_browser_revocation

    def load(sha: str) -> bytes | None:
        name = next((n for n in (blob_name(sha, "crl"), blob_name(sha, "ocsp")) if n in members), None)
        return members[name].path.read_bytes() if name is not None else None

    judged = assess(chain, source_inputs(ep["revocation"]), load, anchors=anchors, at=at)
    return dict(fresh, findings=list(fresh.get("findings") or []) + judged["findings"],
                revocation=judged["revocation"],
                browsers=with_browser_revocation(fresh.get("browsers"), judged["revocation"]))


def _brief(value: Any) -> str:
    text = json.dumps(_normal(value), sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


def verify_pack(pack_path: Path, public_key: Path | None = None, *, pins: Pins | None = None) -> Verification:
    """Check a pack; ``InputError`` only for a pack or key file that cannot be read at all.

    ``public_key`` (or ``pins``) names the signer the auditor expects; without one the result can
    be ``ok`` but never ``proven``."""
    pins = pins or Pins(public_key=public_key)
    result = Verification()
    if pack_path.exists() and not pack_path.is_file():
        raise InputError("not a regular file", file=pack_path, fix="give the path of a PACK.zip")
    try:
        archive = zipfile.ZipFile(pack_path)
    except FileNotFoundError as exc:
        raise InputError("no such evidence pack", file=pack_path, fix="give the path of a PACK.zip") from exc
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        result.problems.append(f"{pack_path}: not a readable zip archive ({exc})")
        return result
    with archive, tempfile.TemporaryDirectory(prefix="dccscan-verify-") as scratch:
        members = _extract(archive, Path(scratch), result)
        if not members:
            return result
        manifest = _load_manifest(members, result)
        if manifest is not None:
            _check_manifest(members, manifest, result)
        _check_signature(members, manifest, pins, result)
        if manifest is None or "results.json" not in members or any(p.startswith("results.json:") for p in result.problems):
            result.notes.append("verdicts not re-evaluated: results.json is missing or altered")
            return result
        results = members["results.json"].path
        try:
            _check_chains(results, members, result)
            _reevaluate(results, result, members)
        except RecursionError:
            result.problems.append("results.json: nested too deeply to be dccscan results")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            result.problems.append(f"results.json: cannot be read as dccscan results ({exc})")
    return result
