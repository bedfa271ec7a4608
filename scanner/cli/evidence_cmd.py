"""``dccscan evidence`` (pack an earlier scan) and ``dccscan verify-evidence`` (check a pack)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from scanner.cli.keyopts import password_file_option
from scanner.errors import InputError
from scanner.report._text import printable
from scanner.passwords import SIGN_KEY

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_UNPINNED = 5  # = scanner.evidence.EXIT_UNPINNED: intact, but nothing says who made the pack

# shared with `scan --sign-key` (the scan command can reuse this decorator)
sign_key_option = click.option(
    "--sign-key", "sign_key", type=click.Path(path_type=Path, dir_okay=False), default=None,
    help="PEM private key (Ed25519, ECDSA or RSA) to sign the pack's manifest; a certificate in "
         "the same file is embedded as signer.pem. An encrypted key: see --sign-key-password-file.")


def _input_errors(func: F) -> F:
    """Bad input ends the command with its one-paragraph message and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            click.echo(f"dccscan: {printable(exc)}", err=True)
            raise SystemExit(EXIT_USAGE) from None

    return wrapper  # type: ignore[return-value]


@click.command("evidence")
@click.argument("results_dir", type=click.Path(path_type=Path, file_okay=False))
@click.argument("pack", type=click.Path(path_type=Path, dir_okay=False))
@sign_key_option
@password_file_option(SIGN_KEY)
@_input_errors
def evidence(results_dir: Path, pack: Path, sign_key: Path | None) -> None:
    """Pack the scan in RESULTS_DIR into the evidence zip PACK (reproducible, optionally signed)."""
    from scanner.evidence import build_pack, key_fingerprint, load_signing_key

    written = build_pack(results_dir, pack, sign_key,
                         warn=lambda message: click.echo(f"warning: {printable(message)}", err=True))
    signer = f" (signed by {key_fingerprint(load_signing_key(sign_key)[0])}: give this fingerprint to the " \
        "auditor for verify-evidence --signer-fingerprint)" if sign_key else ""
    click.echo(f"evidence pack written: {printable(written)}{signer}")


@click.command("verify-evidence")
@click.argument("pack", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--public-key", "public_key", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="PEM public key or certificate the pack's signature must verify with (pins the signer).")
@click.option("--signer-fingerprint", "fingerprint", metavar="SHA256:HEX", default=None,
              help="SHA-256 fingerprint of the signer's public key (as `dccscan evidence` prints it; pins the signer).")
@_input_errors
def verify_evidence(pack: Path, public_key: Path | None, fingerprint: str | None) -> None:
    """Check PACK: every hash, no missing or extra file, the signature, and that every captured
    chain re-evaluates offline to the recorded verdicts.

    Exit 0 only when all of it holds AND the pack is signed by the key you pinned (--public-key or
    --signer-fingerprint); 5 when the pack is intact but its signer was not pinned (nothing then
    says who made it); 1 when anything fails; 2 for an unreadable key or option."""
    from scanner.evidence import Pins, parse_fingerprint, verify_pack

    pins = Pins(public_key=public_key, fingerprint=parse_fingerprint(fingerprint) if fingerprint else None)
    try:
        result = verify_pack(pack, pins=pins)
    except MemoryError:  # bounds make this unexpected; still one line, never a traceback
        click.echo(f"FAILED: {printable(pack)}: ran out of memory while verifying", err=True)
        raise SystemExit(EXIT_FAILED) from None
    shown = printable(pack)
    for note in result.notes:
        click.echo(f"note: {printable(note)}")
    if not result.ok:
        for problem in result.problems:
            click.echo(f"FAILED: {printable(problem)}", err=True)
        raise SystemExit(EXIT_FAILED)
    checked = (f"{result.files_checked} files match the manifest; {result.endpoints_reevaluated} endpoint(s) "
               "re-evaluated to the recorded verdicts")
    if result.proven:
        click.echo(f"OK: {shown}: {checked}; signed by the key you pinned ({result.signer})")
        return
    signed = (f"; manifest.json is signed by the key embedded in the pack ({result.signer})" if result.signer
              else "; the pack is not signed")
    forger = ("anyone who edits a pack can re-sign it with a key of their own" if result.signer
              else "anyone who edits an unsigned pack can rewrite its manifest to match")
    click.echo(f"NOT PROVEN: {shown}: intact, but its signer was not pinned (exit {EXIT_UNPINNED})\n"
               f"  proven: {checked}{signed}\n"
               f"  not proven: who made the pack: {forger}\n"
               "  fix: pass --public-key SIGNER.pem or --signer-fingerprint SHA256:... naming the key the "
               "scanner signs with")
    raise SystemExit(EXIT_UNPINNED)
