"""The results writer's spools stay bounded: sorted runs on disk, merged in order, each
certificate once, and nothing left behind."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scanner import results
from scanner.results import Encoded, ResultsWriter, SortedSpool, chain_file_name, iter_certificates, iter_endpoints


def test_lines_come_back_sorted_and_stable_across_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SortedSpool, "RUN", 3)
    rnd = random.Random(7)
    items = [(rnd.randrange(5), f"line {i}") for i in range(40)]  # many ties
    spool = SortedSpool(tmp_path, "endpoints")
    for key, line in items:
        spool.add(key, line)
    assert len(spool) == 40 and len(spool._runs) == 13  # 13 runs of 3, one pair still in memory
    assert list(spool.lines()) == [line for _, line in sorted(items, key=lambda item: item[0])]
    assert list(spool.lines()) == list(spool.lines())  # readable again (finish may be retried)
    spool.close()
    assert list(tmp_path.iterdir()) == []  # the spool and its runs are gone


def test_unique_lines_keep_the_first_of_each_key_across_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SortedSpool, "RUN", 2)
    spool = SortedSpool(tmp_path, "certificates")
    for key, line in [("b", "b1"), ("a", "a1"), ("b", "b2"), ("c", "c1"), ("a", "a2"), ("b", "b3")]:
        spool.add(key, line)
    assert list(spool.lines(unique=True)) == ["a1", "b1", "c1"]
    assert list(spool.lines()) == ["a1", "a2", "b1", "b2", "b3", "c1"]
    spool.close()


def _encoded(i: int, ca: str) -> Encoded:
    leaf = hashlib.sha256(f"leaf {i}".encode()).hexdigest()
    identifier = f"host{i}@127.0.0.1:443"
    body = {"id": identifier, "position": i, "chain": [leaf, ca], "chain_file": chain_file_name(identifier)}
    return Encoded(line=json.dumps(body), certificates=((leaf, json.dumps({"sha256": leaf, "pem": f"leaf {i}"})),
                                                        (ca, json.dumps({"sha256": ca, "pem": "ca"}))),
                   status="ok", interface="other", severities=(), position=i, address="127.0.0.1",
                   chain_file=body["chain_file"], pem="")


def test_results_list_each_certificate_once_and_endpoints_in_order(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With runs of 5 pairs and 4 remembered digests (so the shared CA is spooled again and
    again), results.json still holds each certificate once and the endpoints by position."""
    monkeypatch.setattr(SortedSpool, "RUN", 5)
    monkeypatch.setattr(results, "RECENT_CERTIFICATES", 4)
    ca = hashlib.sha256(b"issuing CA").hexdigest()
    order = list(range(60))
    random.Random(3).shuffle(order)  # endpoints finish in any order
    writer = ResultsWriter(tmp_path, started_at=datetime.now(timezone.utc), targets_file=None, settings={})
    for i in order:
        writer.add_encoded(_encoded(i, ca))
    assert len(writer._certificates) > 61  # the CA was spooled more than once
    path = writer.finish(datetime.now(timezone.utc))
    digests = [digest for digest, _ in iter_certificates(path)]
    assert digests == sorted(set(digests)) and len(digests) == 61
    endpoints = list(iter_endpoints(path))
    assert [e["position"] for e in endpoints] == list(range(60))
    assert all(e["chain"][1]["pem"] == "ca" and e["chain"][0]["pem"] == f"leaf {e['position']}" for e in endpoints)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chains", "results.json"]  # no spool or run left
