"""The results document (schema ``dccscan/2``): building endpoint records, streaming them to disk,
reading them back, the summary and the exit code. No verdict is computed here (``scanner.assess``
does that); this module only builds, writes and reads the document.

Layout of results.json, for streaming readers and writers (README "Results model")::

    {
    "schema": "dccscan/2",                      every top-level key but the two tables,
    ...                                         one per line
    "certificates": {
    "<sha256>": {"pem": ..., "subject": ...},   each distinct certificate once, by SHA-256,
    ...                                         one per line, sorted by digest
    },
    "endpoints": [
    {"id": ..., "chain": ["<sha256>", ...]},    one endpoint per line, in targets-file order,
    ...                                         then by address
    ]}

Why: an estate presents its issuing CAs thousands of times; stored once, the file shrinks and no
reader has to recognise repeated text. ``iter_endpoints`` still yields each endpoint with its
``chain`` as full certificate records (the dccscan/1 shape), for dccscan/1 and dccscan/2 files,
so renderers, history, evidence and merge read every version alike.

While scanning, endpoint and certificate lines go to spool files as they finish (memory holds an
index of offsets, not the records); ``finish()`` copies them out in order into a temporary file
that replaces results.json atomically, so a reader never sees half a document.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import ipaddress
import json
import os
import pickle
import queue
import re
import secrets
import shutil
import tempfile
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator, Mapping, Sequence

from scanner import __version__
from scanner.certinfo import iso_utc
from scanner.severity import at_or_above

SCHEMA = "dccscan/2"
READABLE_SCHEMAS = ("dccscan/1", "dccscan/2")  # what the readers accept
CERTIFICATES_LINE = '"certificates": {'
ENDPOINTS_LINE = '"endpoints": ['
EXIT_OK, EXIT_FINDINGS, EXIT_UNSCANNED = 0, 1, 3
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_CHAIN_FILE = re.compile(r"chains/[^/\\.][^/\\]*\.pem")  # one file directly in chains/, not hidden
CHAIN_PREFIX_MAX = 64  # characters of the readable part of a chain file name
CHAIN_DIGEST_LENGTH = 24  # hex characters (96 bits) of the endpoint id's SHA-256 in the name


# --- atomic files -------------------------------------------------------------------------------

def _temp_beside(path: str) -> str:
    """A hidden temporary name beside ``path``, unique per process and call."""
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces it (``os.replace``) only when the block
    ends normally: an interrupted or crashed run never leaves a truncated file under the real
    name, only the previous version or none. Permissions follow the umask, as a plain open would."""
    path = Path(path)
    temp = Path(_temp_beside(str(path)))
    try:
        yield temp
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename, as ``replacing`` does, in four
    system calls and without pathlib: a scan writes one chain file per endpoint, and the extra
    calls were a visible share of a large scan."""
    final = os.fspath(path)
    temp = _temp_beside(final)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temp, final)
    except BaseException:
        os.unlink(temp)
        raise


# --- names --------------------------------------------------------------------------------------

def endpoint_id(name: str, address: str | None, host: str, port: int) -> str:
    """``<target name>@<address>:<port>``; IPv6 in brackets; the host when DNS failed."""
    where = address or host
    if ":" in where:
        where = f"[{where}]"
    return f"{name}@{where}:{port}"


def safe_id(identifier: str) -> str:
    """``identifier`` with every character outside ``[A-Za-z0-9._@-]`` replaced by ``_``: the
    readable part of a chain file name (and, in dccscan/1, the whole file stem)."""
    return _UNSAFE.sub("_", identifier)


def chain_file_name(identifier: str) -> str:
    """``chains/<readable prefix>-<digest>.pem`` for an endpoint id, relative to the output folder.

    Why both parts: the sanitised prefix alone let ``lb/a`` and ``lb_a`` (or ``gw-é`` and
    ``gw-ü``) overwrite each other's chain, and a long target name exceeded the file system's
    name limit and lost the scan. The digest of the exact id makes the name unique; the prefix is
    cut to ``CHAIN_PREFIX_MAX`` characters so the name stays short (under 100 characters)."""
    prefix = safe_id(identifier)[:CHAIN_PREFIX_MAX]
    if prefix.startswith("."):
        prefix = "_" + prefix[1:]  # a hidden file would be missed by `ls` and by globs
    digest = hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()[:CHAIN_DIGEST_LENGTH]
    return f"chains/{prefix}-{digest}.pem"


def chain_file(endpoint: Mapping[str, Any]) -> str | None:
    """The chain file of an endpoint, relative to its results folder, or None without a chain.

    dccscan/2 records it (``chain_file``); for a dccscan/1 endpoint it is derived as dccscan/1
    named it. A recorded name is checked, since results.json is input: it must be one plain file
    directly in ``chains/``, so no reader is ever led outside the folder."""
    if "chain_file" not in endpoint:
        return f"chains/{safe_id(str(endpoint.get('id')))}.pem" if endpoint.get("chain") else None
    name = endpoint["chain_file"]
    if name is None:
        return None
    if not isinstance(name, str) or not _CHAIN_FILE.fullmatch(name):
        raise ValueError(f"endpoint {endpoint.get('id')!r}: chain_file {name!r} is not a file in chains/")
    return name


# --- building records ---------------------------------------------------------------------------

def outcome_chain(outcome: Any) -> list[bytes]:
    """The DER chain an outcome captured (possibly empty)."""
    return list(outcome.capture.chain) if outcome.capture is not None else []


def outcome_tls(outcome: Any) -> dict[str, Any] | None:
    """What the handshake verdict reads (``tls``: client simulation and client authentication)."""
    return outcome.capture.to_tls_json() if outcome.capture is not None else None


def endpoint_shell(outcome: Any, *, position: int | None = None) -> dict[str, Any]:
    """Every endpoint field that costs nothing to compute; ``scanner.assess.chain_part`` fills
    ``chain``, ``browsers``, ``profile`` and ``findings``. ``position`` is the target's place in
    the targets file (or on the command line): the document's order, and merge's."""
    target, capture, error = outcome.target, outcome.capture, outcome.error
    identifier = endpoint_id(target.name, outcome.address, target.host, target.port)
    return {
        "id": identifier,
        "position": position,
        "target": target.to_json(),
        "address": outcome.address,
        "status": "error" if error is not None else "ok",
        "error": error.to_json() if error is not None else None,
        "scanned_at": iso_utc(outcome.scanned_at),
        "duration_ms": round(outcome.duration_ms, 1),
        "tls": capture.to_tls_json() if capture is not None and (capture.version or capture.chain or capture.simulation) else None,
        "chain": [],
        "chain_file": chain_file_name(identifier) if outcome_chain(outcome) else None,
        "browsers": None, "profile": None, "findings": [],
        **({"aia": [f.to_json() for f in outcome.aia]} if getattr(outcome, "aia", ()) else {}),
    }


def _json(value: Any) -> str:
    """One line of compact, strict JSON (UTF-8 kept as is; NaN and infinities are refused, as
    strict parsers refuse them)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Encoded:
    """One endpoint ready for the writer: its line, the lines of its certificates, and the few
    facts the writer needs (summary counts, order, chain file). Made by ``encode_endpoint``,
    in a worker process or here; plain strings pickle back cheaply."""

    line: str
    certificates: tuple[tuple[str, str], ...]  # (sha256, JSON of the certificate's table entry)
    status: str
    interface: str
    severities: tuple[str, ...]
    position: int | None
    address: str | None
    chain_file: str | None
    pem: str  # the chain file's text; "" once written (by the worker)


def _certificate_entry(record: Mapping[str, Any]) -> tuple[str, str]:
    """(sha256, JSON of the table entry): a chain record without its per-endpoint ``index``."""
    digest = record.get("sha256")
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ValueError(f"certificate record without a valid sha256: {str(digest)[:80]!r}")
    return digest, _json({key: value for key, value in record.items() if key != "index"})


def encode_endpoint(endpoint: Mapping[str, Any]) -> Encoded:
    """An endpoint whose ``chain`` holds full certificate records (the shape ``iter_endpoints``
    yields) as its dccscan/2 line: the chain becomes the certificates' SHA-256 digests, and the
    certificates their own table lines. Also accepts a dccscan/1 endpoint (merge of old shards):
    its chain file is named as dccscan/2 names it."""
    chain = list(endpoint.get("chain") or [])
    certificates = tuple(_certificate_entry(record) for record in chain)
    body = dict(endpoint, chain=[digest for digest, _ in certificates])
    body.setdefault("position", None)
    if "chain_file" not in body:
        body["chain_file"] = chain_file_name(str(body["id"])) if chain else None
    pem = "".join(str(record.get("pem", "")) for record in chain)
    if not pem.isascii():  # ours always is; a merged file may not be, and a chain file is ASCII
        raise ValueError(f"endpoint {body.get('id')!r}: a certificate's pem is not ASCII text")
    return Encoded(
        line=_json(body), certificates=certificates, status=str(body.get("status")),
        interface=str((body.get("target") or {}).get("interface")),
        severities=tuple(str(f.get("severity")) for f in body.get("findings") or []),
        position=body.get("position"), address=body.get("address"), chain_file=chain_file(body), pem=pem)


def written(encoded: Encoded) -> Encoded:
    """``encoded`` once its chain file is on disk (the writer then leaves it alone)."""
    return replace(encoded, pem="")


def sort_key(position: int | None, address: str | None) -> tuple[int, int, int, str]:
    """The document's order: targets-file position, then address (IPv4 before IPv6, numerically);
    an endpoint without either (DNS failed, or a dccscan/1 shard) sorts after those with one."""
    place = position if isinstance(position, int) else 1 << 62
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return place, 9, 0, str(address or "")
    return place, ip.version, int(ip), ""


# --- summary ------------------------------------------------------------------------------------

def dependencies() -> dict[str, str]:
    """Versions that change verdicts or capture, recorded for the evidence."""
    import importlib.metadata  # here, not at the top: only the end of a run needs it

    out: dict[str, str] = {}
    for dist in ("trio", "pyOpenSSL", "cryptography"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        from OpenSSL import SSL
        out["openssl"] = SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode("ascii", "replace")
    except Exception:  # noqa: BLE001 - informational only
        pass
    return out


@dataclass
class Summary:
    """Counts kept while endpoints stream past; ``to_json()`` is the schema's ``summary``."""

    fail_on: str = "error"
    endpoints: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_interface: dict[str, Counter[str]] = field(default_factory=dict)
    by_severity: Counter[str] = field(default_factory=Counter)
    tripped: bool = False

    def add(self, endpoint: dict[str, Any]) -> None:
        self.count(endpoint["status"], endpoint["target"]["interface"],
                   [finding["severity"] for finding in endpoint.get("findings") or []])

    def count(self, status: str, interface: str, severities: Sequence[str]) -> None:
        """``add`` from the few facts it needs (an encoded record is not a dict here)."""
        self.endpoints += 1
        self.by_status[status] += 1
        self.by_interface.setdefault(interface, Counter())[status] += 1
        for severity in severities:
            self.by_severity[severity] += 1
            self.tripped = self.tripped or at_or_above(severity, self.fail_on)

    def exit_code(self, complete: bool = True) -> int:
        """README table: 1 findings at/above --fail-on, else 3 if anything was not scanned."""
        if self.tripped:
            return EXIT_FINDINGS
        if self.by_status.get("error") or not complete:
            return EXIT_UNSCANNED
        return EXIT_OK

    def to_json(self, complete: bool = True) -> dict[str, Any]:
        return {"endpoints": self.endpoints, "by_status": dict(self.by_status),
                "by_interface": {k: dict(v) for k, v in sorted(self.by_interface.items())},
                "by_severity": dict(self.by_severity), "exit_code": self.exit_code(complete)}


# --- writing ------------------------------------------------------------------------------------

class ChainFiles:
    """Writes chain files from a background thread: creating a thousand small files costs the
    scan's event loop seconds of blocking system calls, while the thread runs them in parallel
    (file I/O releases the GIL). The queue is bounded, so a slow disk slows the scan rather than
    filling memory; a write error is raised by ``close()``."""

    def __init__(self, folder: Path, depth: int = 256) -> None:
        self.folder = folder
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=depth)
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="dccscan-chains", daemon=True)
        self._thread.start()

    def put(self, name: str, pem: str) -> None:
        """Queue ``pem`` for ``name`` (relative to the output folder, as ``chain_file`` gives it)."""
        self._queue.put((name, pem))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    write_atomic(self.folder / item[0], item[1].encode("ascii"))
                except Exception as exc:  # noqa: BLE001 - kept for close(); the thread must keep draining the queue
                    self._error = exc

    def close(self) -> None:
        """Wait for every queued file; raise the first write error, if any."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error


class SortedSpool:
    """Lines written in any order and read back sorted by a key, in bounded memory.

    Why: endpoints finish in whatever order the network allows, but results.json (and so the
    CSV, the terminal table and the report) must list them in targets-file order. The lines go
    to a hidden file as they come, and memory holds a (key, offset) pair per line for at most
    ``RUN`` lines: then those pairs are sorted and written to a run file of their own (an
    external merge sort). ``lines()`` merges the runs and reads each line back by its offset, in
    key order. At 100,000 endpoints the pairs alone were 28 MB of the scan's memory."""

    RUN = 16384  # (key, offset) pairs kept in memory before they are sorted into a run file

    def __init__(self, folder: Path, name: str) -> None:
        self._folder, self._spool_name = folder, name
        self._file: IO[bytes] = self._hidden("")
        self._index: list[tuple[Any, int]] = []
        self._runs: list[IO[bytes]] = []
        self._count = 0

    def _hidden(self, kind: str) -> IO[bytes]:
        """A hidden spool file in the folder; the pid in its name lets ``scanner.outdir`` remove
        it when a killed run left it behind."""
        return tempfile.NamedTemporaryFile("w+b", dir=self._folder, prefix=f".{self._spool_name}-{os.getpid()}-{kind}",
                                           suffix=".spool", delete=False)

    def add(self, key: Any, line: str) -> None:
        self._index.append((key, self._file.tell()))
        self._file.write(line.encode("utf-8") + b"\n")
        self._count += 1
        if len(self._index) >= self.RUN:
            self._spill()

    def _spill(self) -> None:
        """Sort the pairs in memory (stably: ties stay in the order they came) into a run file."""
        self._index.sort(key=_first)
        run = self._hidden("run")
        self._runs.append(run)
        for pair in self._index:
            pickle.dump(pair, run, protocol=pickle.HIGHEST_PROTOCOL)
        run.flush()
        self._index = []

    def __len__(self) -> int:
        return self._count

    def lines(self, *, unique: bool = False) -> Iterator[str]:
        """Every line, without its newline, in key order (ties in the order they were added:
        the runs are merged in the order they were written, the pairs still in memory last);
        with ``unique``, only the first line of each key."""
        self._file.flush()
        ordered = heapq.merge(*(_pairs(run) for run in self._runs), sorted(self._index, key=_first), key=_first)
        previous: list[Any] = []  # the last key yielded, when unique (a list: any key, None included)
        for key, offset in ordered:
            if unique:
                if previous and previous[0] == key:
                    continue
                previous[:] = [key]
            self._file.seek(offset)
            yield self._file.readline().rstrip(b"\n").decode("utf-8")

    def close(self) -> None:
        """Drop the spool and its runs, even when their last buffered bytes cannot be flushed (a
        full disk: the run is failing already, and no spool must be left behind)."""
        for handle in (self._file, *self._runs):
            try:
                handle.close()
            except OSError:
                pass
            finally:
                if os.path.exists(handle.name):
                    os.unlink(handle.name)


def _first(pair: tuple[Any, int]) -> Any:
    return pair[0]


def _pairs(run: IO[bytes]) -> Iterator[tuple[Any, int]]:
    """The (key, offset) pairs of a run file, in the order written (its own pickles, never input)."""
    run.seek(0)
    while True:
        try:
            yield pickle.load(run)
        except EOFError:
            return


RECENT_CERTIFICATES = 4096
"""Certificate digests the writer remembers as spooled: an estate's CAs come with nearly every
endpoint and are spooled once per this many distinct certificates, not once per endpoint; the
certificates table is still written with each digest once (``SortedSpool.lines(unique=True)``),
and memory does not grow with the estate's leaves."""


class ResultsWriter:
    """Streams endpoints to spools and writes their chain files; ``finish()`` makes results.json.

    ``order``: the target names in targets-file order (a name's first place counts), which
    gives each endpoint its ``position``. ``checks``: the check catalogue the scan ran, recorded
    in the header so renderers never consult a later registry. ``inputs``: the public root store
    and public-suffix list the verdicts used, named and hashed (``pinned_inputs_record``), so a
    re-evaluation can tell whether it judges with the same ones."""

    def __init__(self, out_dir: Path, *, started_at: datetime, targets_file: dict[str, str] | None,
                 settings: dict[str, Any], order: Iterable[str] = (),
                 checks: Sequence[Mapping[str, Any]] | None = None,
                 inputs: Mapping[str, Any] | None = None) -> None:
        self.out_dir = Path(out_dir)
        (self.out_dir / "chains").mkdir(parents=True, exist_ok=True)
        self.started_at = started_at
        self.targets_file = targets_file
        self.settings = settings
        self.checks = list(checks) if checks is not None else None
        self.inputs = dict(inputs) if inputs is not None else None
        self.summary = Summary(fail_on=settings.get("fail_on", "error"))
        self.chain_files: set[str] = set()  # every chain file this writer named (the folder's own)
        self._positions: dict[str, int] = {}
        for place, name in enumerate(order):
            self._positions.setdefault(name, place)
        self._certificates = SortedSpool(self.out_dir, "certificates")
        self._recent: set[str] = set()  # digests spooled lately: the shared CAs, spooled once per RECENT_CERTIFICATES
        self._endpoints = SortedSpool(self.out_dir, "endpoints")
        self._chains = ChainFiles(self.out_dir)
        self.extra: dict[str, Any] = {}  # further top-level keys (``revocation_data``), set before finish()

    def position(self, name: str) -> int | None:
        """The place of target ``name`` in the targets file (None when no order was given)."""
        return self._positions.get(name)

    def chain_path(self, name: str) -> str:
        """The absolute path of a chain file ``name`` (for a worker that writes it itself)."""
        return str(self.out_dir / name)

    def add(self, endpoint: Mapping[str, Any]) -> None:
        """Record one finished endpoint given as a full record (chain of certificate records)."""
        self.add_encoded(encode_endpoint(endpoint))

    def add_encoded(self, encoded: Encoded) -> None:
        """Record one endpoint encoded by ``encode_endpoint`` (here or in a worker): its line,
        each certificate not stored yet, its counts and (unless written already) its chain file."""
        for digest, line in encoded.certificates:
            if digest not in self._recent:  # a repeat the set no longer holds is dropped by finish()
                if len(self._recent) >= RECENT_CERTIFICATES:
                    self._recent.clear()
                self._recent.add(digest)
                self._certificates.add(digest, f"{json.dumps(digest)}: {line}")
        self._endpoints.add((*sort_key(encoded.position, encoded.address), len(self._endpoints)), encoded.line)
        self.summary.count(encoded.status, encoded.interface, encoded.severities)
        if encoded.chain_file is not None:
            self.chain_files.add(encoded.chain_file)
            if encoded.pem:
                self._chains.put(encoded.chain_file, encoded.pem)

    def header(self, finished_at: datetime, complete: bool, not_reached: Sequence[dict[str, Any]]) -> dict[str, Any]:
        header = {
            "schema": SCHEMA,
            "scanner": {"name": "dccscan", "version": __version__, "dependencies": dependencies()},
            "started_at": iso_utc(self.started_at),
            "finished_at": iso_utc(finished_at),
            "complete": complete,
            "targets_file": self.targets_file,
            "settings": self.settings,
            "not_reached": list(not_reached),
            "summary": self.summary.to_json(complete),
        }
        if self.inputs is not None:
            header["inputs"] = self.inputs
        if self.checks is not None:
            header["checks"] = self.checks
        header.update(self.extra)
        return header

    def finish(self, finished_at: datetime, *, complete: bool = True,
               not_reached: Sequence[dict[str, Any]] = ()) -> Path:
        """Assemble results.json atomically (temp file + os.replace); remove the spools."""
        final = self.out_dir / "results.json"
        try:
            self._chains.close()  # every chain file is on disk before results.json names it
            header = self.header(finished_at, complete, not_reached)
            with replacing(final) as temp, open(temp, "w", encoding="utf-8") as out:
                _write_header(out, header)
                _write_section(out, CERTIFICATES_LINE, self._certificates.lines(unique=True), "},")
                _write_section(out, ENDPOINTS_LINE, self._endpoints.lines(), "]}")
        finally:
            self.close()
        return final

    def close(self) -> None:
        """Drop the spools (also on an aborted run)."""
        try:
            self._chains.close()
        except Exception:  # noqa: BLE001 - already raised by finish(), or the run is being aborted anyway
            pass
        self._certificates.close()
        self._endpoints.close()


def _write_header(out: IO[str], header: Mapping[str, Any]) -> None:
    """``{`` and one ``"key": value,`` line per top-level key (the streaming layout's head)."""
    out.write("{\n")
    for key, value in header.items():
        out.write(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False, allow_nan=False)},\n")


def _write_section(out: IO[str], opening: str, lines: Iterable[str], closing: str) -> None:
    """A table or list, one entry per line, entries separated by commas."""
    out.write(opening + "\n")
    first = True
    for line in lines:
        out.write(("" if first else ",\n") + line)
        first = False
    out.write(("" if first else "\n") + closing + "\n")


def add_header_keys(path: str | Path, **keys: Any) -> Path:
    """Add (or replace) top-level keys of a finished results.json, atomically.

    Why: a nightly scan learns its ``changes`` only after it is recorded in history, i.e. after
    results.json exists; readers must never see a half-rewritten file. The certificates and
    endpoints are copied as the bytes they are (memory stays flat)."""
    final = Path(path)
    header = read_header(final)
    header.update(keys)
    with open(final, "rb") as source, replacing(final) as temp, open(temp, "w", encoding="utf-8") as out:
        marker = _skip_header(source)
        if marker is None:  # not the streaming layout: rewrite the whole document
            source.seek(0)
            document = json.load(source)
            document.update(keys)
            out.write(json.dumps(document, ensure_ascii=False, allow_nan=False))
        else:
            _write_header(out, header)
            out.write(marker + "\n")
            out.flush()
            shutil.copyfileobj(source, out.buffer)
    return final


# --- reading ------------------------------------------------------------------------------------

_MARKERS = (CERTIFICATES_LINE, ENDPOINTS_LINE)
_TABLE_KEY = re.compile(rb'\s*"([0-9a-f]{64})"\s*:')  # how a certificates-table line starts
CACHED_CERTIFICATES = 256  # parsed table entries kept while reading (the issuing CAs, mostly)


def _skip_header(handle: IO[bytes]) -> str | None:
    """Read ``handle`` up to and including the first table line (certificates or endpoints);
    that line, or None when the file is not in the streaming layout."""
    for line in handle:
        text = line.rstrip(b"\r\n").decode("utf-8")
        if text in _MARKERS:
            return text
    return None


def read_header(path: str | Path) -> dict[str, Any]:
    """Every top-level key but ``certificates`` and ``endpoints``, without reading either."""
    lines: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.rstrip("\r\n") in _MARKERS:
                return _without_tables(json.loads("".join(lines) + '"endpoints": []}'))
            lines.append(line)
    return _without_tables(json.loads("".join(lines)))  # not our streaming layout: read it whole


def _without_tables(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ValueError("results.json is not a JSON object")
    return {key: value for key, value in document.items() if key not in ("certificates", "endpoints")}


class _Table:
    """The certificates table of a streamed file: digest -> byte offset of its line, read and
    parsed on demand (the last ``CACHED_CERTIFICATES`` kept). Memory grows by an offset per
    certificate, not by the certificates."""

    def __init__(self, path: str | Path) -> None:
        self._offsets: dict[str, int] = {}
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.get: Callable[[str], dict[str, Any]] = functools.lru_cache(maxsize=CACHED_CERTIFICATES)(self._read)

    def index(self, handle: IO[bytes]) -> None:
        """Read the table's lines from ``handle`` (just after its opening line) to its end."""
        while True:
            offset = handle.tell()
            line = handle.readline()
            if not line or line.strip() in (b"},", b"}"):
                return
            self._offsets[_table_key(line, offset)] = offset

    def _read(self, digest: str) -> dict[str, Any]:
        offset = self._offsets.get(digest)
        if offset is None:
            raise ValueError(f"certificate {digest[:80]!r} is not in the certificates table")
        self._file.seek(offset)
        return _table_value(self._file.readline())

    def close(self) -> None:
        self._file.close()


def _table_key(line: bytes, offset: int) -> str:
    """The digest a certificates-table line starts with (only the key is read while indexing)."""
    match = _TABLE_KEY.match(line)
    if match is None:
        raise ValueError(f"certificates table: unexpected line at byte {offset}")
    return match.group(1).decode("ascii")


def _table_value(line: bytes) -> dict[str, Any]:
    """The certificate record of a certificates-table line (after its key, before its comma)."""
    match = _TABLE_KEY.match(line)
    record = json.loads(line[match.end():].strip().rstrip(b",")) if match is not None else None
    if not isinstance(record, dict):
        raise ValueError("certificates table: an entry is not a JSON object")
    return record


def _full_chain(endpoint: Any, lookup: Callable[[str], Mapping[str, Any]]) -> dict[str, Any]:
    """``endpoint`` with each chain digest replaced by its full record (index first, as in
    dccscan/1). Entries that are records already (dccscan/1) are kept as they are."""
    if not isinstance(endpoint, dict):
        raise ValueError("an endpoint is not a JSON object")
    chain = endpoint.get("chain")
    if not chain:
        return endpoint
    if not isinstance(chain, list):
        raise ValueError(f"endpoint {endpoint.get('id')!r}: chain is not a list")
    full = [{"index": index, **lookup(entry)} if isinstance(entry, str) else entry
            for index, entry in enumerate(chain)]
    return dict(endpoint, chain=full)


def iter_endpoints(path: str | Path) -> Iterator[dict[str, Any]]:
    """The endpoints one at a time, each ``chain`` as full certificate records, for dccscan/1
    and dccscan/2 files (streamed for our own layout, read whole otherwise).

    The yielded dicts may share nested values (one CA's record serves every endpoint it
    signed): readers must not change them."""
    with open(path, "rb") as handle:
        marker = _skip_header(handle)
        if marker is None:
            handle.seek(0)
            yield from _whole_document_endpoints(json.load(handle))
            return
        table = _Table(path)
        try:
            if marker == CERTIFICATES_LINE:
                table.index(handle)
                if _skip_header(handle) != ENDPOINTS_LINE:
                    raise ValueError("results.json: no endpoints list after the certificates table")
            for line in handle:
                text = line.strip().rstrip(b",")
                if text in (b"]}", b"]", b""):
                    continue
                yield _full_chain(json.loads(text), table.get)
        finally:
            table.close()


def _whole_document_endpoints(document: Any) -> Iterator[dict[str, Any]]:
    """``iter_endpoints`` for a document read whole (any valid JSON layout)."""
    if not isinstance(document, dict):
        raise ValueError("results.json is not a JSON object")
    table = document.get("certificates") or {}

    def lookup(digest: str) -> Mapping[str, Any]:
        if digest not in table:
            raise ValueError(f"certificate {digest[:80]!r} is not in the certificates table")
        return dict(table[digest])

    for endpoint in document.get("endpoints") or []:
        yield _full_chain(endpoint, lookup)


def load(path: str | Path) -> dict[str, Any]:
    """The whole document in the dccscan/1 shape: header keys and ``endpoints`` with full chains
    (no ``certificates`` table). For small files and tests: memory grows with the estate."""
    return dict(read_header(path), endpoints=list(iter_endpoints(path)))


def iter_certificates(path: str | Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(sha256, record without ``index``) for each certificate of a dccscan/2 file's table, in
    file order; nothing for a dccscan/1 file (its certificates are inside the endpoints)."""
    with open(path, "rb") as handle:
        marker = _skip_header(handle)
        if marker is None:
            handle.seek(0)
            document = json.load(handle)
            yield from ((d, dict(r)) for d, r in ((document or {}).get("certificates") or {}).items())
            return
        if marker != CERTIFICATES_LINE:
            return
        while (line := handle.readline()) and line.strip() not in (b"},", b"}"):
            yield _table_key(line, handle.tell() - len(line)), _table_value(line)


def copy_inputs(out_dir: Path, targets_path: Path | None, profile_path: Path | None) -> None:
    """Keep the inputs beside the results: ``targets.toml`` and ``profile.toml``."""
    if targets_path is not None:
        write_atomic(out_dir / "targets.toml", Path(targets_path).read_bytes())
    if profile_path is not None:
        write_atomic(out_dir / "profile.toml", Path(profile_path).read_bytes())
