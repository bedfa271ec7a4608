"""The DCCKI TLS profile: built-in values, TOML overrides, bad input, JSON round trip, status."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scanner.errors import InputError
from scanner.evaluate import Profile, builtin_profile, evaluate, load_profile
from scanner.lab.pki import LabPKI

NOW = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def test_builtin_matches_the_documented_defaults() -> None:
    profile = builtin_profile()
    assert profile == Profile()  # the shipped TOML and the dataclass defaults agree
    assert profile.name == "dccki-tls-san"
    assert profile.effective_date == dt.date(2018, 11, 1)
    assert profile.required_san_types == ("dns", "ip")
    assert profile.min_rsa_bits == 2048 and profile.allowed_ec_curves == ("P-256", "P-384")
    assert profile.required_ekus == ("serverAuth",)
    assert profile.max_validity_days is None and profile.expiry_warning_days == (60, 30)
    assert profile.cn_must_be_in_san is False


def test_toml_overrides_any_value(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[profile]\nname = "annex-b-2024"\neffective_date = 2020-01-01\nmax_validity_days = 825\n'
                    'required_ekus = ["serverAuth", "clientAuth"]\nexpiry_warning_days = [14, 90]\n')
    profile = load_profile(path)
    assert profile.name == "annex-b-2024" and profile.effective_date == dt.date(2020, 1, 1)
    assert profile.max_validity_days == 825 and profile.expiry_warning_days == (90, 14)
    assert profile.required_ekus == ("serverAuth", "clientAuth")
    assert profile.min_rsa_bits == 2048  # untouched values keep the built-in


@pytest.mark.parametrize("body,line,words", [
    ('[profile]\nmin_rsa_bits = "big"\n', 2, "min_rsa_bits"),
    ('[profile]\n\nallowed_ec_curves = ["P-999"]\n', 3, "P-999"),
    ('[profile]\neffective_date = "yesterday"\n', 2, "effective_date"),
    ('[profile]\nfavourite_colour = "blue"\n', 2, "favourite_colour"),
    ('[profile]\nname = \n', 2, "TOML"),
    ('[profile]\nrequired_ekus = ["serverauth"]\n', 2, "serverauth"),
])
def test_bad_values_name_file_line_and_fix(tmp_path: Path, body: str, line: int, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(InputError) as caught:
        load_profile(path)
    error = caught.value
    assert error.file == str(path) and error.line == line and error.fix
    assert words in str(error)


def test_missing_file_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        load_profile(tmp_path / "absent.toml")


def test_json_round_trip() -> None:
    profile = Profile(name="x", max_validity_days=398, cn_must_be_in_san=True, expiry_warning_days=(90, 30, 7))
    again = Profile.from_json(json.loads(json.dumps(profile.to_json())))
    assert again == profile


@given(st.integers(1, 5000), st.booleans(), st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1)))
def test_json_round_trip_property(days: int, cn: bool, when: dt.date) -> None:
    profile = Profile(max_validity_days=days, cn_must_be_in_san=cn, effective_date=when)
    assert Profile.from_json(profile.to_json()) == profile


@pytest.fixture(scope="module")
def pki() -> LabPKI:
    return LabPKI.create()


def _status(pki: LabPKI, leaf_der: bytes, profile: Profile | None = None) -> dict:
    return evaluate([leaf_der, pki.issuing.der], "gw.dcc.test", anchors=[pki.root.der], at=NOW, profile=profile)["profile"]


def test_status_compliant_noncompliant_grandfathered(pki: LabPKI) -> None:
    assert _status(pki, pki.leaf("gw.dcc.test", dns=["gw.dcc.test"]).der)["status"] == "compliant"
    new_cn_only = _status(pki, pki.leaf("gw.dcc.test").der)
    assert new_cn_only["status"] == "noncompliant" and new_cn_only["breaches"] == ["dccki.san.missing"]
    old = pki.leaf("gw.dcc.test", not_before=dt.datetime(2018, 10, 31, tzinfo=dt.timezone.utc), days=4000)
    grandfathered = _status(pki, old.der)
    assert grandfathered["status"] == "grandfathered" and grandfathered["breaches"] == []
    assert grandfathered["grandfathered"] == ["dccki.san.missing"]
    old_and_bad = pki.leaf("gw.dcc.test", not_before=dt.datetime(2018, 1, 1, tzinfo=dt.timezone.utc), days=4000, eku=None)
    assert _status(pki, old_and_bad.der)["status"] == "noncompliant"


def test_effective_date_is_a_setting(pki: LabPKI) -> None:
    cn_only = pki.leaf("gw.dcc.test").der
    later = Profile(effective_date=(NOW + dt.timedelta(days=30)).date())
    assert _status(pki, cn_only, later)["status"] == "grandfathered"
    assert _status(pki, cn_only, later)["effective_date"] == later.effective_date.isoformat()


def test_readme_profile_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("<!-- section: verdicts -->")[1].split("<!-- section:")[0]
    example = section.split("```toml\n")[1].split("```")[0]
    path = tmp_path / "example.toml"
    path.write_text(example)
    profile = load_profile(path)
    assert profile.name == "dccki-annex-b-2024" and profile.max_validity_days == 825
