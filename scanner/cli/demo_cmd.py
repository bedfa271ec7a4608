"""``dccscan demo``: start the demo estate on 127.0.0.1, scan it, write reports/demo/, stop it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from scanner.cli.scan_cmd import ScanRequest, execute
from scanner.lab.demo import DemoPKI, estate, write_targets
from scanner.lab.servers import LabEstate
from scanner.targets import load_targets


def run_demo(out_dir: Path, *, formats: list[str], quiet: bool) -> int:
    """The whole demo; returns the scan's exit code (3 by design: one port is closed)."""
    pki = DemoPKI.create()
    endpoints = estate(pki)
    with tempfile.TemporaryDirectory(prefix="dccscan-demo-") as tmp, \
            LabEstate([e.spec for e in endpoints]) as ports:
        targets_path = write_targets(Path(tmp), endpoints, ports, pki.root)
        loaded = load_targets(targets_path)
        request = ScanRequest(targets=loaded.targets, out_dir=out_dir, concurrency=16, formats=formats,
                              targets_path=targets_path, targets_sha256=loaded.sha256)
        return execute(request, quiet=quiet)


@click.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("reports/demo"),
              show_default=True, help="Output folder.")
@click.option("--format", "formats", default="json,html", show_default=True, help="Comma list of formats.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def demo(out_dir: Path, formats: str, quiet: bool) -> None:
    """Scan a built-in demo estate of DCC-like endpoints on 127.0.0.1 (no DCC access needed).

    Exits 0 when the demo ran: its endpoints are broken on purpose, so the scan's own exit code
    (3: the closed port could not be scanned) is only printed.
    """
    from scanner.cli.scan_cmd import parse_formats
    code = run_demo(out_dir, formats=parse_formats(formats), quiet=quiet)
    if not quiet:
        click.echo(f"demo scan finished (scan exit code {code}; the estate is broken on purpose)")
