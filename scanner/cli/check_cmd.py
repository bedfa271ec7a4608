"""``dccscan check``: evaluate a PEM chain offline, as a DCC User would before installing it.

Runs exactly the engine a scan runs (``scanner.evaluate.evaluate``), so the verdict for a file
equals the verdict for the same chain served by an endpoint. Exit codes as for ``scan``: 0 nothing
at or above ``--fail-on``, 1 findings at or above it, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from scanner.certinfo import describe, iso_utc
from scanner.cli import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from scanner import pem
from scanner.errors import InputError, read_input
from scanner.report._text import printable
from scanner.evaluate import Profile, builtin_profile, evaluate, load_profile
from scanner.severity import FAIL_ON_CHOICES, at_or_above
from scanner.targets import hostname_option

def load_pem_certificates(path: str | Path) -> list[bytes]:
    """DER of every CERTIFICATE block in a PEM file, in file order; ``InputError`` with the line
    of the first bad block, or when the file holds no certificate. The bytes are not parsed as
    X.509 here: a malformed certificate is the engine's finding, not an input error."""
    p = Path(path)
    data = read_input(p, "the PEM file", fix="pass a readable PEM (text) file", pipes=True)  # never /dev/zero
    try:
        text = data.decode("ascii", errors="strict")
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read PEM file: {exc}", file=p, fix="pass a readable PEM (text) file") from None
    out: list[bytes] = []
    for block in pem.blocks(text):
        if block.label != "CERTIFICATE":
            continue
        if block.der is None:
            raise InputError("the certificate block is not valid base64", file=p, line=block.line,
                             fix="re-export the certificate as PEM (openssl x509 -outform PEM)")
        if not block.der:
            raise InputError("empty certificate block", file=p, line=block.line, fix="remove the empty block")
        out.append(block.der)
    if not out:
        raise InputError("no '-----BEGIN CERTIFICATE-----' block found", file=p, line=1,
                         fix="pass the chain as PEM, leaf first (DER files: openssl x509 -inform DER -outform PEM)")
    return out


def parse_time(text: str | None) -> datetime:
    """``--at``: ISO 8601 (``2026-11-01``, ``2026-11-01T12:00:00Z``); naive times are UTC."""
    if text is None:
        return datetime.now(timezone.utc).replace(microsecond=0)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(f"--at {text!r} is not an ISO 8601 time", fix="write e.g. --at 2026-11-01T12:00:00Z") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _verdict_line(browser: str, verdict: dict[str, Any]) -> str:
    state = "accepts" if verdict["accepted"] else "REJECTS"
    return f"  {browser:<8} {state:<8} {verdict['error'] or ''}".rstrip()


def render_text(report: dict[str, Any]) -> str:
    """The human summary: verdicts side by side, the profile status, then every finding."""
    leaf = report["chain"][0]
    lines = [f"{report['hostname']}  at {report['at']}",
             f"  leaf     {leaf['subject']}  (expires {leaf['not_after']}, {len(report['chain'])} certificate(s) presented)",
             _verdict_line("Chrome", report["browsers"]["chrome"]),
             _verdict_line("Firefox", report["browsers"]["firefox"])]
    prof = report["profile"]
    extra = f" (breaches: {', '.join(prof['breaches'])})" if prof.get("breaches") else ""
    if prof.get("grandfathered"):
        extra += f" (issued before {prof['effective_date']}: {', '.join(prof['grandfathered'])})"
    lines.append(f"  Profile  {prof['name']}: {prof['status']}{extra}")
    if not report["findings"]:
        lines.append("No findings.")
    for f in report["findings"]:
        where = f" [certificate {f['certificate_index']}]" if f["certificate_index"] is not None else ""
        lines += [f"{f['severity'].upper():<8} {f['id']}{where}: {f['title']}", f"         {f['detail']}",
                  f"         source: {f['source']}; {f['citation']}", f"         fix: {f['advice']}"]
    return "\n".join(printable(line) for line in lines)  # certificate text cannot forge or hide a line


def run_check(chain_path: str, hostname: str, anchors: tuple[str, ...], at: str | None, profile_path: str | None,
              fail_on: str) -> tuple[dict[str, Any], int]:
    """The report document and the exit code (raises InputError on bad input). The hostname is
    read as a scan reads a targets file's (A-label, lower case, no trailing dot), so that a
    chain judged here gets the verdict a scan of that name would give."""
    hostname = hostname_option(hostname, "--hostname")
    chain = load_pem_certificates(chain_path)
    anchor_ders = [d for a in anchors for d in load_pem_certificates(a)] if anchors else None
    moment = parse_time(at)
    profile: Profile = load_profile(profile_path) if profile_path else builtin_profile()
    result = evaluate(chain, hostname, anchors=anchor_ders, at=moment, profile=profile)
    worst = any(at_or_above(f["severity"], fail_on) for f in result["findings"])
    code = EXIT_FINDINGS if worst else EXIT_OK
    report = {"hostname": hostname, "at": iso_utc(moment),
              "trust_anchors": "public store (certifi)" if anchor_ders is None else f"{len(anchor_ders)} from --trust-anchor",
              "chain": [describe(d, i) for i, d in enumerate(chain)], **result,
              "settings": {"profile": profile.to_json(), "fail_on": fail_on}, "exit_code": code}
    return report, code


@click.command("check")
@click.argument("chain_pem", type=click.Path(dir_okay=False))
@click.option("--hostname", required=True, help="Name (or IP address) the browsers would be asked to reach.")
@click.option("--trust-anchor", "trust_anchors", multiple=True, type=click.Path(dir_okay=False),
              help="PEM file of trusted roots (repeatable); default: the public store (certifi).")
@click.option("--at", "at", default=None, help="Evaluation time, ISO 8601 (default: now).")
@click.option("--profile", "profile_path", default=None, type=click.Path(dir_okay=False),
              help="TOML profile overriding the built-in dccki-tls-san.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--fail-on", type=click.Choice(FAIL_ON_CHOICES), default="error", show_default=True,
              help="Exit 1 when a finding is at or above this severity.")
def check(chain_pem: str, hostname: str, trust_anchors: tuple[str, ...], at: str | None, profile_path: str | None,
          fmt: str, fail_on: str) -> None:
    """Evaluate CHAIN_PEM (leaf first) offline: Chrome and Firefox verdicts, profile, findings."""
    try:
        report, code = run_check(chain_pem, hostname, trust_anchors, at, profile_path, fail_on)
    except InputError as exc:
        click.echo(f"dccscan check: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(json.dumps(report, indent=2) if fmt == "json" else render_text(report))
    sys.exit(code)
