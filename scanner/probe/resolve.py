"""Every address behind a host: load-balanced nodes can present different chains, so each A and
AAAA address is scanned as its own endpoint."""

from __future__ import annotations

import socket

import trio

from scanner.address import literal_address
from scanner.probe.errors import DnsError


async def resolve(host: str, port: int) -> list[str]:
    """IP literals as given (normalised); names via ``getaddrinfo``, IPv4 first, no duplicates."""
    literal = literal_address(host)
    if literal is not None:
        return literal
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DnsError(f"{host} does not resolve ({exc.strerror}); check the name, or set 'host' "
                       "to an address and keep 'hostname' for the certificate check",
                       phase="connect") from exc
    addresses: list[str] = []
    for family, *_rest, sockaddr in sorted(infos, key=lambda info: info[0] != socket.AF_INET):
        if family in (socket.AF_INET, socket.AF_INET6):
            address = str(sockaddr[0]).split("%", 1)[0]
            if address not in addresses:
                addresses.append(address)
    if not addresses:
        raise DnsError(f"{host} has no A or AAAA address", phase="connect")
    return addresses
