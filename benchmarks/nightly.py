"""Benchmark: two nights of ``dccscan scan --db`` over an SNI-multiplexed loopback estate.

    python3 benchmarks/nightly.py --n 1000      # also 10000 and 100000 (README "Speed and scale")

Generates (once, cached in ``benchmarks/out/sni-estate/``, see ``sni_estate.generate``) an
RSA-2048 root and issuing CA and ``n`` leaves ``host<i>.bench.test``, each with its own EC P-256
key; serves them all from ``--listeners`` processes (``sni_estate.py``: one port each, the leaf
picked by SNI), so the estate does not need one port per endpoint. Then runs, as whole
processes, two identical nightly scans (``--format json,html --db history.db``), and reports per
night:

- wall time of the ``dccscan`` process;
- the largest resident size of the ``dccscan`` process alone (sampled likewise);
- peak memory of the whole process tree: the sum of the resident set sizes (``/proc/<pid>/statm``)
  of dccscan and every descendant (the record-pool workers, multiprocessing's resource tracker),
  sampled every ``--sample-ms`` milliseconds; a spike shorter than the interval can be missed;
- the same peaks per phase of the night (``phase``: scan, history, report), and a
  coarse timeline (one sample a second) in the JSON output;
- the history database's size after the night (after a WAL checkpoint, in a child process), and
  so the growth on the second, unchanged night;
- sizes of results.json, report.html and the whole output folder; endpoints recorded.

Results go to ``benchmarks/out/nightly-<time>.{json,md}`` and the tables are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
ESTATE = OUT / "sni-estate"
sys.path.insert(0, str(BENCH))
from run import VENV, VENV_PY, compile_bytecode, default_work_dir, in_child  # noqa: E402
from treemem import MB, TreeSampler  # noqa: E402



def bootstrap() -> None:
    """Re-run inside the project's .venv (created with the project installed when missing);
    unlike run.py this needs no sslyze."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not VENV_PY.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "-q", "-e", str(ROOT)], check=True)
    os.execv(str(VENV_PY), [str(VENV_PY), __file__, *sys.argv[1:]])


def ensure_estate(n: int) -> None:
    """The estate's CAs and leaves for ``n`` hosts, made where missing (``sni_estate.generate``:
    chunks of 1,000 leaves in a process pool, cached; a larger N reuses the smaller one's chunks)."""
    subprocess.run([sys.executable, str(BENCH / "sni_estate.py"), str(ESTATE), "--count", str(n), "--generate"],
                   check=True)


class Listeners:
    """``count`` server processes, each serving every hostname of the estate on its own port."""

    def __init__(self, count: int, n: int) -> None:
        self.procs = [subprocess.Popen([sys.executable, str(BENCH / "sni_estate.py"), str(ESTATE), "--count", str(n)],
                                       stdout=subprocess.PIPE, text=True) for _ in range(count)]
        self.ports = []
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("an SNI estate server failed to start (see its error above)")
            self.ports.append(json.loads(line)["port"])

    def close(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=30)


def write_targets(path: Path, n: int, ports: list[int]) -> None:
    """Endpoint i on listener i mod len(ports), by SNI name ``host<i>.bench.test``."""
    with open(path, "w", encoding="utf-8") as out:
        out.write(f'[defaults]\ntrust_anchors = ["{ESTATE / "root.pem"}"]\ntimeout = 30\n\n')
        for i in range(n):
            out.write(f'[[target]]\nname = "host{i}"\nhost = "127.0.0.1"\nport = {ports[i % len(ports)]}\n'
                      f'hostname = "host{i}.bench.test"\n\n')


# --- the whole process tree's memory (treemem), by phase -----------------------------------

def phase(out: Path, first_results: list[int]) -> str:
    """Which step of a night is running, from the output files: ``scan`` until results.json
    exists; ``history`` (record, diff, trend) while it is as the scan wrote it; ``report`` once
    the history step has rewritten it with the changes, or report.html exists. On a night with no
    earlier scan results.json is not rewritten, so its render counts as ``history``.
    ``first_results``: results.json's first modification time seen (kept by the caller)."""
    try:
        results = (out / "results.json").stat().st_mtime_ns
    except OSError:
        return "scan"
    if not first_results:
        first_results.append(results)
    if results == first_results[0] and not (out / "report.html").exists():
        return "history"
    return "report"


class PhaseSampler(TreeSampler):
    """``treemem.TreeSampler`` that also keeps the peaks of each phase (``phase``) and a coarse
    timeline (one sample a second)."""

    def __init__(self, pid: int, interval: float, out: Path) -> None:
        super().__init__(pid, interval)
        self.out = out
        self.phases: dict[str, dict[str, float]] = {}
        self.timeline: list[tuple[float, str, float, float]] = []  # (s, phase, tree MB, main MB)
        self._first_results: list[int] = []

    def sample(self, total: int, own: int, seconds: float) -> None:
        step = phase(self.out, self._first_results)
        seen = self.phases.setdefault(step, {"from_s": round(seconds, 1), "tree_peak_mb": 0.0, "main_peak_mb": 0.0})
        seen["tree_peak_mb"] = max(seen["tree_peak_mb"], round(total / MB, 1))
        seen["main_peak_mb"] = max(seen["main_peak_mb"], round(own / MB, 1))
        if not self.timeline or seconds - self.timeline[-1][0] >= 1.0:
            self.timeline.append((round(seconds, 1), step, round(total / MB, 1), round(own / MB, 1)))


# --- one night -----------------------------------------------------------------------------

@dataclass
class Night:
    n: int
    night: int
    wall_s: float
    tree_peak_mb: float
    tree_processes_at_peak: int
    main_peak_mb: float
    exit_code: int
    endpoints: int
    ok: int
    db_mb: float
    db_growth_mb: float
    results_mb: float
    report_mb: float
    out_dir_mb: float
    phases: dict[str, dict[str, float]]
    timeline: list[tuple[float, str, float, float]]


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def db_size(db: Path) -> int:
    """The database's size after checkpointing its WAL (in a child: this process stays small)."""
    if not db.exists():
        return 0
    in_child("import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\n"
             "c.execute('PRAGMA wal_checkpoint(TRUNCATE)')\nc.close()\nprint('ok')", str(db))
    return _size(db) + _size(db.with_name(db.name + "-wal"))


def scan_night(n: int, night: int, targets: Path, work: Path, db: Path, concurrency: int | None,
               interval: float) -> Night:
    out = work / f"night-{night}"
    cmd = [str(VENV / "bin" / "dccscan"), "scan", "--targets", str(targets), "--out", str(out),
           "--format", "json,html", "--fail-on", "never", "--quiet", "--db", str(db)]
    if concurrency:
        cmd += ["--concurrency", str(concurrency), "--per-address", str(concurrency)]
    before = db_size(db)
    print(f"  night {night}: {' '.join(cmd[:3])} ... --db {db.name}", flush=True)
    with open(work / f"night-{night}.log", "w") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        sampler = PhaseSampler(proc.pid, interval, out)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - started
        sampler.stop.set()
        sampler.join()
    header = json.loads(in_child("import json, sys\nfrom scanner.results import read_header\n"
                                 "print(json.dumps(read_header(sys.argv[1])))", str(out / "results.json")))
    after = db_size(db)
    return Night(n, night, wall, sampler.peak / MB, sampler.processes, sampler.main_peak / MB, code,
                 header["summary"]["endpoints"], header["summary"]["by_status"].get("ok", 0), after / MB,
                 (after - before) / MB, _size(out / "results.json") / MB, _size(out / "report.html") / MB,
                 _size(out) / MB, sampler.phases, sampler.timeline)


def table(nights: list[Night]) -> str:
    rows = ["| N | night | wall (s) | tree peak RSS (MB) | processes | main process peak (MB) | endpoints (ok) | "
            "history DB (MB) | DB growth (MB) | results.json (MB) | report.html (MB) | output folder (MB) |",
            "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for r in nights:
        rows.append(f"| {r.n} | {r.night} | {r.wall_s:.1f} | {r.tree_peak_mb:.0f} | {r.tree_processes_at_peak} | "
                    f"{r.main_peak_mb:.0f} | "
                    f"{r.endpoints} ({r.ok}) | {r.db_mb:.2f} | {r.db_growth_mb:.2f} | {r.results_mb:.2f} | "
                    f"{r.report_mb:.2f} | {r.out_dir_mb:.2f} |")
    return "\n".join(rows)


def phase_table(nights: list[Night]) -> str:
    """Where each night's memory went: the whole tree's and the main process's peak per phase."""
    rows = ["| N | night | phase | from (s) | tree peak RSS (MB) | main process peak (MB) |",
            "|---:|---:|---|---:|---:|---:|"]
    for r in nights:
        for name, seen in r.phases.items():
            rows.append(f"| {r.n} | {r.night} | {name} | {seen['from_s']:.1f} | {seen['tree_peak_mb']:.0f} | "
                        f"{seen['main_peak_mb']:.0f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="endpoints (hostnames) in the estate")
    parser.add_argument("--listeners", type=int, default=2, help="SNI listener processes (ports)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="dccscan --concurrency and --per-address (default: dccscan's concurrency, "
                        "per-address raised to it, since every hostname shares a listener)")
    parser.add_argument("--sample-ms", type=float, default=20.0, help="memory sampling interval")
    parser.add_argument("--work-dir", type=Path, default=default_work_dir())
    parser.add_argument("--keep", action="store_true", help="keep the work folder (targets, outputs, history.db)")
    args = parser.parse_args()
    bootstrap()
    compile_bytecode()
    concurrency = args.concurrency or int(in_child(
        "from scanner.cli.scan_cmd import DEFAULT_CONCURRENCY\nprint(DEFAULT_CONCURRENCY)"))
    ensure_estate(args.n)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    meta = {"date": stamp, "cores": os.cpu_count(), "load_before": os.getloadavg(), "n": args.n,
            "listeners": args.listeners, "concurrency": concurrency, "sample_ms": args.sample_ms,
            "memory": "sum of VmRSS of the dccscan process tree, sampled from /proc"}
    listeners = Listeners(args.listeners, args.n)
    work = Path(tempfile.mkdtemp(prefix=f"dccscan-nightly-{args.n}-", dir=args.work_dir))
    try:
        targets = work / "targets.toml"
        write_targets(targets, args.n, listeners.ports)
        db = work / "history.db"
        nights = [scan_night(args.n, night, targets, work, db, concurrency, args.sample_ms / 1000)
                  for night in (1, 2)]
    finally:
        listeners.close()
        if args.keep:
            print(f"kept {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    meta["load_after"] = os.getloadavg()
    text = (f"dccscan nightly benchmark {stamp}: N={args.n} on {args.listeners} SNI listener(s), "
            f"{meta['cores']} cores, concurrency {concurrency}, load average before "
            f"{meta['load_before'][0]:.2f}, after {meta['load_after'][0]:.2f}; memory: {meta['memory']} "
            f"every {args.sample_ms:g} ms\n\n" + table(nights) + "\n\n" + phase_table(nights) + "\n")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"nightly-{stamp}.md").write_text(text)
    (OUT / f"nightly-{stamp}.json").write_text(json.dumps({"meta": meta, "nights": [asdict(r) for r in nights]},
                                                          indent=2))
    print("\n" + text)


if __name__ == "__main__":
    main()
