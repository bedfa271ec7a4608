"""``dccscan scan``: targets in, results.json + reports + chains out.

``run_scan()`` is the whole pipeline (targets -> probe -> evaluate -> results -> renderers) and
is shared with ``dccscan demo``; the click command only turns options into its arguments.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import click
import trio

from scanner.assess import catalogue
from scanner.evaluate.inputs import pinned_inputs_record
from scanner.cli.finite import Seconds
from scanner.cli.keyopts import password_file_option
from scanner.cli.nightly import NightlyOptions, nightly_options, run_nightly
from scanner.cli.stop import EXIT_STOPPED, STOP_SIGNALS
from scanner.errors import InputError, unreadable_reason
from scanner.log import log_event
from scanner.passwords import CLIENT_KEY
from scanner.probe.aia import TIMEOUT_S as AIA_TIMEOUT_S
from scanner.probe.aia import AiaFetcher
from scanner.probe.revocation import FetchSettings, RevocationFetcher
from scanner.probe.runner import Fetches, Outcome, Retry, scan_targets
from scanner.recordpool import RecordPool
from scanner.outdir import claim
from scanner.results import ResultsWriter, copy_inputs
from scanner.revocation_store import RevocationStore
from scanner.severity import FAIL_ON_CHOICES
from scanner.shard import Shard, parse_shard
from scanner.targets import (CRL_FIX, MAX_TIMEOUT, Target, anchor_ders, anchor_records, apply_overrides, load_targets,
                             parse_cli_target, read_crl)

FORMATS = ("json", "html", "junit", "csv", "prometheus")
DEFAULT_CONCURRENCY = 50
DEFAULT_PER_ADDRESS = 1
DEFAULT_RETRIES = 1


@dataclasses.dataclass
class ScanRequest:
    """Everything one run needs, already validated."""

    targets: Sequence[Target]
    out_dir: Path
    concurrency: int = DEFAULT_CONCURRENCY
    per_address: int | None = DEFAULT_PER_ADDRESS
    retries: int = DEFAULT_RETRIES
    shard: Shard | None = None
    fail_on: str = "error"
    formats: Sequence[str] = ("json", "html")
    targets_path: Path | None = None
    targets_sha256: str | None = None
    profile_path: Path | None = None
    profile: Any | None = None
    max_duration: float | None = None  # seconds; then stop as for SIGTERM (complete: false)
    order: Sequence[str] | None = None  # target names in targets-file order (before --shard); default: targets
    crl_files: Sequence[Path] = ()  # --crl, on top of the targets' own ``crl`` files
    revocation_online: bool = True  # False: --offline-revocation (stapled responses and CRL files only)


def load_profile(path: Path | None) -> Any | None:
    """A user profile via ``scanner.evaluate.profile.load_profile`` (InputError on bad files)."""
    if path is None:
        return None
    from scanner.evaluate.profile import load_profile as load

    return load(path)


def _settings(request: ScanRequest, timeout: float) -> dict[str, Any]:
    paths = list(dict.fromkeys(p for t in request.targets for p in t.trust_anchors))
    profile = request.profile.to_json() if request.profile is not None else None
    settings = {"concurrency": request.concurrency, "timeout": timeout, "fail_on": request.fail_on,
                "trust_anchors": anchor_records(paths), "profile": profile}
    if request.per_address is not None:
        settings["per_address"] = request.per_address
    settings["retries"] = request.retries
    settings["shard"] = str(request.shard) if request.shard is not None else None
    return settings


def _crl_paths(request: ScanRequest) -> list[Path]:
    """Every CRL file of the run, once: ``--crl`` then the targets' ``crl`` lists."""
    return list(dict.fromkeys([*request.crl_files, *(p for t in request.targets for p in t.crls)]))


def read_crl_option(text: str) -> Path:
    """A ``--crl`` path, checked now (InputError naming the file): a bad file must stop the run
    before anything is scanned."""
    path = Path(text)
    problem = unreadable_reason(path)  # a FIFO or a device is refused, never read (as in targets files)
    if problem:
        raise InputError(f"cannot read the CRL file ({problem})", file=path,
                         fix="give --crl a regular file holding the issuing CA's CRL")
    try:
        read_crl(path)
    except OSError as exc:
        raise InputError(f"cannot read the CRL file ({exc.strerror or exc})", file=path,
                         fix="check the path given to --crl") from None
    except ValueError:
        raise InputError("the file holds no CRL", file=path, fix=CRL_FIX) from None
    return path.resolve()


def _fetches(request: ScanRequest, timeout: float, anchors: dict[str, list[bytes] | None],
                settings: dict[str, Any]) -> tuple[Fetches, RevocationStore]:
    """What the probe fetches after each handshake (AIA, and revocation data kept in the store
    under OUT/revocation/), recorded in settings."""
    store = RevocationStore(request.out_dir)
    fetch = FetchSettings(online=request.revocation_online, timeout=timeout)
    files = [(str(path), path.read_bytes()) for path in _crl_paths(request)]
    settings["revocation"] = dict(fetch.to_json(), crl_files=[{"path": p, "sha256": store.put("file", d, p)}
                                                              for p, d in files])
    fetcher = RevocationFetcher(store.put, fetch, files)
    return Fetches(AiaFetcher(timeout=min(timeout, AIA_TIMEOUT_S)), fetcher,
                   lambda target: anchors[target.name] or _public_roots()), store


@functools.lru_cache(maxsize=1)
def _public_roots() -> list[bytes]:
    """The public store's roots (DER): where the issuer of a chain's last certificate is found
    when a target has no trust anchors of its own."""
    from scanner.evaluate import public_anchors

    return [facts.der for facts in public_anchors()]


def _anchor_lookup(targets: Sequence[Target]) -> dict[str, list[bytes] | None]:
    """Trust anchors per target name, each file read once (estates share one anchor file)."""
    by_paths: dict[tuple[Path, ...], list[bytes] | None] = {}
    out: dict[str, list[bytes] | None] = {}
    for target in targets:
        key = tuple(target.trust_anchors)
        if key not in by_paths:
            by_paths[key] = anchor_ders(target)
        out[target.name] = by_paths[key]
    return out


async def _scan_until_stopped(request: ScanRequest, sink: Callable[[Outcome], None],
                              progress: Callable[[int, int], None] | None,
                              finished: Callable[[Target], None] | None = None,
                              fetches: Fetches | None = None) -> bool:
    """Scan; Ctrl-C or SIGTERM stops it cleanly (results so far are kept). True if stopped."""
    stopped = False
    async with trio.open_nursery() as nursery:

        async def watch() -> None:
            nonlocal stopped
            if threading.current_thread() is not threading.main_thread():
                return  # signals reach only the main thread; nothing to watch
            with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
                async for _ in signals:
                    stopped = True
                    nursery.cancel_scope.cancel()
                    return

        nursery.start_soon(watch)
        if request.max_duration is not None:

            async def expire() -> None:
                nonlocal stopped
                await trio.sleep(request.max_duration or 0.0)
                log_event("run.deadline", max_duration=request.max_duration)
                stopped = True
                nursery.cancel_scope.cancel()

            nursery.start_soon(expire)
        await scan_targets(request.targets, concurrency=request.concurrency, sink=sink, progress=progress,
                           per_address=request.per_address, finished=finished,
                           retry=Retry(retries=request.retries), fetches=fetches)
        nursery.cancel_scope.cancel()
    return stopped


def run_scan(request: ScanRequest, progress: Callable[[int, int], None] | None = None) -> tuple[Path, int]:
    """Scan, stream results to ``out_dir``; returns (results.json path, exit code)."""
    request.out_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc)
    timeout = max((t.timeout for t in request.targets), default=10.0)
    targets_file = ({"path": str(request.targets_path), "sha256": request.targets_sha256}
                    if request.targets_path is not None and request.targets_sha256 else None)
    anchors = _anchor_lookup(request.targets)
    settings = _settings(request, timeout)
    folder = claim(request.out_dir)
    fetches, store = _fetches(request, timeout, anchors, settings)
    # the pool forks its workers before the writer starts its thread
    pool = RecordPool(lambda o: anchors[o.target.name], request.profile)
    pool.revocation_folder = str(request.out_dir)
    order = request.order if request.order is not None else [t.name for t in request.targets]
    writer = ResultsWriter(request.out_dir, started_at=started, targets_file=targets_file, settings=settings,
                           order=order, checks=catalogue(any(t.client_simulation for t in request.targets)),
                           inputs=pinned_inputs_record())
    pool.writer = writer
    finished: set[str] = set()

    try:
        try:
            interrupted = trio.run(_scan_until_stopped, request, pool.submit, progress,
                                   lambda t: finished.add(t.name), fetches)
        finally:
            pool.close()
        writer.extra["revocation_data"] = store.to_json()
        complete = not interrupted
        # a target with several addresses may have some endpoints recorded and still be unfinished
        not_reached = [t.to_json() for t in request.targets if t.name not in finished]
        with signals_deferred():  # a second Ctrl-C must not cost the results gathered so far
            results = writer.finish(datetime.now(timezone.utc), complete=complete, not_reached=not_reached)
            copy_inputs(request.out_dir, request.targets_path, request.profile_path)
            folder.sweep(writer.chain_files, inputs=_input_copies(request),
                         revocation_files={entry["file"] for entry in store.to_json()})
    except OSError as exc:  # a full disk, a folder removed under us: one line, no stray spool
        writer.close()
        raise InputError(f"cannot write the results ({exc.strerror or exc}); the scan's results were not saved",
                         file=request.out_dir, fix="free space on that disk (or give --out a folder on "
                         "another one) and scan again") from None
    return results, writer.summary.exit_code(complete)


def _input_copies(request: ScanRequest) -> list[str]:
    """The input copies ``copy_inputs`` wrote for this run."""
    return [name for name, path in (("targets.toml", request.targets_path), ("profile.toml", request.profile_path))
            if path is not None]


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while results.json is assembled; they arrive when it is written."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def render(results: Path, out_dir: Path, formats: Sequence[str], *, quiet: bool) -> None:
    """Other formats through ``scanner.report``; the summary table; the report path."""
    from scanner.report import write_reports
    from scanner.report.terminal import render_summary

    wanted = [f for f in formats if f != "json"]
    if wanted:
        write_reports(results, out_dir, wanted)
    if quiet:
        return
    click.echo(render_summary(results, color=sys.stdout.isatty()))
    html = out_dir / "report.html"
    click.echo(f"report: {html if html.exists() else results}")


def input_failure(exc: InputError) -> click.exceptions.Exit:
    """Print the one-paragraph message and give exit code 2 (never a traceback)."""
    click.echo(f"dccscan: {exc}", err=True)
    return click.exceptions.Exit(2)


def parse_formats(text: str) -> list[str]:
    formats = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise click.BadParameter(f"unknown format {', '.join(bad) or text!r}; choose from {', '.join(FORMATS)}",
                                 param_hint="--format")
    return formats


def prepare_out_dir(path: Path) -> Path:
    """Create the output folder now, so a bad --out fails before anything is scanned."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe_file = path / ".dccscan-write-test"
        probe_file.write_bytes(b"")
        probe_file.unlink()
    except OSError as exc:
        raise InputError(f"cannot write the output folder ({exc.strerror or exc})", file=path,
                         fix="give --out a folder you can write to") from exc
    return path


def default_out_dir() -> Path:
    return Path("reports") / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def collect_targets(hosts: Sequence[str], targets_path: Path | None, hostname: str | None,
                    timeout: float | None, anchors: Sequence[str], cert: str | None,
                    key: str | None) -> tuple[list[Target], str | None]:
    """Targets from the file or the command line (never both); InputError when invalid."""
    if bool(hosts) == bool(targets_path):
        raise click.UsageError("give either HOST[:PORT] arguments or --targets FILE (one of the two)")
    if targets_path is None:
        targets = [parse_cli_target(h, hostname=hostname, timeout=timeout or 10.0, trust_anchors=anchors,
                                    client_cert=cert, client_key=key) for h in hosts]
        # the same HOST[:PORT] typed twice is one target: scanned and recorded once (twice would
        # give two records with one id, and duplicate series in metrics.prom)
        return list({target.name: target for target in targets}.values()), None
    loaded = load_targets(targets_path)
    if hostname is not None:
        raise click.UsageError("--hostname applies to command-line targets; set 'hostname' in the file")
    targets = [apply_overrides(t, timeout=timeout, trust_anchors=anchors, client_cert=cert, client_key=key)
               for t in loaded.targets]
    return targets, loaded.sha256


def _progress_bar(total: int) -> Any:
    return click.progressbar(length=total, label="scanning", file=sys.stderr, show_pos=True)


@click.command()
@click.argument("hosts", nargs=-1, metavar="HOST[:PORT]...")
@click.option("--targets", "targets_path", type=click.Path(path_type=Path), help="TOML targets file.")
@click.option("--hostname", help="Name the certificate must be valid for (SNI); default: HOST.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Output folder [default: reports/<UTC timestamp>/].")
@click.option("--format", "formats", default="json,html", show_default=True, help=f"Comma list of {', '.join(FORMATS)}.")
@click.option("--concurrency", type=click.IntRange(1, 10000), default=DEFAULT_CONCURRENCY, show_default=True,
              help="Handshakes in flight at once, across all targets.")
@click.option("--per-address", type=click.IntRange(1, 10000), default=DEFAULT_PER_ADDRESS, show_default=True,
              help="Handshakes in flight at once to one IP address and port (a shared load balancer).")
@click.option("--retries", type=click.IntRange(0, 10), default=DEFAULT_RETRIES, show_default=True,
              help="Retries of a failed connect (refused, reset), after a jittered backoff.")
@click.option("--shard", "shard_text", metavar="I/N", help="Scan only shard I of N of the targets (stable split by name).")
@click.option("--timeout", type=Seconds(0, MAX_TIMEOUT), help="Seconds per address for connect + handshake [default: 10; overrides the file].")
@click.option("--trust-anchor", "anchors", multiple=True, help="PEM trust anchor (repeatable) [default: the public store (certifi)].")
@click.option("--client-cert", help="Client certificate for mutual TLS: PEM (chain), or PKCS#12 (.p12/.pfx) with its key.")
@click.option("--client-key", help="PEM client key (none for a PKCS#12 --client-cert); encrypted: see --client-key-password-file.")
@password_file_option(CLIENT_KEY)
@click.option("--profile", "profile_path", type=click.Path(path_type=Path), help="Profile TOML for the DCCKI checks [default: the built-in dccki-tls-san].")
@click.option("--http-check/--no-http-check", default=None,
              help="When a client certificate is only requested, ask the application with one HTTP request "
                   "[default: the targets file's http_check; on for the gateway interface].")
@click.option("--client-simulation/--no-client-simulation", default=True,
              help="Replay Chromium's and Firefox's recorded ClientHellos (2 extra connections per endpoint) "
                   "so the browser verdicts cover the handshake [default: on].")
@click.option("--tls-versions", is_flag=True,
              help="Try each TLS version below the negotiated one (up to 3 extra connections per endpoint).")
@click.option("--fail-on", type=click.Choice(FAIL_ON_CHOICES), default="error", show_default=True,
              help="Exit 1 when a finding is at or above this severity.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing for a clean run (exit 0); otherwise the summary. "
              "Warnings and errors always go to stderr.")
@click.option("--crl", "crl_texts", multiple=True, metavar="FILE",
              help="CRL file (DER or PEM) of an issuing CA, used for revocation (repeatable).")
@click.option("--offline-revocation", is_flag=True,
              help="Fetch no CRL or OCSP: judge revocation from stapled responses and --crl files only.")
@nightly_options
def scan(hosts: tuple[str, ...], targets_path: Path | None, hostname: str | None, out_dir: Path | None,
         formats: str, concurrency: int, per_address: int, retries: int, shard_text: str | None,
         timeout: float | None, anchors: tuple[str, ...],
         client_cert: str | None, client_key: str | None, profile_path: Path | None, http_check: bool | None,
         client_simulation: bool, tls_versions: bool, fail_on: str, quiet: bool, crl_texts: tuple[str, ...], offline_revocation: bool,
         nightly: NightlyOptions) -> None:
    """Scan TLS endpoints and write results.json, reports and the presented chains.

    Exit codes: 0 all scanned and nothing at or above --fail-on; 1 findings at or above it;
    2 bad command line or input file; 3 some endpoints could not be scanned; 4 another run
    holds the --db lock (nothing was scanned).
    """
    wanted = parse_formats(formats)
    try:
        targets, sha256 = collect_targets(hosts, targets_path, hostname, timeout, anchors, client_cert, client_key)
        order = [t.name for t in targets]  # positions in the whole file, so merged shards sort as one scan
        if http_check is not None:
            targets = [dataclasses.replace(t, http_check=http_check) for t in targets]
        if not client_simulation or tls_versions:
            targets = [dataclasses.replace(t, client_simulation=client_simulation, tls_versions=tls_versions)
                       for t in targets]
        shard = parse_shard(shard_text) if shard_text is not None else None
        if shard is not None:
            targets = shard.select(targets)
        profile = load_profile(profile_path)
        crl_files = [read_crl_option(text) for text in crl_texts]
        out = prepare_out_dir(out_dir or default_out_dir())
        nightly.validate()
    except InputError as exc:
        raise input_failure(exc) from None
    request = ScanRequest(targets=targets, out_dir=out, concurrency=concurrency, per_address=per_address,
                          retries=retries, shard=shard, fail_on=fail_on,
                          formats=wanted, targets_path=targets_path, targets_sha256=sha256,
                          profile_path=profile_path, profile=profile, order=order, crl_files=crl_files,
                          revocation_online=not offline_revocation)
    try:
        # the reports are rendered once, after the history step has put the changes in results.json
        code = run_nightly(nightly, lambda seconds: scan_only(dataclasses.replace(request, max_duration=seconds),
                                                              quiet=quiet)[1], out,
                           lambda scanned: finish(out / "results.json", request, scanned, quiet=quiet))
    except InputError as exc:
        raise input_failure(exc) from None
    raise click.exceptions.Exit(code)


def execute(request: ScanRequest, *, quiet: bool, quiet_on_failure: bool = False) -> int:
    """Scan (``scan_only``), then render (``finish``); returns the exit code."""
    results, code = scan_only(request, quiet=quiet)
    return finish(results, request, code, quiet=quiet, quiet_on_failure=quiet_on_failure)


def scan_only(request: ScanRequest, *, quiet: bool) -> tuple[Path, int]:
    """Run the scan, with a progress bar on a terminal (stderr); results.json and the exit code."""
    if sys.stderr.isatty() and not quiet:
        with _progress_bar(len(request.targets)) as bar:
            return run_scan(request, progress=lambda done, total: bar.update(done - bar.pos))
    return run_scan(request)


def finish(results: Path, request: ScanRequest, code: int, *, quiet: bool, quiet_on_failure: bool = False) -> int:
    """The reports and the summary of a finished scan; returns the exit code.

    ``quiet`` silences a clean run only: a run that exits non-zero still prints its summary (so a
    cron job mails exactly the nights with something wrong), unless ``quiet_on_failure``.
    """
    try:
        render(results, request.out_dir, request.formats, quiet=quiet and (code == 0 or quiet_on_failure))
    except KeyboardInterrupt:
        click.echo(f"dccscan: interrupted while writing the reports; the results are in {results}",
                   err=True)
        return max(code, EXIT_STOPPED)
    except OSError as exc:  # e.g. the disk filled up after results.json was written
        click.echo(f"dccscan: cannot write the reports ({exc.strerror or exc}); the results are in {results}",
                   err=True)
        return max(code, EXIT_STOPPED)
    return code
