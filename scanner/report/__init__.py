"""Renderers of results.json: the HTML report, JUnit XML, CSV and Prometheus metrics
(``write_reports``), and the
terminal summary (``scanner.report.terminal.render_summary``).

Every renderer reads results.json only, through ``scanner.results.read_header`` and
``iter_endpoints``, so it never holds the whole estate in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from scanner.results import replacing

FORMATS: dict[str, str] = {"html": "report.html", "junit": "junit.xml", "csv": "results.csv",
                            "prometheus": "metrics.prom"}


def _writer(fmt: str) -> Callable[[Path, Path], Path]:
    """The module-level writer for one format, imported lazily (jinja2 only for HTML)."""
    if fmt == "html":
        from scanner.report.html import write_html
        return write_html
    if fmt == "junit":
        from scanner.report.junit import write_junit
        return write_junit
    if fmt == "prometheus":
        from scanner.report.prometheus import write_prometheus
        return write_prometheus
    from scanner.report.csv import write_csv
    return write_csv


def write_reports(results_path: Path, out_dir: Path, formats: Iterable[str]) -> list[Path]:
    """Write each requested format (``html``, ``junit``, ``csv``, ``prometheus``) into ``out_dir``; return the
    paths written, in the order asked. Unknown names (``json`` included: the scan writes that
    itself) are ignored so that the scan's ``--format`` list can be passed through as is."""
    if isinstance(formats, str):  # "html,csv" as typed on the command line
        formats = formats.split(",")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for fmt in dict.fromkeys(f.strip().lower() for f in formats):
        if fmt in FORMATS:
            final = out_dir / FORMATS[fmt]
            with replacing(final) as temp:  # an interrupted render never leaves half a report
                _writer(fmt)(Path(results_path), temp)
            written.append(final)
    return written
