"""The verdict engine's fast paths agree with the slow references they replace.

Why: the engine reads each certificate once, with shortcuts (an index-based DER walk, cached
names, the certificate record built from the engine's facts). A shortcut that disagrees with the
reference on one odd certificate would silently change a verdict or a record, so every shortcut
is compared with its reference over the browser-oracle certificates, the hostile ones and
mutated DER (``benchmarks/engine_golden.py`` does the same end to end, byte for byte).
"""

from __future__ import annotations

from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner import certinfo
from scanner.certinfo import describe
from scanner.evaluate import certs
from scanner.lab import hostile
from scanner.lab.pki import LabPKI
from tests.browsers.cases import build_cases


@lru_cache(maxsize=1)
def _ders() -> tuple[bytes, ...]:
    """Every distinct certificate of the oracle cases and the hostile estate."""
    found: dict[bytes, None] = {}
    for case in build_cases():
        for der in (*case.chain, *case.anchors):
            found[der] = None
    hostile_certs = hostile.hostile_certificates(LabPKI.create())
    for issued in (hostile_certs.good, hostile_certs.large, hostile_certs.broken_extension, *hostile_certs.long_chain[:2]):
        found[issued.der] = None
    return tuple(found)


def _layout_or_error(der: bytes, walk: object) -> object:
    try:
        return walk(der)  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - the error type is part of the behaviour compared
        return type(exc)


def _cryptography_extensions(der: bytes) -> list[tuple[str, bool]] | None:
    """The (oid, critical) list as cryptography reads it; None when it refuses the extensions."""
    from cryptography import x509

    try:
        return [(e.oid.dotted_string, e.critical) for e in x509.load_der_x509_certificate(der).extensions]
    except Exception:  # noqa: BLE001
        return None


def test_fast_der_walk_matches_the_slice_walk() -> None:
    ders = _ders()
    assert len(ders) > 100
    for der in ders:
        reference = certs._slice_layout(der)
        assert certs._layout(der) == reference
        without = certs._layout(der, extensions=False)
        assert (without.issuer, without.subject, without.algorithm_mismatch, without.explicit_curve) == \
            (reference.issuer, reference.subject, reference.algorithm_mismatch, reference.explicit_curve)
        listed = _cryptography_extensions(der)
        assert listed is None or listed == reference.extensions
    # the fast walk really is taken for ordinary certificates (else this test compares nothing new)
    assert certs._fast_layout(ders[0]) == certs._slice_layout(ders[0])


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=255),
       st.integers(min_value=0, max_value=3))
def test_fast_der_walk_matches_on_mutated_der(position: int, value: int, which: int) -> None:
    """A changed byte (or a truncation) gives the same layout or the same exception either way."""
    ders = _ders()
    der = bytearray(ders[which * 7 % len(ders)])
    if value % 5 == 0:
        der = der[: position % len(der)]
    else:
        der[position % len(der)] = value
    data = bytes(der)
    reference = _layout_or_error(data, certs._slice_layout)
    assert _layout_or_error(data, certs._layout) == reference
    listed = _cryptography_extensions(data)
    if listed is not None:  # the engine then takes cryptography's list instead of walking the DER
        assert isinstance(reference, certs._Layout) and listed == reference.extensions


def test_certificate_record_from_engine_facts_equals_a_fresh_read() -> None:
    for der in (*_ders(), hostile.UNPARSEABLE_DER, hostile.random_bytes(size=300)):
        facts = certs.parse(der)
        assert describe(der, 3, parsed=facts.cert, known=facts) == describe(der, 3)


def test_cached_names_equal_fresh_names() -> None:
    """The issuer name cache is keyed by the DER as presented: a second certificate from the same
    issuer gets exactly what a fresh parse gives."""
    pki = LabPKI.create(org="Name cache, \"quoted\" + plus")
    first, second = pki.leaf("a.example", dns=["a.example"]), pki.leaf("b.example", dns=["b.example"])
    certs.parse(first.der)
    again = certs.parse(second.der)
    assert again.issuer_text == second.cert.issuer.rfc4514_string()
    assert again.issuer == second.cert.issuer.public_bytes()
    assert again.subject_text == second.cert.subject.rfc4514_string()
    assert again.ids.cns == ("b.example",)


_TYPES = st.sampled_from(["2.5.4.3", "2.5.4.10", "2.5.4.11", "2.5.4.6", "0.9.2342.19200300.100.1.25",
                          "1.2.840.113549.1.9.1", "2.5.4.5", "1.3.6.1.4.1.99999.7", "1.3.6.1.4.1.311.60.2.1.3"])
_TAGS = st.sampled_from([0x0C] * 6 + [0x13] * 6 + [0x16, 0x1E, 0x14, 0x04])
_VALUES = st.one_of(st.text(max_size=12), st.text(alphabet=" #+,;<>\\\"=\x00AZaz09'()-./:?_@é☃", max_size=12),
                    st.text(alphabet=" AZaz09'()+,-./:=?#", max_size=12))
_ATTRIBUTE = st.tuples(_TYPES, _TAGS, _VALUES)
_RDN = st.one_of(*[st.lists(_ATTRIBUTE, min_size=1, max_size=1)] * 6, st.lists(_ATTRIBUTE, min_size=2, max_size=2))


@lru_cache(maxsize=1)
def _spki() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _cryptography_name(raw: bytes) -> object:
    """cryptography's reading of a DER Name. ``Name.from_bytes`` exists only in newer releases
    (the project allows cryptography 42 and later): elsewhere the Name is read as the subject of
    a certificate request built around it (parsing does not check the request's signature)."""
    from cryptography import x509

    from scanner.lab import der

    if hasattr(x509.Name, "from_bytes"):
        return x509.Name.from_bytes(raw)
    info = der.sequence(der.tlv(0x02, b"\x00"), raw, _spki(), der.tlv(0xA0, b""))
    request = der.sequence(info, der.sequence(der.oid("1.2.840.10045.4.3.2")), der.tlv(0x03, b"\x00" + b"\x30\x00"))
    return x509.load_der_x509_csr(request).subject


def _value_der(tag: int, text: str) -> bytes:
    from scanner.lab import der

    if tag == 0x1E:
        return der.tlv(tag, text.encode("utf-16-be", "surrogatepass"))
    return der.tlv(tag, text.encode("utf-8", "surrogatepass"))


@settings(max_examples=400, deadline=None)
@given(st.lists(_RDN, max_size=4))
def test_simple_name_decoding_matches_cryptography(rdns: list[list[tuple[str, int, str]]]) -> None:
    """Whenever the engine decodes a Name itself, it gets cryptography's DER, RFC 4514 text and
    CNs; a Name cryptography refuses is never decoded here."""
    from cryptography import x509

    from scanner.lab import der

    raw = der.sequence(*[der.tlv(0x31, b"".join(der.sequence(der.oid(oid), _value_der(tag, text))
                                                 for oid, tag, text in rdn)) for rdn in rdns])
    mine = certs._simple_name(raw)
    assert mine == certs._any_simple_name(raw)  # the inline short-form reader agrees with the general one
    try:
        reference = certs._name_info_of(_cryptography_name(raw))
    except Exception:  # noqa: BLE001 - cryptography refuses the name
        assert mine is None
        return
    assert mine is None or mine == reference


def test_simple_name_handles_the_common_shape() -> None:
    """The fast decoder is really used for an ordinary name (else the test above proves nothing)."""
    leaf = LabPKI.create(org="Plain Org").leaf("gw.example", dns=["gw.example"])
    raw = leaf.cert.subject.public_bytes()
    assert certs._simple_name(raw) == certs._name_info_of(leaf.cert.subject)
    long_org = LabPKI.create(org="Long " * 30).leaf("gw.example", dns=["gw.example"])  # long-form lengths
    raw = long_org.chain[0].cert.subject.public_bytes()
    assert len(raw) > 128 and certs._simple_name(raw) == certs._name_info_of(long_org.chain[0].cert.subject)


HOSTILE_VALUES = ["#lead", " lead", "trail ", " ", "a+b", 'q"uote', "c,omma", "s;emi", "<lt>", "back\\slash",
                  "nul\x00", "=eq", "ünï☃", "𝄞", "", "  two  ", "#", "\n", "x\ty"]


def test_simple_name_escapes_hostile_values_as_cryptography_does() -> None:
    from cryptography import x509

    from scanner.lab import der

    for value in HOSTILE_VALUES:
        raw = der.sequence(der.tlv(0x31, der.sequence(der.oid("2.5.4.3"), der.tlv(0x0C, value.encode()))),
                           der.tlv(0x31, der.sequence(der.oid("1.2.3.4"), der.tlv(0x0C, value.encode()))))
        mine = certs._simple_name(raw)
        assert mine is not None and mine == certs._name_info_of(_cryptography_name(raw)), value


def test_facts_built_without_the_dataclass_constructor_equal_the_ordinary_ones() -> None:
    import dataclasses

    for der in _ders()[:20]:
        facts = certs.parse(der)
        values = {f.name: getattr(facts, f.name) for f in dataclasses.fields(facts)}
        ordinary = certs.CertFacts(**values)
        assert certs._facts(**values) == ordinary and vars(certs._facts(**values)) == vars(ordinary)
        assert hash(certs._facts(**{**values, "name_constraints": None})) is not None


def _every_run(ctx: object) -> list[object]:
    """The reference for run_all: every check's own runner, in id order."""
    from scanner.checks import REGISTRY

    return [o for check_id in sorted(REGISTRY) for o in REGISTRY[check_id].run(ctx)]  # type: ignore[arg-type]


def test_run_all_shortcuts_give_what_every_runner_gives() -> None:
    """run_all skips calling path checks with no issue and request checks on a certificate; the
    outcomes must be exactly those the runners return."""
    from scanner.checks.registry import run_all
    from scanner.evaluate import evaluate_outcomes

    cases = build_cases()
    flagged = 0
    for case in cases:
        ctx, outcomes = evaluate_outcomes(list(case.chain), case.hostname, anchors=list(case.anchors),
                                          at=_now())
        assert outcomes == run_all(ctx) == _every_run(ctx), case.id
        flagged += bool(ctx.path.issues)
    assert flagged > 10  # chains with path issues were among them (the flagged branch ran)


def _now() -> object:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(timezones=st.sampled_from([None, __import__("datetime").timezone.utc,
                                               __import__("datetime").timezone(__import__("datetime").timedelta(hours=-7))])))
def test_iso_utc_matches_strftime(moment: object) -> None:
    import datetime as dt

    from scanner.certinfo import iso_utc

    m: dt.datetime = moment  # type: ignore[assignment]
    try:
        expected = (m.replace(tzinfo=dt.timezone.utc) if m.tzinfo is None else m).astimezone(dt.timezone.utc) \
            .strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:
        return
    assert iso_utc(m) == expected


def _tbs_agrees(der: bytes) -> bool:
    """The engine verifies signatures over the TBSCertificate as presented; cryptography's
    ``tbs_certificate_bytes`` re-encodes it. They must be the same bytes for every certificate
    cryptography loads (its parser is strict DER), else a verdict could change."""
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
        expected = cert.tbs_certificate_bytes
    except Exception:  # noqa: BLE001 - not loadable: the engine never verifies it
        return True
    tbs = certs._layout(der).tbs
    return tbs in (b"", expected)


def test_presented_tbs_is_what_cryptography_signs() -> None:
    ders = _ders()
    assert all(_tbs_agrees(der) for der in ders)
    assert all(certs.parse(der).tbs for der in ders[:5])  # the presented bytes really are used


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=255),
       st.integers(min_value=0, max_value=30))
def test_presented_tbs_agrees_on_mutated_der(position: int, value: int, which: int) -> None:
    ders = _ders()
    der = bytearray(ders[which % len(ders)])
    der[position % len(der)] = value
    assert _tbs_agrees(bytes(der))


def test_presented_tbs_agrees_on_limbo_certificates() -> None:
    import json
    from pathlib import Path

    import pytest
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    limbo = Path(__file__).resolve().parents[1] / ".." / "shared" / "limbo" / "limbo.json"
    if not limbo.exists():
        pytest.skip(f"x509-limbo suite not found at {limbo.resolve()} (the shared/ folder is absent in a user's clone)")
    checked = 0
    for case in json.loads(limbo.read_text())["testcases"]:
        for pem in [case["peer_certificate"], *(case.get("untrusted_intermediates") or []), *case["trusted_certs"]]:
            try:
                der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
            except Exception:  # noqa: BLE001
                continue
            assert _tbs_agrees(der), case["id"]
            checked += 1
    assert checked > 300


def test_run_all_plan_equals_the_step_by_step_loop() -> None:
    """run_all follows a plan cached per (leaf type, flagged checks); it must give what the
    step-by-step reference loop gives, on chains with and without path issues."""
    from scanner.checks import registry
    from scanner.evaluate import evaluate_outcomes

    for case in build_cases():
        ctx, outcomes = evaluate_outcomes(list(case.chain), case.hostname, anchors=list(case.anchors), at=_now())
        flagged = {issue.check for issue in ctx.path.issues}
        assert outcomes == registry._run_steps(ctx, registry._in_order(), flagged, ctx.chain[0]), case.id


_NAME_TEXT = st.text(alphabet="ab9Z_-.*:\x00é", max_size=12) | st.sampled_from(
    ["host1.bench.test", "a", "1.2.3.4", "a.1", "x" * 63 + ".a", "x" * 64 + ".a", "b." * 126 + "b", "b." * 127 + "b"])


@settings(max_examples=500, deadline=None)
@given(_NAME_TEXT, st.lists(_NAME_TEXT, max_size=3), st.booleans(), st.booleans())
def test_plain_hostname_shortcut_matches_the_general_matchers(hostname: str, others: list[str], first: bool,
                                                                builtin_root: bool) -> None:
    """chrome_match / firefox_match answer a plain hostname that is the (first / only) SAN entry
    without the general rules; the answer must be what the general matchers give."""
    from scanner.evaluate import names

    ids = names.Identities(dns=tuple([hostname, *others] if first else others), cns=("x",), has_san_extension=True)
    assert names.chrome_match(hostname, ids) == names._chrome_match(hostname, ids)
    assert names.firefox_match(hostname, ids, builtin_root=builtin_root) == names._firefox_match(hostname, ids, builtin_root)


def test_plain_hostname_shortcut_is_taken_for_the_common_case() -> None:
    from scanner.evaluate import names

    assert names._plain("host1.bench.test") and not names._plain("1.2.3.4") and not names._plain("a.b.")
    ids = names.Identities(dns=("host1.bench.test",), has_san_extension=True)
    assert names.chrome_match("host1.bench.test", ids) is names.MATCHED
    assert names.firefox_match("host1.bench.test", ids) is names.MATCHED


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('ab #\\"+,;<>\x00=é')) | st.characters(), max_size=8))
def test_dn_escaping_shortcut_matches_cryptography(value: str) -> None:
    """Name values needing no escape are returned as they are; the rest go to cryptography's escaper."""
    from cryptography.x509.name import _escape_dn_value

    assert certs._escape(value) == _escape_dn_value(value)


def _facts_or_error(der: bytes, plain: bool) -> object:
    """``certs._parse`` with or without the plain-extension reader: its fields, or the error type."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            facts = vars(certs._parse(der, "x", plain=plain))
        except Exception as exc:  # noqa: BLE001 - the error type is part of the behaviour compared
            return type(exc)
    san = facts.pop("san_value")
    if san is not None and san is not certinfo.NOT_READ:
        facts["san_records"] = certinfo._san_records(san)  # a DnsNames tuple or cryptography's object: same records
    return facts


def test_plain_extension_reader_equals_cryptography_on_the_corpus() -> None:
    """Facts with the plain-extension reader are the facts cryptography's objects give (san_value included)."""
    from scanner.evaluate import plainext

    taken = 0
    for der in _ders():
        assert _facts_or_error(der, True) == _facts_or_error(der, False)
        layout = certs._fast_layout_or_none(der)
        taken += layout is not None and plainext.plain_extensions(layout.values) is not None
    assert taken > 20  # the reader really ran on ordinary leaves


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.integers(min_value=0, max_value=255),
       st.integers(min_value=0, max_value=30))
def test_plain_extension_reader_equals_cryptography_on_mutated_der(position: int, value: int, which: int) -> None:
    """A changed byte in a plain leaf: the same facts, or the same error, either way."""
    from scanner.evaluate import plainext

    plain = [d for d in _ders() if (lay := certs._fast_layout_or_none(d)) and plainext.plain_extensions(lay.values)]
    der = bytearray(plain[which % len(plain)])
    der[position % len(der)] = value
    assert _facts_or_error(bytes(der), True) == _facts_or_error(bytes(der), False)


_KU_NAMES = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")


@lru_cache(maxsize=1)
def _signing_key() -> object:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


@settings(max_examples=150, deadline=None)
@given(st.booleans(), st.one_of(st.none(), st.integers(min_value=0, max_value=3)), st.lists(st.booleans(), min_size=9, max_size=9),
       st.lists(st.text(alphabet="ab9.-*_A", min_size=1, max_size=8), max_size=3),
       st.lists(st.sampled_from(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.3"]), max_size=3),
       st.lists(st.booleans(), min_size=6, max_size=6), st.lists(st.booleans(), min_size=6, max_size=6))
def test_plain_extension_reader_equals_cryptography_on_varied_leaves(
        ca: bool, path_len: int | None, usage: list[bool], dns: list[str], purposes: list[str],
        present: list[bool], critical: list[bool]) -> None:
    """Leaves with every combination of the extensions the reader knows (and shapes it leaves to cryptography)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    key = _signing_key()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "leaf.test")])
    extensions: list[x509.ExtensionType] = [
        x509.BasicConstraints(ca=ca, path_length=path_len if ca else None),
        x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]) if dns else x509.SubjectAlternativeName([x509.DNSName("x.test")]),
        x509.ExtendedKeyUsage([x509.ObjectIdentifier(p) for p in purposes] or [x509.ObjectIdentifier("1.3.6.1.5.5.7.3.1")]),
        x509.SubjectKeyIdentifier(b"\x01" * 20), x509.AuthorityKeyIdentifier(b"\x02" * 20, None, None)]
    if usage[4] or not (usage[7] or usage[8]):
        extensions.append(x509.KeyUsage(*usage))
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).serial_number(7)
               .public_key(key.public_key()).not_valid_before(dt.datetime(2024, 1, 1))  # type: ignore[attr-defined]
               .not_valid_after(dt.datetime(2025, 1, 1)))
    for ext, wanted, crit in zip(extensions, present, critical):
        if wanted:
            builder = builder.add_extension(ext, critical=crit)
    der = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]
    assert _facts_or_error(der, True) == _facts_or_error(der, False)


def test_cached_issuer_issues_equal_fresh_ones() -> None:
    """The path builder caches an issuer's or anchor's issues by (certificate, place, time): on every
    oracle chain, at two times, they must equal the issues worked out afresh."""
    import datetime as dt

    from scanner.evaluate import evaluate_outcomes
    from scanner.evaluate import path as path_mod

    compared = 0
    for case in build_cases():
        for at in (_now(), dt.datetime(2040, 1, 1, tzinfo=dt.timezone.utc)):
            ctx, _ = evaluate_outcomes(list(case.chain), case.hostname, anchors=list(case.anchors), at=at)
            nodes = ctx.path.path
            for depth, node in enumerate(nodes):
                fresh = path_mod._node_issues(node, depth, nodes, ctx.at)
                assert path_mod._cert_issues(node, depth, nodes, ctx.at) == fresh, case.id
                assert path_mod._cert_issues(node, depth, nodes, ctx.at) == fresh, case.id
                compared += depth > 0
    assert compared > 50


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=500), st.integers(min_value=0, max_value=255), st.integers(min_value=0, max_value=40))
def test_inline_name_reader_with_cached_rdns_equals_the_general_reader(position: int, value: int, which: int) -> None:
    """A changed byte in a real subject or issuer name: the inline reader (RDNs cached by their
    bytes) gives what the any-length reader gives, read once or twice."""
    raws = sorted({n for d in _ders() if (lay := certs._fast_layout_or_none(d)) for n in (lay.subject, lay.issuer)})
    raw = bytearray(raws[which % len(raws)])
    raw[position % len(raw)] = value
    data = bytes(raw)
    reference = certs._any_simple_name(data)
    assert certs._simple_name(data) == reference
    assert certs._simple_name(data) == reference


def test_run_all_sees_a_replaced_check(monkeypatch: object) -> None:
    """run_all's sorted step list is rebuilt when the registry changes, replacement included
    (it is keyed by the registry's change count, not by its contents)."""
    import dataclasses

    from scanner.checks import REGISTRY
    from scanner.checks.registry import Outcome, run_all
    from scanner.evaluate import evaluate_outcomes

    case = build_cases()[0]
    ctx, before = evaluate_outcomes(list(case.chain), case.hostname, anchors=list(case.anchors), at=_now())
    marker = Outcome("name.mismatch", "fail", 0, "replaced")
    replaced = dataclasses.replace(REGISTRY["name.mismatch"], run=lambda ctx: [marker])
    monkeypatch.setitem(REGISTRY, "name.mismatch", replaced)  # type: ignore[attr-defined]
    assert marker in run_all(ctx) and marker not in before
    monkeypatch.undo()  # type: ignore[attr-defined]
    assert run_all(ctx) == before


def test_verdicts_without_failures_equal_the_general_rules() -> None:
    """chrome_verdict / firefox_verdict answer an empty failure list directly; the general rules agree."""
    from scanner.evaluate import browsers

    for matched in (True, False):
        for public in (True, False):
            for verdict in (browsers.chrome_verdict, browsers.firefox_verdict):
                general = verdict((browsers.Outcome("no.such.check", "fail", 0, ""),), name_matched=matched, public=public)
                assert verdict((), name_matched=matched, public=public) == general == \
                    {"accepted": True, "error": None, "reasons": []}
