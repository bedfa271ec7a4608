"""The results document (schema ``dccscan/1``): building records, streaming them to disk, reading
them back, the summary and the exit code.

``results.json`` is laid out for streaming readers: every top-level key but ``endpoints`` first,
one per line, then ``"endpoints": [`` and one endpoint object per line. Endpoints are spooled to a
file as they finish (memory stays flat), and results.json is assembled at the end into a temp
file that replaces the target atomically, so a reader never sees half a document.
"""

from __future__ import annotations

import functools
import json
import operator
import os
import re
import queue
import secrets
import tempfile
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from scanner import __version__
from scanner.certinfo import describe, iso_utc
from scanner.severity import at_or_above

SCHEMA = "dccscan/1"
ENDPOINTS_LINE = '"endpoints": ['
EXIT_OK, EXIT_FINDINGS, EXIT_UNSCANNED = 0, 1, 3
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")


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
    system calls and without pathlib: a scan writes one ``chains/<id>.pem`` per endpoint, and
    the extra calls were a visible share of a large scan."""
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


def endpoint_id(name: str, address: str | None, host: str, port: int) -> str:
    """``<target name>@<address>:<port>``; IPv6 in brackets; the host when DNS failed."""
    where = address or host
    if ":" in where:
        where = f"[{where}]"
    return f"{name}@{where}:{port}"


def safe_id(identifier: str) -> str:
    """The file stem of ``chains/<id>.pem``."""
    return _UNSAFE.sub("_", identifier)


def evaluate_chain(chain: Sequence[bytes], hostname: str, anchors: Sequence[bytes] | None,
                   at: datetime, profile: Any | None) -> dict[str, Any] | None:
    """``scanner.evaluate.evaluate``, with a finding instead of an exception should it ever fail."""
    from scanner.evaluate import evaluate

    try:
        result: dict[str, Any] = evaluate(list(chain), hostname, anchors=anchors, at=at, profile=profile)
    except Exception as exc:  # noqa: BLE001 - the engine promises not to raise; one endpoint must not end a scan
        return {"browsers": None, "profile": None, "findings": [{
            "id": "dccscan.internal.evaluation_failed", "severity": "error", "certificate_index": None,
            "title": "The verdict engine failed on this chain",
            "detail": f"{type(exc).__name__}: {exc}", "advice": "report this as a dccscan bug with the chain PEM"}]}
    return result


@functools.lru_cache(maxsize=256)
def _described(der: bytes) -> dict[str, Any]:
    """``describe`` once per certificate: an estate presents the same intermediates thousands
    of times. Callers copy the record before setting its index and never mutate it."""
    known = _engine_facts(der)
    record = describe(der, 0, parsed=known.cert, known=known)
    _remember_json(record)
    return record


_JSON_SEPARATORS = (",", ":")
_TAILS: dict[str, tuple[dict[str, Any], str]] = {}  # sha256 -> (cached record, its JSON after "index")
_TAILS_MAX = 1024


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=_JSON_SEPARATORS)  # what json.dumps builds per call


def _json(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` with one encoder for all."""
    return _ENCODER.encode(value)


def _json_pem(pem: Any) -> str:
    """``_json(pem)``, fast for PEM text: only its newlines need escaping, and escaping them with
    ``str.replace`` is far cheaper than the encoder's character-by-character scan."""
    if isinstance(pem, str) and pem.isascii() and not pem.encode("ascii").translate(None, _PEM_SAFE):
        return '"' + pem.replace("\n", "\\n") + '"'
    return _json(pem)


# Bytes JSON leaves as they are (printable ASCII but '"' and '\\'), plus the newline: a PEM holds no others.
_PEM_SAFE = bytes(sorted(set(range(0x20, 0x7F)) - {ord('"'), ord("\\")} | {ord("\n")}))


def _remember_json(record: dict[str, Any]) -> None:
    """Keep the JSON of a cached record after its index, so ``encode_part`` splices it in rather
    than encoding the same certificate (PEM and all) for every endpoint that presents it. Sound
    because cached records are never mutated (see ``_described``)."""
    keys = list(record)
    if keys[:2] != ["index", "pem"] or not isinstance(record.get("sha256"), str):
        return
    rest = {k: record[k] for k in keys[2:]}
    tail = ',"pem":' + _json_pem(record["pem"]) + ("," + _json(rest)[1:] if rest else "}")
    if len(_TAILS) >= _TAILS_MAX:
        _TAILS.clear()
    _TAILS[record["sha256"]] = (record, tail)


def _record_json(record: Any) -> str:
    """``_json(record)``; spliced from ``_TAILS`` when ``record`` is a cached record with its own
    index (same keys in the same order, every other value the very same object)."""
    sha = record.get("sha256") if type(record) is dict else None  # noqa: E721 - exactly a dict
    cached = _TAILS.get(sha) if isinstance(sha, str) else None
    if cached is not None:
        base, tail = cached
        index = record["index"]
        if type(index) is int and list(record) == list(base) \
                and all(map(operator.is_, islice(record.values(), 1, None), islice(base.values(), 1, None))):  # noqa: E721
            return '{"index":' + str(index) + tail  # "index" is the first key of both
    return _json(record)


def _engine_facts(der: bytes) -> Any:
    """The verdict engine's facts for ``der`` (cached by fingerprint, so after ``evaluate`` this
    is a lookup, not a second parse): its parsed certificate, names, key and subjectAltName."""
    from scanner.facts.certificate import facts

    return facts(der)


def describe_cached(der: bytes, index: int) -> dict[str, Any]:
    """The schema's certificate record (see ``certinfo.describe``), cached by DER."""
    return dict(_described(bytes(der)), index=index)


def endpoint_record(outcome: Any, *, anchors: Sequence[bytes] | None, profile: Any | None) -> dict[str, Any]:
    """The schema's ``endpoint`` object for a runner ``Outcome``."""
    record = endpoint_shell(outcome)
    record.update(chain_part(outcome_chain(outcome), outcome.target.hostname, anchors, outcome.scanned_at, profile))
    return record


def outcome_chain(outcome: Any) -> list[bytes]:
    """The DER chain an outcome captured (possibly empty)."""
    return list(outcome.capture.chain) if outcome.capture is not None else []


def endpoint_shell(outcome: Any) -> dict[str, Any]:
    """Every endpoint field that costs nothing to compute; ``chain_part`` fills the rest."""
    target, capture, error = outcome.target, outcome.capture, outcome.error
    return {
        "id": endpoint_id(target.name, outcome.address, target.host, target.port),
        "target": target.to_json(),
        "address": outcome.address,
        "status": "error" if error is not None else "ok",
        "error": error.to_json() if error is not None else None,
        "scanned_at": iso_utc(outcome.scanned_at),
        "duration_ms": round(outcome.duration_ms, 1),
        "tls": capture.to_tls_json() if capture is not None and (capture.version or capture.chain) else None,
        "chain": [], "browsers": None, "profile": None, "findings": [],
    }


def chain_part(chain: Sequence[bytes], hostname: str, anchors: Sequence[bytes] | None, at: datetime,
               profile: Any | None) -> dict[str, Any]:
    """``chain``, ``browsers``, ``profile`` and ``findings`` of an endpoint: the certificate
    records and the verdicts. Plain data in and out, so it can run in a worker process."""
    verdicts = evaluate_chain(chain, hostname, anchors, at, profile) if chain else None
    return {
        "chain": [describe_cached(der, index) for index, der in enumerate(chain)],
        "browsers": (verdicts or {}).get("browsers"),
        "profile": (verdicts or {}).get("profile"),
        "findings": list((verdicts or {}).get("findings") or []),
    }


_PART_KEYS = ("chain", "browsers", "profile", "findings")  # chain_part's keys, in endpoint_shell's order
EncodedPart = tuple[str, list[str], str]  # (JSON object of the part, finding severities, chain PEM)


def encode_part(part: dict[str, Any]) -> EncodedPart:
    """A ``chain_part`` as JSON plus the facts the writer needs, made in a worker process.

    Why: encoding the certificate records is most of an endpoint's JSON; done in the worker it
    leaves the probe process, and a string pickles back far more cheaply than nested dicts."""
    chain = part["chain"]
    if type(chain) is list:  # noqa: E721 - exactly what chain_part makes; anything else: plain JSON
        rest = _json({key: part[key] for key in _PART_KEYS[1:]})
        text = '{"chain":[' + ",".join(_record_json(r) for r in chain) + "]," + rest[1:]
    else:
        text = _json({key: part[key] for key in _PART_KEYS})
    severities = [finding["severity"] for finding in part["findings"]]
    return text, severities, "".join(cert["pem"] for cert in part["chain"])


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
        """``add`` from the few facts it needs (a worker-encoded record is not a dict here)."""
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


class ChainFiles:
    """Writes ``chains/<id>.pem`` from a background thread: creating a thousand small files costs
    the scan's event loop seconds of blocking system calls, while the thread runs them in parallel
    (file I/O releases the GIL). The queue is bounded, so a slow disk slows the scan rather than
    filling memory; a write error is raised by ``close()``."""

    def __init__(self, folder: Path, depth: int = 256) -> None:
        self.folder = folder
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue(maxsize=depth)
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="dccscan-chains", daemon=True)
        self._thread.start()

    def put(self, stem: str, pem: str) -> None:
        self._queue.put((stem, pem))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    write_atomic(self.folder / f"{item[0]}.pem", item[1].encode("ascii"))
                except OSError as exc:
                    self._error = exc

    def close(self) -> None:
        """Wait for every queued file; raise the first write error, if any."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error


class ResultsWriter:
    """Streams endpoints to a spool and writes ``chains/``; ``finish()`` makes results.json."""

    def __init__(self, out_dir: Path, *, started_at: datetime, targets_file: dict[str, str] | None,
                 settings: dict[str, Any]) -> None:
        self.out_dir = Path(out_dir)
        self.chains_dir = self.out_dir / "chains"
        self.chains_dir.mkdir(parents=True, exist_ok=True)
        self.started_at = started_at
        self.targets_file = targets_file
        self.settings = settings
        self.summary = Summary(fail_on=settings.get("fail_on", "error"))
        self._spool = tempfile.NamedTemporaryFile("w+", encoding="utf-8", dir=self.out_dir,
                                                  prefix=".endpoints-", suffix=".spool", delete=False)
        self._chains = ChainFiles(self.chains_dir)

    def add(self, endpoint: dict[str, Any]) -> None:
        """Record one finished endpoint (its chain PEM goes to disk now)."""
        self._spool.write(json.dumps(endpoint, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.summary.add(endpoint)
        if endpoint["chain"]:
            pem = "".join(cert["pem"] for cert in endpoint["chain"])
            self._chains.put(safe_id(endpoint["id"]), pem)

    def chain_path(self, endpoint_id: str) -> str:
        """Where ``chains/<id>.pem`` of an endpoint goes (for a worker that writes it itself)."""
        return str(self.chains_dir / f"{safe_id(endpoint_id)}.pem")

    def add_encoded(self, shell: dict[str, Any], part: EncodedPart) -> None:
        """``add`` for a record whose ``chain_part`` a worker already encoded (``encode_part``):
        the same spool line, byte for byte, without decoding and re-encoding the part here.
        An empty PEM means the worker wrote the chain file already."""
        text, severities, pem = part
        head = json.dumps({key: value for key, value in shell.items() if key not in _PART_KEYS},
                          ensure_ascii=False, separators=(",", ":"))
        self._spool.write(head[:-1] + "," + text[1:] + "\n")
        self.summary.count(shell["status"], shell["target"]["interface"], severities)
        if pem:
            self._chains.put(safe_id(shell["id"]), pem)

    def header(self, finished_at: datetime, complete: bool, not_reached: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {
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

    def finish(self, finished_at: datetime, *, complete: bool = True,
               not_reached: Sequence[dict[str, Any]] = ()) -> Path:
        """Assemble results.json atomically (temp file + os.replace); remove the spool."""
        final = self.out_dir / "results.json"
        self._chains.close()  # every chain file is on disk before results.json names it
        self._spool.flush()
        self._spool.seek(0)
        header = self.header(finished_at, complete, not_reached)
        try:
            _write_document(final, header, self._endpoint_lines())
        finally:
            self.close()
        return final

    def _endpoint_lines(self) -> Iterator[str]:
        for line in self._spool:
            yield line.rstrip("\n")

    def close(self) -> None:
        """Drop the spool (also on an aborted run)."""
        try:
            self._chains.close()
        except OSError:
            pass  # already raised by finish(), or the run is being aborted anyway
        self._spool.close()
        if os.path.exists(self._spool.name):
            os.unlink(self._spool.name)


def _write_document(final: Path, header: dict[str, Any], endpoint_lines: Iterable[str]) -> None:
    """Write the streaming layout to a temp file beside ``final``, then replace it atomically."""
    with replacing(final) as tmp, open(tmp, "w", encoding="utf-8") as out:
        out.write("{\n")
        for key, value in header.items():
            out.write(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
        out.write(ENDPOINTS_LINE + "\n")
        first = True
        for line in endpoint_lines:
            out.write(("" if first else ",\n") + line)
            first = False
        out.write("\n]}\n")


def add_header_keys(path: str | Path, **keys: Any) -> Path:
    """Add (or replace) top-level keys of a finished results.json, atomically.

    Why: a nightly scan learns its ``changes`` only after it is recorded in history, i.e. after
    results.json exists; readers must never see a half-rewritten file, and the endpoints are
    copied as they are (streamed, so memory stays flat).
    """
    final = Path(path)
    header = read_header(final)
    header.update(keys)
    lines = (json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in iter_endpoints(final))
    _write_document(final, header, lines)
    return final


def read_header(path: str | Path) -> dict[str, Any]:
    """Every top-level key but ``endpoints``, without reading the endpoints."""
    lines: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.rstrip("\r\n") == ENDPOINTS_LINE:
                header = json.loads("".join(lines) + '"endpoints": []}')
                header.pop("endpoints")
                return dict(header)
            lines.append(line)
    document = json.loads("".join(lines))  # not our streaming layout: read it whole
    document.pop("endpoints", None)
    return dict(document)


def iter_endpoints(path: str | Path) -> Iterator[dict[str, Any]]:
    """The endpoints one at a time (any valid results.json; streamed for our own layout)."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.rstrip("\r\n") == ENDPOINTS_LINE:
                break
        else:
            handle.seek(0)
            yield from json.load(handle).get("endpoints", [])
            return
        for line in handle:
            text = line.strip().rstrip(",")
            if text in ("]}", "]", ""):
                continue
            yield json.loads(text)


def copy_inputs(out_dir: Path, targets_path: Path | None, profile_path: Path | None) -> None:
    """Keep the inputs beside the results: ``targets.toml`` and ``profile.toml``."""
    if targets_path is not None:
        write_atomic(out_dir / "targets.toml", Path(targets_path).read_bytes())
    if profile_path is not None:
        write_atomic(out_dir / "profile.toml", Path(profile_path).read_bytes())
