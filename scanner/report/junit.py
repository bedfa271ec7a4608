"""JUnit XML (junit.xml): one testsuite per endpoint, one testcase per endpoint and check.

The mapping keeps CI and the exit code in agreement: a finding at or above ``settings.fail_on``
is a ``<failure>``, an endpoint that could not be scanned is an ``<error>`` (exit code 3), and
findings below the threshold are passing testcases whose text is in ``<system-out>``. Each
endpoint has a ``scan`` testcase; an endpoint whose chain was evaluated (it has ``browsers``)
also has one empty, passing testcase per check of the catalogue recorded in results.json
(``checks``: the checks that scan ran) that did not fire, so CI shows every check, passed or
failed. results.json records only failures, so "passed" means "did not fire" (including checks
that did not apply). A results file without a recorded catalogue (dccscan/1) lists failures
only and says so (a ``checks`` property): today's registry is not the scan's, and listing its
checks would show checks added since as passed. Verdicts (Chrome, Firefox, DCCKI profile) are
testsuite properties.

Written in two streaming passes: totals for the root element, then the suites.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, TextIO
from xml.sax.saxutils import escape, quoteattr

from scanner.report import _facts
from scanner.results import iter_endpoints, read_header
from scanner.report._text import printable
from scanner.severity import at_or_above

NO_CATALOGUE = ("not recorded in results.json (written by an older dccscan): only the checks that "
                "fired are listed")


def _x(text: object) -> str:
    """Text safe for XML 1.0 content (control characters are not allowed there at all)."""
    return escape(printable(text))


def _a(text: object) -> str:
    return quoteattr(printable(text))


def recorded_checks(header: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The ids of the check catalogue the scan recorded (``checks``), or None without one."""
    checks = header.get("checks")
    if not isinstance(checks, list):
        return None
    return tuple(sorted({str(c.get("id")) for c in checks if isinstance(c, dict) and c.get("id")}))


def _cases(ep: Mapping[str, Any], fail_on: str, checks: Sequence[str]) -> Iterator[tuple[str, str | None, str]]:
    """(testcase name, outcome ``failure``/``error``/None, body text) for one endpoint.

    A passing check that did not fire has an empty body, which keeps the file small.
    """
    error = ep.get("error") or {}
    if ep.get("status") == "error":
        yield "scan", "error", f"{error.get('kind')}: {error.get('message')}"
    else:
        yield "scan", None, f"scanned: {_facts.outcome(ep)}"
    for f in ep.get("findings") or []:
        severity = str(f.get("severity", "error"))
        text = (f"[{severity}] {f.get('title')}: {f.get('detail')}\n"
                f"source: {f.get('source', '')} {f.get('citation', '')}\nadvice: {f.get('advice', '')}")
        yield str(f.get("id", "finding")), "failure" if at_or_above(severity, fail_on) else None, text
    if ep.get("browsers") is not None:  # the engine ran on a captured chain
        fired = {f.get("id") for f in ep.get("findings") or []}
        for check in checks:
            if check not in fired:
                yield check, None, ""


def _suite(ep: Mapping[str, Any], fail_on: str, checks: Sequence[str] | None, out: TextIO) -> None:
    cases = list(_cases(ep, fail_on, checks or ()))
    failures = sum(1 for _, o, _ in cases if o == "failure")
    errors = sum(1 for _, o, _ in cases if o == "error")
    name = str(ep.get("id", "?"))
    out.write(f"  <testsuite name={_a(name)} tests=\"{len(cases)}\" failures=\"{failures}\" "
              f"errors=\"{errors}\" skipped=\"0\" timestamp={_a(ep.get('scanned_at', ''))}>\n")
    props = {"interface": ep.get("target", {}).get("interface"), "hostname": ep.get("target", {}).get("hostname"),
             "chrome": _facts.verdict_label(ep, "chrome"), "firefox": _facts.verdict_label(ep, "firefox"),
             "profile": _facts.profile_status(ep)}
    if checks is None:
        props["checks"] = NO_CATALOGUE
    out.write("    <properties>\n")
    for key, value in props.items():
        out.write(f"      <property name={_a(key)} value={_a(value)}/>\n")
    out.write("    </properties>\n")
    for case, outcome, text in cases:
        if not outcome and not text:
            out.write(f"    <testcase classname={_a(name)} name={_a(case)}/>\n")
            continue
        out.write(f"    <testcase classname={_a(name)} name={_a(case)}>")
        if outcome:
            first = text.split("\n", 1)[0]
            out.write(f"<{outcome} message={_a(first)} type={_a(case)}>{_x(text)}</{outcome}>")
        else:
            out.write(f"<system-out>{_x(text)}</system-out>")
        out.write("</testcase>\n")
    out.write("  </testsuite>\n")


def _totals(results_path: Path, fail_on: str, checks: Sequence[str]) -> tuple[int, int, int]:
    tests = failures = errors = 0
    for ep in iter_endpoints(results_path):
        for _, outcome, _ in _cases(ep, fail_on, checks):
            tests += 1
            failures += outcome == "failure"
            errors += outcome == "error"
    return tests, failures, errors


def write_junit(results_path: Path, out_path: Path) -> Path:
    """Write junit.xml for ``results_path``."""
    header = read_header(results_path)
    fail_on = str(header.get("settings", {}).get("fail_on", "error"))
    checks = recorded_checks(header)
    tests, failures, errors = _totals(results_path, fail_on, checks or ())
    with open(out_path, "w", encoding="utf-8", newline="\n") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(f"<testsuites name=\"dccscan\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" "
                  f"timestamp={_a(header.get('started_at', ''))}>\n")
        if checks is None:
            out.write(f"  <!-- check catalogue {NO_CATALOGUE} -->\n")
        for ep in iter_endpoints(results_path):
            _suite(ep, fail_on, checks, out)
        out.write("</testsuites>\n")
    return out_path
