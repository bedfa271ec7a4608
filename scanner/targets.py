"""Targets: what to scan, from a TOML targets file or the command line.

Everything a user can get wrong here is reported before anything is scanned, as an
``InputError`` naming the file, the line and the fix. ``tomllib`` gives a line only for syntax
errors, so the line of an offending key or ``[[target]]`` table is found by scanning the text.
Client keys are decrypted once, at load time (``DCCSCAN_KEY_PASSWORD`` or a prompt on a
terminal), so a wrong password stops the run at the start instead of failing every endpoint.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import ipaddress
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

import idna
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from scanner.errors import InputError, read_input
from scanner.probe.tls import ClientIdentity, is_ip_literal

INTERFACES = ("gateway", "self-service", "registration", "other")
DEFAULT_PORT = 443
DEFAULT_TIMEOUT = 10.0
PASSWORD_ENV = "DCCSCAN_KEY_PASSWORD"
TARGET_KEYS = ("name", "interface", "host", "port", "hostname", "tags", "timeout",
               "trust_anchors", "client_cert", "client_key", "crl")
DEFAULT_KEYS = ("interface", "port", "tags", "timeout", "trust_anchors", "client_cert", "client_key", "crl")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class Target:
    """One thing to scan: ``host`` is where we connect, ``hostname`` what the certificate must
    name (and the SNI). Paths are absolute."""

    name: str
    interface: str
    host: str
    port: int
    hostname: str
    tags: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    trust_anchors: tuple[Path, ...] = ()
    client_cert: Path | None = None
    client_key: Path | None = None
    crls: tuple[Path, ...] = ()  # CRL files (DER or PEM) for networks where the CA cannot be reached

    def to_json(self) -> dict[str, Any]:
        """The results schema's ``target`` object."""
        return {"name": self.name, "interface": self.interface, "host": self.host,
                "port": self.port, "hostname": self.hostname, "tags": list(self.tags)}


@dataclass(frozen=True)
class TargetsFile:
    targets: tuple[Target, ...]
    path: Path
    sha256: str


@dataclass
class _Where:
    """Where a value came from, to point the user at it."""

    file: str
    lines: list[str] = field(default_factory=list)
    table: tuple[str, int] | None = None  # ("target", index) or ("defaults", 0)

    def fail(self, message: str, fix: str, key: str | None = None) -> NoReturn:
        raise InputError(message, file=self.file, line=self.line_of(key), fix=fix)

    def line_of(self, key: str | None) -> int | None:
        """1-based line of ``key`` inside the current table (or of the table header)."""
        if self.table is None or not self.lines:
            return None
        start, end = _table_span(self.lines, *self.table)
        if start is None:
            return None
        found = self._key_line(start, end, key)
        if found is None and key and self.table[0] == "target":
            # the value may come from [defaults]: point there
            d_start, d_end = _table_span(self.lines, "defaults", 0)
            found = self._key_line(d_start, d_end, key) if d_start is not None else None
        return found or start + 1

    def _key_line(self, start: int, end: int, key: str | None) -> int | None:
        if not key:
            return None
        pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
        return next((n + 1 for n in range(start + 1, end) if pattern.match(self.lines[n])), None)


def _table_span(lines: list[str], table: str, index: int) -> tuple[int | None, int]:
    header = re.compile(r"^\s*\[\[\s*target\s*\]\]" if table == "target" else r"^\s*\[\s*defaults\s*\]")
    any_header = re.compile(r"^\s*\[")
    seen = -1
    for number, text in enumerate(lines):
        if header.match(text):
            seen += 1
            if seen == index:
                end = next((n for n in range(number + 1, len(lines)) if any_header.match(lines[n])), len(lines))
                return number, end
    return None, len(lines)


# ---- value checks -------------------------------------------------------------------------

def _check_type(where: _Where, key: str, value: Any, kind: type | tuple[type, ...], wanted: str) -> None:
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        where.fail(f"'{key}' must be {wanted}, not {value!r}", f"write {key} as {wanted}", key)


def normalise_hostname(text: str, where: _Where, key: str = "hostname") -> str:
    """An IP literal as is, else an A-label DNS name in lower case without a trailing dot."""
    candidate = text.strip()
    try:
        return str(ipaddress.ip_address(candidate.strip("[]")))
    except ValueError:
        pass
    name = candidate[:-1] if candidate.endswith(".") else candidate
    try:
        alabel = idna.encode(name, uts46=True).decode("ascii") if not name.isascii() else name.lower()
    except idna.IDNAError as exc:
        where.fail(f"'{text}' is not a valid hostname ({exc})", "give a DNS name such as "
                   "gw.example.net or an IP address", key)
    labels = alabel.split(".")
    if not alabel or len(alabel) > 253 or not all(_LABEL.match(label) for label in labels):
        where.fail(f"'{text}' is not a valid hostname", "use letters, digits and hyphens in "
                   "dot-separated labels (e.g. gw.example.net), or an IP address", key)
    return alabel


def hostname_option(text: str, option: str) -> str:
    """A hostname given as a command-line option, normalised as a targets file's ``hostname`` is.

    For commands other than ``scan`` (e.g. ``check-csr --hostname``), so that every command
    reads a name the same way; a bad name is an ``InputError`` naming ``option``.
    """
    return normalise_hostname(text, _Where(file=option))


def _port(where: _Where, value: Any) -> int:
    _check_type(where, "port", value, int, "an integer from 1 to 65535")
    if not 1 <= value <= 65535:
        where.fail(f"port {value} is out of range", "use a TCP port from 1 to 65535", "port")
    return int(value)


def _timeout(where: _Where, value: Any) -> float:
    _check_type(where, "timeout", value, (int, float), "a number of seconds")
    if value <= 0:
        where.fail(f"timeout {value} must be more than 0 seconds", "use e.g. timeout = 10", "timeout")
    return float(value)


def _readable(where: _Where, key: str, text: Any, base: Path) -> Path:
    _check_type(where, key, text, str, "a file path (string)")
    path = (base / text).resolve() if not Path(text).is_absolute() else Path(text)
    try:
        path.read_bytes()
    except OSError as exc:
        where.fail(f"{key} file {path} cannot be read ({exc.strerror or exc})",
                   "check the path (relative paths are relative to the targets file) and permissions", key)
    return path


def read_certificates(where: _Where, key: str, path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file; an InputError when there is none."""
    data = path.read_bytes()
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        where.fail(f"{key} file {path} holds no PEM certificate",
                   "give a PEM file with '-----BEGIN CERTIFICATE-----' blocks", key)
    return certs


def _anchors(where: _Where, value: Any, base: Path) -> tuple[Path, ...]:
    items = [value] if isinstance(value, str) else value
    _check_type(where, "trust_anchors", items, list, "a list of PEM file paths")
    paths = tuple(_readable(where, "trust_anchors", item, base) for item in items)
    for path in paths:
        read_certificates(where, "trust_anchors", path)
    return paths


def _checked_anchors(where: _Where, value: Any, base: Path,
                     seen: dict[tuple[str, ...], tuple[Path, ...]] | None) -> tuple[Path, ...]:
    """``_anchors``, once per distinct list of paths when ``seen`` is given."""
    key = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, list) else None
    if seen is None or key is None or not all(isinstance(item, str) for item in key):
        return _anchors(where, value, base)
    if key not in seen:
        seen[key] = _anchors(where, value, base)
    return seen[key]


def read_crl(path: Path) -> bytes:
    """A CRL file's bytes when it holds a DER or PEM CRL; ValueError otherwise."""
    from scanner.evaluate.revocation import crl_der

    data = path.read_bytes()
    crl_der(data)
    return data


def _crls(where: _Where, value: Any, base: Path) -> tuple[Path, ...]:
    items = [value] if isinstance(value, str) else value
    _check_type(where, "crl", items, list, "a list of CRL file paths")
    paths = tuple(_readable(where, "crl", item, base) for item in items)
    for path in paths:
        try:
            read_crl(path)
        except ValueError:
            where.fail(f"crl file {path} holds no CRL",
                       "give the issuing CA's CRL as DER or PEM ('-----BEGIN X509 CRL-----')", "crl")
    return paths


def _tags(where: _Where, value: Any) -> tuple[str, ...]:
    _check_type(where, "tags", value, list, "a list of strings")
    for tag in value:
        _check_type(where, "tags", tag, str, "a list of strings")
    return tuple(value)


# ---- client identity ------------------------------------------------------------------------

_IDENTITIES: dict[tuple[Path, Path], ClientIdentity] = {}


def _password(path: Path, prompt: Callable[[str], str] | None) -> bytes | None:
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV].encode("utf-8")
    if prompt is not None:
        return prompt(f"Password for {path}: ").encode("utf-8")
    return None


def _default_prompt() -> Callable[[str], str] | None:
    return getpass.getpass if sys.stdin is not None and sys.stdin.isatty() else None


def _identity(where: _Where, cert: Path, key: Path) -> ClientIdentity:
    """Load and decrypt a client certificate and key once; cached for the probe."""
    if (cert, key) in _IDENTITIES:
        return _IDENTITIES[(cert, key)]
    chain = read_certificates(where, "client_cert", cert)
    data = key.read_bytes()
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        password = _password(key, _default_prompt())
        if password is None:
            where.fail(f"client_key {key} is encrypted and no password was given",
                       f"set {PASSWORD_ENV}, or run from a terminal to be prompted", "client_key")
        try:
            private = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError):
            where.fail(f"client_key {key}: the password is wrong",
                       f"check {PASSWORD_ENV} or the password you typed", "client_key")
    except ValueError as exc:
        where.fail(f"client_key {key} is not a PEM private key ({exc})",
                   "give the PEM key (-----BEGIN PRIVATE KEY-----) that matches client_cert", "client_key")
    if private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) != \
            chain[0].public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        where.fail(f"client_key {key} does not match the certificate in {cert}",
                   "give the key the client certificate was issued for", "client_key")
    plain = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    identity = ClientIdentity(chain=tuple(c.public_bytes(serialization.Encoding.DER) for c in chain), key_pem=plain)
    _IDENTITIES[(cert, key)] = identity
    return identity


def client_identity(target: Target) -> ClientIdentity | None:
    """The decrypted client identity for a target loaded earlier (None without client_cert)."""
    if target.client_cert is None or target.client_key is None:
        return None
    where = _Where(file=str(target.client_cert))
    return _identity(where, target.client_cert, target.client_key)


def anchor_ders(target: Target) -> list[bytes] | None:
    """DER of the target's trust anchors; None when it has none (the public store applies)."""
    if not target.trust_anchors:
        return None
    return [der for path in target.trust_anchors for der in _pem_ders(path)]


def _pem_ders(path: Path) -> list[bytes]:
    return [c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(path.read_bytes())]


def anchor_records(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """``settings.trust_anchors`` entries: PEM, SHA-256 and subject of every anchor, once each."""
    from scanner.certinfo import der_to_pem, sha256_hex
    seen: dict[str, dict[str, Any]] = {}
    for path in paths:
        for cert in x509.load_pem_x509_certificates(path.read_bytes()):
            der = cert.public_bytes(serialization.Encoding.DER)
            seen.setdefault(sha256_hex(der), {"pem": der_to_pem(der), "sha256": sha256_hex(der),
                                              "subject": cert.subject.rfc4514_string(), "source": str(path)})
    return list(seen.values())


# ---- building targets -----------------------------------------------------------------------

def _build(where: _Where, raw: dict[str, Any], base: Path,
           anchors_seen: dict[tuple[str, ...], tuple[Path, ...]] | None = None) -> Target:
    """One checked ``Target``. ``anchors_seen`` remembers trust-anchor lists already read and
    checked in this file: an estate's targets share one list from [defaults], and reading and
    parsing it again per target was most of the cost of loading a large file."""
    for key in raw:
        if key not in TARGET_KEYS:
            where.fail(f"unknown key '{key}'", f"use only: {', '.join(TARGET_KEYS)}", key)
    for required in ("name", "host"):
        if required not in raw:
            where.fail(f"this target has no '{required}'", f"add {required} = \"...\" to it")
    _check_type(where, "name", raw["name"], str, "a string")
    if not raw["name"].strip():
        where.fail("'name' is empty", "give each target a unique, non-empty name", "name")
    interface = raw.get("interface", "other")
    if interface not in INTERFACES:
        where.fail(f"unknown interface {interface!r}", f"use one of: {', '.join(INTERFACES)}", "interface")
    _check_type(where, "host", raw["host"], str, "a DNS name or IP address")
    host = normalise_hostname(raw["host"], where, "host")
    hostname_raw = raw.get("hostname", raw["host"])
    _check_type(where, "hostname", hostname_raw, str, "a DNS name or IP address")
    cert_text, key_text = raw.get("client_cert"), raw.get("client_key")
    if (cert_text is None) != (key_text is None):
        where.fail("client_cert and client_key must be given together", "set both (or neither) for mutual TLS",
                   "client_cert" if cert_text is not None else "client_key")
    target = Target(
        name=raw["name"], interface=interface, host=host, port=_port(where, raw.get("port", DEFAULT_PORT)),
        hostname=normalise_hostname(hostname_raw, where), tags=_tags(where, raw.get("tags", [])),
        timeout=_timeout(where, raw.get("timeout", DEFAULT_TIMEOUT)),
        trust_anchors=_checked_anchors(where, raw.get("trust_anchors", []), base, anchors_seen),
        client_cert=_readable(where, "client_cert", cert_text, base) if cert_text is not None else None,
        client_key=_readable(where, "client_key", key_text, base) if key_text is not None else None,
        crls=_crls(where, raw.get("crl", []), base),
    )
    if target.client_cert and target.client_key:
        _identity(where, target.client_cert, target.client_key)
    return target


def load_targets(path: str | Path) -> TargetsFile:
    """Read and check a targets file; InputError (file, line, fix) on the first problem."""
    path = Path(path)
    data = read_input(path, "the targets file", fix="check the path given to --targets")
    try:
        text = data.decode("utf-8")
        document = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise InputError("the targets file is not UTF-8 text", file=path, fix="save it as UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise InputError(f"not valid TOML: {exc}", file=path, line=int(line.group(1)) if line else None,
                         fix="correct the TOML syntax at that line") from exc
    lines = text.splitlines()
    top = _Where(file=str(path), lines=lines)
    for key in document:
        if key not in ("defaults", "target"):
            raise InputError(f"unknown top-level key '{key}'", file=path, line=_top_line(lines, key),
                             fix="the file holds an optional [defaults] table and [[target]] tables")
    defaults = document.get("defaults", {})
    where = _Where(file=str(path), lines=lines, table=("defaults", 0))
    if not isinstance(defaults, dict):
        top.fail("'defaults' must be a table", "write it as [defaults]")
    for key in defaults:
        if key not in DEFAULT_KEYS:
            where.fail(f"unknown key '{key}' in [defaults]", f"[defaults] may set: {', '.join(DEFAULT_KEYS)}", key)
    raw_targets = document.get("target", [])
    if not isinstance(raw_targets, list) or not raw_targets:
        raise InputError("the file lists no targets", file=path,
                         fix="add at least one [[target]] table with name and host")
    targets: list[Target] = []
    names: dict[str, int] = {}
    base = path.parent.resolve()
    anchors_seen: dict[tuple[str, ...], tuple[Path, ...]] = {}
    for index, raw in enumerate(raw_targets):
        where = _Where(file=str(path), lines=lines, table=("target", index))
        merged = {**defaults, **raw}
        target = _build(where, merged, base, anchors_seen)
        if target.name in names:
            where.fail(f"duplicate target name '{target.name}' (first used by target {names[target.name] + 1})",
                       "give every target a unique name", "name")
        names[target.name] = index
        targets.append(target)
    return TargetsFile(targets=tuple(targets), path=path, sha256=hashlib.sha256(data).hexdigest())


def _top_line(lines: list[str], key: str) -> int | None:
    pattern = re.compile(rf"^\s*\[*\s*[\"']?{re.escape(key)}\b")
    return next((n + 1 for n, text in enumerate(lines) if pattern.match(text)), None)


_CLI_TARGET = re.compile(r"^\[(?P<v6>[^\]]+)\](?::(?P<v6port>[^:]*))?$|^(?P<host>[^:\[\]]+)(?::(?P<port>[^:]*))?$")


def parse_cli_target(text: str, *, hostname: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                     trust_anchors: Sequence[str] = (), client_cert: str | None = None,
                     client_key: str | None = None) -> Target:
    """``host``, ``host:port``, ``[v6]:port`` (or a bare IPv6 literal) from the command line."""
    where = _Where(file="command line")
    match = _CLI_TARGET.match(text.strip())
    host, port_text = (text.strip(), None)
    if match:
        host = match.group("v6") or match.group("host")
        port_text = match.group("v6port") if match.group("v6") else match.group("port")
        if match.group("v6") and ":" not in host:
            where.fail(f"target '{text}' puts brackets around '{host}', which is not an IPv6 address",
                       "brackets are for IPv6 literals only: write gw.example.net:443 or [::1]:443")
    elif not is_ip_literal(text.strip()):
        where.fail(f"target '{text}' is not HOST[:PORT]", "write e.g. gw.example.net:443 or [::1]:8443")
    port = DEFAULT_PORT
    if port_text is not None:
        if not port_text.isdigit():
            where.fail(f"target '{text}' has a bad port '{port_text}'", "use a port from 1 to 65535")
        port = _port(where, int(port_text))
    raw: dict[str, Any] = {"name": text.strip(), "host": host, "port": port, "timeout": timeout,
                           "trust_anchors": list(trust_anchors), "interface": "other"}
    if hostname is not None:
        raw["hostname"] = hostname
    if client_cert is not None or client_key is not None:
        raw["client_cert"], raw["client_key"] = client_cert, client_key
        raw = {k: v for k, v in raw.items() if v is not None}
    return _build(where, raw, Path.cwd())



def apply_overrides(target: Target, *, timeout: float | None = None, trust_anchors: Sequence[str] = (),
                    client_cert: str | None = None, client_key: str | None = None) -> Target:
    """Command-line options that replace a file's values (paths relative to the current folder)."""
    where = _Where(file="command line")
    changes: dict[str, Any] = {}
    if timeout is not None:
        changes["timeout"] = _timeout(where, timeout)
    if trust_anchors:
        changes["trust_anchors"] = _anchors(where, list(trust_anchors), Path.cwd())
    if client_cert is not None or client_key is not None:
        if client_cert is None or client_key is None:
            where.fail("--client-cert and --client-key must be given together", "give both options")
        cert = _readable(where, "client_cert", client_cert, Path.cwd())
        key = _readable(where, "client_key", client_key, Path.cwd())
        _identity(where, cert, key)
        changes["client_cert"], changes["client_key"] = cert, key
    return dataclasses.replace(target, **changes) if changes else target
