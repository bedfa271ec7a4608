"""Issue 15 items 8 and 10 (input half): non-finite and huge numbers, odd files, deep TOML, a BOM.

Every case runs the real ``dccscan`` in a child process (so a hang is caught by the timeout, not
by the test process hanging) and must end with exit 2, one message naming the file (and line
where the format has one) and a fix, never a traceback. Real FIFOs and real devices.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HANG = 120.0  # a command that blocks on a FIFO or /dev/zero fails here, not silently


def _dccscan(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scanner", *args], capture_output=True, text=True,
                          timeout=HANG, cwd=cwd, stdin=subprocess.DEVNULL)


def _clean_failure(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    for needle in needles:
        assert needle in done.stderr, done.stderr


def _targets(tmp_path: Path, body: str, name: str = "t.toml") -> Path:
    path = tmp_path / name
    path.write_text('[[target]]\nname = "gw"\nhost = "127.0.0.1"\nport = 1\n' + body)
    return path


@pytest.mark.parametrize("value", ["inf", "+inf", "-inf", "nan", "1e309", "0", "-1", "86400"])
def test_non_finite_or_out_of_range_timeout_in_the_file(tmp_path: Path, value: str) -> None:
    targets = _targets(tmp_path, f"timeout = {value}\n")
    done = _dccscan("scan", "--targets", str(targets), "--out", str(tmp_path / "out"))
    _clean_failure(done, f"{targets}:5: timeout", "fix:")
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.parametrize("option, value", [("--timeout", "inf"), ("--timeout", "nan"), ("--timeout", "1e309"),
                                           ("--max-duration", "inf"), ("--max-duration", "nan"),
                                           ("--wait-lock", "nan"), ("--wait-lock", "inf")])
def test_non_finite_options(tmp_path: Path, option: str, value: str) -> None:
    extra = ["--db", str(tmp_path / "h.db")] if option == "--wait-lock" else []
    done = _dccscan("scan", "127.0.0.1:1", option, value, "--out", str(tmp_path / "out"), *extra)
    _clean_failure(done, option, "finite")


def test_huge_keep_days_is_refused(tmp_path: Path) -> None:
    (tmp_path / "h.db").write_bytes(b"")
    _clean_failure(_dccscan("prune", "--db", str(tmp_path / "h.db"), "--keep-days", "99999999999"), "--keep-days")


@pytest.mark.parametrize("setting", ["expiry_warning_days = [60, 99999999999]", "max_validity_days = 99999999999",
                                     "expiry_warning_days = [inf]", "min_rsa_bits = nan"])
def test_profile_numbers_are_bounded(tmp_path: Path, setting: str) -> None:
    from scanner.lab.pki import issue, name

    chain = tmp_path / "chain.pem"
    chain.write_bytes(issue(subject=name("gw"), dns=["gw.dcc-user.example"]).pem)
    profile = tmp_path / "p.toml"
    profile.write_text(f"[profile]\nname = 'mine'\n{setting}\n")
    done = _dccscan("check", str(chain), "--hostname", "gw.dcc-user.example", "--profile", str(profile))
    _clean_failure(done, f"{profile}:3:", "fix:")


def test_results_json_is_strict_json(tmp_path: Path) -> None:
    done = _dccscan("scan", "127.0.0.1:1", "--timeout", "2", "--format", "json", "--out", str(tmp_path / "out"))
    assert done.returncode == 3, done.stderr

    def refuse(constant: str) -> None:
        raise AssertionError(f"results.json holds {constant}")

    document = json.loads((tmp_path / "out/results.json").read_text(), parse_constant=refuse)
    assert document["settings"]["timeout"] == 2.0


def test_results_writer_refuses_non_finite_numbers(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from scanner.results import ResultsWriter

    writer = ResultsWriter(tmp_path, started_at=datetime.now(timezone.utc), targets_file=None,
                           settings={"timeout": float("inf")})
    with pytest.raises(ValueError):
        writer.finish(datetime.now(timezone.utc))
    assert not (tmp_path / "results.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no spool left behind


def test_fifo_as_targets_file_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "targets.toml"
    os.mkfifo(fifo)  # nobody writes: opening it for reading would block for ever
    _clean_failure(_dccscan("scan", "--targets", str(fifo), "--out", str(tmp_path / "out")), "FIFO", "fix:")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_as_trust_anchor_does_not_hang(tmp_path: Path) -> None:
    targets = _targets(tmp_path, 'trust_anchors = ["/dev/zero"]\n')
    _clean_failure(_dccscan("scan", "--targets", str(targets), "--out", str(tmp_path / "out")),
                   f"{targets}:5: trust_anchors file /dev/zero", "device")
    _clean_failure(_dccscan("scan", "127.0.0.1:1", "--trust-anchor", "/dev/zero", "--out", str(tmp_path / "o")),
                   "/dev/zero", "device")
    _clean_failure(_dccscan("check", "/dev/zero", "--hostname", "gw.example"), "/dev/zero", "device")
    _clean_failure(_dccscan("check-csr", "/dev/zero"), "/dev/zero", "device")


def test_fifo_as_profile_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p.toml")
    done = _dccscan("scan", "127.0.0.1:1", "--profile", str(tmp_path / "p.toml"), "--out", str(tmp_path / "out"))
    _clean_failure(done, "FIFO")


@pytest.mark.parametrize("nesting", ["array", "table"])
def test_deeply_nested_toml_is_a_clean_error(tmp_path: Path, nesting: str) -> None:
    depth = 5000
    value = "[" * depth + "]" * depth if nesting == "array" else "{a = " * depth + "1" + "}" * depth
    targets = _targets(tmp_path, f"tags = {value}\n")
    _clean_failure(_dccscan("scan", "--targets", str(targets), "--out", str(tmp_path / "out")),
                   str(targets), "too deeply")
    profile = tmp_path / "p.toml"
    profile.write_text(f"[profile]\nx = {value}\n")
    _clean_failure(_dccscan("scan", "127.0.0.1:1", "--profile", str(profile), "--out", str(tmp_path / "o")),
                   str(profile), "too deeply")


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    targets = tmp_path / "t.toml"
    targets.write_bytes(b"\xef\xbb\xbf" + b'[[target]]\nname = "gw"\nhost = "127.0.0.1"\nport = 1\ntimeout = 2\n')
    done = _dccscan("scan", "--targets", str(targets), "--format", "json", "--out", str(tmp_path / "out"))
    assert done.returncode == 3, done.stderr  # scanned (port 1 is closed), not refused
    profile = tmp_path / "p.toml"
    profile.write_bytes(b"\xef\xbb\xbf[profile]\nname = 'mine'\n")
    done = _dccscan("scan", "127.0.0.1:1", "--timeout", "2", "--profile", str(profile), "--format", "json",
                    "--out", str(tmp_path / "o"))
    assert done.returncode == 3, done.stderr


def test_a_pipe_with_data_is_read_once_and_a_silent_one_is_refused(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """check, check-csr and verify-evidence --public-key read their file once, so a shell's
    <(command) works; a FIFO nobody writes ends with a message after PIPE_WAIT seconds."""
    import threading

    from scanner import errors
    from scanner.cli.check_cmd import load_pem_certificates
    from scanner.lab.pki import issue, name

    pem = issue(subject=name("gw"), dns=["gw.dcc-user.example"]).pem
    fifo = tmp_path / "chain.pem"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as out:  # blocks until the reader opens it, like <(cat chain.pem)
            out.write(pem)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert len(load_pem_certificates(fifo)) == 1
    writer.join(timeout=HANG)
    monkeypatch.setattr(errors, "PIPE_WAIT", 0.5)
    with pytest.raises(errors.InputError, match="nothing arrived on it for 0.5 s"):
        load_pem_certificates(fifo)  # nobody writes this time
