"""The feature columns of the contract (ARCHITECTURE.md, "Features"): their names, in the order the
model takes them.

The core holds the names because the lake's scored rows carry them as columns (`fraudstream.lake`)
and the processor's stages pass them on. The versioned spec built from them (version, label delay,
window widths, hash) and the functions that compute them are `ml_model.features.FEATURE_SPEC` and
its module: a change of these names is a change of the feature code, so bump that spec's version
with it.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CARD_FEATURES", "FEATURE_NAMES", "TERMINAL_FEATURES"]

FEATURE_NAMES: Final = (
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
)
# The card stage computes the first, the terminal stage the second (and the offline computation both).
CARD_FEATURES: Final = tuple(n for n in FEATURE_NAMES if not n.startswith("terminal_"))
TERMINAL_FEATURES: Final = tuple(n for n in FEATURE_NAMES if n.startswith("terminal_"))
