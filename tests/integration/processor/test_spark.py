"""`build_session` on a process that already runs Spark: the running session, unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from processor.spark import build_session

pytestmark = pytest.mark.integration


def test_a_second_build_returns_the_running_session_without_changing_its_settings(spark: Any) -> None:
    # GIVEN the suite's running session (2 shuffle partitions, UTC)
    before = {key: spark.conf.get(key) for key in ("spark.sql.shuffle.partitions", "spark.sql.session.timeZone")}

    # WHEN the demo asks for a session sized and set otherwise
    again = build_session(
        "another-app", shuffle_partitions=1, extra={"spark.sql.session.timeZone": "Europe/Paris"}, output=None
    )

    # THEN it gets the running session, whose settings did not move under the tests that share it
    assert again.sparkContext is spark.sparkContext
    assert before == {"spark.sql.shuffle.partitions": "2", "spark.sql.session.timeZone": "UTC"}
    assert {key: again.conf.get(key) for key in before} == before
