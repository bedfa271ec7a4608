"""The demo estate: a small, deliberately imperfect DCC User estate on 127.0.0.1.

Each endpoint is named after a DCC interface and shows one situation an operator meets: a
conformant SAN certificate, CN-only certificates issued after and before SECMP0052 (1 Nov 2018,
the latter grandfathered), an expired one, a missing intermediate, a self-signed one, a wildcard,
an endpoint that requires a client certificate, and a closed port. Hostnames such as
``gw.dcc-user.example`` are reached at 127.0.0.1 via ``host``/``hostname`` in the targets file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from scanner.lab.pki import Issued, issue, name
from scanner.lab.servers import ServerSpec

UTC = dt.timezone.utc
DOMAIN = "dcc-user.example"


@dataclass(frozen=True)
class DemoEndpoint:
    name: str
    interface: str
    hostname: str
    spec: ServerSpec
    comment: str


@dataclass
class DemoPKI:
    """A root and issuing CA old enough to have issued pre-2018 certificates."""

    root: Issued
    issuing: Issued

    @classmethod
    def create(cls) -> "DemoPKI":
        root = issue(subject=name("DCCKI Demo Root CA", o="DCCKI Demo"), ca=True,
                     not_before=dt.datetime(2016, 1, 1, tzinfo=UTC), days=365 * 25)
        issuing = issue(subject=name("DCCKI Demo Issuing CA", o="DCCKI Demo"), issuer=root, ca=True,
                        path_length=0, not_before=dt.datetime(2016, 6, 1, tzinfo=UTC), days=365 * 20)
        return cls(root=root, issuing=issuing)

    def leaf(self, cn: str, **kwargs: object) -> Issued:
        return issue(subject=name(cn, o="DCC User Ltd", ou="DCCKI Infrastructure"), issuer=self.issuing,
                     **kwargs)  # type: ignore[arg-type]


def _tls(leaf: Issued, *, chain: bool = True, **options: object) -> ServerSpec:
    pem = leaf.chain_pem() if chain else leaf.pem
    return ServerSpec(chain_pem=pem, key_pem=leaf.key_pem, alpn=["http/1.1"], **options)  # type: ignore[arg-type]


def host(label: str) -> str:
    """``gw`` -> ``gw.dcc-user.example``."""
    return f"{label}.{DOMAIN}"


def estate(pki: DemoPKI) -> list[DemoEndpoint]:
    """The demo endpoints with their servers (ports are assigned when they start)."""
    now = dt.datetime.now(UTC).replace(microsecond=0)
    conformant = pki.leaf(host("gw"), dns=[host("gw")])
    cn_new = pki.leaf(host("ssi"), san=False, not_before=now - dt.timedelta(days=10))
    cn_old = pki.leaf(host("reg"), san=False, not_before=dt.datetime(2018, 6, 1, tzinfo=UTC), days=365 * 15)
    expired = pki.leaf(host("gw-dr"), dns=[host("gw-dr")], not_before=now - dt.timedelta(days=400), days=365)
    no_inter = pki.leaf(host("ssi-2"), dns=[host("ssi-2")])
    self_signed = issue(subject=name(host("reg-test"), o="DCC User Ltd"), dns=[host("reg-test")])
    wildcard = pki.leaf(f"*.{DOMAIN}", dns=[f"*.{DOMAIN}"])
    mtls = pki.leaf(host("gw-mtls"), dns=[host("gw-mtls")])
    return [
        DemoEndpoint("gateway-primary", "gateway", host("gw"), _tls(conformant),
                     "conformant: hostname in subjectAltName, full chain"),
        DemoEndpoint("self-service-portal", "self-service", host("ssi"), _tls(cn_new),
                     "CN only, issued after 1 Nov 2018: breaches the DCCKI TLS profile"),
        DemoEndpoint("registration-legacy", "registration", host("reg"), _tls(cn_old),
                     "CN only, issued June 2018: grandfathered, but browsers still reject it"),
        DemoEndpoint("gateway-dr", "gateway", host("gw-dr"), _tls(expired), "expired"),
        DemoEndpoint("self-service-node2", "self-service", host("ssi-2"), _tls(no_inter, chain=False),
                     "sends only the leaf: the intermediate is missing"),
        DemoEndpoint("registration-test", "registration", host("reg-test"), _tls(self_signed), "self-signed"),
        DemoEndpoint("gateway-wildcard", "gateway", host("gw2"), _tls(wildcard), "wildcard certificate"),
        DemoEndpoint("gateway-mutual-tls", "gateway", host("gw-mtls"),
                     _tls(mtls, client_auth="required", client_cas=[pki.issuing.pem]),
                     "requires a DCCKI client certificate"),
        DemoEndpoint("registration-closed", "registration", host("reg-2"), ServerSpec(kind="closed"),
                     "nothing listens: a closed port"),
    ]


def write_targets(folder: Path, endpoints: list[DemoEndpoint], ports: list[int], root: Issued) -> Path:
    """A targets file for the running estate, with the demo root as trust anchor."""
    (folder / "dccki-demo-root.pem").write_bytes(root.pem)
    lines = ["# dccscan demo estate (generated): every endpoint runs on 127.0.0.1",
             "[defaults]", 'trust_anchors = ["dccki-demo-root.pem"]', "timeout = 5", ""]
    for endpoint, port in zip(endpoints, ports):
        lines += [f"# {endpoint.comment}", "[[target]]", f'name = "{endpoint.name}"',
                  f'interface = "{endpoint.interface}"', 'host = "127.0.0.1"', f"port = {port}",
                  f'hostname = "{endpoint.hostname}"', 'tags = ["demo"]', ""]
    path = folder / "targets.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
