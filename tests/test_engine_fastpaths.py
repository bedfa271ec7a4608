"""Fast formatting and encoding paths agree with the standard library they replace.

Why: ``certinfo.iso_utc`` formats every time in the results model and ``results.encode_part``
splices cached certificate records as JSON text; a difference from ``strftime`` / ``json`` on one
odd value would silently change a results file. (The certificate model's own agreement with
cryptography is tested in ``tests/test_certificate_model.py``.)
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from scanner.lab.pki import LabPKI


def _now() -> object:
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(timezones=st.sampled_from([None, __import__("datetime").timezone.utc,
                                               __import__("datetime").timezone(__import__("datetime").timedelta(hours=-7))])))
def test_iso_utc_matches_strftime(moment: object) -> None:
    import datetime as dt

    from scanner.certinfo import iso_utc

    m: dt.datetime = moment  # type: ignore[assignment]
    try:
        expected = (m.replace(tzinfo=dt.timezone.utc) if m.tzinfo is None else m).astimezone(dt.timezone.utc) \
            .strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:
        return
    assert iso_utc(m) == expected


def _plain(part: dict[str, object]) -> str:
    import json

    keys = ("chain", "browsers", "profile", "findings")
    return json.dumps({k: part[k] for k in keys}, ensure_ascii=False, separators=(",", ":"))


def test_encode_part_splices_exactly_what_json_would_write() -> None:
    """Cached certificate records are spliced in as JSON; any record that is not exactly the
    cached one (changed value, other index type, other key order) is encoded afresh."""
    import datetime as dt

    from scanner.results import chain_part, encode_part

    pki = LabPKI.create(org="Encode \"quoted\" ünï")
    leaf = pki.leaf("enc.example", dns=["enc.example"])
    part = chain_part([leaf.der, pki.issuing.der], "enc.example", [pki.root.der], dt.datetime.now(dt.timezone.utc), None)
    assert encode_part(part)[0] == _plain(part)
    changed = dict(part, chain=[dict(part["chain"][0], san=[{"type": "dns", "value": "other\n\"x\""}]),  # type: ignore[index]
                                dict(part["chain"][1], index=True)])  # type: ignore[index]
    assert encode_part(changed)[0] == _plain(changed) != _plain(part)
    reordered = dict(part, chain=[{k: part["chain"][0][k] for k in reversed(list(part["chain"][0]))}])  # type: ignore[index]
    assert encode_part(reordered)[0] == _plain(reordered)
    odd_pem = dict(part, chain=[dict(part["chain"][0], pem="a\u2028b\x7f\"\\")])  # type: ignore[index]
    assert encode_part(odd_pem)[0] == _plain(odd_pem)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_fast_pem_escaping_matches_json(text: str) -> None:
    import json

    from scanner.results import _json_pem

    assert _json_pem(text) == json.dumps(text, ensure_ascii=False, separators=(",", ":"))
