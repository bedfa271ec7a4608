"""Time opening the HTML report in real Chromium (playwright, headless /usr/bin/chromium at
1400 x 900, the viewport of tests/test_report_browser.py), on demand; prints numbers, asserts
nothing.

    .venv/bin/python benchmarks/report_load.py                  # N = 10000
    .venv/bin/python benchmarks/report_load.py --n 1000 --n 10000 --repeat 3

For each N it builds (or reuses, under ``--work``) the estate of benchmarks/render_html.py (every
endpoint its own leaf, the lab PKI's issuing CA shared), renders report.html and its details
pages once (render CPU of that one run, in this process, templates already compiled), then opens
report.html ``--repeat`` times in a fresh page and reports the best of:

- first paint: first-contentful-paint, when the first screen (tiles, refused and unreachable
  endpoints) is painted;
- DOMContentLoaded and load: from the navigation's start (the Navigation Timing entry), i.e.
  the whole page, matrix included, parsed and laid out;
- open: wall time from ``page.goto`` until the load event, as a person waits for it;
- search: typing a finding id into the search box until the match count shows;
- filter: one CSS filter click (Status: noncompliant) until two frames are drawn;
- details: opening one endpoint's details page (the last one) from file:// until its load event.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
CHROMIUM = "/usr/bin/chromium"
TWO_FRAMES = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"


def render(results: Path) -> tuple[Path, float]:
    """report.html (and details/) beside ``results``; the CPU seconds of the render."""
    from scanner.report.html import write_html

    target = results.parent / "report.html"
    write_html(results, target)  # compiles the templates (cached between runs)
    start = time.process_time()
    write_html(results, target)
    return target, time.process_time() - start


def open_report(report: Path, detail: Path, repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` timings, in seconds (see the module docstring)."""
    from playwright.sync_api import sync_playwright

    runs: dict[str, list[float]] = {}

    def note(key: str, value: float) -> None:
        runs.setdefault(key, []).append(value)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            start = time.perf_counter()
            page.goto(report.as_uri(), wait_until="load", timeout=600_000)
            note("open", time.perf_counter() - start)
            timing = page.evaluate("""() => {
                const nav = performance.getEntriesByType('navigation')[0];
                const paint = performance.getEntriesByName('first-contentful-paint')[0];
                return [paint ? paint.startTime : -1, nav.domContentLoadedEventEnd, nav.loadEventEnd];
            }""")
            note("first paint", timing[0] / 1000)
            note("DOMContentLoaded", timing[1] / 1000)
            note("load", timing[2] / 1000)
            start = time.perf_counter()
            page.fill("#q", "dccki.tls_san.san_missing")
            page.wait_for_function("() => document.getElementById('q-count').textContent !== ''")
            note("search", time.perf_counter() - start)
            page.fill("#q", "")
            start = time.perf_counter()
            page.click('label[for="fs-noncompliant"]')
            page.evaluate(TWO_FRAMES)
            note("filter", time.perf_counter() - start)
            start = time.perf_counter()
            page.goto(detail.as_uri(), wait_until="load", timeout=600_000)
            note("details", time.perf_counter() - start)
            page.close()
        browser.close()
    return {key: min(values) for key, values in runs.items()}


def main() -> int:
    from render_html import build
    from scanner.report import details
    from scanner.results import iter_endpoints

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="estate size (repeatable; default 10000)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/dccscan-render-bench"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    columns = ("endpoints", "render CPU (s)", "report.html (MB)", "details pages", "details (MB)", "first paint (s)",
               "DOMContentLoaded (s)", "load (s)", "open (s)", "search (s)", "filter (s)", "details page (s)")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---:|" * len(columns))
    for n in args.n or [10000]:
        results = build(n, args.work / f"n{n}")
        count = sum(1 for _ in iter_endpoints(results))
        report, cpu = render(results)
        pages = [results.parent / name for name in details.page_names(count)]
        t = open_report(report, pages[-1], args.repeat)
        cells = [str(count), f"{cpu:.2f}", f"{report.stat().st_size / 1e6:.1f}", str(len(pages)),
                 f"{sum(p.stat().st_size for p in pages) / 1e6:.1f}",
                 *(f"{t[k]:.2f}" for k in ("first paint", "DOMContentLoaded", "load", "open", "search", "filter",
                                           "details"))]
        print("| " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
