"""The feature spec: its hash covers every parameter that changes a feature's value."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ml_model.feature_spec import FeatureSpec
from ml_model.features import FEATURE_SPEC


def test_the_hash_changes_with_the_label_delay_and_with_any_window_width() -> None:
    # GIVEN the code's spec, the same with a one-day label delay, and the same with a wider card window
    one_day = FEATURE_SPEC.with_label_delay(1.0)
    parameters = dict(FEATURE_SPEC.parameters) | {"card_window_1h_s": 7_200.0}
    wider = replace(FEATURE_SPEC, parameters=tuple(parameters.items()))

    # THEN each has its own hash, and only the label delay leaves the feature code the same
    assert len({FEATURE_SPEC.hash, one_day.hash, wider.hash}) == 3
    assert FEATURE_SPEC.label_delay_hours == 168 and one_day.label_delay_hours == 24
    assert FEATURE_SPEC.same_code(one_day)
    assert not FEATURE_SPEC.same_code(wider)
    assert {"card_window_30d_s", "terminal_bucket_s", "terminal_window_30d_h"} <= dict(FEATURE_SPEC.parameters).keys()


def test_the_spec_round_trips_through_its_json_form_and_a_tampered_one_is_refused() -> None:
    # GIVEN a spec's JSON form
    spec = FEATURE_SPEC.with_label_delay(1.0)
    data = spec.to_dict()

    # THEN it reads back equal; a changed delay without its hash is refused, as is a spec from before v3
    assert FeatureSpec.from_dict(data) == spec
    with pytest.raises(ValueError, match="does not match"):
        FeatureSpec.from_dict(data | {"label_delay_hours": 48})
    with pytest.raises(ValueError, match="retrain"):
        FeatureSpec.from_dict({"version": "2", "names": list(spec.names), "hash": "0123456789abcdef"})


@pytest.mark.parametrize("days", [0.01, 1 / 48, 0.0])
def test_a_label_delay_of_no_whole_hours_is_refused(days: float) -> None:
    with pytest.raises(ValueError, match="whole number of hours"):
        FEATURE_SPEC.with_label_delay(days)
