"""certinfo.describe: the results model's view of one certificate, robust to hostile DER."""

from __future__ import annotations

import datetime as dt

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from scanner.certinfo import der_to_pem, describe, iso_utc


def _leaf_der() -> bytes:
    ca = trustme.CA()
    pem = ca.issue_cert("gw.example.net", "127.0.0.1").cert_chain_pems[0].bytes()
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def test_describe_records_names_key_and_fingerprint() -> None:
    der = _leaf_der()
    record = describe(der, index=0)
    assert record["san"] == [{"type": "dns", "value": "gw.example.net"}, {"type": "ip", "value": "127.0.0.1"}]
    assert record["key"]["type"] == "EC" and record["key"]["curve"] == "secp256r1"
    assert record["signature_algorithm"] == "ecdsa-with-SHA256"
    assert len(record["sha256"]) == 64 and record["parse_errors"] == []


def test_pem_round_trips_byte_for_byte() -> None:
    der = _leaf_der()
    pem = der_to_pem(der)
    assert x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER) == der


def test_garbage_keeps_raw_bytes_and_says_why() -> None:
    record = describe(b"\x30\x03\x02\x01\x01", index=2)
    assert record["index"] == 2 and record["subject"] is None
    assert record["parse_errors"] and record["parse_errors"][0].startswith("certificate:")
    assert "BEGIN CERTIFICATE" in record["pem"]


def test_iso_utc_is_z_suffixed() -> None:
    assert iso_utc(dt.datetime(2018, 11, 1, tzinfo=dt.timezone.utc)) == "2018-11-01T00:00:00Z"
