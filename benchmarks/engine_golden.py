"""Golden corpus for the verdict engine: prove that a speed change leaves every byte of output alone.

Why: the engine's output (verdicts, findings, certificate records) is what evidence packs and
history diffs compare; an optimisation that changes one byte silently changes a customer's report.
Lab certificates are random (keys, serials, "now"), so the corpus is generated once and pickled,
then the engine's output on it is recorded with the reference code and compared after each change.

    python benchmarks/engine_golden.py corpus /tmp/golden/corpus.pickle   # build the inputs once
    python benchmarks/engine_golden.py record /tmp/golden/corpus.pickle /tmp/golden/main.txt
    python benchmarks/engine_golden.py compare /tmp/golden/corpus.pickle /tmp/golden/main.txt

``--code DIR`` runs another checkout's ``scanner`` (e.g. /work/main). The corpus: benchmark estate
leaves (``--estate``, first 300, plus a few against the public root store), every demo chain, every
browser-oracle case (``tests/browsers/cases.py``), the hostile certificates, every x509-limbo
SERVER case in ``../shared/limbo`` (skipped with a message when absent), and hostile names.
Each record is four lines: ``chain_part(...)`` (as the former ``encode_part`` tuple), ``evaluate(...)`` (sorted keys),
every check outcome of ``evaluate_outcomes`` and the revocation records of a scan that recorded no source.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import pickle
import sys
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared"
ESTATE = REPO / "benchmarks" / "out" / "estate"
AT = dt.datetime(2026, 11, 20, 12, 0, 0, tzinfo=dt.timezone.utc)

Item = dict[str, Any]  # name, chain (list of DER), hostname, anchors (list of DER or None), at


def _pem_blocks(data: bytes) -> list[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return [x509.load_pem_x509_certificate(b"-----BEGIN" + p).public_bytes(Encoding.DER)
            for p in data.split(b"-----BEGIN")[1:]]


def estate_items(folder: Path, count: int = 300) -> Iterator[Item]:
    if not folder.joinpath("leaves.pem").exists():
        print(f"estate: {folder} has no leaves.pem, skipped", file=sys.stderr)
        return
    leaves = _pem_blocks(folder.joinpath("leaves.pem").read_bytes())[:count]
    issuing = _pem_blocks(folder.joinpath("issuing.pem").read_bytes())[0]
    root = _pem_blocks(folder.joinpath("root.pem").read_bytes())[0]
    for i, leaf in enumerate(leaves):
        yield {"name": f"estate/{i}", "chain": [leaf, issuing], "hostname": f"host{i}.bench.test",
               "anchors": [root], "at": AT}
    for i, leaf in enumerate(leaves[:5]):  # the public root store path (no anchors given)
        yield {"name": f"estate-public/{i}", "chain": [leaf, issuing], "hostname": f"host{i}.bench.test",
               "anchors": None, "at": AT}
    yield {"name": "estate/wrong-host", "chain": [leaves[0], issuing], "hostname": "other.bench.test",
           "anchors": [root], "at": AT}


def demo_items() -> Iterator[Item]:
    from scanner.lab import demo

    pki = demo.DemoPKI.create()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for endpoint in demo.estate(pki):
        if not endpoint.spec.chain_pem:
            continue
        yield {"name": f"demo/{endpoint.name}", "chain": _pem_blocks(endpoint.spec.chain_pem),
               "hostname": endpoint.hostname, "anchors": [pki.root.der], "at": now}


def oracle_items() -> Iterator[Item]:
    sys.path.insert(0, str(REPO))
    from tests.browsers.cases import build_cases

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for case in build_cases():
        yield {"name": f"oracle/{case.id}", "chain": list(case.chain), "hostname": case.hostname,
               "anchors": list(case.anchors), "at": now}


def hostile_items() -> Iterator[Item]:
    from scanner.lab import hostile
    from scanner.lab.pki import LabPKI

    pki = LabPKI.create()
    certs = hostile.hostile_certificates(pki)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    host, anchors = hostile.HOSTNAME, [pki.root.der]
    chains = {
        "good": [certs.good.der, pki.issuing.der],
        "chain-of-100": [certs.good.der, *[c.der for c in certs.long_chain]],
        "megabyte": [certs.large.der, pki.issuing.der],
        "broken-extension": [certs.broken_extension.der, pki.issuing.der],
        "unparseable": [hostile.UNPARSEABLE_DER],
        "random-bytes": [hostile.random_bytes(size=512)],
        "unparseable-intermediate": [certs.good.der, hostile.UNPARSEABLE_DER, pki.issuing.der],
    }
    for key, chain in chains.items():
        yield {"name": f"hostile/{key}", "chain": chain, "hostname": host, "anchors": anchors, "at": now}


HOSTILE_NAMES: list[list[list[tuple[str, str]]]] = [
    [[("2.5.4.3", "#leading hash"), ("2.5.4.10", "plus+sign")]],
    [[("2.5.4.3", " spaces "), ("2.5.4.11", 'q"uote,comma;semi<lt>gt\\bs=eq')]],
    [[("2.5.4.3", "multi"), ("2.5.4.10", "valued")], [("2.5.4.6", "GB")]],
    [[("2.5.4.3", "nul\x00ctl\x01\x7f")], [("0.9.2342.19200300.100.1.25", "example")]],
    [[("2.5.4.3", "ünïcödé ☃ 𝄞")], [("1.2.3.4.5", "private oid")], [("2.5.4.5", "  ")]],
    [[("2.5.4.3", "")], [("1.2.840.113549.1.9.1", "a@b.example")], [("2.5.4.7", "#")]],
    [[("2.5.4.3", "a"), ("2.5.4.3", "b"), ("2.5.4.10", "o")], [("2.5.4.8", "trailing space ")]],
]


def hostile_name_items() -> Iterator[Item]:
    """Certificates whose subject / issuer / SAN directoryName need RFC 4514 escaping."""
    from cryptography import x509
    from scanner.lab.pki import issue

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for i, rdns in enumerate(HOSTILE_NAMES):
        subject = x509.Name([x509.RelativeDistinguishedName(
            [x509.NameAttribute(x509.ObjectIdentifier(oid), value, _validate=False) for oid, value in rdn]) for rdn in rdns])
        root = issue(subject=subject, ca=True)
        rich = x509.SubjectAlternativeName([
            x509.DNSName(f"n{i}.example"), x509.DirectoryName(subject), x509.RFC822Name("x@n.example"),
            x509.UniformResourceIdentifier("https://n.example/"), x509.RegisteredID(x509.ObjectIdentifier("1.2.3")),
            x509.IPAddress(ipaddress.ip_address("::1"))])
        for j, leaf in enumerate((issue(subject=subject, issuer=root, dns=[f"n{i}.example"]),
                                  issue(subject=subject, issuer=root, san=False, extra=[(rich, False)]))):
            yield {"name": f"names/{i}/{j}", "chain": [leaf.der], "hostname": f"n{i}.example",
                   "anchors": [root.der], "at": now}


def limbo_items() -> Iterator[Item]:
    path = SHARED / "limbo" / "limbo.json"
    if not path.exists():
        print(f"limbo: {path.resolve()} absent, skipped", file=sys.stderr)
        return
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    def ders(pems: list[str]) -> list[bytes]:
        out = []
        for pem in pems:
            try:
                out.append(x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER))
            except Exception:  # noqa: BLE001 - unparseable case certificates are passed through, as test_limbo does
                out.append(pem.encode())
        return out

    for case in json.loads(path.read_text())["testcases"]:
        peer = case.get("expected_peer_name") or {}
        when = dt.datetime.fromisoformat(case["validation_time"]) if case.get("validation_time") else \
            dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
        yield {"name": f"limbo/{case['id']}",
               "chain": ders([case["peer_certificate"]]) + ders(case.get("untrusted_intermediates") or []),
               "hostname": str(peer.get("value") or "limbo.example"), "anchors": ders(case["trusted_certs"]),
               "at": when}


def build_corpus(estate: Path) -> list[Item]:
    items: list[Item] = []
    for source in (lambda: estate_items(estate), demo_items, oracle_items, hostile_items, hostile_name_items,
                   limbo_items):
        items.extend(source())
    return items


def _part_record(part: dict[str, Any]) -> list[Any]:
    """``chain_part``'s output as the former ``encode_part`` tuple (compact JSON of the part,
    finding severities, chain PEM), so golden files recorded before dccscan/2 still compare."""
    text = json.dumps(part, ensure_ascii=False, separators=(",", ":"))
    return [text, [f["severity"] for f in part["findings"]], "".join(c["pem"] for c in part["chain"])]


def outputs(items: list[Item]) -> Iterator[str]:
    """Four lines per item (see the module docstring)."""
    from scanner.evaluate import evaluate, evaluate_outcomes
    from scanner.assess import chain_part

    for item in items:
        chain, host, anchors, at = item["chain"], item["hostname"], item["anchors"], item["at"]
        yield item["name"] + " part " + json.dumps(_part_record(chain_part(chain, host, anchors, at, None)))
        yield item["name"] + " eval " + json.dumps(evaluate(chain, host, anchors=anchors, at=at), sort_keys=True)
        try:
            _, outcomes = evaluate_outcomes(chain, host, anchors=anchors, at=at)
            text = json.dumps([[o.check, o.status, o.certificate_index, o.detail] for o in outcomes])
        except Exception as exc:  # noqa: BLE001 - evaluate_outcomes may raise; the raise is part of the record
            text = f"raised {type(exc).__name__}: {exc}"
        yield item["name"] + " outcomes " + text
        yield item["name"] + " revocation " + json.dumps(revocation_part(chain, host, anchors, at))


def revocation_part(chain: list[bytes], host: str, anchors: list[bytes] | None, at: Any) -> Any:
    """The revocation records of a scan that recorded no source: which certificates are
    judged (not roots), and whether each one's issuer is found (presented or an anchor)."""
    from scanner.assess import chain_part

    part = chain_part(chain, host, anchors, at, None, revocation=([], "/nonexistent"))
    return [part["revocation"], [f["id"] for f in part["findings"]]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("corpus", "record", "compare"))
    parser.add_argument("corpus", type=Path)
    parser.add_argument("golden", type=Path, nargs="?")
    parser.add_argument("--estate", type=Path, default=ESTATE)
    parser.add_argument("--code", type=Path, default=REPO, help="checkout whose scanner package is measured")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    if args.command == "corpus":
        items = build_corpus(args.estate)
        args.corpus.parent.mkdir(parents=True, exist_ok=True)
        args.corpus.write_bytes(pickle.dumps(items))
        print(f"{len(items)} chains -> {args.corpus}")
        return 0
    items = pickle.loads(args.corpus.read_bytes())
    import scanner
    print(f"scanner from {Path(scanner.__file__).parent}", file=sys.stderr)
    lines = list(outputs(items))
    if args.command == "record":
        args.golden.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{len(items)} chains, {len(lines)} lines -> {args.golden}")
        return 0
    golden = args.golden.read_text(encoding="utf-8").splitlines()
    diffs = [(a, b) for a, b in zip(golden, lines) if a != b]
    if len(golden) != len(lines):
        print(f"line count differs: golden {len(golden)}, now {len(lines)}")
    for a, b in diffs[:5]:
        print(f"- {a[:600]}\n+ {b[:600]}")
    print(f"{len(items)} chains, {len(diffs)} differing lines")
    return 1 if diffs or len(golden) != len(lines) else 0


if __name__ == "__main__":
    sys.exit(main())
