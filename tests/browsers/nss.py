"""NSS certificate databases trusting the case roots: how both browsers learn a local anchor.

Chromium on Linux reads ``$HOME/.pki/nssdb``; Firefox reads ``cert9.db`` in its profile. Either
way the roots arrive as an organisation installs them (a local anchor), which is exactly the
DCCKI situation: no Certificate Transparency or 398-day rule applies.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding


def certutil() -> str | None:
    """Path of NSS ``certutil`` (Debian package libnss3-tools), or None."""
    return shutil.which("certutil")


def create_trusting(folder: Path, anchors: Iterable[bytes]) -> None:
    """Create an NSS DB in ``folder`` with every DER anchor trusted for TLS servers."""
    folder.mkdir(parents=True, exist_ok=True)
    tool = certutil()
    if tool is None:
        raise RuntimeError("certutil not found (apt-get install libnss3-tools)")
    subprocess.run([tool, "-N", "-d", f"sql:{folder}", "--empty-password"], check=True, capture_output=True)
    for index, anchor in enumerate(dict.fromkeys(anchors)):
        pem_file = folder / f"anchor-{index}.pem"
        pem_file.write_bytes(x509.load_der_x509_certificate(anchor).public_bytes(Encoding.PEM))
        subprocess.run([tool, "-A", "-d", f"sql:{folder}", "-n", f"dccscan-oracle-{index}", "-t", "C,,",
                        "-i", str(pem_file)], check=True, capture_output=True)
        pem_file.unlink()
