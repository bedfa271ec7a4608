"""Time the HTML report (``scanner.report.html``): rendering CPU, page size and, on demand, how
long real Chromium takes to open it.

    .venv/bin/python benchmarks/render_html.py                    # N = 1000
    .venv/bin/python benchmarks/render_html.py --n 1000 --n 10000 --chromium
    .venv/bin/python benchmarks/render_html.py --results path/to/results.json

For each N it writes a results.json of a mixed estate (every endpoint its own leaf certificate;
accepted, CN-only, grandfathered, unreachable, client-certificate and expiring endpoints, the lab
PKI's issuing CA after each leaf) under ``--work`` (cached), then measures:

- cold: CPU of a fresh process that imports the renderer and writes report.html once (what a
  scan pays; the compiled templates are cached between runs, so the second cold run is shown);
- warm: best CPU of ``--repeat`` renders in one process;
- with ``--chromium``: the first contentful paint (the first screen), the wall time from
  navigation to the load event (the whole page), and one CSS filter click, in headless
  /usr/bin/chromium at 1400 x 900 (best of ``--repeat``).

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


def chromium(report: Path, repeat: int) -> tuple[float, float, float]:
    """(first contentful paint, load, filter click) wall seconds, best of ``repeat``."""
    from playwright.sync_api import sync_playwright

    paints, loads, clicks = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            start = time.perf_counter()
            page.goto(report.as_uri(), wait_until="load", timeout=600_000)
            loads.append(time.perf_counter() - start)
            paints.append(page.evaluate(
                "() => performance.getEntriesByName('first-contentful-paint')[0].startTime / 1000"))
            start = time.perf_counter()
            page.click('label[for="fs-noncompliant"]')
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            clicks.append(time.perf_counter() - start)
            page.close()
        browser.close()
    return min(paints), min(loads), min(clicks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="estate size (repeatable; default 1000)")
    parser.add_argument("--results", type=Path, help="time this results.json instead of a generated estate")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dccscan-render-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chromium", action="store_true", help="also time opening the page in Chromium")
    args = parser.parse_args()
    sources = [args.results] if args.results else [build(n, args.work / f"n{n}") for n in (args.n or [1000])]
    print("| results | endpoints | cold CPU (s) | warm CPU (s) | report (MB) |"
          + (" first paint (s) | load (s) | filter click (s) |" if args.chromium else ""))
    print("|---|---:|---:|---:|---:|" + ("---:|---:|---:|" if args.chromium else ""))
    for source in sources:
        target = source.parent / "report.html"
        cold(source, target)  # the first run compiles the templates into the cache
        cold_s, warm_s = cold(source, target), warm(source, target, args.repeat)
        from scanner.results import iter_endpoints
        count = sum(1 for _ in iter_endpoints(source))
        row = f"| {source} | {count} | {cold_s:.2f} | {warm_s:.2f} | {target.stat().st_size / 1e6:.1f} |"
        if args.chromium:
            paint, load, click = chromium(target, args.repeat)
            row += f" {paint:.2f} | {load:.2f} | {click:.2f} |"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
