"""The stream's label delay is the model's: a processor configured with another refuses to start."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from fraudstream.local.provision import provision
from processor.config import ProcessorSettings
from processor.exceptions import ProcessorError
from processor.job import run_job

if TYPE_CHECKING:
    from pathlib import Path

    import boto3

    from fraudstream.config import ResourceSettings

pytestmark = pytest.mark.integration


def test_a_label_delay_other_than_the_models_stops_the_job_before_spark_starts(
    boto_session: boto3.Session, unique_resources: ResourceSettings, artifact_path: Path, tmp_path: Path
) -> None:
    # GIVEN a model trained with the default seven-day label delay, and a processor set to one day
    provision(unique_resources, shards=1, session=boto_session)
    settings = ProcessorSettings(
        checkpoint_location=str(tmp_path / "checkpoint"), model_dir=str(artifact_path), label_delay_days=1.0
    )
    spark: Any = object()  # never touched: the job stops before it would build its query

    # WHEN the job starts
    with pytest.raises(ProcessorError) as raised:
        run_job(settings, unique_resources, until_idle=True, spark=spark)

    # THEN it refuses in one line naming both delays, with what to do
    message = str(raised.value)
    assert "\n" not in message
    assert "is 1 days but model test-model-1 was trained with a label delay of 7 days" in message
    assert "leave the label delay unset" in raised.value.hint
    assert not (tmp_path / "checkpoint").exists()


def test_a_state_ttl_shorter_than_the_windows_plus_the_label_delay_stops_the_job_before_spark_starts(
    boto_session: boto3.Session, unique_resources: ResourceSettings, artifact_path: Path, tmp_path: Path
) -> None:
    # GIVEN a model trained with a seven-day label delay, and a card state kept 30 days: shorter
    # than the 30-day windows plus that delay
    provision(unique_resources, shards=1, session=boto_session)
    settings = ProcessorSettings(
        checkpoint_location=str(tmp_path / "checkpoint"), model_dir=str(artifact_path), state_ttl_days=30.0
    )

    # WHEN the job starts
    with pytest.raises(ProcessorError) as raised:
        run_job(settings, unique_resources, until_idle=True, spark=object())

    # THEN it refuses in one line giving the least TTL that keeps the features
    message = str(raised.value)
    assert "\n" not in message
    assert "of 30 days is shorter than the longest window plus the label delay (37 days)" in message
    assert not (tmp_path / "checkpoint").exists()


def test_the_state_ttl_defaults_to_the_longest_window_plus_the_models_label_delay_plus_a_day() -> None:
    from processor.job import _state_ttl_ms

    assert _state_ttl_ms(None, 7.0) == 38 * 86_400_000
    assert _state_ttl_ms(None, 45.0) == 76 * 86_400_000
    assert _state_ttl_ms(40.0, 7.0) == 40 * 86_400_000
