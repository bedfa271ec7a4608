"""One scan, one folder: a re-used ``--out`` keeps no output of an earlier run.

Why: a nightly job that writes to the same folder every night must not leave last week's
junit.xml, results.csv or a chain file of an endpoint since removed beside tonight's results;
an evidence pack of the folder would then hold a stale chain, and a reader could not tell which
files belong to which scan. Refusing the folder instead would break every cron recipe that
re-uses a fixed ``--out``, so dccscan cleans it, touching only its own outputs:

- ``chains/*.pem`` that the new results.json does not name (earlier runs, or a killed run that
  never got to write its results.json): ``chains/`` is dccscan's own folder; likewise
  ``revocation/*.crl`` and ``*.ocsp`` that its ``revocation_data`` does not list;
- the report files (``report.html``, ``junit.xml``, ``results.csv``, and any other format in
  ``scanner.report.FORMATS``) and the input copies (``targets.toml``, ``profile.toml``), only when
  the folder already held a results.json when the run began, i.e. was dccscan's output folder.
  Reports are written again from the new results.json right after; a file of the same name in a
  folder dccscan never wrote results to is left alone. The HTML report's pages
  (``details/NNNN.html``, see ``scanner.report.details``) go with it, and ``details/`` itself
  when that leaves it empty;

- the hidden spool and temporary files a killed run left (``.endpoints-<pid>-*.spool``,
  ``.certificates-<pid>-*.spool``, ``.<file>.<pid>-<hex>.tmp``, also in ``chains/``, ``details/`` and
  ``revocation/``), when the
  process named in them is gone: a run still alive keeps its own.

Anything else in the folder is never touched. The sweep runs once the new results.json is in
place, so an interrupted run leaves the previous scan's files intact.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Collection

from scanner.report import details

INPUT_COPIES = ("targets.toml", "profile.toml")
# what scanner.results leaves behind when killed: spools and atomic-write temporaries, with the pid
_LEFTOVER = re.compile(r"\.(?:endpoints|certificates)-(\d+)-[^/]*\.spool|\..+\.(\d+)-[0-9a-f]{8}\.tmp")


def _dead(pid: int) -> bool:
    """Whether no process ``pid`` exists (one we may not signal still exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def report_names() -> list[str]:
    """Every report file name dccscan writes (from the renderers' own table)."""
    from scanner.report import FORMATS

    return sorted(set(FORMATS.values()))


class OutputFolder:
    """``claim(out_dir)`` before a run; ``sweep(...)`` once its results.json is written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.had_results = (self.path / "results.json").is_file()

    def sweep(self, chain_files: Collection[str], inputs: Collection[str] = (),
              revocation_files: Collection[str] = ()) -> list[str]:
        """Remove the earlier outputs (see the module docstring); ``chain_files`` are the
        ``chains/...`` names the new results.json records, ``inputs`` the input copies this run
        wrote, ``revocation_files`` the ``revocation/...`` names its ``revocation_data`` lists.
        Returns the names removed, relative to the folder."""
        removed: list[str] = []
        recorded = self.path / "revocation"  # dccscan's own folder too: CRLs and OCSP responses by hash
        if recorded.is_dir():
            for blob in sorted(recorded.glob("*")):
                name = f"revocation/{blob.name}"
                if blob.suffix in (".crl", ".ocsp") and name not in revocation_files and blob.is_file():
                    blob.unlink()
                    removed.append(name)
        chains = self.path / "chains"
        if chains.is_dir():
            for pem in sorted(chains.glob("*.pem")):
                name = f"chains/{pem.name}"
                if name not in chain_files and (pem.is_file() or pem.is_symlink()):
                    pem.unlink()
                    removed.append(name)
        pages = self.path / details.FOLDER
        for folder in (self.path, chains, *(f for f in (pages, recorded) if not f.is_symlink())):
            removed += self._leftovers(folder)
        if self.had_results:
            for name in (*report_names(), *INPUT_COPIES):
                stale = self.path / name
                if name not in inputs and (stale.is_file() or stale.is_symlink()):
                    stale.unlink()
                    removed.append(name)
            removed += self._report_pages(pages)
        return removed

    def _report_pages(self, pages: Path) -> list[str]:
        """Remove the HTML report's details pages (only names a report writes), then the
        folder if nothing else is in it."""
        if pages.is_symlink() or not pages.is_dir():
            return []
        removed = []
        for entry in sorted(pages.iterdir()):
            if details.is_page(entry.name) and (entry.is_file() or entry.is_symlink()):
                entry.unlink()
                removed.append(f"{details.FOLDER}/{entry.name}")
        with contextlib.suppress(OSError):
            pages.rmdir()  # only when empty
        return removed


    def _leftovers(self, folder: Path) -> list[str]:
        """Remove the spools and temporaries of dead runs directly in ``folder``."""
        removed: list[str] = []
        if not folder.is_dir():
            return removed
        for entry in sorted(folder.glob(".*")):
            match = _LEFTOVER.fullmatch(entry.name)
            if match and entry.is_file() and not entry.is_symlink() and _dead(int(match.group(1) or match.group(2))):
                entry.unlink()
                removed.append(entry.relative_to(self.path).as_posix())
        return removed


def claim(path: Path) -> OutputFolder:
    """Note what the folder held before this run (see ``OutputFolder.sweep``)."""
    return OutputFolder(path)
