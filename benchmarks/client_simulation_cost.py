"""What the client simulation and --tls-versions cost per endpoint, against one loopback nginx.

    python benchmarks/client_simulation_cost.py [--n 100]

Starts Debian's nginx (nginx-light) in a temporary prefix on 127.0.0.1 serving one RSA-2048 lab
chain (TLS 1.2 and 1.3), then probes it through ``scanner.probe.runner`` three ways: simulation
off, on (the default: 2 extra connections) and on with ``tls_versions`` (up to 3 more). For each
it prints the wall time per endpoint sequentially (and the scanner's own CPU time) and at
concurrency 50. Not a test: timings are never asserted. The README's figures come from here.
"""

from __future__ import annotations

import argparse
import dataclasses
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scanner.lab.pki import LabPKI  # noqa: E402
from scanner.probe.runner import probe_address, scan_targets  # noqa: E402
from scanner.targets import Target  # noqa: E402

NGINX = "/usr/sbin/nginx"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_nginx(folder: Path, port: int) -> subprocess.Popen[bytes]:
    pki = LabPKI.create()
    leaf = pki.leaf("t.test", dns=["t.test"], key="rsa-2048")
    (folder / "chain.pem").write_bytes(leaf.chain_pem())
    (folder / "key.pem").write_bytes(leaf.key_pem)
    temp = " ".join(f"{k}_temp_path {folder}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (folder / "nginx.conf").write_text(f"""daemon off; master_process off; pid {folder}/nginx.pid;
error_log {folder}/error.log; events {{ worker_connections 1024; }}
http {{ access_log off; {temp}
  server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {folder}/chain.pem; ssl_certificate_key {folder}/key.pem;
           ssl_protocols TLSv1.2 TLSv1.3; location / {{ return 200 "ok"; }} }} }}""")
    proc = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise SystemExit("nginx did not start")


def measure(target: Target, n: int) -> tuple[float, float, float]:
    """(sequential ms/endpoint, scanner CPU ms/endpoint, ms/endpoint at concurrency 50)."""
    async def sequential() -> None:
        for _ in range(n):
            outcome = await probe_address(target, "127.0.0.1")
            assert outcome.error is None, outcome.error

    cpu, wall = time.process_time(), time.perf_counter()
    trio.run(sequential)
    seq, cpu = (time.perf_counter() - wall) / n * 1000, (time.process_time() - cpu) / n * 1000
    many = [dataclasses.replace(target, name=f"t{i}") for i in range(3 * n)]
    wall = time.perf_counter()
    trio.run(lambda: scan_targets(many, concurrency=50, sink=lambda _o: None))
    return seq, cpu, (time.perf_counter() - wall) / len(many) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100, help="sequential endpoints per setting (3n concurrent)")
    args = parser.parse_args()
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="dccscan-simcost-") as folder:
        proc = _start_nginx(Path(folder), port)
        try:
            base = Target(name="t", interface="gateway", host="127.0.0.1", port=port, hostname="t.test", timeout=10)
            for label, target in (("simulation off", dataclasses.replace(base, client_simulation=False)),
                                  ("simulation on (default)", base),
                                  ("simulation + --tls-versions", dataclasses.replace(base, tls_versions=True))):
                seq, cpu, conc = measure(target, args.n)
                print(f"{label:28} sequential {seq:6.2f} ms/endpoint (scanner CPU {cpu:5.2f} ms); "
                      f"concurrency 50: {conc:6.2f} ms/endpoint")
        finally:
            proc.terminate()
            proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
