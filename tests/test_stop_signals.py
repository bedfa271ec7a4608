"""Every long-running command stops on SIGINT and SIGTERM, also when started as a background job.

A shell without job control (scripts, CI, cron's ``sh -c``) starts ``cmd &`` with SIGINT
ignored, and Python keeps an inherited SIG_IGN: ``demo --serve`` used to run on forever there.
These tests start real ``dccscan`` processes exactly that way (``sh -c 'cmd & wait'``) and signal
them; the first test shows that such a job really does start with SIGINT ignored.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from scanner.cli import cli
from scanner.lab.pki import Issued
from scanner.lab.servers import LabEstate, ServerSpec
from scanner.runlock import run_lock
from tests.lab_fixtures import leaf, pki, tls_spec  # noqa: F401 - fixtures

HANG = 120.0  # hang detection only, never a speed requirement
SIGNALS = [signal.SIGINT, signal.SIGTERM]


class Job:
    """A command started by ``/bin/sh -c 'CMD >LOG 2>&1 & echo $!; wait $!'``."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        script = f"{shlex.join(argv)} >{shlex.quote(str(log))} 2>&1 & echo $!; wait $!"
        self.shell = subprocess.Popen(["/bin/sh", "-c", script], stdout=subprocess.PIPE, text=True,
                                      stdin=subprocess.DEVNULL)
        assert self.shell.stdout is not None
        self.pid = int(self.shell.stdout.readline())

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + HANG
        while not condition():
            assert self.shell.poll() is None, f"ended before {what}: {self.output()}"
            assert time.monotonic() < deadline, f"hang: {what}: {self.output()}"
            time.sleep(0.05)

    def stop(self, sig: int) -> int:
        """Send ``sig`` to the command (not the shell); its exit status, as the shell saw it."""
        os.kill(self.pid, sig)
        return self.shell.wait(timeout=HANG)

    def gone(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        return False

    def kill(self) -> None:
        if self.shell.poll() is None:
            if not self.gone():
                os.kill(self.pid, signal.SIGKILL)
            self.shell.wait(timeout=HANG)


@contextmanager
def background(argv: list[str], log: Path) -> Iterator[Job]:
    job = Job(argv, log)
    try:
        yield job
    finally:
        job.kill()  # whatever happened, no process (and no server) is left behind


def dccscan(*args: str) -> list[str]:
    return [sys.executable, "-m", "scanner", *args]


def test_a_background_job_starts_with_sigint_ignored(tmp_path: Path) -> None:
    """The situation the other tests reproduce: a plain Python started as ``cmd &`` ignores SIGINT."""
    probe = [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)"]
    with background(probe, tmp_path / "probe.log") as job:
        assert job.shell.wait(timeout=HANG) == 0
    assert job.output().strip() == "True"


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_demo_serve_in_the_background_stops_and_leaves_no_server(sig: int, tmp_path: Path) -> None:
    with background(dccscan("demo", "--serve", "--format", "json", "--out", str(tmp_path / "demo")),
                    tmp_path / "demo.log") as job:
        job.wait_for(lambda: "press Ctrl-C to stop it" in job.output(), "the estate to be served")
        targets = (tmp_path / "demo" / "estate" / "targets.toml").read_text()
        assert job.stop(sig) == 0, job.output()
    assert job.gone() and "Traceback" not in job.output()
    port = int(targets.split("port = ", 1)[1].split()[0])
    with pytest.raises(ConnectionRefusedError):  # the estate's listeners went with the process
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_scan_in_the_background_keeps_what_it_gathered(sig: int, leaf: Issued, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "out"
    with LabEstate([tls_spec(leaf), ServerSpec(kind="silent")]) as (good, silent):
        with background(dccscan("scan", f"127.0.0.1:{good}", f"127.0.0.1:{silent}", "--timeout", "300",
                                 "--format", "json", "--fail-on", "never", "--out", str(out)),
                        tmp_path / "scan.log") as job:
            job.wait_for(lambda: any((out / "chains").glob("*.pem")), "the first endpoint to be scanned")
            assert job.stop(sig) == 3, job.output()
    document = json.loads((out / "results.json").read_text())
    assert document["complete"] is False and [t["port"] for t in document["not_reached"]] == [silent]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("command", ["scan", "prune"])
def test_a_command_waiting_for_the_lock_stops_cleanly(command: str, sig: int, tmp_path: Path) -> None:
    """Outside the scan itself (here: waiting for another run's lock) a stop signal ends the
    command with one line naming it and exit 3, not a traceback or click's "Aborted!" (exit 1)."""
    db = tmp_path / "history.db"
    db.touch()
    args = (["scan", "127.0.0.1:1", "--out", str(tmp_path / "out")] if command == "scan"
            else ["prune", "--keep-days", "1"])
    with run_lock(db):
        with background(dccscan(*args, "--db", str(db), "--wait-lock", "600"), tmp_path / "job.log") as job:
            job.wait_for(lambda: "run.lock_wait" in job.output(), f"{command} to wait for the lock")
            assert job.stop(sig) == 3, job.output()
    name = signal.Signals(sig).name
    assert f"dccscan: {command} stopped by {name}" in job.output(), job.output()
    assert "Traceback" not in job.output() and "Aborted!" not in job.output()
    assert not (tmp_path / "out" / "results.json").exists()
    with run_lock(db, wait=0):  # nothing holds it any more
        pass


def _writer_end(fifo: Path, job: Job) -> int:
    """Open ``fifo`` for writing once the job has opened it for reading (so it now waits in a read
    that only our close or a signal can end); the descriptor, kept open by the caller."""
    descriptors: list[int] = []

    def opened() -> bool:
        try:
            descriptors.append(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # ENXIO: no reader yet
            return False
        return True

    job.wait_for(opened, f"the command to open {fifo.name}")
    return descriptors[0]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_verify_evidence_in_the_background_stops_cleanly(sig: int, leaf: Issued, tmp_path: Path) -> None:  # noqa: F811
    """verify-evidence, stopped while it reads its --public-key (a FIFO the test never finishes)."""
    key = ed25519.Ed25519PrivateKey.generate()
    (tmp_path / "signer.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with LabEstate([tls_spec(leaf)]) as (port,):
        scanned = CliRunner().invoke(cli, ["scan", f"127.0.0.1:{port}", "--out", str(tmp_path / "scan"), "--format",
                                           "json", "--fail-on", "never", "--quiet"])
    assert scanned.exit_code == 0, scanned.output
    packed = CliRunner().invoke(cli, ["evidence", str(tmp_path / "scan"), str(tmp_path / "pack.zip"),
                                      "--sign-key", str(tmp_path / "signer.key")])
    assert packed.exit_code == 0, packed.output
    fifo = tmp_path / "public-key.pem"
    os.mkfifo(fifo)
    with background(dccscan("verify-evidence", str(tmp_path / "pack.zip"), "--public-key", str(fifo)),
                    tmp_path / "verify.log") as job:
        fd = _writer_end(fifo, job)
        try:
            assert job.stop(sig) == 3, job.output()
        finally:
            os.close(fd)
    assert f"dccscan: verify-evidence stopped by {signal.Signals(sig).name}" in job.output(), job.output()
    assert "Traceback" not in job.output()
