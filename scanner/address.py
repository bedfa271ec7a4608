"""Whether a host is an IP literal: the one test the targets file, the resolver, SNI and the
hostname checks (an IP reference identity, iPAddress SAN entries) share.

It lives outside ``scanner.probe`` because the targets file needs it to check what a user wrote
before anything is probed, and the flow runs targets -> probe, never back.
"""

from __future__ import annotations

import ipaddress

_IPV4_CHARS = frozenset("0123456789.")  # an IPv6 literal always has ':'; IPv4 is ASCII digits and dots


def ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address when ``text`` is an IPv4 or IPv6 literal (IPv6 with a zone id too), else None.

    A name that cannot be an address (no ':' and not only digits and dots: every DNS name with a
    letter) is answered without ``ipaddress``, whose failed parse (two raised-and-caught
    exceptions) would cost more than the rest of the check, for every named endpoint and every
    dNSName entry a certificate lists."""
    if ":" not in text and not _IPV4_CHARS.issuperset(text):
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def literal_address(host: str) -> list[str] | None:
    """``[address]`` (normalised) when ``host`` is an IP literal, else None: nothing to resolve,
    so the runner spends no slot, deadline or checkpoint on it."""
    address = ip_address(host)
    return None if address is None else [str(address)]


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address (SNI is never sent for one)."""
    return literal_address(host) is not None
