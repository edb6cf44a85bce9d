"""Producer settings: defaults, overridden by FRAUD_PRODUCER__* environment variables, overridden
by command-line options."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ProducerSettings"]


class ProducerSettings(BaseSettings):
    """How the producer generates and sends (env: FRAUD_PRODUCER__<FIELD>)."""

    model_config = SettingsConfigDict(env_prefix="FRAUD_PRODUCER__", frozen=True, extra="ignore")

    seed: int = 42
    cards: int = Field(5_000, ge=1)
    terminals: int = Field(10_000, ge=10)
    fraud_rate: float = Field(0.006, ge=0.0, lt=0.5)
    label_delay_days: float = Field(7.0, gt=0.0)
    late_share: float = Field(0.0, ge=0.0, le=1.0)
    max_lateness_s: float = Field(600.0, ge=0.0)
    duplicate_share: float = Field(0.0, ge=0.0, le=1.0)
    malformed_share: float = Field(0.0, ge=0.0, lt=1.0)
    max_attempts: int = Field(8, ge=1)
    linger_s: float = Field(0.1, gt=0.0, description="longest a buffered record waits for a fuller batch")
    dead_letter: Path = Path("fraudstream-dead-letter.jsonl")
