"""``dccscan demo``: start the demo estate on 127.0.0.1, scan it, write reports/demo/, stop it.

The generated inputs (targets file, demo root) are kept in ``<out>/estate/`` so that the
results' ``targets_file.path`` names a real file and the scan can be repeated by hand
(``--serve`` keeps the estate running for that).
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import click

from scanner.cli.scan_cmd import ScanRequest, execute, parse_formats
from scanner.lab.demo import DemoPKI, estate, write_targets
from scanner.lab.servers import LabEstate
from scanner.targets import load_targets


def rescan_command(targets_path: Path, out_dir: Path) -> str:
    """The command that scans the demo estate again (while it runs), writing beside the demo."""
    return (f"dccscan scan --targets {shlex.quote(str(targets_path))} "
            f"--out {shlex.quote(str(out_dir / 'rescan'))}")


def run_demo(out_dir: Path, *, formats: list[str], quiet: bool, serve: bool = False) -> int:
    """The whole demo; returns the scan's exit code (1 by design: its findings; the closed port
    alone would give 3).

    With ``serve`` the estate keeps running after the scan until Ctrl-C (KeyboardInterrupt).
    """
    pki = DemoPKI.create()
    endpoints = estate(pki)
    inputs = out_dir / "estate"
    inputs.mkdir(parents=True, exist_ok=True)
    with LabEstate([e.spec for e in endpoints]) as ports:
        targets_path = write_targets(inputs, endpoints, ports, pki.root)
        loaded = load_targets(targets_path)
        request = ScanRequest(targets=loaded.targets, out_dir=out_dir, concurrency=16, formats=formats,
                              targets_path=targets_path, targets_sha256=loaded.sha256)
        code = execute(request, quiet=quiet, quiet_on_failure=True)  # its findings are on purpose
        if serve:
            click.echo(f"the demo estate is running; scan it again with:\n  {rescan_command(targets_path, out_dir)}"
                       "\npress Ctrl-C to stop it")
            _wait_for_interrupt()
        elif not quiet:
            click.echo(f"demo inputs: {inputs} (re-scan with `dccscan demo --serve` running: "
                       f"{rescan_command(targets_path, out_dir)})")
    return code


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM (both raise KeyboardInterrupt: ``scanner.cli.stop``), the
    user's way of saying they are done with the estate."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


@click.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("reports/demo"),
              show_default=True, help="Output folder (the generated inputs go to OUT/estate/).")
@click.option("--format", "formats", default="json,html", show_default=True, help="Comma list of formats.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@click.option("--serve", is_flag=True, help="Keep the estate running after the scan (until Ctrl-C), to re-scan it by hand.")
def demo(out_dir: Path, formats: str, quiet: bool, serve: bool) -> None:
    """Scan a built-in demo estate of DCC-like endpoints on 127.0.0.1 (no DCC access needed).

    Exits 0 when the demo ran: its endpoints are broken on purpose, so the scan's own exit code
    (1: findings at or above --fail-on error) is only printed. Ctrl-C or SIGTERM stops --serve,
    in the foreground or in the background.
    """
    code = run_demo(out_dir, formats=parse_formats(formats), quiet=quiet, serve=serve)
    if not quiet:
        click.echo(f"demo scan finished (scan exit code {code}; the estate is broken on purpose)")
