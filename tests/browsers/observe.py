"""Ask both real browsers about every case and write ``docs/browser-observations.md``.

    .venv/bin/python -m tests.browsers.observe [OUTPUT.md]

The table is a record of one run on one machine (browser versions in its header); the oracle
test asks the browsers live every time. The ``OBSERVED`` dict at the end of the document lets the
engine's author compare predictions without starting browsers. Surprises are computed against
what ``browser-rules.md`` / ``browser-oracle.md`` lead one to expect (``NOTES`` below).
"""

from __future__ import annotations

import datetime as dt
import pprint
import sys
from pathlib import Path

from tests.browsers.cases import Case, build_cases
from tests.browsers.server import OracleServer
from tests.browsers.session import BROWSERS, start_browser, unavailable_reason

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "browser-observations.md"
Observed = dict[str, tuple[str | None, str | None]]

# What the reference notes predict: (Chrome accepts?, Firefox accepts?); None = the notes are silent.
_BOTH, _NEITHER = (True, True), (False, False)
NOTES: dict[str, tuple[bool | None, bool | None]] = {
    "san-exact": _BOTH, "san-mismatch": _NEITHER, "cn-only": _NEITHER, "cn-ignored-san-present": _NEITHER,
    "ip-ipaddress-san": _BOTH, "ip-in-dnsname": _NEITHER, "ip-cn-only": _NEITHER, "ipv6-ipaddress-san": _BOTH,
    "dns-host-ip-san": _NEITHER, "case-insensitive": _BOTH, "san-trailing-dot": (True, False),
    "wildcard-leftmost": _BOTH, "wildcard-apex": _NEITHER, "wildcard-two-labels": _NEITHER,
    "wildcard-partial-prefix": _NEITHER, "wildcard-partial-suffix": _NEITHER, "wildcard-not-leftmost": _NEITHER,
    "wildcard-icann-suffix": (False, True), "wildcard-private-suffix": _BOTH, "wildcard-unknown-tld": _NEITHER,
    "wildcard-idn": _BOTH, "san-invalid-entry-skipped": _BOTH, "hostname-trailing-dot": _BOTH,
    "underscore-name": _BOTH, "san-empty": _NEITHER, "san-critical-empty-subject": _BOTH,
    "expired-leaf": _NEITHER, "not-yet-valid-leaf": _NEITHER, "expired-intermediate": _NEITHER,
    "expired-root": (None, None), "long-validity-5y": _BOTH,
    "untrusted-root": _NEITHER, "self-signed-leaf": _NEITHER, "missing-intermediate": _NEITHER,
    "missing-intermediate-aia": (True, False), "chain-extra-cert": _BOTH, "chain-unordered": _BOTH,
    "chain-duplicate": _BOTH, "chain-includes-root": _BOTH,
    "sha1-leaf": (False, True), "sha1-intermediate": (False, True), "sha1-root": _BOTH, "md5-leaf": (None, None),
    "sig-alg-mismatch": (False, None), "rsa1024-leaf": _BOTH, "rsa2048-leaf": _BOTH, "ec-p384-leaf": _BOTH,
    "ec-p521-leaf": _BOTH, "ec-secp256k1-leaf": (False, None), "ec-secp256k1-intermediate": (False, None),
    "eku-absent": _BOTH, "eku-clientauth-only": _NEITHER, "eku-any-only": (True, False),
    "eku-server-client": _BOTH, "eku-empty": _NEITHER, "eku-server-ocspsigning": (True, False),
    "intermediate-eku-any": (True, False), "intermediate-eku-serverauth": _BOTH,
    "intermediate-eku-no-serverauth": _NEITHER, "ku-rsa-no-digitalsignature": (False, True),
    "ku-ec-no-digitalsignature": (None, True), "leaf-ca-true": (True, False),
    "leaf-unknown-critical-ext": _NEITHER, "leaf-unknown-noncritical-ext": _BOTH,
    "intermediate-no-basicconstraints": _NEITHER, "intermediate-no-keycertsign": _NEITHER,
    "intermediate-unknown-critical-ext": _NEITHER, "intermediate-pathlen-violated": _NEITHER,
    "intermediate-pathlen-ok": _BOTH, "v1-intermediate": _NEITHER, "duplicate-extension": _NEITHER,
    "serial-negative": _BOTH, "nc-permitted-ok": _BOTH, "nc-permitted-violated": _NEITHER,
    "nc-excluded-violated": _NEITHER, "nc-excluded-ok": _BOTH,
}

# Observations about error codes that an accept/reject comparison cannot show (reviewed by hand
# against the run recorded in docs/browser-observations.md; re-read them after a browser upgrade).
REMARKS = [
    "Chrome folds almost every certificate-profile failure into `ERR_CERT_INVALID` (SHA-1 and MD5 "
    "signatures included, under a local root), where Firefox names the rule "
    "(`SEC_ERROR_CERT_SIGNATURE_ALGORITHM_DISABLED`, `SEC_ERROR_INADEQUATE_CERT_TYPE`, ...).",
    "Firefox reports an intermediate with an unknown critical extension as `SEC_ERROR_UNKNOWN_ISSUER` "
    "(the path builder discards the only candidate issuer), not `SEC_ERROR_UNKNOWN_CRITICAL_EXTENSION`.",
    "A secp256k1 or (for Chrome) P-521 leaf never reaches certificate verification: the TLS handshake "
    "fails first (`ERR_SSL_VERSION_OR_CIPHER_MISMATCH`, `SSL_ERROR_NO_CYPHER_OVERLAP`), because "
    "the browser offers no signature scheme for that curve.",
    "A missing keyUsage digitalSignature is a handshake-time error in Chrome "
    "(`ERR_SSL_KEY_USAGE_INCOMPATIBLE`) for RSA and EC leaves alike; Firefox accepts both.",
    "An empty SAN extension is a malformed certificate for Chrome (`ERR_CERT_INVALID`), a name "
    "mismatch for Firefox (`SSL_ERROR_BAD_CERT_DOMAIN`); neither falls back to the CN.",
    "Chrome fetches a missing intermediate from the leaf's AIA caIssuers URL and accepts; Firefox "
    "(preloaded intermediates off, nothing cached) says `SEC_ERROR_UNKNOWN_ISSUER`. Without AIA "
    "both reject, with their \"unknown authority\" codes.",
    "An expired installed root is rejected by both (`ERR_CERT_DATE_INVALID`, "
    "`SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE`): trust-anchor validity counts.",
]


def observe(cases: list[Case]) -> tuple[dict[str, str], Observed]:
    """Serve the cases, ask each browser about each, and return (versions, observations)."""
    results: dict[str, dict[str, str | None]] = {b: {} for b in BROWSERS}
    versions: dict[str, str] = {}
    with OracleServer(cases) as server:
        for browser in BROWSERS:
            reason = unavailable_reason(browser)
            if reason:
                raise SystemExit(f"cannot observe {browser}: {reason}")
            driver = start_browser(browser, cases, server)
            try:
                versions[browser] = driver.version
                for case in cases:
                    results[browser][case.id] = driver.error_for(server.url(case))
            finally:
                driver.close()
    return versions, {c.id: (results["chrome"][c.id], results["firefox"][c.id]) for c in cases}


def _cell(code: str | None) -> str:
    return "accepted" if code is None else f"`{code}`"


def surprises(observed: Observed) -> list[str]:
    """Where acceptance differs from what the reference notes predict."""
    out = []
    for case_id, codes in observed.items():
        for browser, code, predicted in zip(("Chrome", "Firefox"), codes, NOTES.get(case_id, (None, None))):
            if predicted is not None and predicted != (code is None):
                said = "accept" if predicted else "reject"
                out.append(f"`{case_id}`: the notes predict {browser} would {said}; it said {_cell(code)}.")
    return out


def render(cases: list[Case], versions: dict[str, str], observed: Observed) -> str:
    """The whole markdown document."""
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# What the real browsers said",
        "",
        f"Generated by `.venv/bin/python -m tests.browsers.observe` on {when}: Chromium "
        f"{versions['chrome']} (playwright) and Firefox {versions['firefox']} (Marionette), headless, every case "
        "root installed as a local trust anchor (NSS database), chains served by `tests/browsers/server.py` "
        "on loopback. Cases: `tests/browsers/cases.py`; rule ids: `browser-rules.md`. \"accepted\" means "
        "the page loaded.",
        "",
        "| case | rule | description | Chromium | Firefox |",
        "|---|---|---|---|---|",
    ]
    for case in cases:
        chrome, firefox = observed[case.id]
        differs = " (differ)" if (chrome is None) != (firefox is None) else ""
        lines.append(f"| `{case.id}` | {case.rule} | {case.description}{differs} | {_cell(chrome)} | {_cell(firefox)} |")
    lines += ["", "## Surprises against the reference notes", ""]
    lines += [f"- {s}" for s in surprises(observed)] or ["- none in acceptance"]
    lines += ["", "Remarks on the error codes:", ""] + [f"- {r}" for r in REMARKS]
    lines += ["", "## Machine-readable", "", "```python",
              "OBSERVED = " + pprint.pformat(observed, width=110, sort_dicts=False), "```", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else OUTPUT
    cases = build_cases()
    versions, observed = observe(cases)
    output.write_text(render(cases, versions, observed))
    print(f"wrote {output} ({len(cases)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
