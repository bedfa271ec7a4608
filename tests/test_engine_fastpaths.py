"""Fast formatting paths agree with the standard library they replace.

Why: ``certinfo.iso_utc`` formats every time in the results model; a difference from
``strftime`` on one odd value would silently change a results file. (The results document is
plain ``json``, with no spliced text left to compare; the certificate model's own agreement with
cryptography is tested in ``tests/test_certificate_model.py``.)
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st



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
