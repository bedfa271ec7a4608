"""What a certificate presents as its identity, and what a browser's name match says about it.

Shared vocabulary of the certificate model (``scanner.facts.certificate`` fills ``Identities``),
the matchers (``scanner.evaluate.names`` returns ``NameResult``) and the checks
(``scanner.checks.names`` maps the reason kinds to check ids), kept here so that the checks never
import the engine that runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Reason kinds (stable strings; the check registry maps them to check ids).
NO_SAN = "no-san"                       # no dNSName/iPAddress SAN at all (CN ignored)
CN_ONLY = "cn-only"                     # the hostname is only in the Subject CN
NOT_IN_SAN = "not-in-san"               # SAN present, hostname not covered
WILDCARD_PUBLIC_SUFFIX = "wildcard-public-suffix"  # Chrome: *.<ICANN suffix>
WILDCARD_TOO_FEW_LABELS = "wildcard-too-few-labels"  # Firefox: *.com
ABSOLUTE_SAN = "absolute-san"           # Firefox: presented SAN ends with '.'
INVALID_SAN = "invalid-san"             # Firefox: SAN dNSName with invalid syntax
INVALID_REFERENCE = "invalid-reference"  # the hostname itself is not a valid name


@dataclass(frozen=True)
class Mismatch:
    """One reason a presented identity did not cover the hostname."""

    kind: str
    detail: str


@dataclass(frozen=True)
class NameResult:
    """Outcome of matching one hostname against one certificate, for one browser."""

    matched: bool
    reasons: tuple[Mismatch, ...] = field(default_factory=tuple)
    notes: tuple[Mismatch, ...] = field(default_factory=tuple)  # non-fatal (skipped entries)


@dataclass(frozen=True)
class Identities:
    """What the leaf presents: SAN dNSNames (raw), SAN iPAddresses (packed bytes), Subject CNs."""

    dns: tuple[str, ...] = ()
    ips: tuple[bytes, ...] = ()
    cns: tuple[str, ...] = ()
    has_san_extension: bool = False
