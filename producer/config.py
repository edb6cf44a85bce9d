"""Producer settings: defaults, overridden by FRAUD_PRODUCER__* environment variables, overridden
by command-line options."""

from __future__ import annotations

from datetime import date  # noqa: TC003 (pydantic reads the annotation at runtime)
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from synthetic.generator import GeneratorConfig

__all__ = ["ProducerSettings"]


class ProducerSettings(BaseSettings):
    """How the producer generates and sends (env: FRAUD_PRODUCER__<FIELD>)."""

    model_config = SettingsConfigDict(env_prefix="FRAUD_PRODUCER__", frozen=True, extra="ignore")

    seed: int = 42
    cards: Annotated[int, Field(ge=1)] = 5_000
    terminals: Annotated[int, Field(ge=10)] = 10_000
    fraud_rate: Annotated[float, Field(ge=0.0, lt=0.5)] = 0.006
    label_delay_days: Annotated[float, Field(gt=0.0)] = 7.0
    late_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    max_lateness_s: Annotated[float, Field(ge=0.0)] = 600.0
    duplicate_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    malformed_share: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    max_attempts: Annotated[int, Field(ge=1)] = 8
    linger_s: Annotated[float, Field(gt=0.0, description="longest a buffered record waits for a fuller batch")] = 0.1
    dead_letter: Path = Path("fraudstream-dead-letter.jsonl")
    regime_change_day: Annotated[
        date | None,
        Field(description="from this UTC day, compromised cards go low and slow (`RegimeChange`'s defaults)"),
    ] = None

    def generator_config(self) -> GeneratorConfig:
        """The synthetic world these settings describe."""
        from synthetic.generator import GeneratorConfig, RegimeChange

        return GeneratorConfig(
            seed=self.seed,
            n_cards=self.cards,
            n_terminals=self.terminals,
            fraud_rate=self.fraud_rate,
            regime_change=RegimeChange(day=self.regime_change_day) if self.regime_change_day else None,
        )
