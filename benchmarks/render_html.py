"""Time rendering the HTML report (``scanner.report.html``): CPU and the size of report.html
and of its details pages. How long real Chromium takes to open the report: report_load.py.

    .venv/bin/python benchmarks/render_html.py                    # N = 1000
    .venv/bin/python benchmarks/render_html.py --n 1000 --n 10000
    .venv/bin/python benchmarks/render_html.py --results path/to/results.json

For each N it writes a results.json of a mixed estate (every endpoint its own leaf certificate;
accepted, CN-only, grandfathered, unreachable, client-certificate and expiring endpoints, the lab
PKI's issuing CA after each leaf) under ``--work`` (cached), then measures:

- cold: CPU of a fresh process that imports the renderer and writes report.html once (what a
  scan pays; the compiled templates are cached between runs, so the second cold run is shown);
- warm: best CPU of ``--repeat`` renders in one process;
- the size of report.html (first screen and matrix) and of the details pages (``details/``).

This replaces ``render_golden.py``, which checked report.html byte for byte against a reference
checkout: the report now changes on purpose (issue 16), so byte identity is no longer the test;
the report's content is pinned by tests/test_report_html.py and tests/test_report_browser.py.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def build(n: int, out: Path) -> Path:
    """A results.json of ``n`` endpoints in ``out`` (kept: built once per size)."""
    results = out / "results.json"
    if results.exists():
        return results
    sys.path.insert(0, str(ROOT))
    from scanner.certinfo import describe
    from tests import reportdata

    document = reportdata.build_estate()
    lab = reportdata.pki()
    kinds = [ep for ep in document["endpoints"] if ep["target"]["name"] != "hostile"]
    endpoints = []
    for i in range(n):
        ep = copy.deepcopy(kinds[i % len(kinds)])
        name, host = f"{ep['target']['name']}-{i:06d}", f"h{i}.{ep['target']['hostname']}"
        ep["target"] = dict(ep["target"], name=name, port=10000 + i % 50000, hostname=host)
        ep["id"] = f"{name}@127.0.0.1:{10000 + i % 50000}"
        if ep["chain"]:
            with_san = bool(ep["chain"][0]["san"])
            issued = lab.leaf(host, dns=[host] if with_san else [], san=with_san)
            ders = [issued.der] + [c.der for c in issued.chain if c.cert.issuer != c.cert.subject]
            ep["chain"] = [describe(der, index) for index, der in enumerate(ders)]
        endpoints.append(ep)
    document["endpoints"] = endpoints
    document["summary"] = reportdata.summary(endpoints)
    return reportdata.write_results(document, out)


_COLD = """
import sys, time
sys.path.insert(0, {root!r})
start = time.process_time()
from pathlib import Path
from scanner.report.html import write_html
write_html(Path({source!r}), Path({target!r}))
print(time.process_time() - start)
"""


def cold(source: Path, target: Path) -> float:
    code = _COLD.format(root=str(ROOT), source=str(source), target=str(target))
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


def warm(source: Path, target: Path, repeat: int) -> float:
    sys.path.insert(0, str(ROOT))
    from scanner.report.html import write_html

    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        write_html(source, target)
        best = min(best, time.process_time() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="estate size (repeatable; default 1000)")
    parser.add_argument("--results", type=Path, help="time this results.json instead of a generated estate")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dccscan-render-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sources = [args.results] if args.results else [build(n, args.work / f"n{n}") for n in (args.n or [1000])]
    print("| results | endpoints | cold CPU (s) | warm CPU (s) | CPU per endpoint (ms) | report.html (MB) "
          "| details pages | details (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for source in sources:
        target = source.parent / "report.html"
        cold(source, target)  # the first run compiles the templates into the cache
        cold_s, warm_s = cold(source, target), warm(source, target, args.repeat)
        from scanner.report import details
        from scanner.results import iter_endpoints
        count = sum(1 for _ in iter_endpoints(source))
        pages = [source.parent / name for name in details.page_names(count)]
        print(f"| {source} | {count} | {cold_s:.2f} | {warm_s:.2f} | {1000 * warm_s / max(count, 1):.2f} "
              f"| {target.stat().st_size / 1e6:.1f} | {len(pages)} | {sum(p.stat().st_size for p in pages) / 1e6:.1f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
