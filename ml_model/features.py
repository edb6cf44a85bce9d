"""The feature spec: one ordered, versioned list of features shared by training, batch scoring,
the endpoint and the stream. The feature computations live beside it in this package."""

from __future__ import annotations

from typing import Final

from ml_model.feature_spec import FeatureSpec

__all__ = ["FEATURE_SPEC"]

FEATURE_SPEC: Final = FeatureSpec(
    version="1",
    names=(
        "amount",
        "is_weekend",
        "is_night",
        "channel_online",
        "channel_atm",
        "card_tx_count_10m",
        "card_tx_sum_10m",
        "card_tx_count_1h",
        "card_tx_sum_1h",
        "card_tx_count_1d",
        "card_mean_amount_1d",
        "card_tx_count_7d",
        "card_mean_amount_7d",
        "card_tx_count_30d",
        "card_mean_amount_30d",
        "card_amount_ratio_30d",
        "card_distinct_terminals_1d",
        "card_seconds_since_prev",
        "card_distance_prev_km",
        "card_speed_prev_kmh",
        "card_distance_home_km",
        "terminal_tx_count_1d",
        "terminal_fraud_rate_1d",
        "terminal_tx_count_7d",
        "terminal_fraud_rate_7d",
        "terminal_tx_count_30d",
        "terminal_fraud_rate_30d",
    ),
)
