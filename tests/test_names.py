"""Hostname matching per browser (browser-rules.md H1-H14): examples plus properties."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.evaluate.names import (ABSOLUTE_SAN, CN_ONLY, NO_SAN, WILDCARD_PUBLIC_SUFFIX, Identities,
                                    chrome_match, firefox_match, is_valid_dns_id)


def ids(*dns: str, ips: tuple[str, ...] = (), cns: tuple[str, ...] = ()) -> Identities:
    return Identities(dns=dns, ips=tuple(ipaddress.ip_address(i).packed for i in ips), cns=cns,
                      has_san_extension=bool(dns or ips))


CASES = [
    # hostname, identities, chrome matches, firefox matches
    ("gw.example.net", ids("gw.example.net"), True, True),
    ("GW.Example.NET", ids("gw.example.net"), True, True),                     # H5
    ("gw.example.net", ids("GW.EXAMPLE.NET"), True, True),
    ("gw.example.net", ids(cns=("gw.example.net",)), False, False),            # H1/H2 CN ignored
    ("a.example.net", ids("*.example.net"), True, True),                       # H7
    ("a.b.example.net", ids("*.example.net"), False, False),                   # one label only
    ("example.net", ids("*.example.net"), False, False),                       # never the apex
    ("foo.example.net", ids("f*.example.net"), False, False),                  # partial wildcard
    ("a.b.example.net", ids("a.*.example.net"), False, False),
    ("foo.co.uk", ids("*.co.uk"), False, True),                                # H8: browsers differ
    ("foo.com", ids("*.com"), False, False),
    ("foo.appspot.com", ids("*.appspot.com"), True, True),                     # private PSL section
    ("a.intranet", ids("*.intranet"), False, False),                           # unknown TLD = registry
    ("gw.example.net.", ids("gw.example.net"), True, True),                    # H6 absolute reference
    ("gw.example.net", ids("gw.example.net."), True, False),                   # H6 absolute presented
    ("10.0.0.1", ids(ips=("10.0.0.1",)), True, True),                          # H4
    ("10.0.0.1", ids("10.0.0.1"), False, False),                               # IP only via iPAddress
    ("::1", ids(ips=("::1",)), True, True),
    ("[::1]", ids(ips=("::1",)), True, True),
    ("10.0.0.1", ids(ips=("10.0.0.2",)), False, False),
    ("under_score.example.net", ids("under_score.example.net"), True, True),   # H11 underscores
    ("xn--bcher-kva.example", ids("*.example"), False, False),                 # *.example: 'example' is a TLD
    ("a.xn--bcher-kva.example", ids("*.xn--bcher-kva.example"), True, True),   # H10
    ("", ids("gw.example.net"), False, False),
    (".", ids("gw.example.net"), False, False),
]


@pytest.mark.parametrize("hostname,identities,chrome,firefox", CASES)
def test_examples(hostname: str, identities: Identities, chrome: bool, firefox: bool) -> None:
    assert chrome_match(hostname, identities).matched is chrome
    assert firefox_match(hostname, identities).matched is firefox


def test_reasons_are_specific() -> None:
    assert chrome_match("gw.example.net", ids(cns=("gw.example.net",))).reasons[0].kind == CN_ONLY
    assert chrome_match("gw.example.net", ids()).reasons[0].kind == NO_SAN
    assert chrome_match("foo.co.uk", ids("*.co.uk")).reasons[0].kind == WILDCARD_PUBLIC_SUFFIX
    assert firefox_match("gw.example.net", ids("gw.example.net.")).reasons[0].kind == ABSOLUTE_SAN


def test_firefox_invalid_san_entries_skipped_for_private_roots_only() -> None:
    identities = ids("bad..name", "gw.example.net")
    assert firefox_match("gw.example.net", identities, builtin_root=False).matched
    assert not firefox_match("gw.example.net", identities, builtin_root=True).matched


def test_every_mismatch_is_collected() -> None:
    result = chrome_match("foo.co.uk", ids("*.co.uk", "other.example"))
    assert not result.matched and result.reasons


# ---------------------------------------------------------------------------- properties

LABEL = st.from_regex(r"[a-z][a-z0-9]{0,10}", fullmatch=True)
HOST = st.lists(LABEL, min_size=2, max_size=5).map(lambda parts: ".".join(parts) + ".example.net")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80), st.lists(st.text(max_size=40), max_size=6), st.lists(st.binary(max_size=17), max_size=3),
       st.lists(st.text(max_size=30), max_size=2))
def test_never_raises(hostname: str, dns: list[str], ips: list[bytes], cns: list[str]) -> None:
    identities = Identities(tuple(dns), tuple(ips), tuple(cns), True)
    for result in (chrome_match(hostname, identities), firefox_match(hostname, identities),
                   firefox_match(hostname, identities, builtin_root=True)):
        assert result.matched in (True, False)
        assert result.matched or result.reasons  # a rejection always says why


@given(HOST)
def test_exact_san_matches_in_both(host: str) -> None:
    assert chrome_match(host, ids(host)).matched
    assert firefox_match(host, ids(host)).matched
    assert chrome_match(host.upper() + ".", ids(host)).matched


@given(HOST)
def test_cn_alone_never_matches(host: str) -> None:
    assert not chrome_match(host, ids(cns=(host,))).matched
    assert not firefox_match(host, ids(cns=(host,))).matched


@given(LABEL, HOST)
def test_wildcard_covers_exactly_one_label(label: str, base: str) -> None:
    wildcard = ids("*." + base)
    assert chrome_match(f"{label}.{base}", wildcard).matched
    assert firefox_match(f"{label}.{base}", wildcard).matched
    assert not chrome_match(base, wildcard).matched
    assert not firefox_match(f"{label}.{label}.{base}", wildcard).matched


@given(HOST, HOST)
def test_different_names_do_not_match(a: str, b: str) -> None:
    if a != b:
        assert not chrome_match(a, ids(b)).matched
        assert not firefox_match(a, ids(b)).matched


@given(st.ip_addresses())
def test_ip_only_via_ipaddress(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert chrome_match(str(ip), Identities(ips=(ip.packed,))).matched
    assert firefox_match(str(ip), Identities(ips=(ip.packed,))).matched
    assert not chrome_match(str(ip), ids(str(ip))).matched


def test_presented_id_syntax() -> None:
    assert is_valid_dns_id("*.example.net", presented=True)
    assert not is_valid_dns_id("*.net", presented=True)
    assert not is_valid_dns_id("-a.example.net", presented=True)
    assert not is_valid_dns_id("a.example.123", presented=True)
    assert is_valid_dns_id("example.net.", presented=False)
