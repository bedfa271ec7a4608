"""Fuzzing what servers control: arbitrary bytes as certificates (and real DER, mutated),
arbitrary strings as hostnames and SAN entries, arbitrary bytes as TLS records. The engine and
the certificate describer never raise and always answer in the results schema's shape."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.certinfo import describe
from scanner.evaluate import evaluate
from scanner.lab import der
from scanner.lab.pki import Issued, LabPKI
from scanner.probe import records
from tests.lab_fixtures import leaf, pki  # noqa: F401 - fixtures

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "scanner/schema/results.schema.json").read_text())
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HOSTNAMES = st.one_of(st.text(max_size=80), st.from_regex(r"[a-z0-9.*-]{0,40}", fullmatch=True),
                      st.sampled_from(["", ".", "*", "127.0.0.1", "::1", "[::1]", "gw.dcc-user.example."]))


def _part(properties: list[str]) -> dict[str, Any]:
    """The endpoint schema restricted to ``properties``, with the shared definitions."""
    endpoint = SCHEMA["$defs"]["endpoint"]["properties"]
    return {"$defs": SCHEMA["$defs"], "type": "object", "required": properties,
            "properties": {p: endpoint[p] for p in properties}}


def _validator(schema: dict[str, Any]) -> Any:
    """Compiled once: checking the schema itself on every example would dominate the run."""
    return jsonschema.validators.validator_for(SCHEMA)(schema)


VERDICTS = _validator(_part(["browsers", "profile", "findings"]))
CERTIFICATE = _validator({"$defs": SCHEMA["$defs"], "$ref": "#/$defs/certificate"})


def check_verdict(result: dict[str, Any]) -> None:
    VERDICTS.validate(result)
    assert set(result) == {"browsers", "profile", "findings"}
    for verdict in result["browsers"].values():
        assert verdict["accepted"] is (verdict["error"] is None)
    assert all(f["id"] != "dccscan.check.crashed" for f in result["findings"]), result["findings"]


@FUZZ
@given(blobs=st.lists(st.binary(max_size=300), min_size=1, max_size=4), hostname=HOSTNAMES)
def test_arbitrary_bytes_as_a_chain(pki: LabPKI, blobs: list[bytes], hostname: str) -> None:
    check_verdict(evaluate(blobs, hostname, anchors=[pki.root.der], at=NOW))
    for index, blob in enumerate(blobs):
        record = describe(blob, index)
        CERTIFICATE.validate(record)
        assert record["parse_errors"] or record["subject"] is not None


@FUZZ
@given(data=st.data(), hostname=HOSTNAMES, public=st.booleans())
def test_mutated_real_der(pki: LabPKI, leaf: Issued, data: st.DataObject, hostname: str, public: bool) -> None:
    """Flip, insert or cut bytes of a real leaf: describe keeps the raw bytes, evaluate answers."""
    blob = bytearray(leaf.der)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(blob) - 1))
        if data.draw(st.booleans()):
            blob[at] = data.draw(st.integers(0, 255))
        else:
            blob[at:at] = data.draw(st.binary(min_size=1, max_size=3))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    record = describe(bytes(blob), 0)
    CERTIFICATE.validate(record)
    check_verdict(evaluate([bytes(blob), pki.issuing.der], hostname, anchors=None if public else [pki.root.der], at=NOW))


def _san(entries: list[tuple[int, bytes]]) -> x509.UnrecognizedExtension:
    """A subjectAltName of raw GeneralNames (tag, bytes): any text, even what no CA should sign."""
    return x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
                                      der.sequence(*(der.tlv(tag, value) for tag, value in entries)))


SAN_ENTRY = st.one_of(
    st.tuples(st.just(0x82), st.text(max_size=40).map(lambda t: t.encode("utf-8"))),  # dNSName
    st.tuples(st.just(0x82), st.binary(max_size=20)),
    st.tuples(st.just(0x87), st.binary(max_size=17)),  # iPAddress, any length
    st.tuples(st.just(0x81), st.text(max_size=20).map(lambda t: t.encode("utf-8"))),  # rfc822Name
    st.tuples(st.just(0x86), st.text(max_size=20).map(lambda t: t.encode("utf-8"))),  # URI
)


@FUZZ
@given(entries=st.lists(SAN_ENTRY, max_size=4), hostname=HOSTNAMES, cn=st.text(min_size=1, max_size=16))  # CN: at most 64 UTF-8 bytes
def test_arbitrary_san_entries_and_hostnames(pki: LabPKI, entries: list[tuple[int, bytes]], hostname: str,
                                             cn: str) -> None:
    issued = pki.leaf(cn, extra=[(_san(entries), False)])
    record = describe(issued.der, 0)
    CERTIFICATE.validate(record)
    check_verdict(evaluate([issued.der, pki.issuing.der], hostname, anchors=[pki.root.der], at=NOW))


@FUZZ
@given(data=st.binary(max_size=400), limit=st.integers(0, 70))
def test_record_parsing_never_raises(data: bytes, limit: int) -> None:
    assert len(records.certificate_list(data, limit)) <= limit
    sni = records.client_hello_sni(data)
    assert sni is None or isinstance(sni, str)
    assert all(kind in range(256) for kind, _ in records.records(data))


@pytest.mark.parametrize("certificates", [[b""], [b"\x30\x00", b"x" * 5], []])
def test_certificate_list_round_trips_a_tls12_message(certificates: list[bytes]) -> None:
    from scanner.lab.hostile import certificate_message, record
    wire = record(records.HANDSHAKE, certificate_message(certificates))
    assert records.certificate_list(wire, 10) == certificates
    assert records.certificate_list(wire[:-1], 10) == []  # incomplete: nothing, no exception
