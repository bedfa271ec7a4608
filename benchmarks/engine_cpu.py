"""Cold per-leaf CPU of the verdict engine, as a scan's worker spends it.

Why: issue 6 budgets the engine and report rendering at under 20% of a scan; on a shared 2-core
machine every CPU-second the engine spends shows up in wall time. Each leaf is fresh (seen once),
the issuing CA and root repeat, exactly as in a scan of the benchmark estate.

    python benchmarks/engine_cpu.py                      # this checkout, estate from run.py
    python benchmarks/engine_cpu.py --code /work/main    # another checkout, for before/after

Prints ``time.process_time`` per leaf for ``evaluate`` and for ``encode_endpoint(chain_part(...))``
(the worker's whole job), each in its own fresh process; best of ``--repeat`` runs, since other
processes on the machine inflate single runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ESTATE = REPO / "benchmarks" / "out" / "estate"

_CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from datetime import datetime, timezone
from pathlib import Path
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

def ders(path):
    data = Path(path).read_bytes()
    return [x509.load_pem_x509_certificate(b"-----BEGIN" + p).public_bytes(Encoding.DER) for p in data.split(b"-----BEGIN")[1:]]

estate, mode = Path(sys.argv[2]), sys.argv[3]
leaves, issuing, root = ders(estate / "leaves.pem"), ders(estate / "issuing.pem")[0], ders(estate / "root.pem")[0]
at = datetime.now(timezone.utc)
from scanner.evaluate import evaluate
from scanner.assess import chain_part
from scanner.results import encode_endpoint
encode_endpoint({"id": "host0", **chain_part([leaves[0], issuing], "host0.bench.test", [root], at, None)})  # imports, CA and root parsed
rest = leaves[1:]
start = time.process_time()
for i, leaf in enumerate(rest, 1):
    if mode == "evaluate":
        evaluate([leaf, issuing], f"host{i}.bench.test", anchors=[root], at=at)
    else:
        encode_endpoint({"id": f"host{i}", **chain_part([leaf, issuing], f"host{i}.bench.test", [root], at, None)})
print((time.process_time() - start) / len(rest) * 1000)
"""


def measure(code: Path, estate: Path, mode: str, repeat: int) -> float:
    """Best per-leaf milliseconds of ``repeat`` fresh processes."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-W", "ignore", "-c", _CHILD, str(code), str(estate), mode],
                             capture_output=True, text=True, check=True)
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return min(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose scanner package is measured")
    parser.add_argument("--estate", type=Path, default=ESTATE, help="folder with leaves.pem, issuing.pem, root.pem")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not (args.estate / "leaves.pem").exists():
        print(f"no estate at {args.estate}: run benchmarks/run.py first (it generates one)", file=sys.stderr)
        return 2
    for mode in ("evaluate", "encode_endpoint(chain_part)"):
        key = "evaluate" if mode == "evaluate" else "part"
        print(f"{mode}: {measure(args.code.resolve(), args.estate, key, args.repeat):.3f} ms per fresh leaf")
    return 0


if __name__ == "__main__":
    sys.exit(main())
