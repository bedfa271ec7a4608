"""Fixtures for the pipeline tests (imported explicitly, so that tests/conftest.py stays free for
the whole suite): a lab PKI, a server certificate, a client certificate, loopback server specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scanner.lab.pki import Issued, LabPKI
from scanner.lab.servers import ServerSpec


@pytest.fixture(scope="session")
def pki() -> LabPKI:
    return LabPKI.create()


@pytest.fixture(scope="session")
def leaf(pki: LabPKI) -> Issued:
    """A conformant server certificate for gw.dcc-user.example (and 127.0.0.1, ::1)."""
    return pki.leaf("gw.dcc-user.example", dns=["gw.dcc-user.example"], ips=["127.0.0.1", "::1"])


@pytest.fixture(scope="session")
def client(pki: LabPKI) -> Issued:
    """A client certificate from the lab issuing CA."""
    return pki.leaf("dcc-user-client", dns=["client.dcc-user.example"])


def tls_spec(leaf: Issued, **options: Any) -> ServerSpec:
    """A TLS server presenting ``leaf`` with its issuing CA (what a correct server sends)."""
    return ServerSpec(chain_pem=leaf.chain_pem(), key_pem=leaf.key_pem, **options)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
