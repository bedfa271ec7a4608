"""Targets: what to scan, from a TOML targets file or the command line.

Everything a user can get wrong here is reported before anything is scanned, as an
``InputError`` naming the file, the line and the fix. ``tomllib`` gives a line only for syntax
errors, so the line of an offending key or ``[[target]]`` table is found by scanning the text.
Client keys are decrypted once, at load time (the client key's password source,
``scanner.passwords.CLIENT_KEY``, or a prompt on a terminal), so a wrong password stops the run
at the start instead of failing every endpoint. A client certificate may also be a PKCS#12
(.p12/.pfx) file holding the key and the chain, which is how many organisations keep them.
"""

from __future__ import annotations

import dataclasses
import functools
import getpass
import hashlib
import ipaddress
import math
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

import idna
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from scanner.address import is_ip_literal
from scanner.errors import InputError, read_input, unreadable_reason
from scanner.passwords import CLIENT_KEY

INTERFACES = ("gateway", "self-service", "registration", "other")
DEFAULT_PORT = 443
DEFAULT_TIMEOUT = 10.0
TARGET_KEYS = ("name", "interface", "host", "port", "hostname", "tags", "timeout",
               "trust_anchors", "client_cert", "client_key", "http_check", "crl")
DEFAULT_KEYS = ("interface", "port", "tags", "timeout", "trust_anchors", "client_cert", "client_key", "http_check",
                "crl")
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
    http_check: bool = False  # ask the application when a client certificate is only requested
    client_simulation: bool = True  # replay each recorded browser ClientHello (scanner.probe.simulate)
    tls_versions: bool = False  # one handshake per TLS version below the negotiated one (scanner.probe.versions)
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


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate chain (leaf first, DER) and its private key, decrypted: what the
    probe presents when a server asks. Defined here, where it is loaded, so the probe depends on
    the targets and not the other way round."""

    chain: tuple[bytes, ...]
    key_pem: bytes = field(repr=False)


@dataclass
class _Where:
    """Where a value came from, to point the user at it."""

    file: str
    source: str = ""  # the file's text; split into lines only to point at an error
    table: tuple[str, int] | None = None  # ("target", index) or ("defaults", 0)

    @functools.cached_property
    def lines(self) -> list[str]:
        """The file's lines, split when an error needs them: a large targets file's half a
        million lines would otherwise sit in memory for the whole load (35 MB at 100,000 targets)."""
        return self.source.splitlines()

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


MAX_TIMEOUT = 3600.0  # seconds: an hour per address is already far beyond any real handshake


def _timeout(where: _Where, value: Any) -> float:
    """A finite number of seconds in (0, MAX_TIMEOUT]: TOML and the command line both accept
    ``inf`` and ``nan`` (and ``1e309`` is ``inf``), which would make a silent endpoint wait
    forever or turn every endpoint into an internal error."""
    _check_type(where, "timeout", value, (int, float), "a number of seconds")
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        where.fail(f"timeout {value} must be more than 0 seconds and at most {MAX_TIMEOUT:g} (a finite number)",
                   "use e.g. timeout = 10 (or --timeout 10)", "timeout")
    return float(value)


def _readable(where: _Where, key: str, text: Any, base: Path) -> Path:
    _check_type(where, key, text, str, "a file path (string)")
    path = (base / text).resolve() if not Path(text).is_absolute() else Path(text)
    problem = unreadable_reason(path)  # a FIFO or a device is refused, never read
    if problem:
        where.fail(f"{key} file {path} cannot be read ({problem})",
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


def _file_list(where: _Where, key: str, value: Any, base: Path, what: str,
               check: Callable[[_Where, Path], object]) -> tuple[Path, ...]:
    """A path or a list of paths (relative to the file's folder), each readable and holding
    what ``check`` looks for (``check`` fails ``where`` otherwise)."""
    items = [value] if isinstance(value, str) else value
    _check_type(where, key, items, list, f"a list of {what} file paths")
    paths = tuple(_readable(where, key, item, base) for item in items)
    for path in paths:
        check(where, path)
    return paths


def _anchors(where: _Where, value: Any, base: Path) -> tuple[Path, ...]:
    return _file_list(where, "trust_anchors", value, base, "PEM",
                      lambda at, path: read_certificates(at, "trust_anchors", path))


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
    from scanner.facts.revocation import crl_der

    data = path.read_bytes()
    crl_der(data)
    return data


CRL_FIX = "give the issuing CA's CRL as DER or PEM ('-----BEGIN X509 CRL-----')"


def _check_crl(where: _Where, path: Path) -> None:
    try:
        read_crl(path)
    except ValueError:
        where.fail(f"crl file {path} holds no CRL", CRL_FIX, "crl")


def _crls(where: _Where, value: Any, base: Path) -> tuple[Path, ...]:
    return _file_list(where, "crl", value, base, "CRL", _check_crl)


def _tags(where: _Where, value: Any) -> tuple[str, ...]:
    _check_type(where, "tags", value, list, "a list of strings")
    for tag in value:
        _check_type(where, "tags", tag, str, "a list of strings")
    return tuple(value)


# ---- client identity ------------------------------------------------------------------------

_IDENTITIES: dict[tuple[Path, Path | None], ClientIdentity] = {}
PKCS12_HINT = "a PKCS#12 (.p12/.pfx) file holds the key: give it as client_cert without client_key"


def _default_prompt() -> Callable[[str], str] | None:
    return getpass.getpass if sys.stdin is not None and sys.stdin.isatty() else None


def is_pkcs12(path: Path) -> bool:
    """A client_cert that is not PEM text is read as PKCS#12 (DER), whatever its file name."""
    return b"-----BEGIN" not in path.read_bytes()


def _client_password(where: _Where, path: Path, key: str) -> bytes:
    prompt = _default_prompt()
    password = CLIENT_KEY.password(prompt, path)
    if password is None:
        where.fail(f"{key} {path} is encrypted and no password was given", CLIENT_KEY.fix(prompt is not None), key)
    return password


def _pem_key(where: _Where, key: Path) -> Any:
    data = key.read_bytes()
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        password = _client_password(where, key, "client_key")
        try:
            return serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError):
            where.fail(f"client_key {key}: the password is wrong", f"check {CLIENT_KEY.where()}", "client_key")
    except ValueError as exc:
        where.fail(f"client_key {key} is not a PEM private key ({exc})",
                   "give the PEM key (-----BEGIN PRIVATE KEY-----) that matches client_cert", "client_key")


def _pkcs12(where: _Where, path: Path) -> tuple[Any, list[x509.Certificate]]:
    """Key and chain (leaf first) of a PKCS#12 file; unencrypted, or with the client key's password."""
    data = path.read_bytes()
    try:
        loaded = pkcs12.load_key_and_certificates(data, None)
    except ValueError:  # encrypted (or not PKCS#12 at all: the password cannot tell them apart)
        password = _client_password(where, path, "client_cert")
        try:
            loaded = pkcs12.load_key_and_certificates(data, password)
        except ValueError:
            where.fail(f"client_cert {path} is neither PEM certificates nor a PKCS#12 file this password opens",
                       f"check {CLIENT_KEY.where()}, or give PEM files as client_cert and client_key", "client_cert")
    private, leaf, extra = loaded
    if private is None or leaf is None:
        where.fail(f"client_cert {path} is a PKCS#12 file without {'a key' if private is None else 'a certificate'}",
                   "export the client certificate together with its private key (openssl pkcs12 -export)",
                   "client_cert")
    return private, [leaf, *extra]


def _identity(where: _Where, cert: Path, key: Path | None) -> ClientIdentity:
    """Load and decrypt a client certificate and key (or one PKCS#12 file) once; cached for the probe."""
    if (cert, key) in _IDENTITIES:
        return _IDENTITIES[(cert, key)]
    if key is None:
        private, chain = _pkcs12(where, cert)
    else:
        chain = read_certificates(where, "client_cert", cert)
        private = _pem_key(where, key)
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
    if target.client_cert is None:
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
    if cert_text is None and key_text is not None:
        where.fail("client_key is given without client_cert", "set both (or neither) for mutual TLS", "client_key")
    target = Target(
        name=raw["name"], interface=interface, host=host, port=_port(where, raw.get("port", DEFAULT_PORT)),
        hostname=normalise_hostname(hostname_raw, where), tags=_tags(where, raw.get("tags", [])),
        timeout=_timeout(where, raw.get("timeout", DEFAULT_TIMEOUT)),
        trust_anchors=_checked_anchors(where, raw.get("trust_anchors", []), base, anchors_seen),
        client_cert=_readable(where, "client_cert", cert_text, base) if cert_text is not None else None,
        client_key=_readable(where, "client_key", key_text, base) if key_text is not None else None,
        http_check=_http_check(where, raw.get("http_check", interface == "gateway")),
        crls=_crls(where, raw.get("crl", []), base),
    )
    if target.client_cert is not None:
        _pair(where, target.client_cert, target.client_key, "client_cert and client_key must be given together")
    return target


def _pair(where: _Where, cert: Path, key: Path | None, message: str) -> None:
    """A PEM certificate needs its key; a PKCS#12 file must come alone. Loads the identity."""
    if key is None and not is_pkcs12(cert):
        where.fail(message, f"set both (or neither) for mutual TLS; {PKCS12_HINT}", "client_cert")
    if key is not None and is_pkcs12(cert):
        where.fail(f"client_cert {cert} is not PEM, so it is read as PKCS#12, which holds the key itself",
                   f"drop client_key; {PKCS12_HINT}", "client_key")
    _identity(where, cert, key)


def _http_check(where: _Where, value: Any) -> bool:
    """``http_check``: on by default for the ``gateway`` interface (mutual TLS is its point)."""
    _check_type(where, "http_check", value, bool, "true or false")
    return bool(value)


def load_targets(path: str | Path) -> TargetsFile:
    """Read and check a targets file; InputError (file, line, fix) on the first problem."""
    path = Path(path)
    data = read_input(path, "the targets file", fix="check the path given to --targets")
    try:
        text = data.decode("utf-8-sig")  # a byte order mark (Windows editors write one) is accepted
        document = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise InputError("the targets file is not UTF-8 text", file=path, fix="save it as UTF-8") from exc
    except RecursionError:
        raise InputError("the targets file nests tables or arrays too deeply", file=path,
                         fix="a targets file has [defaults] and [[target]] tables of plain values") from None
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise InputError(f"not valid TOML: {exc}", file=path, line=int(line.group(1)) if line else None,
                         fix="correct the TOML syntax at that line") from exc
    sha256 = hashlib.sha256(data).hexdigest()
    del data  # the text is what the errors quote
    top = _Where(file=str(path), source=text)
    for key in document:
        if key not in ("defaults", "target"):
            raise InputError(f"unknown top-level key '{key}'", file=path, line=_top_line(text.splitlines(), key),
                             fix="the file holds an optional [defaults] table and [[target]] tables")
    defaults = document.get("defaults", {})
    where = _Where(file=str(path), source=text, table=("defaults", 0))
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
        raw_targets[index] = None  # each parsed table is dropped once read: the whole document never sits beside the targets
        where = _Where(file=str(path), source=text, table=("target", index))
        merged = {**defaults, **raw}
        target = _build(where, merged, base, anchors_seen)
        if target.name in names:
            where.fail(f"duplicate target name '{target.name}' (first used by target {names[target.name] + 1})",
                       "give every target a unique name", "name")
        names[target.name] = index
        targets.append(target)
    return TargetsFile(targets=tuple(targets), path=path, sha256=sha256)


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
        if client_cert is None:
            where.fail("--client-key is given without --client-cert", "give both options")
        cert = _readable(where, "client_cert", client_cert, Path.cwd())
        key = _readable(where, "client_key", client_key, Path.cwd()) if client_key is not None else None
        _pair(where, cert, key, "--client-cert and --client-key must be given together")
        changes["client_cert"], changes["client_key"] = cert, key
    return dataclasses.replace(target, **changes) if changes else target


def declared_targets(path: Path) -> list[dict[str, Any]]:
    """The targets a file declares, as results' ``target`` objects, without reading the files they
    name. For ``merge``: it names the targets of a missing shard from the copy of the targets file
    each shard keeps beside its results (already checked by the shard's scan), on a machine that
    may not have the trust anchors and keys the file points to."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    defaults = document.get("defaults", {})
    where = _Where(file=str(path))
    out = []
    for raw in document.get("target", []):
        merged = {**defaults, **raw}
        host = normalise_hostname(merged["host"], where, "host")
        out.append({"name": merged["name"], "interface": merged.get("interface", "other"), "host": host,
                    "port": merged.get("port", DEFAULT_PORT),
                    "hostname": normalise_hostname(merged.get("hostname", merged["host"]), where),
                    "tags": list(merged.get("tags", []))})
    return out
