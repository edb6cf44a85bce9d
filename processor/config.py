"""Processor settings: defaults, then FRAUD_PROCESSOR__* environment variables, then command-line options."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ProcessorSettings", "starting_position"]

DAY_MS = 86_400_000
# What Spark's interval strings (a trigger's processingTime, a watermark's delay) accept, positive:
# "10 minutes", "1 second", "interval 500 milliseconds", "1 hour 30 minutes".
_INTERVAL = re.compile(
    r"\s*(interval\s+)?(\d+(\.\d+)?\s*(year|month|week|day|hour|minute|second|millisecond|microsecond)s?\s*)+",
    re.IGNORECASE,
)


def starting_position(value: str) -> str:
    """The Kinesis source's `startingPosition` for what a user gives: `trim_horizon`, `latest`, or a
    time, ISO-8601 (UTC without an offset), bare or as `at_timestamp:<time>`.

    Raises:
        ValueError: none of these.
    """
    text = value.strip()
    if text.lower() in ("trim_horizon", "latest"):
        return text.lower()
    time = text[len("at_timestamp:") :] if text.lower().startswith("at_timestamp:") else text
    try:
        ts = datetime.fromisoformat(time.replace("z", "Z"))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a position: use trim_horizon, latest or an ISO-8601 time such as 2026-12-04T20:16:17Z"
        ) from None
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return f"at_timestamp:{ts.isoformat()}"


class ProcessorSettings(BaseSettings):
    """How the stream job runs (env: FRAUD_PROCESSOR__<FIELD>)."""

    model_config = SettingsConfigDict(env_prefix="FRAUD_PROCESSOR__", frozen=True, extra="ignore")

    checkpoint_location: str = str(Path(".fraudstream") / "checkpoints" / "processor")
    starting_position: str = "trim_horizon"
    max_records_per_batch: Annotated[int, Field(ge=1)] = 100_000
    trigger_interval: str = "1 second"
    allowed_lateness: str = "10 minutes"
    # None: the card's threshold of the model that scored each row (chosen on its validation period when
    # it was trained; a champion and its challenger each their own); a value: every row's.
    threshold: Annotated[float | None, Field(ge=0.0, le=1.0)] = None
    endpoint_name: str | None = None
    # A folder from `fraudstream train`, a model.tar.gz, or an s3:// URI of either.
    model_dir: str | None = "model"
    # None: the model's (its feature spec records the delay it was trained with); a different value
    # stops the job at start, as features computed with another delay are not the model's.
    label_delay_days: Annotated[float | None, Field(gt=0.0)] = None
    alert_ttl_days: Annotated[float, Field(gt=0.0)] = 90.0
    # A card not seen this long is dropped. None: the longest window plus the model's label delay
    # plus a day (a chargeback can still reach a transaction, a window still reach an event).
    state_ttl_days: Annotated[float | None, Field(gt=0.0)] = None
    metrics: Literal["log", "emf"] = "log"
    # Per-card windowed aggregates to aggregates/, emitted by the card stage as windows close.
    aggregates: bool = True
    spark_master: str = "local[*]"
    # A new checkpoint's card and terminal state starts from this history: a batch-input file, or the
    # lake's transactions/ (a folder or an s3:// prefix). Ignored once the checkpoint exists.
    history: str | None = None
    # Read the history file's event times that have no UTC offset as UTC instead of refusing the file.
    history_naive_times_utc: bool = False

    @field_validator("starting_position")
    @classmethod
    def _starting_position(cls, value: str) -> str:
        return starting_position(value)

    @field_validator("trigger_interval", "allowed_lateness")
    @classmethod
    def _interval(cls, value: str) -> str:
        if not _INTERVAL.fullmatch(value):
            raise ValueError(f"{value!r} is not an interval: give a number and a unit, e.g. '1 second' or '10 minutes'")
        return value
