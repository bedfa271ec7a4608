"""Certificate path building and the per-certificate rules browsers apply to a path (P1-P16).

Both browsers treat everything after the leaf as an unordered pool of candidate issuers (P15), so
we do too: a depth-first search from the leaf over the pool plus the trust anchors, verifying each
signature with cryptography, bounded in depth and in total work so that a hostile chain of a
hundred certificates costs milliseconds, not minutes. Of the complete candidate paths we keep the
one a browser would settle on: a path to an anchor with the fewest problems, else the best dead
end. A dead end is told apart as *incomplete* (the leaf's issuer was never sent) or *untrusted
root* (the chain ends at a self-signed certificate, or at a CA whose own issuer we do not trust).

Every problem is an ``Issue`` naming a registered check id; ``browsers.py`` maps those ids to
each browser's error code.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterator, Sequence

from cryptography import x509

from scanner.checks.dccki import CURVE_NAMES
from scanner.facts.certificate import ANY_EKU, EMPTY_NAME, OCSP_SIGNING, SERVER_AUTH, CertFacts
from scanner.facts.signature import verify_signature

# Certificates in one path, leaf included: dccscan's own bound against hostile chains. Chromium
# 156 accepted 10 intermediates (oracle case depth-10-intermediates; its CertPathBuilder is given
# no depth limit, only kPathBuilderIterationLimit), so the bound sits well above that.
MAX_DEPTH = 16
# mozilla::pkix pkixbuild.cpp BuildForward: at most MAX_SUBCA_COUNT (6) intermediates between the
# leaf and the trust anchor; a longer path is ERROR_UNKNOWN_ISSUER (oracle: 6 pass, 7 fail).
FIREFOX_MAX_SUBCA_COUNT = 6
ANY_POLICY = "2.5.29.32.0"
MAX_EXPANSIONS = 200     # issuer candidates tried in one evaluation (hostile-chain cap)
MAX_PATHS = 16           # complete candidate paths compared
PUBLIC_MAX_VALIDITY = ((datetime(2020, 9, 1).date(), 398), (datetime(2018, 3, 1).date(), 825))
ALLOWED_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
# The curves each browser's TLS client offers an ECDSA signature scheme for come from its
# recorded ClientHello (``scanner.clienthellos.ecdsa_curves``): a leaf key outside them fails the
# handshake before the certificate is ever verified.


@dataclass(frozen=True)
class Node:
    """One certificate on a path: its facts, its index in the presented chain (None when it came
    only from the trust anchors) and whether it is a trust anchor."""

    facts: CertFacts
    index: int | None
    anchor: bool = False


@dataclass(frozen=True)
class Issue:
    """One problem: the registered check id, the presented index (None: not presented), detail."""

    check: str
    index: int | None
    detail: str
    depth: int = 0


@dataclass
class PathResult:
    """The path a browser would settle on and what is wrong with it."""

    path: list[Node]
    trusted: bool
    issues: list[Issue] = field(default_factory=list)
    public_root: bool = False
    exhausted: bool = False

    @property
    def anchor(self) -> Node | None:
        return self.path[-1] if self.trusted else None


# ---------------------------------------------------------------------------- signatures

def signature_error(child: CertFacts, issuer: CertFacts) -> str | None:
    """None when ``issuer``'s key verifies ``child``'s signature, else why not. Kept on the child's
    cache entry: the issuing CA and root of an estate are verified once, not once per endpoint."""
    key = ("signature", issuer.sha256)
    if key in child.memo:
        known: str | None = child.memo[key]
        return known
    result: str | None = None
    try:
        assert child.cert is not None and issuer.cert is not None
        verify_signature(child.cert, issuer.public_key)
    except Exception as exc:  # noqa: BLE001 - InvalidSignature, unsupported key, ...
        result = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if len(child.memo) >= _MEMO_MAX:
        child.memo.clear()
    child.memo[key] = result
    return result


# ---------------------------------------------------------------------------- search


@dataclass
class _Search:
    pool: list[Node]
    anchors: list[Node]
    anchor_shas: frozenset[str]
    budget: int = MAX_EXPANSIONS
    exhausted: bool = False

    def candidates(self, node: Node, used: set[str]) -> list[Node]:
        """Issuers named by ``node``, not yet used, in the order BoringSSL's path builder tries them
        (pki/path_builder.cc CertIssuersIter::SortPotentialIssuers): trust anchors first, then
        those whose SKI matches the AKI, then the newest notBefore first."""
        want = node.facts.issuer
        found = [n for n in (*self.anchors, *self.pool) if n.facts.subject == want and n.facts.sha256 not in used]
        if len(found) < 2:
            return found  # nothing to order (the usual case: one issuer)
        aki = node.facts.aki
        return sorted(found, key=lambda n: (not n.anchor, aki is not None and n.facts.ski != aki,
                                            -n.facts.not_before.timestamp()))


@dataclass(frozen=True)
class _Candidate:
    path: list[Node]
    trusted: bool
    end: str  # "anchor" | "bad-signature" | "no-issuer" | "too-deep"
    bad_signature: str | None = None


def _walk(search: _Search, path: list[Node], used: set[str]) -> Iterator[_Candidate]:
    node = path[-1]
    if node.anchor:
        yield _Candidate(list(path), True, "anchor")
        return
    if len(path) >= MAX_DEPTH:
        yield _Candidate(list(path), False, "too-deep")
        return
    options = search.candidates(node, used)
    bad: str | None = None
    progressed = False
    for option in options:
        if search.budget <= 0:
            search.exhausted = True
            break
        search.budget -= 1
        error = signature_error(node.facts, option.facts)
        if error is not None:
            bad = bad or f"signature does not verify under {option.facts.subject_text}: {error}"
            continue
        progressed = True
        yield from _walk(search, [*path, option], used | {option.facts.sha256})
    if not progressed:
        yield _Candidate(list(path), False, "bad-signature" if bad else "no-issuer", bad)


def _nodes(chain: Sequence[CertFacts], anchors: Sequence[CertFacts]) -> tuple[list[Node], list[Node], frozenset[str]]:
    anchor_shas = frozenset(a.sha256 for a in anchors if a.cert is not None)
    anchor_nodes = [Node(a, None, True) for a in anchors if a.cert is not None]
    seen: set[str] = set()
    pool: list[Node] = []
    for index, f in enumerate(chain[1:], start=1):
        if f.cert is None or f.sha256 in seen or f.sha256 in anchor_shas:
            continue
        seen.add(f.sha256)
        pool.append(Node(f, index))
    return pool, anchor_nodes, anchor_shas


@dataclass(frozen=True)
class Fetched:
    """What the probe got from one AIA caIssuers URL: certificates, or why none."""

    url: str
    certificates: tuple[CertFacts, ...] = ()
    error: str | None = None


def build(chain: Sequence[CertFacts], anchors: Sequence[CertFacts], at: datetime, *,
          public_root: bool = False, fetched: Sequence[Fetched] | None = None) -> PathResult:
    """The best path from ``chain[0]`` and its issues. ``chain`` holds parsed facts, leaf first.

    ``fetched``: what the probe got from AIA caIssuers URLs (None: not fetched, e.g. a results
    file from before the probe fetched them; then Chrome's fetch is assumed to succeed)."""
    result = _build(chain, anchors, at, public_root)
    if fetched is not None:
        result.issues = [_judge_fetch(i, chain, anchors, at, public_root, fetched)
                         if i.check == "chain.incomplete.aia" else i for i in result.issues]
    return result


def _judge_fetch(issue: Issue, chain: Sequence[CertFacts], anchors: Sequence[CertFacts], at: datetime,
                 public_root: bool, fetched: Sequence[Fetched]) -> Issue:
    """Chrome's AIA recovery, decided on what the probe really fetched: does adding the fetched
    certificates to the pool give a trusted path without issuer-side problems?"""
    top = chain[issue.index] if issue.index is not None and issue.index < len(chain) else chain[0]
    mine = [f for f in fetched if f.url in top.ca_issuers]
    got = [c for f in mine for c in f.certificates]
    if got:
        retry = _build([*chain, *got], anchors, at, public_root)
        if retry.trusted and not _issuer_side(retry):
            return issue
        why = "; ".join(f"{i.check}: {i.detail}" for i in retry.issues if i.depth > 0) or "no trusted path"
        return Issue("chain.incomplete.aia_unusable", issue.index,
                     f"the issuer of {top.subject_text} was not presented; dccscan fetched its AIA caIssuers URL "
                     f"({mine[0].url}), but what it served does not complete a trusted path ({why})", issue.depth)
    errors = "; ".join(f"{f.url}: {f.error}" for f in mine) or f"{top.ca_issuers[0]}: not fetched by the probe"
    return Issue("chain.incomplete.aia_unfetched", issue.index,
                 f"the issuer of {top.subject_text} was not presented, and dccscan could not fetch its AIA caIssuers "
                 f"URL ({errors}); Chrome fetches it itself and may succeed where the scanner could not", issue.depth)


def _build(chain: Sequence[CertFacts], anchors: Sequence[CertFacts], at: datetime, public_root: bool) -> PathResult:
    leaf = chain[0]
    if leaf.cert is None:
        return PathResult([Node(leaf, 0)], False,
                          [Issue("rfc5280.certificate.unparseable", 0, f"the leaf does not parse: {leaf.parse_error}")],
                          public_root)
    pool, anchor_nodes, anchor_shas = _nodes(chain, anchors)
    search = _Search(pool, anchor_nodes, anchor_shas)
    start = Node(leaf, 0, leaf.sha256 in anchor_shas)
    best: tuple[int, PathResult] | None = None
    failed: list[PathResult] = []  # candidate paths through some issuer, none valid, in search order
    for count, candidate in enumerate(_walk(search, [start], {leaf.sha256})):
        result = _judge(candidate, at, public_root)
        issuer_problems = _issuer_side(result)
        if result.trusted and not issuer_problems:
            best = (0, result)
            failed = []
            break
        if len(result.path) > 1:
            failed.append(result)
        # Chrome (BoringSSL CertPathBuilder::AddResultPath) keeps the first path that ends at a
        # trust anchor when none is valid; among dead ends, the one with the fewest problems.
        score = 1 if result.trusted else 1000 + len(result.issues)
        if best is None or score < best[0]:
            best = (score, result)
        if count + 1 >= MAX_PATHS:
            search.exhausted = True
            break
    assert best is not None
    result = best[1]
    result.exhausted = search.exhausted
    result.issues.extend(_alternatives_issue(failed))
    if search.exhausted:
        result.issues.append(Issue("chain.path_building_limit", None,
                                   f"path building stopped at its limit ({MAX_EXPANSIONS} candidate issuers, {MAX_PATHS} paths)"))
    result.issues.extend(_unparseable_pool(chain))
    return result


def _issuer_side(result: PathResult) -> list[str]:
    """The path's problems above the leaf (what differs between alternative issuers)."""
    return [i.check for i in result.issues if i.depth > 0]


def _alternatives_issue(failed: list[PathResult]) -> list[Issue]:
    """mozilla::pkix PathBuildingStep::RecordResult: when several candidate issuers all fail, the
    error is theirs only if they failed alike; otherwise ERROR_UNKNOWN_ISSUER (oracle cases
    alt-expired-vs-*). A candidate that leads to no trust anchor counts as failing with
    UNKNOWN_ISSUER (alt-expired-vs-untrusted). Only Firefox names it; the chosen path keeps its own
    problems, and this issue lists each alternative's first one."""
    if len(failed) < 2 or len({_issuer_side(r)[0] for r in failed}) < 2:
        return []
    shown = "; ".join(f"via {r.path[1].facts.subject_text} (certificate {r.path[1].index}): {_issuer_side(r)[0]}"
                      for r in failed if len(r.path) > 1)
    return [Issue("firefox.path.alternatives_differ", None,
                  f"every candidate path fails, each for a different reason ({shown})", 1)]


def _unparseable_pool(chain: Sequence[CertFacts]) -> list[Issue]:
    return [Issue("chain.pool.unparseable", i, f"certificate {i} does not parse: {f.parse_error}", i)
            for i, f in enumerate(chain) if i and f.cert is None]


# ---------------------------------------------------------------------------- judging a path


def _judge(candidate: _Candidate, at: datetime, public_root: bool) -> PathResult:
    path = candidate.path
    issues: list[Issue] = []
    if not candidate.trusted:
        issues.append(_dead_end(candidate))
    for depth, node in enumerate(path):
        issues.extend(_cert_issues(node, depth, path, at))
    issues.extend(_name_constraint_issues(path))
    if candidate.trusted:
        if len(path) > 1:  # depends on the names below the anchor: not kept with the anchor's own issues
            issues.extend(_refused_anchor_issues(path[-1], len(path) - 1, path))
        issues.extend(_policy_issues(path))
        issues.extend(_firefox_depth_issues(path))
    if public_root and candidate.trusted:
        issues.extend(_public_root_issues(path[0]))
    return PathResult(path, candidate.trusted, issues, public_root)


def _dead_end(candidate: _Candidate) -> Issue:
    top = candidate.path[-1]
    depth = len(candidate.path) - 1
    f = top.facts
    if candidate.end == "too-deep":
        return Issue("chain.path_depth_limit", top.index,
                     f"path building stopped at dccscan's depth bound of {MAX_DEPTH} certificates before reaching "
                     "a trust anchor", depth)
    if candidate.end == "bad-signature":
        return Issue("chain.bad_signature", top.index, candidate.bad_signature or "bad signature", depth)
    if f.self_issued and depth == 0:
        return Issue("chain.self_signed_leaf", 0, "the leaf is self-signed and is not a trust anchor", 0)
    if f.self_issued:
        return Issue("chain.untrusted_root", top.index,
                     f"the chain ends at the self-signed {f.subject_text}, which is not a trust anchor", depth)
    if f.ca_issuers:
        return Issue("chain.incomplete.aia", top.index,
                     f"the issuer of {f.subject_text} ({f.issuer_text}) was not presented and is not a trust anchor; "
                     f"its AIA caIssuers URL ({f.ca_issuers[0]}) names where to fetch it: Chrome fetches it (and "
                     "accepts if that completes a trusted path), Firefox does not", depth)
    if depth == 0:
        return Issue("chain.incomplete", 0,
                     f"the leaf's issuer ({f.issuer_text}) was not presented and is not a trust anchor: "
                     "the server does not send its intermediate certificate (or the issuer is an untrusted root)", 0)
    return Issue("chain.untrusted_root", top.index,
                 f"the chain ends at {f.subject_text}, whose issuer ({f.issuer_text}) is not a trust anchor", depth)


def _cert_issues(node: Node, depth: int, path: list[Node], at: datetime) -> list[Issue]:
    """Issues of one certificate on the path. Those of an issuer or anchor (depth > 0) depend only
    on it, its place and the time, and the same CA sits above every leaf of an estate: kept on
    its cache entry (a handful of places and times per certificate, so bounded by a few)."""
    if depth == 0:
        return _node_issues(node, depth, path, at)
    memo = node.facts.memo
    key = ("issues", node.index, depth, node.anchor, _below(path, depth), at)
    found = memo.get(key)
    if found is None:
        found = _node_issues(node, depth, path, at)
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[key] = found
    return list(found)


_MEMO_MAX = 64  # per certificate: a scan judges each CA at a few places and one moment


def _below(path: list[Node], depth: int) -> int:
    """Intermediates below ``path[depth]`` that count against its pathLenConstraint."""
    return sum(1 for n in path[1:depth] if not n.facts.self_issued)


def _node_issues(node: Node, depth: int, path: list[Node], at: datetime) -> list[Issue]:
    f, idx = node.facts, node.index
    out: list[Issue] = []
    if node.anchor:
        if at > f.not_after:
            out.append(Issue("chain.anchor_expired", idx, f"the trust anchor {f.subject_text} expired {f.not_after:%Y-%m-%d}", depth))
        elif at < f.not_before:
            out.append(Issue("chain.anchor_not_yet_valid", idx,
                             f"the trust anchor {f.subject_text} is not valid before {f.not_before:%Y-%m-%d %H:%M:%SZ}", depth))
        out.extend(_key_issues(f, idx, depth))
        if depth > 0:
            out.extend(_eku_issues(f, idx, depth))
        if f.unknown_critical:
            out.append(Issue("chain.anchor.unknown_critical", idx,
                             "the trust anchor has unknown critical extensions: " + ", ".join(f.unknown_critical), depth))
        if depth > 0:
            out.extend(_ca_issues(node, depth, path, anchor=True))
        return out
    out.extend(_structure_issues(f, idx, depth))
    out.extend(_time_issues(f, idx, depth, at))
    out.extend(_eku_issues(f, idx, depth))
    if depth == 0:
        out.extend(_leaf_issues(f))
    else:
        out.extend(_ca_issues(node, depth, path, anchor=False))
    return out


def _structure_issues(f: CertFacts, idx: int | None, depth: int) -> list[Issue]:
    """Parsing, extensions, signature algorithm and key: the same rules for every non-anchor."""
    out: list[Issue] = []
    if f.duplicate_extensions:
        out.append(Issue("rfc5280.extension.duplicate", idx, "duplicate extensions: " + ", ".join(f.duplicate_extensions), depth))
    if f.extension_error:
        out.append(Issue("rfc5280.extension.malformed", idx, f"an extension does not parse: {f.extension_error}", depth))
    if f.unknown_critical:
        out.append(Issue("rfc5280.extension.unknown_critical", idx, "unknown critical extensions: " + ", ".join(f.unknown_critical), depth))
    if f.chrome_unconsumed:
        out.append(Issue("chrome.extension.unconsumed_critical", idx,
                         "critical extensions Chrome's verifier does not process: " + ", ".join(f.chrome_unconsumed), depth))
    if f.san_empty:
        out.append(Issue("rfc5280.san.empty", idx, "the subjectAltName extension has no entries", depth))
    if f.issuer in (b"", EMPTY_NAME):
        out.append(Issue("firefox.issuer.empty_name", idx, "the certificate's issuer name is empty", depth))
    if f.algorithm_mismatch:
        out.append(Issue("rfc5280.signature.algorithm_mismatch", idx,
                         "the outer signatureAlgorithm differs from the TBSCertificate's signature field", depth))
    if f.signature_hash in ("sha1", "md5", "md2"):
        check = "chain.signature.sha1" if f.signature_hash == "sha1" else "chain.signature.md5"
        out.append(Issue(check, idx, f"signed with {f.signature_hash.upper()} ({f.signature_oid})", depth))
    return out + _key_issues(f, idx, depth)


def _key_issues(f: CertFacts, idx: int | None, depth: int) -> list[Issue]:
    """P7: key algorithms and sizes the browsers accept (trust anchors included)."""
    if f.key_type == "RSA" and (f.key_size or 0) < 1024:
        return [Issue("chain.key.weak", idx, f"RSA key of {f.key_size} bits (browsers need at least 1024)", depth)]
    if f.key_type == "EC" and (f.curve not in ALLOWED_CURVES or f.explicit_curve):
        how = "explicit curve parameters" if f.explicit_curve else f"curve {f.curve}"
        return [Issue("chain.key.unsupported_curve", idx, f"EC key with {how}, which browsers do not support", depth)]
    if f.key_type not in ("RSA", "EC"):
        return [Issue("chain.key.unsupported_algorithm", idx, f"{f.key_type} key, which browsers do not accept in TLS certificates", depth)]
    return []


def _time_issues(f: CertFacts, idx: int | None, depth: int, at: datetime) -> list[Issue]:
    prefix = "rfc5280.validity" if depth == 0 else "chain.issuer"
    if at > f.not_after:
        return [Issue(f"{prefix}.expired", idx, f"expired {f.not_after:%Y-%m-%d %H:%M:%SZ} ({f.subject_text})", depth)]
    if at < f.not_before:
        return [Issue(f"{prefix}.not_yet_valid", idx, f"not valid before {f.not_before:%Y-%m-%d %H:%M:%SZ} ({f.subject_text})", depth)]
    return []


def _eku_issues(f: CertFacts, idx: int | None, depth: int) -> list[Issue]:
    """P1: an EKU that is present must allow serverAuth (Firefox: anyEKU does not count); an empty
    EKU is a parse error for BoringSSL; Firefox refuses a leaf that also claims OCSPSigning."""
    if f.eku is None:
        return []
    if f.eku == ():
        return [Issue("rfc5280.eku.empty", idx, "the extendedKeyUsage extension lists no purposes", depth)]
    out: list[Issue] = []
    if depth == 0 and OCSP_SIGNING in f.eku:
        out.append(Issue("firefox.eku.ocsp_signing_leaf", idx, "the leaf's extendedKeyUsage includes OCSPSigning", depth))
    if SERVER_AUTH in f.eku:
        return out
    shown = ", ".join(f.eku)
    if ANY_EKU in f.eku:
        return out + [Issue("firefox.eku.any_only", idx, f"extendedKeyUsage has anyExtendedKeyUsage but not serverAuth ({shown})", depth)]
    return out + [Issue("rfc5280.eku.server_auth_missing", idx, f"extendedKeyUsage lacks serverAuth ({shown})", depth)]


def _handshake_issues(f: CertFacts) -> list[Issue]:
    """A leaf key no signature scheme the browser offers can use: the TLS handshake fails first."""
    out: list[Issue] = []
    if f.key_type == "RSA":
        return out  # every browser offers RSA signature schemes
    from scanner.clienthellos import ecdsa_curves  # tlslite-ng, imported when a leaf is not RSA

    shown = "explicit curve parameters" if f.explicit_curve else f"curve {f.curve}"
    chrome, firefox = ecdsa_curves("chrome"), ecdsa_curves("firefox")
    if f.key_type == "EC" and (f.explicit_curve or f.curve not in chrome):
        out.append(Issue("chrome.tls.no_signature_scheme", 0,
                         f"the leaf's EC key uses {shown}; Chrome offers ECDSA signature schemes for {_curves(chrome)} only", 0))
    elif f.key_type not in ("RSA", "EC"):
        out.append(Issue("chrome.tls.no_signature_scheme", 0, f"the leaf has a {f.key_type} key; Chrome offers only "
                         f"RSA and ECDSA ({', '.join(_curve_names(chrome))}) signature schemes", 0))
    if f.key_type == "EC" and (f.explicit_curve or f.curve not in firefox):
        out.append(Issue("firefox.tls.no_signature_scheme", 0,
                         f"the leaf's EC key uses {shown}; Firefox offers ECDSA signature schemes for {_curves(firefox)} only", 0))
    return out


def _curve_names(curves: frozenset[str]) -> list[str]:
    """P-256, P-384, P-521 in that order (then any other curve by name)."""
    order = list(CURVE_NAMES)
    return [CURVE_NAMES.get(c, c) for c in sorted(curves, key=lambda c: (order.index(c) if c in order else len(order), c))]


def _curves(curves: frozenset[str]) -> str:
    """'P-256 and P-384', 'P-256, P-384 and P-521' (the messages' wording)."""
    names = _curve_names(curves)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _leaf_issues(f: CertFacts) -> list[Issue]:
    out: list[Issue] = _handshake_issues(f)
    if f.is_ca:
        out.append(Issue("firefox.leaf.is_ca", 0, "the leaf has basicConstraints cA=TRUE", 0))
    ku = f.key_usage
    if ku is not None and not ku & {"digital_signature", "key_encipherment", "key_agreement"}:
        out.append(Issue("firefox.key_usage.leaf_unusable", 0,
                         "keyUsage has none of digitalSignature, keyEncipherment, keyAgreement", 0))
    if ku is not None and "digital_signature" not in ku:
        out.append(Issue("chrome.key_usage.tls_incompatible", 0,
                         "keyUsage lacks digitalSignature, which ECDHE and TLS 1.3 handshakes need", 0))
    return out


def _ca_issues(node: Node, depth: int, path: list[Node], *, anchor: bool) -> list[Issue]:
    """P2/P3: an issuer must be a v3 CA with keyCertSign, within its pathLenConstraint."""
    f, idx = node.facts, node.index
    out: list[Issue] = []
    if f.version == 1 and not anchor:
        out.append(Issue("chain.ca.v1", idx, f"{f.subject_text} is a v1 certificate used as a CA", depth))
    elif anchor and not f.bc_present and f.version != 1:
        out.append(Issue("firefox.anchor.no_basic_constraints", idx,
                         f"the trust anchor {f.subject_text} is a v3 certificate without basicConstraints", depth))
    elif not f.is_ca and not (anchor and f.version == 1):
        out.append(Issue("chain.ca.not_ca", idx, f"{f.subject_text} issues certificates but is not a CA (basicConstraints)", depth))
    if f.key_usage is not None and "key_cert_sign" not in f.key_usage:
        out.append(Issue("chain.ca.key_cert_sign_missing", idx, f"{f.subject_text} has keyUsage without keyCertSign", depth))
    below = _below(path, depth)
    if f.path_len is not None and below > f.path_len:
        out.append(Issue("chain.ca.path_length", idx,
                         f"{f.subject_text} allows {f.path_len} intermediate(s) below it; the path has {below}", depth))
    return out


AKI_OID, NC_OID = "2.5.29.35", "2.5.29.30"


def _refused_anchor_issues(node: Node, depth: int, path: list[Node]) -> list[Issue]:
    """A trust anchor whose extension cryptography refuses (the browsers decide; oracle cases
    anchor-aki-issuer-without-serial, anchor-nc-malformed-*). BoringSSL ParsedCertificate::Create
    parses the AKI and the nameConstraints of every certificate eagerly: an AKI with an issuer but
    no serial, or an iPAddress constraint that is not address+mask, makes the anchor unparseable,
    so Chrome has no anchor at all. A dNSName pattern ("*.x") parses but matches nothing. mozilla::pkix
    never reads the AKI, and reads a constraint only against names of its own type (then BAD_DER)."""
    f, idx = node.facts, node.index
    out: list[Issue] = []
    ips = any(n.facts.ids.ips for n in path[:depth])
    dns = any(n.facts.ids.dns for n in path[:depth])
    malformed = f.malformed_name_constraints
    if AKI_OID in f.refused_extensions or any(kind == "ip-length" for kind, _ in malformed):
        out.append(Issue("chrome.anchor.unparseable", idx,
                         f"the trust anchor {f.subject_text} does not parse for BoringSSL ({f.extension_error})", depth))
    patterns = [value for kind, value in malformed if kind == "dns-pattern"]
    if patterns and dns:
        out.append(Issue("chrome.anchor.name_constraints_pattern", idx,
                         f"the trust anchor's nameConstraints names the pattern {patterns[0]}, which no DNS name is "
                         "inside", depth))
    if (patterns and dns) or (ips and any(kind == "ip-length" for kind, _ in malformed)):
        out.append(Issue("firefox.name_constraints.malformed", idx,
                         f"the trust anchor's nameConstraints is malformed ({f.extension_error})", depth))
    return out


def _firefox_depth_issues(path: list[Node]) -> list[Issue]:
    """mozilla::pkix allows FIREFOX_MAX_SUBCA_COUNT intermediates; Chrome sets no such limit."""
    count = len(path) - 2
    if count <= FIREFOX_MAX_SUBCA_COUNT:
        return []
    return [Issue("firefox.path.too_long", None,
                  f"the path has {count} intermediate CAs; Firefox (mozilla::pkix MAX_SUBCA_COUNT) allows "
                  f"{FIREFOX_MAX_SUBCA_COUNT}", len(path) - 1)]


def _policy_issues(path: list[Node]) -> list[Issue]:
    """RFC 5280 6.1.3-6.1.5 policy processing as BoringSSL pki/verify_certificate_chain.cc does it
    (user-initial-policy-set anyPolicy, no mapping): with requireExplicitPolicy in force, every
    certificate below must assert an acceptable policy. The trust anchor's own constraints are not
    processed. Firefox does policy processing only for EV, so this is Chrome's alone."""
    certs = [n for n in reversed(path[:-1])]  # top intermediate first, leaf last
    n = len(certs)
    explicit, inhibit_any = n + 1, n + 1
    valid: frozenset[str] | None = frozenset({ANY_POLICY})
    for i, node in enumerate(certs, start=1):
        f = node.facts
        if valid is not None:
            valid = _next_policies(valid, f, inhibit_any > 0 or (i < n and f.self_issued))
        if explicit <= 0 and valid is None:
            return [Issue("chrome.policy.explicit_required", node.index,
                          f"an explicit certificate policy is required (requireExplicitPolicy above), but no valid "
                          f"policy remains at {f.subject_text}", len(path) - 1 - i)]
        if not f.self_issued:
            explicit, inhibit_any = explicit - 1, inhibit_any - 1
        if f.require_explicit_policy is not None:
            explicit = min(explicit, f.require_explicit_policy)
        if f.inhibit_any_policy is not None and i < n:
            inhibit_any = min(inhibit_any, f.inhibit_any_policy)
    return []


def _next_policies(valid: frozenset[str], f: CertFacts, any_allowed: bool) -> frozenset[str] | None:
    """The valid policy set after one certificate (None: the RFC 5280 valid_policy_tree is NULL)."""
    if f.policies is None:
        return None
    asserted = f.policies - {ANY_POLICY}
    if ANY_POLICY in f.policies and any_allowed:
        asserted = asserted | ({ANY_POLICY} if ANY_POLICY in valid else valid)
    result = asserted if ANY_POLICY in valid else (valid & asserted)
    return result or None


def _public_root_issues(leaf: Node) -> list[Issue]:
    f = leaf.facts
    days = (f.not_after - f.not_before) / timedelta(days=1)
    for start, limit in PUBLIC_MAX_VALIDITY:
        if f.not_before.date() >= start:
            if days > limit:
                return [Issue("chrome.validity.too_long", 0, f"valid for {days:.0f} days; Chrome allows {limit} for public roots", 0)]
            break
    return []


# ---------------------------------------------------------------------------- name constraints


def _dns_in_subtree(name: str, base: str) -> bool:
    name, base = name.lower().rstrip("."), base.lower().rstrip(".")
    if not base:
        return True
    if base.startswith("."):
        return name.endswith(base)
    return name == base or name.endswith("." + base)


def _ip_in_subtree(packed: bytes, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(packed) in network
    except ValueError:
        return False


MAX_NAME_CONSTRAINT_CHECKS = 1 << 20  # BoringSSL name_constraints.cc caps the work likewise


def _excluded_dns(name: str, base: str) -> bool:
    """A wildcard SAN is excluded when any name it could stand for is (CVE-2025-61727)."""
    if _dns_in_subtree(name, base):
        return True
    return name.startswith("*.") and _dns_in_subtree(base.lstrip("."), name[2:]) and base.lstrip(".") != name[2:]


_NETWORKS = (ipaddress.IPv4Network, ipaddress.IPv6Network)  # a name constraint's iPAddress is a range


def _constraint_violations(nc: x509.NameConstraints, dns: Sequence[str], ips: Sequence[bytes],
                           other_types: frozenset[type]) -> list[str]:
    out: list[str] = []
    permitted = list(nc.permitted_subtrees or [])
    excluded = list(nc.excluded_subtrees or [])
    if (len(permitted) + len(excluded)) * max(1, len(dns) + len(ips)) > MAX_NAME_CONSTRAINT_CHECKS:
        return [f"too many name constraint checks ({len(permitted) + len(excluded)} subtrees x {len(dns) + len(ips)} names)"]
    p_dns = [g.value for g in permitted if isinstance(g, x509.DNSName)]
    x_dns = [g.value for g in excluded if isinstance(g, x509.DNSName)]
    p_ip = [g.value for g in permitted if isinstance(g, x509.IPAddress) and isinstance(g.value, _NETWORKS)]
    x_ip = [g.value for g in excluded if isinstance(g, x509.IPAddress) and isinstance(g.value, _NETWORKS)]
    for name in dns:
        if any(_excluded_dns(name, b) for b in x_dns):
            out.append(f"{name} is in an excluded subtree")
        elif p_dns and not any(_dns_in_subtree(name.removeprefix("*."), b) for b in p_dns):
            out.append(f"{name} is outside the permitted DNS subtrees ({', '.join(p_dns)})")
    for packed in ips:
        shown = str(ipaddress.ip_address(packed))
        if any(_ip_in_subtree(packed, n) for n in x_ip):
            out.append(f"{shown} is in an excluded IP range")
        elif p_ip and not any(_ip_in_subtree(packed, n) for n in p_ip):
            out.append(f"{shown} is outside the permitted IP ranges")
    for kind in other_types & {type(g) for g in excluded}:
        out.append(f"a {kind.__name__} SAN entry meets an excluded {kind.__name__} subtree")
    return out


def _other_san_types(f: CertFacts) -> frozenset[type]:
    """SAN entry types other than dNSName / iPAddress (for excluded-subtree checks)."""
    try:
        san = f.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - absent or unparseable
        return frozenset()
    return frozenset(type(g) for g in san if not isinstance(g, (x509.DNSName, x509.IPAddress)))


def _name_constraint_issues(path: list[Node]) -> list[Issue]:
    """P12: nameConstraints on an issuer apply to the names of every certificate below it, except
    self-issued intermediates (RFC 5280 6.1.3 b)."""
    out: list[Issue] = []
    for depth, ca in enumerate(path[1:], start=1):
        nc = ca.facts.name_constraints
        if nc is None:
            continue
        for position, below in enumerate(path[:depth]):
            if position > 0 and below.facts.self_issued:
                continue
            ids = below.facts.ids
            dns = ids.dns if ids.dns or ids.ips else (() if below.facts.is_ca else ids.cns)
            for problem in _constraint_violations(nc, dns, ids.ips, _other_san_types(below.facts)):
                out.append(Issue("chain.name_constraints.violation", below.index,
                                 f"{problem} (constraint in {ca.facts.subject_text})", depth))
    return out
