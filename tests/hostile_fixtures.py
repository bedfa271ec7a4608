"""Fixtures for the hostile lab (imported explicitly, like tests/lab_fixtures.py): the hostile
certificates once per session, every hostile behaviour on loopback per test, and a client
identity from a PKI the servers do not trust."""

from __future__ import annotations

import pytest
import trio

from scanner.lab.hostile import HostileCertificates, hostile_certificates, start_hostile
from scanner.lab.pki import LabPKI
from scanner.probe.tls import ClientIdentity
from tests.lab_fixtures import pki  # noqa: F401 - fixture


@pytest.fixture(scope="session")
def hostile_certs(pki: LabPKI) -> HostileCertificates:
    """99 CAs and a 1 MB certificate: built once, they dominate the lab's start-up."""
    return hostile_certificates(pki)


@pytest.fixture
async def hostile(nursery: trio.Nursery, pki: LabPKI, hostile_certs: HostileCertificates) -> dict[str, int]:
    """Every behaviour of ``scanner.lab.hostile.BEHAVIOURS`` (and ``backend``): its port."""
    return await start_hostile(nursery, pki, hostile_certs)


@pytest.fixture(scope="session")
def stranger() -> ClientIdentity:
    """A client certificate from an unrelated PKI: servers requiring a DCCKI one reject it."""
    other = LabPKI.create(org="Someone Else").leaf("stranger", dns=["stranger.example"])
    return ClientIdentity(chain=(other.der,), key_pem=other.key_pem)
