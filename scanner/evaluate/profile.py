"""The DCCKI TLS certificate profile as data: the built-in ``dccki-tls-san`` and user overrides.

The Annex B text of the DCCKI Certificate Policy is not public (see dccki.md), so every rule of
the built-in profile is a setting, and an organisation holding the current text can encode it in a
TOML file (``--profile FILE``) without touching code. ``to_json``/``from_json`` round-trip, so an
evidence pack records the exact profile its verdicts used and can be re-evaluated with it.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from scanner.errors import InputError, read_input

SAN_TYPES = ("dns", "ip")
KEY_TYPES = ("RSA", "EC", "Ed25519", "Ed448", "DSA")
EC_CURVES = ("P-256", "P-384", "P-521")
HASHES = ("sha1", "sha224", "sha256", "sha384", "sha512")
SCHEMES = ("rsa-pkcs1", "rsa-pss", "ecdsa", "ed25519")
EKU_NAMES = {"serverAuth": "1.3.6.1.5.5.7.3.1", "clientAuth": "1.3.6.1.5.5.7.3.2"}
_OID = re.compile(r"^[0-2](\.\d+)+$")


@dataclass(frozen=True)
class Profile:
    """Every setting of a TLS certificate profile; defaults are the built-in ``dccki-tls-san``."""

    name: str = "dccki-tls-san"
    description: str = "DCCKI TLS certificate profile (SECMP0052): hostname in subjectAltName"
    effective_date: date = date(2018, 11, 1)
    required_san_types: tuple[str, ...] = ("dns", "ip")
    allowed_key_types: tuple[str, ...] = ("RSA", "EC")
    min_rsa_bits: int = 2048
    allowed_ec_curves: tuple[str, ...] = ("P-256", "P-384")
    allowed_signature_hashes: tuple[str, ...] = ("sha256", "sha384", "sha512")
    allowed_signature_schemes: tuple[str, ...] = ("rsa-pkcs1", "rsa-pss", "ecdsa")
    required_ekus: tuple[str, ...] = ("serverAuth",)
    forbid_ca: bool = True
    key_usage_requires_digital_signature: bool = True
    max_validity_days: int | None = None
    expiry_warning_days: tuple[int, ...] = (60, 30)
    cn_must_be_in_san: bool = False

    def required_eku_oids(self) -> tuple[str, ...]:
        return tuple(EKU_NAMES.get(e, e) for e in self.required_ekus)

    def to_json(self) -> dict[str, Any]:
        """Every value, JSON-ready (dates ISO, tuples as lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, date) else list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Profile":
        """Inverse of :meth:`to_json`; values are validated as for a TOML file."""
        return _build(dict(data), source="<profile json>", text="")


def builtin_profile() -> Profile:
    """The shipped ``dccki-tls-san`` profile, read from package data."""
    text = resources.files("scanner").joinpath("profiles/dccki-tls-san.toml").read_text("utf-8")
    return _parse(text, "scanner/profiles/dccki-tls-san.toml")


def load_profile(path: str | Path) -> Profile:
    """A user profile: the built-in values overridden by a TOML file's ``[profile]`` table."""
    p = Path(path)
    data = read_input(p, "the profile", fix="pass a readable UTF-8 TOML file")  # never a FIFO or device
    try:
        text = data.decode("utf-8-sig")  # a byte order mark is accepted
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read profile: {exc}", file=p, fix="pass a readable UTF-8 TOML file") from None
    return _parse(text, str(p))


def _parse(text: str, source: str) -> Profile:
    try:
        doc = tomllib.loads(text)
    except RecursionError:
        raise InputError("the profile nests tables or arrays too deeply", file=source,
                         fix="a profile is one [profile] table of plain values") from None
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise InputError(f"not valid TOML: {exc}", file=source, line=int(match.group(1)) if match else None,
                         fix="correct the TOML syntax (see the example in the README)") from None
    table = doc.get("profile", doc)
    if not isinstance(table, dict):
        raise InputError("[profile] must be a table", file=source, fix="write the settings under a [profile] header")
    base = Profile().to_json()
    base.update(table)
    return _build(base, source=source, text=text)


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None


def _build(data: dict[str, Any], *, source: str, text: str) -> Profile:
    fields = {f.name: f for f in dataclasses.fields(Profile)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise InputError(f"unknown profile setting {key!r}", file=source, line=_line_of(text, key),
                             fix="use one of: " + ", ".join(fields))
        try:
            values[key] = _convert(key, value)
        except (TypeError, ValueError) as exc:
            raise InputError(f"bad value for {key}: {exc}", file=source, line=_line_of(text, key),
                             fix=_FIXES.get(key, "see the built-in profile scanner/profiles/dccki-tls-san.toml")) from None
    return Profile(**values)


_FIXES = {
    "effective_date": "write a date such as 2018-11-01",
    "required_san_types": f"a list drawn from {list(SAN_TYPES)}",
    "allowed_key_types": f"a list drawn from {list(KEY_TYPES)}",
    "allowed_ec_curves": f"a list drawn from {list(EC_CURVES)}",
    "allowed_signature_hashes": f"a list drawn from {list(HASHES)}",
    "allowed_signature_schemes": f"a list drawn from {list(SCHEMES)}",
    "required_ekus": "a list of 'serverAuth', 'clientAuth' or dotted OIDs",
    "expiry_warning_days": "a list of positive day counts such as [60, 30] (each at most 36500)",
    "max_validity_days": "a positive number of days (at most 36500), or 0 for no limit",
    "min_rsa_bits": "a whole number of bits such as 2048 (at most 16384)",
}


def _str_list(value: Any, allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of strings")
    for v in value:
        if allowed is not None and v not in allowed:
            raise ValueError(f"{v!r} is not one of {list(allowed)}")
    return tuple(value)


def _convert(key: str, value: Any) -> Any:
    lists = {"required_san_types": SAN_TYPES, "allowed_key_types": KEY_TYPES, "allowed_ec_curves": EC_CURVES,
             "allowed_signature_hashes": HASHES, "allowed_signature_schemes": SCHEMES}
    if key in lists:
        return _str_list(value, lists[key])
    if key == "required_ekus":
        ekus = _str_list(value)
        bad = [e for e in ekus if e not in EKU_NAMES and not _OID.match(e)]
        if bad:
            raise ValueError(f"{bad[0]!r} is neither serverAuth, clientAuth nor a dotted OID")
        return ekus
    if key == "effective_date":
        return _date(value)
    if key in ("forbid_ca", "key_usage_requires_digital_signature", "cn_must_be_in_san"):
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if key in ("name", "description"):
        if not isinstance(value, str) or (key == "name" and not value):
            raise TypeError("expected a non-empty string")
        return value
    return _numeric(key, value)


def _numeric(key: str, value: Any) -> Any:
    if key == "max_validity_days":
        if value is None or value == 0:
            return None
        return _positive_int(value, MAX_DAYS)
    if key == "min_rsa_bits":
        return _positive_int(value, MAX_RSA_BITS)
    if key == "expiry_warning_days":
        if not isinstance(value, (list, tuple)):
            raise TypeError("expected a list of day counts")
        return tuple(sorted((_positive_int(v, MAX_DAYS) for v in value), reverse=True))
    raise ValueError(f"unhandled setting {key}")


MAX_DAYS = 36_500  # day counts are bounded: a date arithmetic overflow would fail every check
MAX_RSA_BITS = 16_384


def _positive_int(value: Any, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= maximum:
        raise ValueError(f"{value!r} is not a whole number from 1 to {maximum}")
    return value


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value if type(value) is date else value.date()  # type: ignore[attr-defined]
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    raise TypeError("expected a date such as 2018-11-01")
