"""Quick offline check for the engine: predictions against the last recorded browser run.

The authority is ``test_oracle.py``, which asks the real browsers live; this replays
``docs/browser-observations.md`` so the engine can be checked in seconds, and where no browser
can be installed. A mismatch here means either the engine or the record is out of date.
"""

from __future__ import annotations

import pytest

from .cases import CASE_IDS, Case, build_cases
from .observe import load_observed
from .session import BROWSERS, predicted_error


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    return {case.id: case for case in build_cases()}


@pytest.fixture(scope="module")
def recorded() -> dict[str, tuple[str | None, str | None]]:
    return load_observed()


@pytest.mark.parametrize("browser", BROWSERS)
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_prediction_matches_recorded_browser(case_id: str, browser: str, cases: dict[str, Case],
                                             recorded: dict[str, tuple[str | None, str | None]]) -> None:
    case = cases[case_id]
    expected = recorded[case_id][BROWSERS.index(browser)]
    predicted = predicted_error(case, browser)
    assert predicted == expected, (
        f"{case.id} ({case.rule}: {case.description}): dccscan predicts {predicted!r} for {browser}, "
        f"the recorded run says {expected!r} (docs/browser-observations.md)")
