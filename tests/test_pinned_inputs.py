"""The public root store and the public-suffix list are explicit, recorded inputs of the engine.

Why: an offline re-evaluation must use the inputs the scan used, or say that it does not. These
tests show that the record names the exact bytes installed, that a re-evaluation passing other
inputs really judges with them (a different suffix list changes Chrome's wildcard verdict, a
different root store changes trust), and that a differing or missing record is said in words.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from importlib.metadata import version
from pathlib import Path

import certifi
from publicsuffixlist import PSLFILE

from scanner.evaluate import compare_pinned, evaluate, pinned_inputs, pinned_inputs_record
from scanner.evaluate.inputs import installed
from scanner.lab.pki import LabPKI

NOW = dt.datetime.now(dt.timezone.utc)


def test_the_record_names_and_hashes_the_installed_bytes() -> None:
    record = pinned_inputs_record()
    assert record["public_roots"] == {"source": "certifi", "version": version("certifi"),
                                      "sha256": hashlib.sha256(Path(certifi.where()).read_bytes()).hexdigest()}
    assert record["public_suffix_list"] == {"source": "publicsuffixlist", "version": version("publicsuffixlist"),
                                            "sha256": hashlib.sha256(Path(PSLFILE).read_bytes()).hexdigest()}
    assert compare_pinned(record) == []


def test_a_differing_or_missing_record_is_said_in_words() -> None:
    record = pinned_inputs_record()
    changed = {**record, "public_suffix_list": {**record["public_suffix_list"], "version": "2020.1", "sha256": "ab" * 32}}
    [message] = compare_pinned(changed)
    assert "public-suffix list differs" in message and "2020.1" in message and "abababab" in message
    [missing] = compare_pinned({"public_suffix_list": record["public_suffix_list"]})
    assert "public root store used by the scan was not recorded" in missing
    assert len(compare_pinned({})) == 2


def test_a_re_evaluation_judges_with_the_suffix_list_it_is_given() -> None:
    pki = LabPKI.create()
    leaf = pki.leaf("wild", dns=["*.co.uk"])
    chain, host = [leaf.der, pki.issuing.der], "dccscan-oracle.co.uk"
    installed_verdict = evaluate(chain, host, anchors=[pki.root.der], at=NOW)
    assert not installed_verdict["browsers"]["chrome"]["accepted"]  # *.co.uk covers an ICANN suffix
    only_uk = b"// ===BEGIN ICANN DOMAINS===\nuk\n// ===END ICANN DOMAINS===\n"
    other = pinned_inputs(installed().public_roots.data, only_uk, suffixes_version="test")
    assert evaluate(chain, host, anchors=[pki.root.der], at=NOW, inputs=other)["browsers"]["chrome"]["accepted"]
    assert "public-suffix list differs" in compare_pinned(pinned_inputs_record(), other)[0]


def test_a_re_evaluation_judges_with_the_root_store_it_is_given() -> None:
    pki = LabPKI.create()
    leaf = pki.leaf("pinned.example", dns=["pinned.example"])
    chain = [leaf.der, pki.issuing.der]
    untrusted = evaluate(chain, "pinned.example", anchors=None, at=NOW)
    assert [f["id"] for f in untrusted["findings"]] == ["chain.untrusted_root"]
    assert untrusted["browsers"]["firefox"]["error"] == "SEC_ERROR_UNKNOWN_ISSUER"
    lab_store = pinned_inputs(pki.root.pem, installed().public_suffix_list.data, roots_version="lab")
    trusted = evaluate(chain, "pinned.example", anchors=None, at=NOW, inputs=lab_store)
    # trusted through the given store, judged as a public root (CT cannot be checked offline)
    assert [f["id"] for f in trusted["findings"]] == ["chain.public_store.ct_unchecked"]
    assert trusted["browsers"]["firefox"]["accepted"] and trusted["browsers"]["chrome"]["accepted"]
