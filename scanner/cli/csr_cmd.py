"""``dccscan check-csr``: check a certificate request before it is sent to the DCCKI RA.

The cheapest place to catch a missing SAN is the CSR: a refused request, or a certificate issued
and then rejected by browsers, costs days. The verdict comes from ``scanner.csr`` (the same rules,
ids and citations as certificate checks). Exit codes as for ``scan``: 0 nothing at or above
``--fail-on``, 1 findings at or above it, 2 bad input (message with file, line and fix; never a
traceback).
"""

from __future__ import annotations

import json
import sys
from typing import Any, Sequence

import click

from scanner.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from scanner.cli.check_cmd import load_pem_certificates
from scanner.csr import check_request, load_request
from scanner.errors import InputError
from scanner.report._text import printable
from scanner.evaluate import Profile, builtin_profile, load_profile
from scanner.severity import FAIL_ON_CHOICES, at_or_above
from scanner.targets import hostname_option


def _hostnames(values: Sequence[str]) -> list[str]:
    """``--hostname`` values as the scan would use them (A-labels, no trailing dot), once each."""
    out: list[str] = []
    for value in values:
        name = hostname_option(value, "--hostname")
        if name not in out:
            out.append(name)
    return out


def run_check_csr(request_path: str, hostnames: Sequence[str], profile_path: str | None, against: str | None,
                  fail_on: str) -> tuple[dict[str, Any], int]:
    """The report document and the exit code (raises InputError on bad input)."""
    request = load_request(request_path)
    names = _hostnames(hostnames)
    profile: Profile = load_profile(profile_path) if profile_path else builtin_profile()
    issued = (load_pem_certificates(against)[0], against) if against else None
    report = check_request(request, hostnames=names, profile=profile, against=issued)
    worst = any(at_or_above(f["severity"], fail_on) for f in report["findings"])
    code = EXIT_FINDINGS if worst else EXIT_OK
    report["settings"] = {"profile": profile.to_json(), "fail_on": fail_on}
    report["exit_code"] = code
    return report, code


def _usage(flag: str) -> str:
    """``key_cert_sign`` as RFC 5280 and openssl write it: ``keyCertSign`` (``cRLSign``)."""
    head, *rest = flag.split("_")
    return "cRLSign" if flag == "crl_sign" else head + "".join(part.title() for part in rest)


def _yes(value: bool) -> str:
    return "accepts" if value else "REJECTS"


def _request_lines(req: dict[str, Any]) -> list[str]:
    key = req["key"]
    san = ", ".join(f"{'DNS' if e['type'] == 'dns' else 'IP'}:{e['value']}" for e in req["san"]) or "none"
    return [f"{req['file']}: certificate request ({req['encoding']}), subject {req['subject'] or '(empty)'}",
            f"  key        {key['type']} {key['size'] or ''} {key['curve'] or ''}".rstrip(),
            f"  signature  {req['signature_algorithm']}, self-signature "
            + ("valid" if req["signature_valid"] else "INVALID"),
            f"  SAN        {san}",
            f"  EKU        {', '.join(req['extended_key_usage']) if req['extended_key_usage'] is not None else 'none'}",
            f"  keyUsage   {', '.join(map(_usage, req['key_usage'])) if req['key_usage'] is not None else 'none'}",
            f"  CA         {'yes (cA=TRUE requested)' if req['ca'] else 'no'}"]


def _profile_line(label: str, prof: dict[str, Any]) -> str:
    extra = f" (breaches: {', '.join(prof['breaches'])})" if prof.get("breaches") else ""
    return f"  {label:<10} {prof['name']}: {prof['status']}{extra}"


def render_text(report: dict[str, Any]) -> str:
    """The human summary: what the request asks for, per-name browser verdicts, the profile,
    the issued certificate when compared, then every finding with its source and fix."""
    lines = _request_lines(report["request"])
    for row in report["names"]:
        shown = row["name"] if row["name"] == row["checked_as"] else f"{row['name']} (as {row['checked_as']})"
        lines.append(f"  name       {shown}: Chrome {_yes(row['chrome'])}, Firefox {_yes(row['firefox'])}")
    lines.append(_profile_line("Profile", report["profile"]))
    against = report["against"]
    if against:
        lines.append(f"  against    {against['file']}: " + ("same key" if against["same_key"] else "DIFFERENT KEY")
                     + ", " + ("same SANs" if against["same_san"] else "DIFFERENT SANs"))
        lines.append(_profile_line("issued", against["profile"]))
    if not report["findings"]:
        lines.append("No findings.")
    for f in report["findings"]:
        lines += [f"{f['severity'].upper():<8} {f['id']} [{f['about']}]: {f['title']}", f"         {f['detail']}",
                  f"         source: {f['source']}; {f['citation']}", f"         fix: {f['advice']}"]
    return "\n".join(printable(line) for line in lines)  # CSR text cannot forge or hide a line


@click.command("check-csr")
@click.argument("request", type=click.Path(dir_okay=False))
@click.option("--hostname", "hostnames", multiple=True,
              help="A name the endpoint will serve (repeatable); checked as Chrome and Firefox match it.")
@click.option("--profile", "profile_path", default=None, type=click.Path(dir_okay=False),
              help="TOML profile overriding the built-in dccki-tls-san.")
@click.option("--against", default=None, type=click.Path(dir_okay=False),
              help="PEM certificate issued for this request: same key, same SANs, meets the profile.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--fail-on", type=click.Choice(FAIL_ON_CHOICES), default="error", show_default=True,
              help="Exit 1 when a finding is at or above this severity.")
def check_csr(request: str, hostnames: tuple[str, ...], profile_path: str | None, against: str | None, fmt: str,
              fail_on: str) -> None:
    """Check a PKCS#10 REQUEST (PEM or DER) against the DCCKI TLS profile before sending it."""
    try:
        report, code = run_check_csr(request, hostnames, profile_path, against, fail_on)
    except InputError as exc:
        click.echo(f"dccscan check-csr: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(json.dumps(report, indent=2) if fmt == "json" else render_text(report))
    sys.exit(code)
