"""Ask both real browsers about every case and write ``docs/browser-observations.md``.

    .venv/bin/python -m tests.browsers.observe [OUTPUT.md]

The table is a record of one run on one machine (browser versions in its header); the oracle
test asks the browsers live every time. The ``OBSERVED`` dict at the end of the document lets the
engine's author compare predictions without starting browsers. Surprises are computed against
what ``browser-rules.md`` / ``browser-oracle.md`` lead one to expect (``NOTES`` below).
"""

from __future__ import annotations

import ast
import datetime as dt
import pprint
import sys
from pathlib import Path
from typing import Mapping

from .cases import NOTES, Case, build_cases
from .server import OracleServer
from .session import BROWSERS, start_browser, unavailable_reason

OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "browser-observations.md"
Observed = Mapping[str, tuple[str | None, str | None]]

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
    "Chrome accepts leaves whose EKU adds codeSigning or OCSPSigning to serverAuth: it runs "
    "BoringSSL's lenient SERVER_AUTH EKU mode (not the strict ones) under a local root; Firefox "
    "refuses OCSPSigning only.",
    "An X.509 v1 installed root (no basicConstraints) is accepted by both; a v1 intermediate by neither.",
    "An expired installed root is rejected by both (`ERR_CERT_DATE_INVALID`, "
    "`SEC_ERROR_EXPIRED_ISSUER_CERTIFICATE`): trust-anchor validity counts.",    'Constraints on an installed root are enforced by both (cA=FALSE, pathLen, keyUsage, EKU, name constraints, notBefore, unknown critical extensions); they differ on a v3 root without basicConstraints and an anyEKU-only root (Chrome accepts, Firefox refuses), and on a root Chrome cannot parse (AKI issuer without serial, a 5-byte iPAddress constraint: `ERR_CERT_AUTHORITY_INVALID`, Firefox accepts).',
    'Depth: Firefox accepts 6 intermediates and refuses 7 (`SEC_ERROR_UNKNOWN_ISSUER`); Chrome accepted 10.',
    "Alternative issuers failing differently: Chrome names the first path's error in its issuer order (newest notBefore first); Firefox says `SEC_ERROR_UNKNOWN_ISSUER`.",
    'A SHA-1 leaf that is also expired is `ERR_CERT_INVALID` in Chrome, not a date error.',
    'Chrome enforces requireExplicitPolicy (`ERR_CERT_INVALID`); Firefox ignores policy constraints.',    'An issuing CA sent twice, expired under the installed root and valid under an untrusted one: Chrome `ERR_CERT_DATE_INVALID` (the path that reaches a root), Firefox `SEC_ERROR_UNKNOWN_ISSUER` (the two candidates failed differently).',
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
                    if case.id in server.unavailable:
                        raise SystemExit(f"cannot observe {case.id}: {server.unavailable[case.id]}")
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
        lines.append(f"| `{case.id}` | {case.rule} | {case.description}{differs} "
                     f"| {_cell(chrome)} | {_cell(firefox)} |")
    lines += ["", "## Surprises against the reference notes", ""]
    lines += [f"- {s}" for s in surprises(observed)] or ["- none in acceptance"]
    lines += ["", "Remarks on the error codes:", ""] + [f"- {r}" for r in REMARKS]
    lines += ["", "## Machine-readable", "", "```python",
              "OBSERVED = " + pprint.pformat(dict(observed), width=110, sort_dicts=False), "```", ""]
    return "\n".join(lines)


def load_observed(path: Path = OUTPUT) -> dict[str, tuple[str | None, str | None]]:
    """The ``OBSERVED`` dict recorded in ``docs/browser-observations.md`` (for offline checks)."""
    block = path.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    return ast.literal_eval(block.split("=", 1)[1].strip())


def main(argv: list[str]) -> int:
    output = Path(argv[0]) if argv else OUTPUT
    cases = build_cases()
    versions, observed = observe(cases)
    output.write_text(render(cases, versions, observed))
    print(f"wrote {output} ({len(cases)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
