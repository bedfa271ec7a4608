"""``dccscan merge OUT_DIR RESULTS_DIR...``: the shards of one scan (``scan --shard I/N`` run on
several machines) become one results.json, as if one machine had scanned the whole file.

Only shards of the same scan merge: the same targets file (by SHA-256), trust anchors, profile
and failure threshold, the same N and no shard twice. Anything else is refused before a byte is
written, because a merged report over different inputs would state verdicts nobody computed.
Endpoints are streamed from each input into the output (memory stays flat) and come out in
targets-file order as from one scan; the summary is recomputed, and the result is complete only
when every shard is present and complete. dccscan/1 shards are read too; the output is dccscan/2.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import click

from scanner.cli.scan_cmd import input_failure, parse_formats, prepare_out_dir, render
from scanner.errors import InputError
from scanner.outdir import claim
from scanner.results import READABLE_SCHEMAS, ResultsWriter, iter_endpoints, read_header
from scanner.shard import parse_shard, shard_of
from scanner.targets import declared_targets

SAME = {"targets_file.sha256": "targets file (SHA-256)", "settings.trust_anchors": "trust anchors",
        "settings.profile": "profile", "settings.fail_on": "--fail-on threshold",
        "checks": "check catalogue (the dccscan version that scanned)",
        "inputs": "public root store / public-suffix list (their recorded SHA-256)"}


@dataclass
class Part:
    """One input: its folder, results.json and header."""

    folder: Path
    results: Path
    header: dict[str, Any]


def _load(folder: Path) -> Part:
    results = folder / "results.json" if folder.is_dir() else folder
    if not results.is_file():
        raise InputError("no results.json here", file=folder,
                         fix="give the --out folders of the shard scans (each holds results.json)")
    try:
        header = read_header(results)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read results.json ({exc})", file=results,
                         fix="copy the shard's folder again; it may be truncated") from exc
    if header.get("schema") not in READABLE_SCHEMAS:
        raise InputError(f"not a dccscan results file (schema {header.get('schema')!r})", file=results,
                         fix="merge results written by dccscan scan")
    return Part(results.parent, results, header)


def _value(header: dict[str, Any], dotted: str) -> Any:
    value: Any = header
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def check_compatible(parts: Sequence[Part]) -> tuple[int | None, set[int]]:
    """Raise InputError unless the parts are distinct shards of one scan; (N, indices seen)."""
    first = parts[0]
    for part in parts[1:]:
        for key, label in SAME.items():
            if _value(part.header, key) != _value(first.header, key):
                raise InputError(f"the {label} differs from that of {first.results}; these are not "
                                 "shards of one scan", file=part.results,
                                 fix="merge only the shards of one scan: same targets file, trust "
                                     "anchors, profile and --fail-on")
    shards = [part.header.get("settings", {}).get("shard") for part in parts]
    if len(parts) == 1 and shards[0] is None:
        return None, set()
    seen: dict[int, Path] = {}
    count: int | None = None
    for part, text in zip(parts, shards):
        if text is None:
            raise InputError("this scan was not run with --shard, so it cannot be merged with others "
                             "(its endpoints would be counted twice)", file=part.results,
                             fix="merge the results of `dccscan scan --shard I/N` runs")
        shard = parse_shard(text)
        if count is not None and shard.count != count:
            raise InputError(f"shard {shard} splits the targets into {shard.count}, others into {count}",
                             file=part.results, fix="merge shards of one split (the same N)")
        if shard.index in seen:
            raise InputError(f"shard {shard} is also in {seen[shard.index]}", file=part.results,
                             fix="give each shard once")
        count = shard.count
        seen[shard.index] = part.results
    return count, set(seen)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def targets_of_shards(parts: Sequence[Part], shards: Sequence[int], count: int) -> list[dict[str, Any]] | None:
    """The targets of ``shards`` (of ``count``), from the copy of the targets file the shard scans
    kept (``targets.toml``, checked against the recorded SHA-256); None when there is no such copy
    (command-line targets), so the caller can say the targets cannot be named."""
    wanted = parts[0].header.get("targets_file") or {}
    for part in parts:
        copy = part.folder / "targets.toml"
        if copy.is_file() and hashlib.sha256(copy.read_bytes()).hexdigest() == wanted.get("sha256"):
            return [t for t in declared_targets(copy) if shard_of(t["name"], count) in shards]
    return None


def merge_results(out_dir: Path, parts: Sequence[Part]) -> tuple[Path, int, list[int], list[dict[str, Any]] | None]:
    """Write OUT_DIR/results.json (and chains/) from the parts; (path, exit code, missing shards,
    the missing shards' targets or None when they cannot be named). Those targets are listed in
    ``not_reached``, so every report names them."""
    count, present = check_compatible(parts)
    missing = sorted(set(range(1, count + 1)) - present) if count else []
    lost = targets_of_shards(parts, missing, count) if count and missing else []
    first = parts[0].header
    settings = dict(first["settings"], shard=None)
    folder = claim(out_dir)
    writer = ResultsWriter(out_dir, started_at=min(_time(p.header["started_at"]) for p in parts),
                           targets_file=first.get("targets_file"), settings=settings, checks=first.get("checks"),
                           inputs=first.get("inputs"))
    try:
        for part in parts:
            _add_part(writer, part)
    except BaseException:
        writer.close()
        raise
    if any("revocation_data" in p.header for p in parts):
        writer.extra["revocation_data"] = merged_revocation_data(parts, out_dir)
    complete = not missing and all(p.header.get("complete") for p in parts)
    not_reached = [t for p in parts for t in p.header.get("not_reached") or []] + (lost or [])
    results = writer.finish(max(_time(p.header["finished_at"]) for p in parts), complete=complete,
                            not_reached=not_reached)
    inputs = []
    for name in ("targets.toml", "profile.toml"):
        source = parts[0].folder / name
        if source.is_file():
            inputs.append(name)
            if source.resolve() != (out_dir / name).resolve():
                shutil.copyfile(source, out_dir / name)
    folder.sweep(writer.chain_files, inputs=inputs,
                 revocation_files={str(e["file"]) for e in writer.extra.get("revocation_data") or []})
    return results, writer.summary.exit_code(complete), missing, lost


def merged_revocation_data(parts: Sequence[Part], out_dir: Path) -> list[dict[str, Any]]:
    """The shards' ``revocation_data`` tables as one (each CRL / OCSP response once, by SHA-256,
    its locations united), with their ``revocation/`` files copied beside the merged results."""
    table: dict[str, dict[str, Any]] = {}
    for part in parts:
        for entry in part.header.get("revocation_data") or []:
            sha, name = str(entry.get("sha256")), str(entry.get("file"))
            merged = table.setdefault(sha, dict(entry, locations=[]))
            merged["locations"] += [loc for loc in entry.get("locations") or [] if loc not in merged["locations"]]
            source, target = part.folder / name, out_dir / name
            if name.startswith("revocation/") and source.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
    return [table[sha] for sha in sorted(table)]


def _add_part(writer: ResultsWriter, part: Part) -> None:
    """Stream one shard's endpoints into the writer, which puts every endpoint in targets-file
    order (each carries its target's position in the whole file) and stores each certificate
    once, however many shards presented it."""
    try:
        for endpoint in iter_endpoints(part.results):
            writer.add(endpoint)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read the endpoints ({exc})", file=part.results,
                         fix="copy the shard's folder again; it may be truncated or edited") from exc


@click.command()
@click.argument("out_dir", type=click.Path(path_type=Path))
@click.argument("results_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "formats", default="json,html", show_default=True, help="Comma list of json, html, junit, csv.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def merge(out_dir: Path, results_dirs: tuple[Path, ...], formats: str, quiet: bool) -> None:
    """Merge the results of `scan --shard I/N` runs into OUT_DIR and render its reports.

    Exit codes as for scan: 0 clean, 1 findings at or above the scans' --fail-on, 2 inputs that
    are not shards of one scan, 3 endpoints not scanned or shards missing (incomplete).
    """
    wanted = parse_formats(formats)
    try:
        parts = [_load(folder) for folder in results_dirs]
        out = prepare_out_dir(out_dir)
        results, code, missing, lost = merge_results(out, parts)
    except InputError as exc:
        raise input_failure(exc) from None
    if missing:
        named = (f"{len(lost)} target(s) not reached: {', '.join(t['name'] for t in lost)}" if lost is not None
                 else "its targets cannot be named (command-line targets: no targets.toml beside the results)")
        click.echo(f"dccscan: shard(s) {', '.join(map(str, missing))} missing; {named}. The merged results are "
                   "marked incomplete", err=True)
    render(results, out, wanted, quiet=quiet)
    raise click.exceptions.Exit(code)
