"""``dccscan evidence`` (pack an earlier scan) and ``dccscan verify-evidence`` (check a pack)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from scanner.cli.keyopts import password_file_option
from scanner.errors import InputError
from scanner.passwords import SIGN_KEY

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

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
            click.echo(f"dccscan: {exc}", err=True)
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
    from scanner.evidence import build_pack

    written = build_pack(results_dir, pack, sign_key)
    click.echo(f"evidence pack written: {written}" + (" (signed)" if sign_key else ""))


@click.command("verify-evidence")
@click.argument("pack", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--public-key", "public_key", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="PEM public key or certificate the pack's signature must verify with.")
@_input_errors
def verify_evidence(pack: Path, public_key: Path | None) -> None:
    """Check PACK: every hash, no missing or extra file, the signature, and that every captured
    chain re-evaluates offline to the recorded verdicts. Exit 0 only when all of it holds."""
    from scanner.evidence import verify_pack

    result = verify_pack(pack, public_key)
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.ok:
        click.echo(f"OK: {pack}: {result.files_checked} files match the manifest; "
                   f"{result.endpoints_reevaluated} endpoint(s) re-evaluated to the recorded verdicts")
        return
    for problem in result.problems:
        click.echo(f"FAILED: {problem}", err=True)
    raise SystemExit(EXIT_FAILED)
