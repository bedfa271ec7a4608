"""Where the HTML report puts each endpoint's details: pages of ``PER_PAGE`` endpoints in a
``details/`` folder beside report.html (``details/0001.html`` holds the first ``PER_PAGE``
endpoints in results order, ``details/0002.html`` the next, and so on).

Why pages: the details are most of a report's bytes (about 6 KB an endpoint, a certificate
table and findings each), and a browser opening 10,000 of them in one page needs tens of
seconds. report.html keeps the first screen and the matrix, one compact row an endpoint, and
links each row to its endpoint's anchor in its page. Why not a page per endpoint: 100,000 tiny
files are slow to write, to pack and to unzip; a page of a hundred endpoints opens at once.

The names follow from the endpoint count alone, so the evidence pack, the re-used ``--out``
sweep and a re-render agree on which files belong to a report without listing the folder's
other files. This module is small and imports nothing heavy, so those callers can use it.
"""

from __future__ import annotations

import re

FOLDER = "details"
PER_PAGE = 100
_PAGE = re.compile(r"[0-9]{4,}\.html")


def page_of(position: int) -> str:
    """The page (relative to report.html) of the endpoint at ``position`` (0-based, results order)."""
    return f"{FOLDER}/{position // PER_PAGE + 1:04d}.html"


def page_names(count: int) -> list[str]:
    """Every page a report of ``count`` endpoints has, in order."""
    return [page_of(start) for start in range(0, count, PER_PAGE)]


def is_page(name: str) -> bool:
    """Whether a file name in the details folder is one a report writes (``NNNN.html``)."""
    return _PAGE.fullmatch(name) is not None
