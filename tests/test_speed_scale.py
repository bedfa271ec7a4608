"""Being kind to targets and splitting the work: the per-address limit, connect retries,
``--shard I/N`` and ``dccscan merge``, against real TLS servers on 127.0.0.1 (no timings)."""

from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import pytest
import trio
from click.testing import CliRunner, Result
from hypothesis import given, settings, strategies as st

from scanner.cli import cli
from scanner.errors import InputError
from scanner.lab.pki import Issued, LabPKI
from scanner.lab.servers import LabEstate, ServerSpec, _handler
from scanner.probe import errors
from scanner.probe.runner import WORKERS_PER_SLOT, Outcome, Retry, backoff, retryable, scan_targets
from scanner.shard import Shard, parse_shard, shard_of
from scanner.targets import Target, parse_cli_target
from tests.lab_fixtures import leaf, pki, tls_spec  # noqa: F401 - fixtures

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "scanner/schema/results.schema.json").read_text())
HANG = 30  # seconds: hang detection only


class Counter:
    """Counts connections open at once on a loopback TLS server (the load balancer's view),
    while they wait for the server's first answer: a client cannot finish a handshake (and so,
    under a per-address limit, cannot open its next connection) before that answer, so the count
    does not depend on how soon the server notices a client's close (which raced with the next
    connect). A scanner that ignored the limit opens several within the wait and is caught."""

    def __init__(self, spec: ServerSpec, release_at: int = 1) -> None:
        self.inner = _handler(spec)
        self.now = self.peak = 0
        self.release_at = release_at  # hold connections until this many are open together
        self.released = trio.Event()

    async def __call__(self, stream: trio.SocketStream) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)
        if self.now >= self.release_at:
            self.released.set()
        try:
            await self.released.wait()
            await trio.sleep(0.02)  # give a second connection the chance to overlap, were it let in
        finally:
            self.now -= 1
        await self.inner(stream)


async def serve_counting(nursery: trio.Nursery, counter: Counter) -> int:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    nursery.start_soon(trio.serve_listeners, counter, listeners)
    return int(listeners[0].socket.getsockname()[1])


def names_behind(port: int, count: int, **options: Any) -> list[Target]:
    """``count`` target names that all resolve to one address and port."""
    base = parse_cli_target(f"127.0.0.1:{port}", timeout=HANG, **options)
    return [dataclasses.replace(base, name=f"lb{i}") for i in range(count)]


@pytest.mark.parametrize("per_address", [1, 3])
async def test_per_address_limit_caps_connections_to_one_listener(nursery: trio.Nursery, leaf: Issued,
                                                                  per_address: int) -> None:
    counter = Counter(tls_spec(leaf), release_at=per_address)
    port = await serve_counting(nursery, counter)
    outcomes: list[Outcome] = []
    with trio.fail_after(HANG):  # a limit below 3 would never release the server: hang detection
        await scan_targets(names_behind(port, 6), concurrency=50, per_address=per_address, sink=outcomes.append)
    assert counter.peak == per_address
    assert len(outcomes) == 6 and all(o.error is None for o in outcomes)


class CountingEstate(LabEstate):
    """LabEstate whose one server counts concurrent connections (runs in a background thread)."""

    def __init__(self, counter: Counter) -> None:
        super().__init__([])
        self.counter = counter

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            self._scope = scope
            async with trio.open_nursery() as nursery:
                self.ports = [await serve_counting(nursery, self.counter)]
                self._ready.set()
                await trio.sleep_forever()


def scan(*args: str) -> Result:
    return CliRunner().invoke(cli, ["scan", *args], catch_exceptions=False)


def merge(*args: str) -> Result:
    return CliRunner().invoke(cli, ["merge", *args], catch_exceptions=False)


def test_scan_defaults_to_one_connection_per_address_and_one_retry(leaf: Issued, tmp_path: Path) -> None:
    counter = Counter(tls_spec(leaf))
    with CountingEstate(counter) as (port,):
        targets = tmp_path / "targets.toml"
        targets.write_text("".join(f'[[target]]\nname = "lb{i}"\nhost = "127.0.0.1"\nport = {port}\n\n'
                                   for i in range(4)))  # four names, one listener
        result = scan("--targets", str(targets), "--out", str(tmp_path / "out"), "--format", "json",
                      "--fail-on", "never", "-q")
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "out/results.json").read_text())
    assert document["summary"]["endpoints"] == 4
    assert document["settings"]["per_address"] == 1 and document["settings"]["retries"] == 1
    assert document["settings"]["shard"] is None
    assert counter.peak == 1


def refusing_socket() -> socket.socket:
    """Bound but not listening: the kernel refuses connections until ``listen()``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


async def test_refused_connect_is_retried_and_then_succeeds(nursery: trio.Nursery, leaf: Issued) -> None:
    sock = refusing_socket()
    port = sock.getsockname()[1]
    retries: list[tuple[int, str]] = []

    def open_up(target: Target, address: str, attempt: int, error: errors.ProbeError) -> None:
        retries.append((attempt, error.kind))
        sock.listen(16)  # from now on the port accepts: the retry must find a TLS server
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
        nursery.start_soon(trio.serve_listeners, _handler(tls_spec(leaf)), [listener])

    outcomes: list[Outcome] = []
    with trio.fail_after(HANG):
        await scan_targets(names_behind(port, 1), concurrency=4, sink=outcomes.append,
                           retry=Retry(retries=1, delay=0.05, on_retry=open_up))
    assert retries == [(1, "refused")]
    assert outcomes[0].error is None and outcomes[0].capture is not None and outcomes[0].capture.chain


class TaskCount(trio.abc.Instrument):
    """How many trio tasks are alive at once (spawned and not yet exited)."""

    def __init__(self) -> None:
        self.alive = self.peak = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.alive += 1
        self.peak = max(self.peak, self.alive)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.alive -= 1


async def test_tasks_in_flight_are_bounded_by_concurrency_not_by_targets() -> None:
    """500 targets at concurrency 2: a bounded pool of workers (``WORKERS_PER_SLOT`` per slot)
    pulls them from a channel, instead of one task per target started before the first handshake;
    every target still gets its outcome, in order of the targets."""
    sock = refusing_socket()
    count = TaskCount()
    outcomes: list[Outcome] = []
    targets = names_behind(sock.getsockname()[1], 500)
    trio.lowlevel.add_instrument(count)
    try:
        with sock, trio.fail_after(HANG):
            await scan_targets(targets, concurrency=2, sink=outcomes.append)
    finally:
        trio.lowlevel.remove_instrument(count)
    assert sorted(o.target.name for o in outcomes) == sorted(t.name for t in targets)
    assert all(o.error is not None and o.error.kind == "refused" for o in outcomes)
    assert 1 < count.peak <= 2 * WORKERS_PER_SLOT + 1 + 4  # workers, the feeder, resolver/probe helpers


@pytest.mark.parametrize("retries", [0, 2])
async def test_retries_are_bounded(retries: int) -> None:
    sock = refusing_socket()
    seen: list[int] = []
    outcomes: list[Outcome] = []
    with sock, trio.fail_after(HANG):
        await scan_targets(names_behind(sock.getsockname()[1], 1), concurrency=4, sink=outcomes.append,
                           retry=Retry(retries=retries, delay=0.01, on_retry=lambda *a: seen.append(a[2])))
    assert seen == list(range(1, retries + 1))
    error = outcomes[0].error
    assert error is not None and error.kind == "refused"
    assert ("attempts" in error.message) == (retries > 0)


def test_only_connect_failures_are_retried_with_jitter() -> None:
    assert retryable(errors.RefusedError("x", phase="connect"))
    assert retryable(errors.ResetError("x", phase="connect"))
    assert not retryable(errors.ResetError("x", phase="handshake"))
    assert not retryable(errors.TimeoutError("x", phase="connect"))
    assert not retryable(errors.DnsError("x", phase="connect"))
    assert not retryable(None)
    delays = {backoff(1, 1.0) for _ in range(50)}
    assert all(1.0 <= d <= 3.0 for d in delays) and len(delays) > 1


# --- sharding -------------------------------------------------------------------------------

NAMES = st.lists(st.text(min_size=1, max_size=20), min_size=0, max_size=60, unique=True)


@settings(max_examples=60, deadline=None)
@given(NAMES, st.integers(min_value=1, max_value=9), st.randoms())
def test_shards_are_disjoint_covering_and_stable(names: list[str], count: int, rnd: Any) -> None:
    @dataclasses.dataclass
    class T:
        name: str
    targets = [T(n) for n in names]
    shards = [Shard(i, count).select(targets) for i in range(1, count + 1)]
    picked = [t.name for shard in shards for t in shard]
    assert sorted(picked) == sorted(names)  # covering and disjoint
    shuffled = targets[:]
    rnd.shuffle(shuffled)
    extra = shuffled + [T("\x00another target")]
    for i, shard in enumerate(shards, start=1):  # order and other targets do not move anyone
        assert {t.name for t in Shard(i, count).select(extra)} - {"\x00another target"} == {t.name for t in shard}


def test_shard_split_is_fixed_across_versions() -> None:
    # the split must not change between releases: machines of one night may run different versions
    assert [shard_of(f"gw-{i}", 4) for i in range(8)] == [shard_of(f"gw-{i}", 4) for i in range(8)]
    assert shard_of("gw.dcc-user.example", 1) == 1
    assert shard_of("gw-0", 4) == int.from_bytes(__import__("hashlib").sha256(b"gw-0").digest()[:8], "big") % 4 + 1


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "3", "", "1/3/4"])
def test_bad_shard_is_input_error(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_shard(text)
    assert "fix:" in str(info.value)


def test_bad_shard_on_the_command_line_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["scan", "127.0.0.1:1", "--shard", "5/4", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--shard" in result.output and "Traceback" not in result.output


# --- merge ----------------------------------------------------------------------------------

TARGET_NAMES = [f"gw-{i}" for i in range(6)]


@pytest.fixture(scope="module")
def estate(leaf: Issued, pki: LabPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Six loopback endpoints in a targets file with the lab root as trust anchor."""
    folder = tmp_path_factory.mktemp("estate")
    (folder / "root.pem").write_bytes(pki.root.pem)
    with LabEstate([tls_spec(leaf) for _ in TARGET_NAMES]) as ports:
        lines = ['[defaults]', 'trust_anchors = ["root.pem"]', 'timeout = 20', '']
        for name, port in zip(TARGET_NAMES, ports):
            lines += ['[[target]]', f'name = "{name}"', 'host = "127.0.0.1"', f'port = {port}',
                      'hostname = "gw.dcc-user.example"', '']
        (folder / "targets.toml").write_text("\n".join(lines))
        yield folder / "targets.toml"


def scan_shard(targets: Path, out: Path, shard: str) -> dict[str, Any]:
    result = scan("--targets", str(targets), "--shard", shard, "--out", str(out), "--format", "json", "-q")
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def shards(estate: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("shards")
    outs = [folder / f"s{i}" for i in (1, 2)]
    for i, out in enumerate(outs, start=1):
        scan_shard(estate, out, f"{i}/2")
    return outs


def endpoint_names(results: Path) -> list[str]:
    return [e["target"]["name"] for e in json.loads(results.read_text())["endpoints"]]


def test_shard_scans_are_disjoint_and_record_the_shard(shards: list[Path]) -> None:
    first, second = (endpoint_names(s / "results.json") for s in shards)
    assert first and second and not set(first) & set(second)
    assert sorted(first + second) == TARGET_NAMES
    assert json.loads((shards[1] / "results.json").read_text())["settings"]["shard"] == "2/2"


def test_merge_makes_one_complete_schema_valid_scan(shards: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "merged"
    result = merge(str(out), *map(str, shards))
    assert result.exit_code == 0, result.output
    document = json.loads((out / "results.json").read_text())
    jsonschema.validate(document, SCHEMA)
    assert sorted(e["target"]["name"] for e in document["endpoints"]) == TARGET_NAMES
    assert document["complete"] is True and document["settings"]["shard"] is None
    assert document["summary"]["endpoints"] == 6 and document["summary"]["by_status"] == {"ok": 6}
    assert (out / "report.html").is_file() and (out / "targets.toml").is_file()
    assert len(list((out / "chains").glob("*.pem"))) == 6


def test_merge_of_a_missing_shard_is_incomplete_and_names_its_targets(shards: list[Path], tmp_path: Path) -> None:
    result = merge(str(tmp_path), str(shards[0]), "--format", "json", "-q")
    lost = endpoint_names(shards[1] / "results.json")  # what shard 2 scanned is what is missing
    assert result.exit_code == 3 and "shard(s) 2 missing" in result.stderr
    assert f"{len(lost)} target(s) not reached: {', '.join(n for n in TARGET_NAMES if n in lost)}" in result.stderr
    document = json.loads((tmp_path / "results.json").read_text())
    jsonschema.validate(document, SCHEMA)
    assert document["complete"] is False
    assert sorted(t["name"] for t in document["not_reached"]) == sorted(lost)
    assert {t["hostname"] for t in document["not_reached"]} == {"gw.dcc-user.example"}
    (shards[0] / "targets.toml").rename(tmp_path / "aside.toml")  # command-line targets have no copy
    try:
        result = merge(str(tmp_path / "again"), str(shards[0]), "--format", "json", "-q")
    finally:
        (tmp_path / "aside.toml").rename(shards[0] / "targets.toml")
    assert result.exit_code == 3 and "shard(s) 2 missing; its targets cannot be named" in result.stderr


def test_merge_of_an_interrupted_shard_is_incomplete(shards: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "interrupted"
    broken.mkdir()
    text = (shards[1] / "results.json").read_text()
    (broken / "results.json").write_text(text.replace('"complete": true', '"complete": false', 1))
    result = merge(str(tmp_path / "out"), str(shards[0]), str(broken), "--format", "json", "-q")
    assert result.exit_code == 3
    assert json.loads((tmp_path / "out/results.json").read_text())["complete"] is False


@pytest.mark.parametrize("case", ["same shard twice", "not a shard", "other targets file", "other N", "no results"])
def test_merge_refuses_what_is_not_one_scan(case: str, shards: list[Path], estate: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    if case == "same shard twice":
        inputs, expected = [shards[0], shards[0]], "also in"
    elif case == "not a shard":
        assert scan("--targets", str(estate), "--out", str(other), "--format", "json", "-q").exit_code == 0
        inputs, expected = [shards[0], other], "not run with --shard"
    elif case == "other targets file":
        changed = estate.parent / "targets-other.toml"
        changed.write_text(estate.read_text() + "\n# another file\n")
        scan_shard(changed, other, "2/2")
        inputs, expected = [shards[0], other], "targets file"
    elif case == "other N":
        scan_shard(estate, other, "2/3")
        inputs, expected = [shards[0], other], "splits the targets"
    else:
        other.mkdir()
        inputs, expected = [shards[0], other], "no results.json"
    result = merge(str(tmp_path / "out"), *map(str, inputs))
    assert result.exit_code == 2 and expected in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "out/results.json").exists()


# --- the record pool and the shared certificate parse -----------------------------------------

def outcomes_for(pki: LabPKI, leaf: Issued, count: int) -> list[Outcome]:
    """``count`` captured handshakes of one real chain, as the runner hands them to the pool."""
    from datetime import datetime, timezone

    from scanner.probe.tls import Capture
    base = parse_cli_target("127.0.0.1:443", hostname="gw.dcc-user.example")
    chain = [leaf.der, pki.issuing.der]
    return [Outcome(dataclasses.replace(base, name=f"ep{i}"), "127.0.0.1", Capture(chain=list(chain), version="TLSv1.3"),
                    None, datetime.now(timezone.utc), 1.0) for i in range(count)]


def spooled(tmp_path: Path) -> Any:
    from datetime import datetime, timezone

    from scanner.results import ResultsWriter
    return ResultsWriter(tmp_path, started_at=datetime.now(timezone.utc), targets_file=None,
                         settings={"fail_on": "never"})


def test_record_pool_streams_a_partial_batch_and_builds_what_inline_builds(pki: LabPKI, leaf: Issued,
                                                                             tmp_path: Path) -> None:
    """Batches are an optimisation only: a few endpoints (fewer than a batch) still reach the
    writer before the scan ends, and every record equals the one built inline."""
    import time

    from scanner.recordpool import BATCH, RecordPool
    from scanner.assess import endpoint_record
    anchors = [pki.root.der]
    writer = spooled(tmp_path)
    pool = RecordPool(lambda o: anchors, None, writer=writer, workers=1)
    outcomes = outcomes_for(pki, leaf, BATCH + 3)
    try:
        for outcome in outcomes[:3]:
            pool.submit(outcome)
        deadline = time.monotonic() + HANG
        while writer.summary.endpoints < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert writer.summary.endpoints == 3  # the partial batch left without close()
        for outcome in outcomes[3:]:
            pool.submit(outcome)
    finally:
        pool.close()
    assert writer.summary.endpoints == len(outcomes)
    results = writer.finish(outcomes[0].scanned_at)
    from scanner.results import iter_endpoints
    by_id = {e["id"]: e for e in iter_endpoints(results)}
    for outcome in outcomes:
        expected = json.loads(json.dumps(endpoint_record(outcome, anchors=anchors, profile=None)))
        assert by_id[expected["id"]] == expected


def test_certificate_records_are_the_same_with_the_engines_parse(pki: LabPKI, leaf: Issued) -> None:
    """``describe`` given the engine's parsed certificate writes exactly what it writes alone."""
    from datetime import datetime, timezone

    from scanner.certinfo import describe
    from scanner.assess import chain_part
    from scanner.facts.certificate import facts
    chain = [leaf.der, pki.issuing.der]
    part = chain_part(chain, "gw.dcc-user.example", [pki.root.der], datetime.now(timezone.utc), None)
    assert part["chain"] == [describe(der, i) for i, der in enumerate(chain)]
    assert describe(leaf.der, 0, parsed=facts(leaf.der).cert) == describe(leaf.der, 0)


def test_scan_startup_imports_only_the_scan_command() -> None:
    """`dccscan scan` must not import the other commands' modules: start-up time counts per run."""
    import subprocess
    import sys

    code = ("import sys\nfrom scanner.cli import cli\n"
            "try:\n    cli(['scan', '--help'], prog_name='dccscan')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('scanner.cli.') or m == 'scanner.lab.demo'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded = out.stdout.strip().splitlines()[-1]
    assert "scanner.cli.scan_cmd" in loaded, out.stdout + out.stderr
    for other in ("demo_cmd", "check_cmd", "checks_cmd", "merge_cmd", "csr_cmd", "scanner.lab.demo"):
        assert other not in loaded, loaded


def test_worker_encoded_records_are_byte_identical_to_inline_ones(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    """Records JSON-encoded in the worker (``add_encoded``) are the same bytes, summary and chain
    files as records encoded here (``add``): results.json must not depend on where it was built."""
    from scanner.recordpool import RecordPool
    from scanner.assess import endpoint_record
    anchors = [pki.root.der]
    outcomes = outcomes_for(pki, leaf, 5)
    inline = spooled(tmp_path / "inline")
    for outcome in outcomes:
        inline.add(endpoint_record(outcome, anchors=anchors, profile=None))
    pooled = spooled(tmp_path / "pooled")
    pool = RecordPool(lambda o: anchors, None, writer=pooled, workers=1)
    try:
        for outcome in outcomes:
            pool.submit(outcome)
    finally:
        pool.close()
    assert pooled.summary == inline.summary
    from scanner.results import CERTIFICATES_LINE
    texts = [w.finish(outcomes[0].scanned_at).read_text(encoding="utf-8") for w in (inline, pooled)]
    bodies = [text[text.index(CERTIFICATES_LINE):] for text in texts]  # the header has the start time
    assert bodies[0] == bodies[1] and bodies[0].count('"pem":') == 2  # the leaf and its CA, once for five endpoints
    assert len([line for line in bodies[0].splitlines() if line.startswith('{"id":')]) == 5
    chains = [sorted((p.name, p.read_bytes()) for p in (tmp_path / name / "chains").iterdir())
              for name in ("inline", "pooled")]
    assert chains[0] == chains[1] and len(chains[0]) == 5


def test_record_pool_bounds_the_batches_waiting_for_a_worker(pki: LabPKI, leaf: Issued, tmp_path: Path) -> None:
    """Endpoints handed over faster than a worker builds them (here: the worker is still starting
    while twelve batches arrive) wait in the probe, not in an unbounded queue: never more than
    ``IN_FLIGHT`` batches per worker are unwritten, and every endpoint is still written."""
    from scanner.recordpool import BATCH, IN_FLIGHT, RecordPool
    anchors = [pki.root.der]
    writer = spooled(tmp_path)
    pool = RecordPool(lambda o: anchors, None, writer=writer, workers=1)
    outcomes = outcomes_for(pki, leaf, BATCH * IN_FLIGHT * 3)
    try:
        for outcome in outcomes:
            pool.submit(outcome)
            assert pool.in_flight <= IN_FLIGHT
    finally:
        pool.close()
    assert pool.most_in_flight == IN_FLIGHT  # the bound was reached, so it was what held the batches back
    assert pool.in_flight == 0 and writer.summary.endpoints == len(outcomes)
