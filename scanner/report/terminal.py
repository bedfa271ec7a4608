"""The compact table a scan prints when it finishes.

Two passes over the endpoints: one for column widths and counts, one for the rows, so the table
is aligned without keeping every endpoint. Text from certificates and servers goes through
``_text.printable``: escape sequences in a hostile subject must not reach the terminal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from scanner.report import _facts
from scanner.results import iter_endpoints, read_header
from scanner.report._text import printable
from scanner.severity import SEVERITIES

HEADINGS = ("endpoint", "interface", "status", "chrome", "firefox", "profile", "worst finding")
MAX_WIDTH = 48
_COLORS = {"good": "\x1b[32m", "bad": "\x1b[31m", "warn": "\x1b[33m", "dim": "\x1b[2m"}
_RESET = "\x1b[0m"


def _cells(ep: Mapping[str, Any], ascii_only: bool) -> tuple[str, ...]:
    worst = _facts.worst_finding(ep)
    worst_text = f"{worst.get('severity')}: {worst.get('id')}" if worst else "-"
    cells = (str(ep.get("id", "?")), str(ep.get("target", {}).get("interface", "?")), _facts.outcome(ep),
             _facts.verdict_label(ep, "chrome"), _facts.verdict_label(ep, "firefox"),
             _facts.profile_status(ep), worst_text)
    return tuple(_clip(printable(c, ascii_only=ascii_only)) for c in cells)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_WIDTH else text[: MAX_WIDTH - 3] + "..."


def _tone(column: int, text: str) -> str | None:
    """Which colour a cell gets (None: default), by meaning rather than by column position."""
    if text in ("ok", "accepted", "compliant", "-"):
        return "good"
    if text in ("grandfathered", "client-cert-required", "not-evaluated") or text.startswith(("warning", "notice")):
        return "warn"
    if column >= 2 and not text.startswith("info"):
        return "bad"
    return None


def _line(cells: tuple[str, ...], widths: list[int], color: bool) -> str:
    parts = []
    for column, (text, width) in enumerate(zip(cells, widths)):
        padded = text.ljust(width)
        tone = _tone(column, text) if color and column >= 2 else None
        parts.append(f"{_COLORS[tone]}{padded}{_RESET}" if tone else padded)
    return "  ".join(parts).rstrip()


def _counts_line(total: int, outcomes: dict[str, int], accepted: dict[str, int], profile: dict[str, int],
                 severities: dict[str, int]) -> str:
    out = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())) or "none"
    prof = ", ".join(f"{n} {k}" for k, n in sorted(profile.items())) or "none"
    sev = ", ".join(f"{severities[s]} {s}" for s in SEVERITIES if severities.get(s)) or "no findings"
    return (f"{total} endpoint(s): {out}. Chrome accepts {accepted['chrome']}, Firefox accepts "
            f"{accepted['firefox']}. Profile: {prof}. Findings: {sev}.")


def _revoked_line(ep: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    index = record.get("certificate_index")
    what = "leaf certificate" if index == 0 else f"certificate {index}"
    reason = f", reason {record['reason']}" if record.get("reason") else ""
    return f"REVOKED: {ep.get('id', '?')} presents a revoked {what} (revoked {record.get('revoked_at') or '?'}{reason})."


def render_summary(results_path: Path, *, color: bool) -> str:
    """The summary table and a counts line for results.json; ANSI colours only when ``color``."""
    header = read_header(results_path)
    widths = [len(h) for h in HEADINGS]
    outcomes: dict[str, int] = {}
    profile: dict[str, int] = {}
    severities: dict[str, int] = {}
    accepted = {"chrome": 0, "firefox": 0}
    total = 0
    revoked: list[str] = []  # "revoked" is the one revocation state worth a line of its own
    for ep in iter_endpoints(results_path):
        total += 1
        revoked += [_revoked_line(ep, r) for r in ep.get("revocation") or [] if r.get("status") == "revoked"]
        cells = _cells(ep, ascii_only=not color)
        widths = [max(w, len(c)) for w, c in zip(widths, cells)]
        outcomes[cells[2]] = outcomes.get(cells[2], 0) + 1
        profile[cells[5]] = profile.get(cells[5], 0) + 1
        for browser in accepted:
            accepted[browser] += _facts.verdict_label(ep, browser) == "accepted"
        for f in ep.get("findings") or []:
            severities[str(f.get("severity"))] = severities.get(str(f.get("severity")), 0) + 1
    lines = [_line(HEADINGS, widths, False), _line(tuple("-" * w for w in widths), widths, False)]
    lines += [_line(_cells(ep, ascii_only=not color), widths, color) for ep in iter_endpoints(results_path)]
    lines.append(_counts_line(total, outcomes, accepted, profile, severities))
    lines += [printable(line, ascii_only=not color) for line in revoked]
    if not header.get("complete", True):
        lines.append(f"INCOMPLETE: {len(header.get('not_reached') or [])} target(s) not reached.")
    return "\n".join(lines) + "\n"
