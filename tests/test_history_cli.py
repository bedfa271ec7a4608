"""``dccscan history``, ``diff`` and ``prune`` on a real database; ``record_and_diff`` for scan."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.historydata import T0, Estate, document, endpoint, finding, write_results
from scanner.cli import cli
from scanner.cli.history_cmd import record_and_diff
from scanner.history import list_scans, record_scan
from scanner.runlock import EXIT_LOCKED, run_lock

IP = "127.0.0.1"


@pytest.fixture(scope="module")
def nights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two nights' results files: the second adds a finding on the same certificate."""
    estate = Estate()
    chain = estate.chain(estate.leaf("gw.test"))
    folder = tmp_path_factory.mktemp("nights")
    one = write_results(document([endpoint("gw.test", IP, 8443, chain=chain)]), folder / "1.json")
    two = write_results(document([endpoint("gw.test", IP, 8443, chain=chain, findings=[finding("dccki.x_y")])],
                                 started_at=T0 + dt.timedelta(days=1)), folder / "2.json")
    return one, two


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_record_and_diff_then_cli(tmp_path: Path, nights: tuple[Path, Path]) -> None:
    db = tmp_path / "h.db"
    assert record_and_diff(db, nights[0]) == (1, None)
    scan_id, changes = record_and_diff(db, nights[1])
    assert scan_id == 2 and changes is not None and [c["finding"] for c in changes["appeared"]] == ["dccki.x_y"]
    code, out, _ = _run("history", "--db", str(db))
    assert code == 0 and len(out.splitlines()) == 2 and "/etc/dccscan/targets.toml" in out
    code, out, _ = _run("history", "--db", str(db), "--format", "json")
    assert [s["id"] for s in json.loads(out)] == [1, 2]
    code, out, _ = _run("diff", "--db", str(db), "--format", "json")
    assert code == 0 and json.loads(out) == changes
    code, out, _ = _run("diff", "--db", str(db))
    assert "Findings appeared (1)" in out and "dccki.x_y" in out
    code, out, _ = _run("diff", "--db", str(db), "--from", "2", "--to", "1", "--format", "json")
    assert [c["finding"] for c in json.loads(out)["resolved"]] == ["dccki.x_y"]


def test_diff_of_first_scan_says_there_is_nothing_to_compare(tmp_path: Path, nights: tuple[Path, Path]) -> None:
    db = tmp_path / "h.db"
    record_scan(db, nights[0])
    code, out, _ = _run("diff", "--db", str(db))
    assert code == 0 and "no earlier scan" in out
    assert _run("diff", "--db", str(db), "--format", "json")[1].strip() == "null"


@pytest.mark.parametrize(("args", "db_exists"), [
    (["history"], False), (["diff"], False), (["diff", "--to", "7"], True)])
def test_bad_input_exits_2_with_a_message(tmp_path: Path, nights: tuple[Path, Path], args: list[str],
                                          db_exists: bool) -> None:
    db = tmp_path / "h.db"
    if db_exists:
        record_scan(db, nights[0])
    code, _, err = _run(*args, "--db", str(db))
    assert code == 2 and "Traceback" not in err and "fix:" in err and str(db) in err


def test_prune_cli_and_lock_refusal(tmp_path: Path, nights: tuple[Path, Path]) -> None:
    db = tmp_path / "h.db"
    record_scan(db, nights[0])
    record_scan(db, nights[1])
    with run_lock(db):
        code, _, err = _run("prune", "--keep-days", "0", "--db", str(db), "--log-format", "json")
    assert code == EXIT_LOCKED and "another dccscan run holds" in err and "pid " in err
    assert any(json.loads(line).get("event") == "run.locked" for line in err.splitlines() if line.startswith("{"))
    assert len(list_scans(db)) == 2
    code, out, _ = _run("prune", "--keep-days", "0", "--db", str(db))
    assert code == 0 and "deleted 2 scan(s)" in out and list_scans(db) == []


def test_first_nights_prune_has_nothing_to_do(tmp_path: Path) -> None:
    """No database yet (the first night): exit 0 with a note, or nothing at all with --quiet; the
    database is not created by pruning it."""
    db = tmp_path / "history.db"
    code, out, err = _run("prune", "--keep-days", "400", "--db", str(db))
    assert code == 0 and out == f"no history database at {db} yet: nothing to prune\n" and "prune.nothing" in err
    assert _run("prune", "--keep-days", "400", "--db", str(db), "--quiet") == (0, "", "")
    assert list(tmp_path.iterdir()) == []


def test_prune_quiet_prints_nothing_when_it_worked(tmp_path: Path, nights: tuple[Path, Path]) -> None:
    db = tmp_path / "h.db"
    record_scan(db, nights[0])
    assert _run("prune", "--keep-days", "0", "--db", str(db), "--quiet", "--log-format", "json") == (0, "", "")
    assert list_scans(db) == []


@pytest.mark.parametrize("command", [["prune", "--keep-days", "3"], ["scan", "127.0.0.1:1"]])
def test_db_in_a_folder_that_does_not_exist_is_refused(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "no-such-folder" / "history.db"
    code, out, err = _run(*command, "--db", str(db), "--out", str(tmp_path / "out")) if command[0] == "scan" \
        else _run(*command, "--db", str(db))
    assert code == 2 and "the folder of --db does not exist" in err and f"mkdir -p {db.parent}" in err, err
    assert not db.parent.exists() and not (tmp_path / "out" / "results.json").exists()
