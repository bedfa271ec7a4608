"""The engine's pinned inputs: the public root store and the public-suffix list, named and hashed.

Why: two verdict inputs do not come from the scan's own files. A chain judged without trust
anchors is judged against the public root store (certifi's Mozilla bundle), and Chrome's wildcard
rule consults the ICANN section of the public-suffix list. Read silently from whatever is
installed, an offline re-evaluation months later could use other roots or suffixes and reach
another verdict without anyone knowing. So each input is loaded once, as exact bytes, and carries
its source, version and SHA-256: ``pinned_inputs_record()`` is what results.json and the evidence
manifest record, ``evaluate(..., inputs=...)`` takes the inputs to use (default: the installed
ones), and ``compare_pinned(recorded)`` says in words how the installed inputs differ from the
recorded ones.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from publicsuffixlist import PSLFILE, PublicSuffixList

from scanner.facts import certificate

PUBLIC_ROOTS = "public_roots"
PUBLIC_SUFFIX_LIST = "public_suffix_list"


@dataclass(frozen=True)
class Input:
    """One pinned input: where it came from, its version and the SHA-256 of the exact bytes used."""

    source: str  # the package that supplied it
    version: str
    data: bytes = field(repr=False, compare=False)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def record(self) -> dict[str, str]:
        return {"source": self.source, "version": self.version, "sha256": self.sha256}


@dataclass(frozen=True, eq=False)
class PinnedInputs:
    """The inputs one evaluation uses; parsed once, on first use."""

    public_roots: Input
    public_suffix_list: Input

    @cached_property
    def anchors(self) -> tuple[certificate.CertFacts, ...]:
        """The public root store's certificates (PEM bundle), as the certificate model reads them."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a few public roots have non-positive serials
            loaded = x509.load_pem_x509_certificates(self.public_roots.data)
            return tuple(certificate.facts(c.public_bytes(Encoding.DER)) for c in loaded)

    @cached_property
    def icann_suffixes(self) -> PublicSuffixList:
        """The ICANN section only: Chrome passes EXCLUDE_PRIVATE_REGISTRIES."""
        return PublicSuffixList(self.public_suffix_list.data, only_icann=True)

    def record(self) -> dict[str, dict[str, str]]:
        return {PUBLIC_ROOTS: self.public_roots.record(), PUBLIC_SUFFIX_LIST: self.public_suffix_list.record()}


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=1)
def installed() -> PinnedInputs:
    """The inputs installed with dccscan: certifi's bundle and publicsuffixlist's list, read once."""
    import certifi

    return PinnedInputs(Input("certifi", _version("certifi"), Path(certifi.where()).read_bytes()),
                        Input("publicsuffixlist", _version("publicsuffixlist"), Path(PSLFILE).read_bytes()))


def pinned_inputs(public_roots: bytes, public_suffix_list: bytes, *, roots_version: str = "recorded",
                  suffixes_version: str = "recorded", roots_source: str = "certifi",
                  suffixes_source: str = "publicsuffixlist") -> PinnedInputs:
    """Inputs from recorded bytes (an evidence pack's copies), for a re-evaluation pinned to them."""
    return PinnedInputs(Input(roots_source, roots_version, public_roots),
                        Input(suffixes_source, suffixes_version, public_suffix_list))


def pinned_inputs_record(inputs: PinnedInputs | None = None) -> dict[str, dict[str, str]]:
    """``{"public_roots": {"source", "version", "sha256"}, "public_suffix_list": {...}}`` of
    ``inputs`` (default: the installed ones), for results.json and the evidence manifest."""
    return (inputs or installed()).record()


def compare_pinned(recorded: dict[str, Any], inputs: PinnedInputs | None = None) -> list[str]:
    """One sentence per input whose recorded hash differs from ``inputs`` (default: the installed
    ones), or that the record lacks; ``[]`` when every input is the one recorded."""
    current = pinned_inputs_record(inputs)
    problems: list[str] = []
    for key, what in ((PUBLIC_ROOTS, "public root store"), (PUBLIC_SUFFIX_LIST, "public-suffix list")):
        now, then = current[key], recorded.get(key) if isinstance(recorded, dict) else None
        if not isinstance(then, dict) or not then.get("sha256"):
            problems.append(f"the {what} used by the scan was not recorded; this evaluation uses "
                            f"{now['source']} {now['version']} (sha256 {now['sha256'][:16]}...)")
        elif then["sha256"] != now["sha256"]:
            problems.append(f"the {what} differs from the scan's: recorded {then.get('source', '?')} "
                            f"{then.get('version', '?')} (sha256 {str(then['sha256'])[:16]}...), this evaluation "
                            f"uses {now['source']} {now['version']} (sha256 {now['sha256'][:16]}...); verdicts "
                            f"that depend on it may differ")
    return problems
