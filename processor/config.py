"""Processor settings: defaults, then FRAUD_PROCESSOR__* environment variables, then command-line options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ProcessorSettings"]

DAY_MS = 86_400_000


class ProcessorSettings(BaseSettings):
    """How the stream job runs (env: FRAUD_PROCESSOR__<FIELD>)."""

    model_config = SettingsConfigDict(env_prefix="FRAUD_PROCESSOR__", frozen=True, extra="ignore")

    checkpoint_location: str = str(Path(".fraudstream") / "checkpoints" / "processor")
    starting_position: str = "trim_horizon"
    max_records_per_batch: Annotated[int, Field(ge=1)] = 100_000
    trigger_interval: str = "1 second"
    allowed_lateness: str = "10 minutes"
    # None: the model card's threshold (chosen on the validation period when the model was trained).
    threshold: Annotated[float | None, Field(ge=0.0, le=1.0)] = None
    endpoint_name: str | None = None
    # A folder from `fraudstream train`, a model.tar.gz, or an s3:// URI of either.
    model_dir: str | None = "model"
    label_delay_days: Annotated[float, Field(gt=0.0)] = 7.0
    alert_ttl_days: Annotated[float, Field(gt=0.0)] = 90.0
    # Card and terminal state untouched this long is dropped: past the longest window (30 days plus the label delay).
    state_ttl_days: Annotated[float, Field(gt=0.0)] = 38.0
    metrics: Literal["log", "emf"] = "log"
    # Per-card windowed aggregates to aggregates/, emitted by the card stage as windows close.
    aggregates: bool = True
    spark_master: str = "local[*]"
    # A new checkpoint's card and terminal state starts from this history: a batch-input file, or the
    # lake's transactions/ (a folder or an s3:// prefix). Ignored once the checkpoint exists.
    history: str | None = None

    @property
    def state_ttl_ms(self) -> int:
        return int(self.state_ttl_days * DAY_MS)
