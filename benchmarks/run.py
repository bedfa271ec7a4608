"""Benchmark: dccscan against sslyze and against a bare trio + pyOpenSSL floor, as whole processes.

    python3 benchmarks/run.py                 # N = 1000 and 10000 (sslyze at 1000 only)
    python3 benchmarks/run.py --n 1000        # one size

From a fresh checkout it creates ``.venv`` and installs the project with its ``bench`` extra
(sslyze) when that is missing, then re-runs itself there. It generates a loopback estate (an RSA
root, an RSA and an ECDSA issuing CA; per endpoint its own leaf and its own key, RSA-2048 and
ECDSA P-256 alternating, every third chain with the root as a third certificate; SAN
``host<i>.bench.test``; cached in ``benchmarks/out/estate/``, see ``make_estate``), serves it from separate processes on 127.0.0.1 (one port
per endpoint), then times (a) ``dccscan scan --targets`` with json+html output, by default and with
``--no-client-simulation``, (b) sslyze's ``--certinfo`` scan with the same trust anchor, (c)
``floor.py`` (one handshake per endpoint) and ``floor.py --replay-hellos`` (the same three
connections per endpoint as dccscan's default scan). Wall time, endpoints per second
and peak RSS (``wait4`` rusage of each child) go to ``benchmarks/out/bench-<time>.{json,md}``,
and the markdown table is printed. It also re-runs the verdict engine over the captured chains
and re-renders the HTML report in-process, to state what share of the scan they cost.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from treemem import MB, TreeSampler  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
OUT = BENCH / "out"
VENV = ROOT / ".venv"
VENV_PY = VENV / "bin" / "python"
SERVER_PROCESSES = 2
DEFAULT_SIZES = (1000, 10000)
NO_SIMULATION = "dccscan --no-client-simulation"
FLOOR_REPLAYS = "floor --replay-hellos"


def bootstrap() -> None:
    """Re-run inside the project's .venv with the bench extra installed (sslyze)."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not VENV_PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(VENV_PY), "-c", "import sslyze, scanner"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "-e", f"{ROOT}[bench]"], check=True)
    os.execv(str(VENV_PY), [str(VENV_PY), __file__, *sys.argv[1:]])


def default_work_dir() -> Path:
    """A RAM folder (/dev/shm) when the machine has one, else the system temp folder.

    Why: dccscan writes one chains/<id>.pem per endpoint, and on ext4 creating a file costs from
    0.05 ms to over 0.5 ms depending on how many files were deleted in the last few minutes
    (the allocator skips recently freed inodes one by one; e.g. the previous benchmark run's
    output). That is the file system's history, not the scanner's speed, and it moved dccscan's
    time by up to a second between otherwise identical runs. ``--work-dir`` measures on disk."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def compile_bytecode() -> None:
    """Write the project's .pyc files, as installing a wheel does. The editable install used
    here leaves them to the first import, and with PYTHONDONTWRITEBYTECODE set (as on some CI
    machines) every run would compile every module again: start-up cost no user pays."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "scanner"), str(BENCH)],
                   check=True, stdout=subprocess.DEVNULL)


# --- the estate ----------------------------------------------------------------------------

ESTATE_FORMAT = "2"  # bump when make_estate changes what it writes (a cached estate is regenerated)


def make_estate(n: int) -> Path:
    """A DCCKI-like estate of ``n`` endpoints (``ensure_estate`` runs this only when the cached
    estate is missing, smaller or of an older format).

    What a real estate looks like, as issue 12 asks: every endpoint has its own leaf certificate
    AND its own private key (the server signs with it, the scanner verifies with it); keys mix
    RSA-2048 (even endpoints, under an RSA issuing CA) and ECDSA P-256 (odd endpoints, under an
    ECDSA issuing CA), both issuing CAs under one RSA root that is the trust anchor; every third
    endpoint sends the root too (three certificates), as many servers do. The issuing CAs and
    the root are shared, as in a real estate, so "judge each certificate once" is measured."""
    folder = OUT / "estate"
    sys.path.insert(0, str(ROOT))
    from cryptography.hazmat.primitives import serialization

    from scanner.lab.pki import LabPKI, issue, name, new_key

    print(f"generating an estate of {n} endpoints, each with its own key (once; cached in {folder})", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    pki = LabPKI.create(org="DCCKI Bench", key="rsa-2048")
    issuing_ec = issue(subject=name("DCCKI Bench Issuing CA 2", o="DCCKI Bench"), issuer=pki.root, ca=True,
                       path_length=0, key="ec-p256", days=1825)
    issuers = (pki.issuing, issuing_ec)
    with open(folder / "endpoints.jsonl", "w", encoding="ascii") as out, open(folder / "leaves.pem", "wb") as leaves:
        for i in range(n):
            key = new_key("ec-p256" if i % 2 else "rsa-2048")
            issuer = issuers[i % 2]
            leaf = issue(subject=name(f"host{i}.bench.test", ou="DCCKI Infrastructure"), issuer=issuer,
                         key=key, dns=[f"host{i}.bench.test"])
            chain = leaf.pem + issuer.pem + (pki.root.pem if i % 3 == 0 else b"")
            key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
            out.write(json.dumps({"chain": chain.decode("ascii"), "key": key_pem.decode("ascii")}) + "\n")
            leaves.write(leaf.pem)
    (folder / "root.pem").write_bytes(pki.root.pem)
    (folder / "issuing.pem").write_bytes(pki.issuing.pem + issuing_ec.pem)
    (folder / "format").write_text(ESTATE_FORMAT)
    (folder / "count").write_text(str(n))
    return folder


class Servers:
    """The estate's first ``n`` endpoints served by SERVER_PROCESSES processes; ``ports`` in order."""

    def __init__(self, estate: Path, n: int) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.ports: list[int] = []
        share = -(-n // SERVER_PROCESSES)
        for start in range(0, n, share):
            self.procs.append(subprocess.Popen(
                [sys.executable, str(BENCH / "estate.py"), str(estate), "--start", str(start),
                 "--count", str(min(share, n - start))], stdout=subprocess.PIPE, text=True))
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("an estate server failed to start (see its error above)")
            self.ports += json.loads(line)["ports"]

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)


def write_inputs(folder: Path, estate: Path, ports: list[int]) -> dict[str, Path]:
    """The same endpoints as a dccscan targets file, an sslyze targets file and floor's list."""
    targets = folder / "targets.toml"
    with open(targets, "w", encoding="utf-8") as out:
        out.write(f'[defaults]\ntrust_anchors = ["{estate / "root.pem"}"]\ntimeout = 30\n\n')
        for i, port in enumerate(ports):
            out.write(f'[[target]]\nname = "host{i}"\nhost = "127.0.0.1"\nport = {port}\n'
                      f'hostname = "host{i}.bench.test"\n\n')
    sslyze = folder / "sslyze-targets.txt"
    sslyze.write_text("".join(f"host{i}.bench.test:{port}{{127.0.0.1}}\n" for i, port in enumerate(ports)))
    floor = folder / "floor-endpoints.json"
    floor.write_text(json.dumps([[port, f"host{i}.bench.test"] for i, port in enumerate(ports)]))
    return {"targets": targets, "sslyze": sslyze, "floor": floor}


# --- timing --------------------------------------------------------------------------------

@dataclass
class Run:
    tool: str
    n: int
    wall_s: float
    peak_rss_mb: float
    exit_code: int
    ok: int | None = None
    cpu_s: float = 0.0  # the tool's own CPU (user + system, its waited-for children included)
    largest_process_mb: float = 0.0  # ru_maxrss: the largest single process of the tree
    server_cpu_s: float = 0.0  # what the estate's server processes spent meanwhile

    @property
    def per_s(self) -> float:
        return self.n / self.wall_s

    @property
    def ms_per_endpoint(self) -> float:
        return 1000 * self.wall_s / self.n


SERVER_PIDS: list[int] = []  # the estate's server processes (their CPU is measured per run)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu() -> float:
    """CPU seconds the estate's servers have used so far (/proc/<pid>/stat utime + stime)."""
    total = 0
    for pid in SERVER_PIDS:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def timed(tool: str, n: int, cmd: list[str], log: Path) -> Run:
    """Run ``cmd`` as a whole process; wall time, the peak memory of its whole process tree
    (``treemem``), its CPU (wait4 rusage) and the CPU the estate's servers spent meanwhile."""
    print(f"  {tool}: {' '.join(cmd[:3])} ...", flush=True)
    with open(log, "w") as out:
        served = server_cpu()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(tool, n, wall, sampler.peak / MB, proc.returncode, cpu_s=usage.ru_utime + usage.ru_stime,
               server_cpu_s=server_cpu() - served, largest_process_mb=usage.ru_maxrss / 1024)


def run_dccscan(n: int, inputs: dict[str, Path], out: Path, concurrency: int | None, simulation: bool = True) -> Run:
    """One timed scan into ``out``, a folder no earlier run used: deleting the previous run's
    thousand chain files just before the next run makes ext4 skip the recently freed inodes
    when it allocates new ones, which cost the next scan up to a second of system time that
    has nothing to do with scanning (a nightly scan writes into a fresh folder)."""
    work = out.parent
    cmd = [str(VENV / "bin" / "dccscan"), "scan", "--targets", str(inputs["targets"]), "--out", str(out),
           "--format", "json,html", "--fail-on", "never", "--quiet"]
    if concurrency:
        cmd += ["--concurrency", str(concurrency)]
    if not simulation:
        cmd.append("--no-client-simulation")
    run = timed("dccscan" if simulation else NO_SIMULATION, n, cmd, work / "dccscan.log")
    header = json.loads(_header_text(out / "results.json"))
    run.ok = header["summary"]["by_status"].get("ok", 0)
    return run


def run_sharded(n: int, inputs: dict[str, Path], work: Path, shards: int) -> Run:
    """The estate split over ``shards`` processes (``scan --shard I/K --format json``, all at
    once, each with the default concurrency), then ``merge`` writing json+html: what a machine
    with more cores can do today. Peak memory: each shard's process tree sampled, their peaks
    summed (they run together; an upper bound, as the peaks need not coincide), or the merge's
    tree peak if larger."""
    print(f"  dccscan in {shards} shards + merge ...", flush=True)
    exe = str(VENV / "bin" / "dccscan")
    served = server_cpu()
    started = time.perf_counter()
    procs, outs = [], []
    for i in range(1, shards + 1):
        out = work / f"shard-{i}"
        outs.append(out)
        with open(work / f"shard-{i}.log", "w") as log:
            procs.append(subprocess.Popen([exe, "scan", "--targets", str(inputs["targets"]), "--out", str(out),
                                           "--shard", f"{i}/{shards}", "--format", "json", "--fail-on", "never",
                                           "--quiet"], stdout=log, stderr=subprocess.STDOUT))
    samplers = [TreeSampler(proc.pid) for proc in procs]
    for sampler in samplers:
        sampler.start()
    cpu = 0.0
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        cpu += usage.ru_utime + usage.ru_stime
    merged = work / "merged"
    with open(work / "merge.log", "w") as log:
        proc = subprocess.Popen([exe, "merge", str(merged), *map(str, outs), "--format", "json,html", "--quiet"],
                                stdout=log, stderr=subprocess.STDOUT)
        merging = TreeSampler(proc.pid)
        merging.start()
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    for sampler in (*samplers, merging):
        sampler.stop.set()
        sampler.join()
    run = Run(f"dccscan {shards} shards + merge", n, wall, max(sum(s.peak for s in samplers), merging.peak) / MB,
              os.waitstatus_to_exitcode(status), cpu_s=cpu + usage.ru_utime + usage.ru_stime,
              server_cpu_s=server_cpu() - served)
    run.ok = json.loads(_header_text(merged / "results.json"))["summary"]["by_status"].get("ok", 0)
    return run


def _header_text(path: Path) -> str:
    """results.json's header, read by a child (see ``in_child``)."""
    return in_child("import json, sys\nfrom scanner.results import read_header\n"
                    "print(json.dumps(read_header(sys.argv[1])))", str(path))


def in_child(code: str, *args: str) -> str:
    """Run ``code`` with the project importable in a child process; its last output line.

    Why: this process must stay small. Each timed tool's peak RSS comes from its rusage, and
    ``ru_maxrss`` keeps the size of the process it was spawned from (the memory it ran in
    until ``exec``), so importing the scanner here (~50 MB), or reading sslyze's report of 1,000
    servers (~300 MB once parsed), would be counted in every tool run after it."""
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True,
                         text=True, cwd=ROOT).stdout
    return out.strip().splitlines()[-1]


def run_sslyze(n: int, inputs: dict[str, Path], work: Path, estate: Path) -> Run:
    report = work / "sslyze.json"
    cmd = [sys.executable, "-m", "sslyze", "--certinfo", "--certinfo_ca_file", str(estate / "root.pem"),
           "--targets_in", str(inputs["sslyze"]), "--json_out", str(report), "--quiet"]
    run = timed("sslyze", n, cmd, work / "sslyze.log")
    if report.exists():  # counted by a child: sslyze's report is large (see ``in_child``)
        run.ok = int(in_child(
            "import json, sys\n"
            "results = json.load(open(sys.argv[1])).get('server_scan_results', [])\n"
            "print(sum(1 for r in results if r.get('scan_status') == 'COMPLETED' and "
            "(r.get('scan_result') or {}).get('certificate_info', {}).get('status') == 'COMPLETED'))",
            str(report)))
    return run


def run_floor(n: int, inputs: dict[str, Path], work: Path, concurrency: int, replays: bool = False) -> Run:
    cmd = [sys.executable, str(BENCH / "floor.py"), str(inputs["floor"]), "--concurrency", str(concurrency)]
    if replays:
        cmd.append("--replay-hellos")
    run = timed(FLOOR_REPLAYS if replays else "floor", n, cmd, work / "floor.log")
    lines = (work / "floor.log").read_text().strip().splitlines()
    run.ok = json.loads(lines[-1])["captured"] if lines else None
    return run


def measure_share(results: Path) -> dict[str, float]:
    """``engine_and_render_share`` in a fresh process: cold caches, as the scan had, and this
    process stays small (see ``in_child``)."""
    return json.loads(in_child(
        "import json, sys\nfrom pathlib import Path\nsys.path.insert(0, 'benchmarks')\n"
        "from run import engine_and_render_share\n"
        "print(json.dumps(engine_and_render_share(Path(sys.argv[1]))))", str(results)))


def ensure_estate(n: int) -> Path:
    """The cached estate, generated by a child process when missing or too small.

    Why a child: peak RSS is read from each timed child's rusage, and ``ru_maxrss`` keeps the
    high-water mark from before ``exec``, i.e. the size of the process it was forked from. Had
    this process generated 10,000 certificates itself (~350 MB), every tool would have been
    reported at least that large."""
    count, form = OUT / "estate" / "count", OUT / "estate" / "format"
    current = form.exists() and form.read_text() == ESTATE_FORMAT
    if not (current and count.exists() and int(count.read_text()) >= n):
        subprocess.run([sys.executable, __file__, "--generate-estate", str(n)], check=True)
    return OUT / "estate"


def engine_and_render_share(results: Path) -> dict[str, float]:
    """Seconds the verdict engine and the HTML renderer take for this scan, measured in-process
    with cold caches (what the scan itself paid)."""
    sys.path.insert(0, str(ROOT))
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from scanner.evaluate import evaluate
    from scanner.report import write_reports
    from scanner.results import iter_endpoints, read_header

    header = read_header(results)
    anchors = [x509.load_pem_x509_certificate(a["pem"].encode()).public_bytes(Encoding.DER)
               for a in header["settings"]["trust_anchors"]]
    chains = [(e["target"]["hostname"], [x509.load_pem_x509_certificate(c["pem"].encode()).public_bytes(Encoding.DER)
                                         for c in e["chain"]], e["scanned_at"]) for e in iter_endpoints(results)]
    at = datetime.fromisoformat(header["started_at"].replace("Z", "+00:00"))
    started = time.perf_counter()
    for hostname, chain, _ in chains:
        evaluate(chain, hostname, anchors=anchors, at=at)
    engine = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        write_reports(results, Path(tmp), ["html"])
        render = time.perf_counter() - started
    return {"engine_s": engine, "render_s": render}


# --- reporting ----------------------------------------------------------------------------

def table(runs: list[Run]) -> str:
    rows = ["| N | tool | wall (s) | endpoints/s | ms/endpoint | tree peak RSS (MB) | tool CPU (s) | servers' CPU (s) "
            "| chains captured |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        rows.append(f"| {r.n} | {r.tool} | {r.wall_s:.2f} | {r.per_s:.0f} | {r.ms_per_endpoint:.2f} | "
                    f"{r.peak_rss_mb:.0f} | {r.cpu_s:.2f} | {r.server_cpu_s:.2f} | {r.ok if r.ok is not None else '-'} |")
    return "\n".join(rows)


def ratios(runs: list[Run], shares: dict[int, dict[str, float]]) -> list[str]:
    lines = []
    by = {(r.n, r.tool): r for r in runs}
    for n in sorted({r.n for r in runs}):
        d = by.get((n, "dccscan"))
        if d is None:
            continue
        if (n, "sslyze") in by:
            s = by[(n, "sslyze")]
            lines.append(f"- N={n}: dccscan/sslyze time = {d.wall_s / s.wall_s:.3f} "
                         f"(dccscan {s.wall_s / d.wall_s:.1f}x faster)")
        if (n, "floor") in by:
            lines.append(f"- N={n}: dccscan/floor time = {d.wall_s / by[(n, 'floor')].wall_s:.2f} "
                         "(dccscan makes 3 connections per endpoint, the floor 1)")
        if (n, FLOOR_REPLAYS) in by:
            lines.append(f"- N={n}: dccscan/(floor --replay-hellos) time = "
                         f"{d.wall_s / by[(n, FLOOR_REPLAYS)].wall_s:.2f} (the same 3 connections each)")
        if (n, NO_SIMULATION) in by and (n, "floor") in by:
            lines.append(f"- N={n}: (dccscan --no-client-simulation)/floor time = "
                         f"{by[(n, NO_SIMULATION)].wall_s / by[(n, 'floor')].wall_s:.2f} (1 connection each)")
        if n in shares:
            share = (shares[n]["engine_s"] + shares[n]["render_s"]) / d.wall_s
            lines.append(f"- N={n}: verdict engine {shares[n]['engine_s']:.2f}s + HTML render "
                         f"{shares[n]['render_s']:.2f}s = {100 * share:.0f}% of the dccscan run")
    sizes = sorted(n for n, tool in by if tool == "dccscan")
    if len(sizes) > 1:
        small, large = by[(sizes[0], "dccscan")], by[(sizes[-1], "dccscan")]
        lines.append(f"- linearity: ms/endpoint at N={large.n} / at N={small.n} = "
                     f"{large.ms_per_endpoint / small.ms_per_endpoint:.2f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=list(DEFAULT_SIZES), help="estate sizes")
    parser.add_argument("--sslyze-max", type=int, default=1000, help="run sslyze only up to this N")
    parser.add_argument("--concurrency", type=int, default=None, help="dccscan --concurrency (default: its own)")
    parser.add_argument("--floor-concurrency", type=int, default=None, help="floor concurrency (default: dccscan's)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of floor and dccscan per N, interleaved; the fastest counts (shared machines are noisy)")
    parser.add_argument("--shards", type=int, default=0,
                        help="also time the estate split over this many `scan --shard` processes + merge")
    parser.add_argument("--skip", nargs="*", default=[], choices=["dccscan", "sslyze", "floor", "share"])
    parser.add_argument("--work-dir", type=Path, default=default_work_dir(),
                        help="where the tools write their output (default: %(default)s; see default_work_dir)")
    parser.add_argument("--generate-estate", type=int, help=argparse.SUPPRESS)  # ensure_estate's child
    args = parser.parse_args()
    if args.generate_estate:
        make_estate(args.generate_estate)
        return
    bootstrap()
    compile_bytecode()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by every child
    sys.path.insert(0, str(ROOT))
    concurrency = args.concurrency or int(in_child(
        "from scanner.cli.scan_cmd import DEFAULT_CONCURRENCY\nprint(DEFAULT_CONCURRENCY)"))
    floor_concurrency = args.floor_concurrency or concurrency
    estate = ensure_estate(max(args.n))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    meta: dict[str, Any] = {"date": stamp, "cores": os.cpu_count(), "load_before": os.getloadavg(),
                            "python": platform.python_version(), "machine": platform.machine(),
                            "concurrency": concurrency, "floor_concurrency": floor_concurrency,
                            "work_dir": str(args.work_dir)}
    runs: list[Run] = []
    shares: dict[int, dict[str, float]] = {}
    for n in args.n:
        print(f"N={n}: starting {n} TLS endpoints on 127.0.0.1 in {SERVER_PROCESSES} processes", flush=True)
        servers = Servers(estate, n)
        SERVER_PIDS[:] = [proc.pid for proc in servers.procs]
        work = Path(tempfile.mkdtemp(prefix=f"dccscan-bench-{n}-", dir=args.work_dir))
        try:
            inputs = write_inputs(work, estate, servers.ports)
            floors: list[Run] = []
            replay_floors: list[Run] = []
            scans: list[Run] = []
            plain_scans: list[Run] = []
            out = work / "dccscan-out-0"
            for attempt in range(max(1, args.repeat)):
                if "floor" not in args.skip:
                    floors.append(run_floor(n, inputs, work, floor_concurrency))
                    replay_floors.append(run_floor(n, inputs, work, floor_concurrency, replays=True))
                if "dccscan" not in args.skip:
                    plain_scans.append(run_dccscan(n, inputs, work / f"dccscan-plain-{attempt}", args.concurrency,
                                                   simulation=False))
                    out = work / f"dccscan-out-{attempt}"  # removed with ``work`` after the timings
                    scans.append(run_dccscan(n, inputs, out, args.concurrency))
            for group in (floors, replay_floors, plain_scans, scans):  # the fastest, with the largest peak RSS of any
                if group:
                    best = min(group, key=lambda r: r.wall_s)
                    runs.append(dataclasses.replace(best, peak_rss_mb=max(r.peak_rss_mb for r in group)))
            meta.setdefault("all_walls", {})[n] = {"floor": [r.wall_s for r in floors],
                                                   FLOOR_REPLAYS: [r.wall_s for r in replay_floors],
                                                   NO_SIMULATION: [r.wall_s for r in plain_scans],
                                                   "dccscan": [r.wall_s for r in scans]}
            if args.shards > 1:
                runs.append(min((run_sharded(n, inputs, Path(tempfile.mkdtemp(dir=work)), args.shards)
                                 for _ in range(max(1, args.repeat))), key=lambda r: r.wall_s))
            if scans:
                if "share" not in args.skip:
                    shares[n] = measure_share(out / "results.json")
            if "sslyze" not in args.skip and n <= args.sslyze_max:
                runs.append(run_sslyze(n, inputs, work, estate))
        finally:
            servers.close()
            shutil.rmtree(work, ignore_errors=True)
    meta["load_after"] = os.getloadavg()
    text = (f"dccscan benchmark {stamp}: {meta['cores']} cores, Python {meta['python']}, "
            f"load average before {meta['load_before'][0]:.2f}, after {meta['load_after'][0]:.2f}, "
            f"output in {meta['work_dir']}\n\n"
            + table(runs) + "\n\n" + "\n".join(ratios(runs, shares)) + "\n")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"bench-{stamp}.md").write_text(text)
    (OUT / f"bench-{stamp}.json").write_text(json.dumps(
        {"meta": meta, "runs": [asdict(r) | {"per_s": r.per_s} for r in runs], "shares": shares}, indent=2))
    print("\n" + text)


if __name__ == "__main__":
    main()
