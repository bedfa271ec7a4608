"""Whether a host is an IP literal: the one test the targets file, the resolver and SNI share.

It lives outside ``scanner.probe`` because the targets file needs it to check what a user wrote
before anything is probed, and the flow runs targets -> probe, never back.
"""

from __future__ import annotations

import ipaddress

_IP_CHARACTERS = frozenset("0123456789abcdefABCDEF.:%")  # and a zone id after '%'


def literal_address(host: str) -> list[str] | None:
    """``[address]`` (normalised) when ``host`` is an IP literal, else None: nothing to resolve,
    so the runner spends no slot, deadline or checkpoint on it. A name with a character no
    address can start with is answered without ``ipaddress``, whose failed parse (two
    exceptions) cost more than the rest of the check for every named endpoint."""
    if not host or host[0] not in _IP_CHARACTERS:
        return None
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return None


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address (SNI is never sent for one)."""
    return literal_address(host) is not None
