"""Golden-output check and CPU timing for the HTML report renderer (``scanner.report.html``).

Speed work on the renderer must not change one byte of report.html, so every change is checked
against reports rendered by a reference checkout (e.g. main) from the same results.json files:

    # 1. gather inputs: real scan outputs plus synthetic hostile / changes / incomplete variants
    python3 benchmarks/render_golden.py collect --out /tmp/golden/in reports/demo/results.json ...
    # 2. render them with the reference code (a checkout or `git archive main` unpacked there)
    python3 benchmarks/render_golden.py make --code /tmp/mainref --inputs /tmp/golden/in --golden /tmp/golden/out
    # 3. after every change: render with this checkout and compare byte for byte
    python3 benchmarks/render_golden.py check --inputs /tmp/golden/in --golden /tmp/golden/out
    # CPU of import + first write_html in a fresh process (what a scan pays), best of --repeat
    python3 benchmarks/render_golden.py time --inputs /tmp/golden/in/r1000.json [--code /tmp/mainref]

``make`` and ``check`` each run in their own process so the reference and the current code are
never imported together. Synthetic inputs are made from the given files: every string a server or
certificate controls replaced with hostile text, and ``changes`` sections of every shape the
template handles. Run it with the project's venv python.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ["<script>alert(1)</script>", "a&b\"c'd>e", "{{ 7*7 }}{% raw %}", "%s %(x)s {0}", "",
           "\x00\x1b[2J\u2028\u202e", "ünï©ødé 𝔘 ☃", "  padded  ", "None", "</article></td></tr>"]
STRUCTURAL = {"schema", "endpoints"}  # header keys kept intact so the file stays a results file


def _load(path: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from scanner.results import iter_endpoints, read_header

    document = read_header(path)
    document["endpoints"] = list(iter_endpoints(path))
    return document


def _write(document: dict[str, Any], path: Path) -> None:
    """The streaming layout a scan writes (header keys, then one endpoint per line)."""
    lines = ["{"]
    lines += [f"{json.dumps(k)}: {json.dumps(v, sort_keys=True)}," for k, v in document.items() if k != "endpoints"]
    lines.append('"endpoints": [')
    eps = document["endpoints"]
    lines += [json.dumps(ep, sort_keys=True) + ("," if i < len(eps) - 1 else "") for i, ep in enumerate(eps)]
    path.write_text("\n".join(lines + ["]}"]) + "\n", encoding="utf-8")


def _poison(value: Any, rng: random.Random) -> Any:
    """Every string leaf replaced by hostile text (keys kept, so the shape is unchanged)."""
    if isinstance(value, str):
        return rng.choice(HOSTILE) + value[: rng.randrange(0, 12)]
    if isinstance(value, list):
        return [_poison(v, rng) for v in value]
    if isinstance(value, dict):
        return {k: _poison(v, rng) for k, v in value.items()}
    return value


def _variants(name: str, document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Synthetic documents from one real one (small documents only: the point is coverage)."""
    if len(document["endpoints"]) > 50:
        return
    rng = random.Random(name)
    hostile = copy.deepcopy(document)
    hostile["endpoints"] = [_poison(ep, rng) for ep in document["endpoints"]]
    for key in ("started_at", "finished_at", "targets_file", "settings", "not_reached"):
        if key in hostile:
            hostile[key] = _poison(hostile[key], rng)
    yield name + "-hostile", hostile
    sparse = copy.deepcopy(document)  # optional fields absent or null
    for i, ep in enumerate(sparse["endpoints"]):
        for key in ("tls", "browsers", "profile", "findings", "chain", "address", "duration_ms", "error")[i % 3::3]:
            if i % 2:
                ep[key] = None
            else:
                ep.pop(key, None)
    sparse["complete"] = False
    sparse.setdefault("not_reached", [])
    yield name + "-sparse", sparse
    changed = copy.deepcopy(document)
    changed["changes"] = {
        "since": HOSTILE[0], "from_scan": 1, "to_scan": 2,
        "appeared": [{"endpoint": HOSTILE[1], "finding": "x", "z": None, "a": 3}], "resolved": [],
        "rotated": ["plain <string>"], "unreachable": [{"endpoint": "e"}, "s", 4],
        "extra_mapping": {"b": "<b>", "a": [1, "<i>"]}, "extra_string": "<u>text</u>", "extra_number": 7,
        "extra_list": ["<x>", {"k": "v"}], "extra_empty": [], "aaa_first": [None],
    }
    yield name + "-changes", changed
    unchanged = copy.deepcopy(document)
    unchanged["changes"] = {"since": "2026-01-01T00:00:00Z", "appeared": []}
    yield name + "-nochanges", unchanged
    odd = copy.deepcopy(document)
    odd["changes"] = ["not", "a", "mapping"]
    yield name + "-oddchanges", odd


def collect(out: Path, sources: list[Path]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for i, source in enumerate(sources):
        name = f"{i:02d}-" + "-".join(source.resolve().parts[-3:-1]).replace(" ", "_")
        shutil.copyfile(source, out / f"{name}.json")
        for variant, document in _variants(name, _load(source)):
            _write(document, out / f"{variant}.json")
    print(f"{len(list(out.glob('*.json')))} inputs in {out}")


def _render_all(code: Path, inputs: Path, target: Path) -> None:
    """Render every input with the scanner found at ``code`` (in this process)."""
    sys.path.insert(0, str(code))
    import scanner.report.html as html

    assert Path(html.__file__).resolve().is_relative_to(code.resolve()), html.__file__
    target.mkdir(parents=True, exist_ok=True)
    for source in sorted(inputs.glob("*.json")):
        html.write_html(source, target / (source.stem + ".html"))


def make(code: Path, inputs: Path, golden: Path) -> None:
    _render_all(code, inputs, golden)
    print(f"golden reports from {code} in {golden}")


def check(inputs: Path, golden: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        _render_all(ROOT, inputs, Path(tmp))
        bad = 0
        for expected in sorted(golden.glob("*.html")):
            got, want = (Path(tmp) / expected.name).read_bytes(), expected.read_bytes()
            if got != want:
                bad += 1
                at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                print(f"DIFFERS {expected.name} at byte {at}:\n  got  {got[at - 80:at + 80]!r}\n  want {want[at - 80:at + 80]!r}")
        print(f"{len(list(golden.glob('*.html'))) - bad} identical, {bad} different")
        return 1 if bad else 0


TIMER = """
import sys, time
sys.path.insert(0, {root!r})
start = time.process_time()
import scanner.results  # a scan (or `dccscan results`) has imported it already: reported apart
middle = time.process_time()
from scanner.report.html import write_html
write_html({source!r}, {target!r})
print(middle - start, time.process_time() - middle)
"""


def timing(source: Path, repeat: int, code_root: Path = ROOT) -> None:
    """CPU of importing the renderer and its first render, in fresh processes (compiled
    templates or bytecode are never cached between runs: PYTHONDONTWRITEBYTECODE is set, as on
    the benchmark machine). ``scanner.results`` is timed apart: the renderer reads results.json
    through it, and any process that scanned has imported it already."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    runs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        code = TIMER.format(root=str(code_root), source=str(source), target=str(Path(tmp) / "report.html"))
        for _ in range(repeat):
            out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
            first, second = out.stdout.split()
            runs.append((float(first), float(second)))
    renders, totals = sorted(r for _, r in runs), sorted(a + b for a, b in runs)
    print(f"import scanner.report.html + write_html CPU: best {renders[0]:.3f} s, median {renders[len(runs) // 2]:.3f} s; "
          f"with import scanner.results: best {totals[0]:.3f} s, median {totals[len(runs) // 2]:.3f} s "
          f"({repeat} fresh processes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("collect")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("sources", type=Path, nargs="+")
    p = sub.add_parser("make")
    p.add_argument("--code", type=Path, required=True)
    p.add_argument("--inputs", type=Path, required=True)
    p.add_argument("--golden", type=Path, required=True)
    p = sub.add_parser("check")
    p.add_argument("--inputs", type=Path, required=True)
    p.add_argument("--golden", type=Path, required=True)
    p = sub.add_parser("time")
    p.add_argument("--inputs", type=Path, required=True, help="one results.json")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--code", type=Path, default=ROOT, help="checkout to time (default: this one)")
    args = parser.parse_args()
    if args.command == "collect":
        collect(args.out, args.sources)
    elif args.command == "make":
        make(args.code, args.inputs, args.golden)
    elif args.command == "check":
        return check(args.inputs, args.golden)
    else:
        timing(args.inputs, args.repeat, args.code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
