"""The check catalogue and the code stay in step: every id used is registered, every registered
check can fire (a case below makes each one fail), outcomes other than pass/fail are recorded."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from pathlib import Path
from typing import Any, Callable

import certifi
import pytest
from cryptography import x509


from scanner.checks import REGISTRY, REQUEST_CHECKS, Check, catalogue, registry
from scanner.evaluate import browsers, builtin_profile, evaluate, evaluate_outcomes
from scanner.lab import der
from scanner.lab.pki import issue, resign
from tests.test_browsers import CASES, HOST, NOW, Lab, leaf, weak_rsa_key

SCANNER = Path(__file__).resolve().parents[1] / "scanner"
Built = tuple[list[bytes], str, "list[bytes] | None", dt.datetime, Any]


@pytest.fixture(scope="module")
def lab() -> Lab:
    return Lab()


def _serial(value: bytes) -> Callable[[list[bytes]], list[bytes]]:
    def edit(fields: list[bytes]) -> list[bytes]:
        fields[1 if fields[0][0] == 0xA0 else 0] = der.tlv(0x02, value)
        return fields
    return edit


def _case(name: str) -> Callable[[Lab], Built]:
    def build(lab: Lab) -> Built:
        chain, host, anchors = CASES[name][0](lab)
        return chain, host, anchors, NOW, None
    return build


@functools.lru_cache(maxsize=1)
def _oracle_cases() -> dict[str, Any]:
    """The real-browser oracle's issue-14 cases (tests/browsers/cases.py), whose codes the browsers confirmed."""
    from tests.browsers import cases as oracle

    built = [*oracle._anchor_cases(), *oracle._depth_cases(), *oracle._priority_cases(), *oracle._more_cases()]
    return {c.id: c for c in built}


def _oracle(case_id: str) -> Callable[[Lab], Built]:
    def build(lab: Lab) -> Built:
        case = _oracle_cases()[case_id]
        return list(case.chain), case.hostname, list(case.anchors), dt.datetime.now(dt.timezone.utc), None
    return build


AIA_URL = "http://aia.dcc.test/issuing.der"


def _aia(lab: Lab, record: dict[str, Any]) -> Any:
    """Only the leaf served, its AIA caIssuers URL fetched by the probe with ``record``'s outcome."""
    ext = x509.AuthorityInformationAccess([x509.AccessDescription(
        x509.oid.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(AIA_URL))])
    return (*_local(lab, [leaf(lab, extra=[(ext, False)]).der]), [record])


def _depth_bound(lab: Lab) -> Built:
    """A served chain longer than dccscan's path-building depth bound (path.MAX_DEPTH)."""
    from scanner.evaluate.path import MAX_DEPTH

    issuer = lab.pki.root
    served = []
    for level in range(MAX_DEPTH):
        issuer = issue(subject=f"Level {level} CA", issuer=issuer, ca=True)
        served.append(issuer.der)
    return _local(lab, [issue(subject="leaf", issuer=issuer, dns=[HOST]).der, *reversed(served)])


def _local(lab: Lab, chain: list[bytes], host: str = HOST, at: dt.datetime = NOW, profile: Any = None) -> Built:
    return chain, host, [lab.pki.root.der], at, profile


def _public_root_as_leaf(newer_than: dt.datetime) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding
    roots = x509.load_pem_x509_certificates(Path(certifi.where()).read_bytes())
    for root in roots:
        if root.not_valid_before_utc >= newer_than and (root.not_valid_after_utc - root.not_valid_before_utc).days > 398:
            return root.public_bytes(Encoding.DER)
    raise AssertionError("certifi holds no root issued after 2020-09-01")


def _public(_: Lab) -> Built:
    leaf_der = _public_root_as_leaf(dt.datetime(2020, 9, 1, tzinfo=dt.timezone.utc))
    return [leaf_der], "root.example", None, NOW, None


def _issuer_future(lab: Lab) -> Built:
    ca = issue(subject="Future CA", issuer=lab.pki.root, ca=True, not_before=NOW + dt.timedelta(days=3))
    return _local(lab, [issue(subject=HOST, dns=[HOST], issuer=ca).der, ca.der])


def _hostile(lab: Lab) -> Built:
    key = issue(subject="k", ca=True).key
    root = issue(subject="Hostile CA", ca=True, key=key)
    cas = [issue(subject="Hostile CA", issuer=root, ca=True, key=key, ski_aki=False, serial=i + 1) for i in range(40)]
    return _local(lab, [issue(subject="l", dns=[HOST], issuer=cas[0], ski_aki=False).der, *(c.der for c in cas)])


def _malformed(lab: Lab) -> Built:
    bad_ku = x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.15"), b"\x01\x02")
    return _local(lab, lab.chain(leaf(lab, key_usage=[], extra=[(bad_ku, True)])))


def _anchor_unknown_critical(lab: Lab) -> Built:
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.2"), b"\x05\x00")
    root = issue(subject="Odd Root", ca=True, extra=[(odd, True)])
    return [issue(subject=HOST, dns=[HOST], issuer=root).der], HOST, [root.der], NOW, None


def _empty_issuer(lab: Lab) -> Built:
    ca = issue(subject=x509.Name([]), issuer=lab.pki.root, ca=True)
    return _local(lab, [issue(subject=HOST, dns=[HOST], issuer=ca).der, ca.der])


def _critical_aia(lab: Lab) -> Built:
    aia = x509.AuthorityInformationAccess([x509.AccessDescription(
        x509.oid.AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier("http://ca.test/ca.crt"))])
    return _local(lab, lab.chain(leaf(lab, extra=[(aia, True)])))


def _profile(**changes: Any) -> Any:
    return dataclasses.replace(builtin_profile(), **changes)


FIRES: dict[str, Callable[[Lab], Built]] = {
    "chain.anchor_expired": _case("anchor-expired"),
    "chain.anchor.unknown_critical": _anchor_unknown_critical,
    "chain.anchor_not_yet_valid": _oracle("anchor-not-yet-valid"),
    "firefox.anchor.no_basic_constraints": _oracle("anchor-no-basicconstraints"),
    "chrome.anchor.unparseable": _oracle("anchor-aki-issuer-without-serial"),
    "chrome.anchor.name_constraints_pattern": _oracle("anchor-nc-malformed-wildcard"),
    "firefox.name_constraints.malformed": _oracle("anchor-nc-malformed-wildcard"),
    "firefox.path.too_long": _oracle("depth-7-intermediates"),
    "firefox.path.alternatives_differ": _oracle("alt-expired-vs-clientauth"),
    "chrome.policy.explicit_required": _oracle("policy-require-explicit"),
    "chain.path_depth_limit": _depth_bound,
    "chain.incomplete.aia_unfetched": lambda lab: _aia(lab, {"url": AIA_URL, "error": "could not fetch: HTTP 404"}),
    "chain.incomplete.aia_unusable": lambda lab: _aia(lab, {"url": AIA_URL, "error": None,
                                                           "certificates": [lab.rsa.issuing.pem.decode()]}),
    "chain.key.unsupported_algorithm": lambda lab: _local(lab, lab.chain(leaf(lab, key="ed25519"))),
    "chrome.extension.unconsumed_critical": _critical_aia,
    "firefox.issuer.empty_name": _empty_issuer,
    "chain.bad_signature": _case("bad-signature"),
    "chain.ca.key_cert_sign_missing": _case("ca-without-keycertsign"),
    "chain.ca.not_ca": _case("intermediate-not-ca"),
    "chain.ca.path_length": _case("path-length"),
    "chain.ca.v1": _case("intermediate-v1"),
    "chain.incomplete": _case("incomplete"),
    "chain.incomplete.aia": _case("incomplete-with-aia"),
    "chrome.tls.no_signature_scheme": _case("p521-leaf"),
    "firefox.tls.no_signature_scheme": _case("unsupported-curve"),
    "firefox.eku.ocsp_signing_leaf": _case("eku-ocsp-signing"),
    "rfc5280.eku.empty": _case("empty-eku"),
    "rfc5280.san.empty": _case("empty-san"),
    "chain.issuer.expired": _case("intermediate-expired"),
    "chain.issuer.not_yet_valid": _issuer_future,
    "chain.key.unsupported_curve": _case("unsupported-curve"),
    "chain.key.weak": lambda lab: _local(lab, lab.chain(leaf(lab, key=weak_rsa_key()))),
    "chain.name_constraints.violation": _case("name-constraints"),
    "chain.path_building_limit": _hostile,
    "chain.pool.unparseable": lambda lab: _local(lab, [leaf(lab).der, b"junk", lab.pki.issuing.der]),
    "chain.public_store.ct_unchecked": _public,
    "chain.self_signed_leaf": _case("self-signed"),
    "chain.signature.md5": lambda lab: ([lab.rsa.leaf(HOST, dns=[HOST], hash_name="md5").der, lab.rsa.issuing.der], HOST,
                                        [lab.rsa.root.der], NOW, None),
    "chain.signature.sha1": _case("sha1-leaf"),
    "chain.untrusted_root": _case("untrusted-root"),
    "chrome.key_usage.tls_incompatible": _case("rsa-ku-encipherment-only"),
    "chrome.name.cn_only": _case("cn-only"),
    "chrome.name.wildcard_public_suffix": _case("wildcard-public-suffix"),
    "chrome.validity.too_long": _public,
    "dccki.cn.not_in_san": lambda lab: _local(lab, lab.chain(lab.pki.leaf("cn.dcc.test", dns=[HOST])),
                                              profile=_profile(cn_must_be_in_san=True)),
    "dccki.eku.server_auth_missing": lambda lab: _local(lab, lab.chain(leaf(lab, eku=None))),
    "dccki.key.not_allowed": lambda lab: _local(lab, lab.chain(leaf(lab, key="ec-p521"))),
    "dccki.key_usage.digital_signature_missing": _case("ku-crl-sign-only"),
    "dccki.leaf.is_ca": _case("leaf-is-ca"),
    "dccki.san.missing": _case("cn-only"),
    "dccki.signature.not_allowed": _case("sha1-leaf"),
    "dccki.validity.too_long": lambda lab: _local(lab, lab.chain(leaf(lab)), profile=_profile(max_validity_days=90)),
    "expiry.within_30_days": lambda lab: _local(lab, lab.chain(leaf(lab)), at=NOW + dt.timedelta(days=350)),
    "expiry.within_60_days": lambda lab: _local(lab, lab.chain(leaf(lab)), at=NOW + dt.timedelta(days=320)),
    "firefox.eku.any_only": _case("eku-any-only"),
    "firefox.key_usage.leaf_unusable": _case("ku-crl-sign-only"),
    "firefox.leaf.is_ca": _case("leaf-is-ca"),
    "firefox.name.absolute_san": _case("absolute-san"),
    "firefox.name.invalid_san": lambda lab: _local(lab, lab.chain(leaf(lab, dns=["bad..name", HOST]))),
    "name.mismatch": _case("mismatch"),
    "rfc5280.certificate.unparseable": lambda lab: _local(lab, [b"\x30\x00"]),
    "rfc5280.eku.server_auth_missing": _case("eku-client-only"),
    "rfc5280.extension.duplicate": _case("duplicate-extension"),
    "rfc5280.extension.malformed": _malformed,
    "rfc5280.extension.unknown_critical": _case("unknown-critical"),
    "rfc5280.serial.negative": lambda lab: _local(lab, lab.chain(resign(leaf(lab), lab.pki.issuing.key, edit_tbs=_serial(b"\xfb")))),
    "rfc5280.serial.zero": lambda lab: _local(lab, lab.chain(resign(leaf(lab), lab.pki.issuing.key, edit_tbs=_serial(b"\x00")))),
    "rfc5280.signature.algorithm_mismatch": _case("algorithm-mismatch"),
    "rfc5280.validity.expired": _case("expired"),
    "rfc5280.validity.not_yet_valid": _case("not-yet-valid"),
}


@pytest.mark.parametrize("check_id", sorted(FIRES))
def test_each_check_can_fire(lab: Lab, check_id: str) -> None:
    chain, host, anchors, at, profile, *aia = FIRES[check_id](lab)
    result = evaluate(chain, host, anchors=anchors, at=at, profile=profile, aia=aia[0] if aia else None)
    assert check_id in {f["id"] for f in result["findings"]}, result["findings"]


def test_every_registered_check_has_a_firing_case() -> None:
    # request-only checks (scanner/checks/request.py) fire in tests/test_csr.py, revocation checks
    # (scanner/checks/revocation.py) in tests/test_revocation.py and tests/test_revocation_eval.py
    from scanner.checks.revocation import REVOCATION_CHECKS

    assert set(REGISTRY) - {registry.CRASHED} - set(REQUEST_CHECKS) - set(REVOCATION_CHECKS) == set(FIRES)


def test_a_crashing_check_becomes_a_finding(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(ctx: Any) -> list[Any]:
        raise RuntimeError("boom")
    # the table is immutable: the test runs the evaluation with one extra (broken) check in its order
    monkeypatch.setattr(registry, "ORDER", (*registry.ORDER, Check("test.crashes", "t", "error", "dccscan", "c", "a", boom)))
    result = evaluate(lab.chain(leaf(lab)), HOST, anchors=[lab.pki.root.der], at=NOW)
    crashed = [f for f in result["findings"] if f["id"] == registry.CRASHED]
    assert crashed and "test.crashes" in crashed[0]["detail"]
    assert result["browsers"]["chrome"]["reasons"][-1]["check"] == registry.CRASHED


def test_the_registry_is_an_immutable_table_built_at_import() -> None:
    with pytest.raises(TypeError):
        REGISTRY["test.added"] = REGISTRY[registry.CRASHED]  # type: ignore[index]
    from scanner.checks import expiry
    with pytest.raises(RuntimeError, match="frozen"):
        expiry.define("test.late", "t", "error", "dccscan", "c", "a")
    assert [c.id for c in registry.ORDER] == sorted(REGISTRY)
    entries = registry.catalogue()
    assert [e["id"] for e in entries] == sorted(REGISTRY)
    assert {"id", "title", "severity", "source", "citation", "effective_date", "advice", "applies_to"} == set(entries[0])
    applies = {e["id"]: e["applies_to"] for e in entries}
    assert {k for k, v in applies.items() if v == "request"} == set(REQUEST_CHECKS) != set()
    assert applies["rfc5280.validity.expired"] == "certificate"


def test_every_id_used_in_code_is_registered() -> None:
    used = set(browsers.EFFECTS) | set(browsers.REFINES) | set(browsers.REFINES.values())
    for source in (SCANNER / "evaluate" / "path.py").read_text(), :
        used |= set(re.findall(r'Issue\(\s*"([a-z0-9_.]+)"', source))
        used |= {f"{p}.{s}" for p in ("rfc5280.validity", "chain.issuer") for s in ("expired", "not_yet_valid")}
    assert used - set(REGISTRY) == set()
    assert len(used) > 30


def test_metadata_is_complete() -> None:
    pattern = re.compile(r"^[a-z0-9]+(\.[a-z0-9_]+)+$")
    for entry in catalogue():
        assert pattern.match(entry["id"]), entry
        assert entry["severity"] in ("error", "warning", "notice", "info")
        assert entry["title"] and entry["citation"] and entry["advice"] and entry["source"]


def test_not_applicable_and_not_effective_are_recorded(lab: Lab) -> None:
    old = lab.pki.leaf(HOST, not_before=dt.datetime(2018, 3, 1, tzinfo=dt.timezone.utc), days=4000)
    ctx, outcomes = evaluate_outcomes(lab.chain(old), HOST, anchors=[lab.pki.root.der], at=NOW)
    status = {o.check: o.status for o in outcomes if o.certificate_index in (0, None)}
    assert status["dccki.san.missing"] == "not-effective"
    assert status["dccki.validity.too_long"] == "not-applicable"
    assert status["chain.public_store.ct_unchecked"] == "not-applicable"
    assert status["dccki.key.not_allowed"] == "pass"
    result = evaluate(lab.chain(old), HOST, anchors=[lab.pki.root.der], at=NOW)
    assert result["profile"]["status"] == "grandfathered"
    assert "dccki.san.missing" not in {f["id"] for f in result["findings"]}
    assert result["browsers"]["chrome"]["error"] == "ERR_CERT_COMMON_NAME_INVALID"  # still rejected


def test_expired_leaf_has_no_expiry_warning(lab: Lab) -> None:
    _, outcomes = evaluate_outcomes(lab.chain(leaf(lab)), HOST, anchors=[lab.pki.root.der], at=NOW + dt.timedelta(days=900))
    assert {o.status for o in outcomes if o.check.startswith("expiry.")} == {"not-applicable"}
