"""Facts about one certificate, as the results model records them.

Certificates come from servers we do not control, so every field is extracted on its own: a
broken extension must cost us that field (recorded in ``parse_errors``), never the whole chain.
A DER blob that does not parse at all still yields its PEM, size and fingerprint, so that the
evidence keeps the raw bytes exactly as presented.
"""

from __future__ import annotations

import binascii
import hashlib
from datetime import datetime, timezone
from typing import Any, Callable

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from scanner.facts.certificate import NOT_READ, CertFacts, key_facts, rfc4514, signature_name
from scanner.facts.certificate import facts as certificate_facts


def der_to_pem(der: bytes) -> str:
    """PEM text for DER bytes, 64 columns, exactly as ``openssl x509`` writes it."""
    body = binascii.b2a_base64(der, newline=False).decode("ascii")  # base64.b64encode, minus its wrapper
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix: the only time format in the results model."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    elif moment.tzinfo is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
    if moment.year < 1000:  # strftime's %Y does not pad these: keep its exact text
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{moment.year}-{moment.month:02}-{moment.day:02}T{moment.hour:02}:{moment.minute:02}:{moment.second:02}Z"


def _serial(serial: int) -> str:
    return format(serial, "x") if serial >= 0 else "-" + format(-serial, "x")


def _from_known(der: bytes, index: int, known: CertFacts) -> dict[str, Any]:
    """``describe`` from the engine's facts: every field there was read without error (else the
    engine would have no certificate), so no field can add a parse error here."""
    record: dict[str, Any] = {
        "index": index, "pem": der_to_pem(der), "sha256": known.sha256, "size": len(der),
        "subject": known.subject_text, "issuer": known.issuer_text, "serial": _serial(known.serial),
        "not_before": iso_utc(known.not_before), "not_after": iso_utc(known.not_after), "san": [],
        "key": {"type": known.key_type, "size": known.key_size, "curve": known.curve},
        "signature_algorithm": known.signature_name, "parse_errors": [],
    }
    if known.san_value is not None:
        try:
            record["san"] = _san_records(known.san_value)
        except Exception as exc:  # noqa: BLE001 - as describe: the field's error, not the record's
            record["parse_errors"].append(f"san: {exc}")
    return record


def _key(cert: x509.Certificate) -> dict[str, Any]:
    key_type, size, curve = key_facts(cert)
    return {"type": key_type, "size": size, "curve": curve}


def _signature_algorithm(cert: x509.Certificate) -> str:
    return signature_name(cert.signature_algorithm_oid.dotted_string)


def san_entries(cert: x509.Certificate) -> list[dict[str, str]]:
    """SAN entries as ``{"type": ..., "value": ...}``; ``[]`` when the extension is absent."""
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return []
    return _san_records(ext.value)


def _san_records(san: Any) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for gn in san:
        if isinstance(gn, x509.DNSName):
            out.append({"type": "dns", "value": gn.value})
        elif isinstance(gn, x509.IPAddress):
            out.append({"type": "ip", "value": str(gn.value)})
        elif isinstance(gn, x509.RFC822Name):
            out.append({"type": "email", "value": gn.value})
        elif isinstance(gn, x509.UniformResourceIdentifier):
            out.append({"type": "uri", "value": gn.value})
        elif isinstance(gn, x509.DirectoryName):
            out.append({"type": "dirname", "value": rfc4514(gn.value)})
        elif isinstance(gn, x509.RegisteredID):
            out.append({"type": "rid", "value": gn.value.dotted_string})
        else:
            out.append({"type": "other", "value": repr(gn)})
    return out


def describe(der: bytes, index: int = 0, *, parsed: x509.Certificate | None = None,
             known: CertFacts | None = None) -> dict[str, Any]:
    """The results model's record of one presented certificate (see results.schema.json).

    The record comes from the certificate model (``known``, else ``scanner.facts.certificate.facts``,
    cached by digest, so the engine's read is reused). Only a certificate the model could not read
    whole (it does not parse, or cryptography refuses its extension list) is read here field by
    field, so that a broken field costs that field, recorded in ``parse_errors``. ``parsed``:
    ``der`` already loaded by cryptography, for that field-by-field read."""
    if known is None:
        known = certificate_facts(der)
    if known.cert is not None and known.san_value is not NOT_READ:
        return _from_known(der, index, known)
    record: dict[str, Any] = {
        "index": index,
        "pem": der_to_pem(der),
        "sha256": sha256_hex(der),
        "size": len(der),
        "subject": None,
        "issuer": None,
        "serial": None,
        "not_before": None,
        "not_after": None,
        "san": [],
        "key": None,
        "signature_algorithm": None,
        "parse_errors": [],
    }
    try:
        cert = parsed if parsed is not None else x509.load_der_x509_certificate(der)
    except Exception as exc:  # noqa: BLE001 - hostile input must not end the scan
        record["parse_errors"].append(f"certificate: {exc}")
        return record
    fields: dict[str, Callable[[], Any]] = {
        "subject": lambda: rfc4514(cert.subject),
        "issuer": lambda: rfc4514(cert.issuer),
        "serial": lambda: _serial(cert.serial_number),
        "not_before": lambda: iso_utc(cert.not_valid_before_utc),
        "not_after": lambda: iso_utc(cert.not_valid_after_utc),
        "san": lambda: san_entries(cert),
        "key": lambda: _key(cert),
        "signature_algorithm": lambda: _signature_algorithm(cert),
    }
    for field, getter in fields.items():
        try:
            record[field] = getter()
        except Exception as exc:  # noqa: BLE001
            record["parse_errors"].append(f"{field}: {exc}")
    return record
