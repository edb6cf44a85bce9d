"""The feature spec and the feature functions: one definition for training, batch scoring and the stream.

Every feature of a transaction is computed from the events of its card (or terminal) up to and
including it, by the same numpy functions whether they run over a whole history (offline: one
call per card over all its events) or per micro-batch in the stream (the card's retained history
plus the new events, keeping the rows of the new ones). Windows are half-open on the left and end
at the current transaction: `(t - w, t]`, counting only events at or before it in event order.

Values when something is missing are defined, not errors: a card's first transaction has
`card_seconds_since_prev = -1`; a transaction without a location (online) has -1 for distances
and speed, as has one whose card has no located transaction before it; a terminal with no
transaction in a window has count 0 and fraud rate 0.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from ml_model.feature_spec import FeatureSpec

__all__ = [
    "CARD_FEATURES",
    "FEATURE_SPEC",
    "MISSING",
    "TERMINAL_FEATURES",
    "card_features",
    "compute_features",
    "epoch_seconds",
    "terminal_features",
]

FloatArray = npt.NDArray[np.float64]

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

MISSING: Final = -1.0
MINUTE: Final = 60.0
HOUR: Final = 3_600.0
DAY: Final = 86_400.0
EARTH_RADIUS_KM: Final = 6_371.0
# Implied speed divides by at least a minute: two purchases in the same second are not infinitely fast.
MIN_TRAVEL_S: Final = 60.0

CARD_FEATURES: Final = tuple(n for n in FEATURE_SPEC.names if not n.startswith("terminal_"))
TERMINAL_FEATURES: Final = tuple(n for n in FEATURE_SPEC.names if n.startswith("terminal_"))


def _window_start(times: FloatArray, width: float) -> npt.NDArray[np.int64]:
    """Index of the first event inside `(t_i - width, t_i]` for each i (times sorted)."""
    return np.searchsorted(times, times - width, side="right").astype(np.int64)


def _window_sums(values: FloatArray, start: npt.NDArray[np.int64]) -> FloatArray:
    prefix = np.concatenate([[0.0], np.cumsum(values)])
    end = np.arange(1, len(values) + 1)
    return np.asarray(prefix[end] - prefix[start], dtype=np.float64)


def _haversine_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


def _distinct_in_window(keys: npt.NDArray[np.object_], start: npt.NDArray[np.int64]) -> FloatArray:
    # A sliding window over sorted events: each event enters once and leaves once.
    counts: Counter[object] = Counter()
    out = np.empty(len(keys), dtype=np.float64)
    left = 0
    for i, key in enumerate(keys):
        counts[key] += 1
        while left < start[i]:
            counts[keys[left]] -= 1
            if counts[keys[left]] == 0:
                del counts[keys[left]]
            left += 1
        out[i] = len(counts)
    return out


def card_features(events: pd.DataFrame) -> pd.DataFrame:
    """The card features of one card's events.

    Args:
        events: the card's transactions sorted by event time, with columns `event_s` (epoch
            seconds), `amount`, `terminal_id`, `channel`, `lat`, `lon`.

    Returns:
        One row per event, columns CARD_FEATURES, same index as `events`.
    """
    t = events["event_s"].to_numpy(dtype=np.float64)
    amount = events["amount"].to_numpy(dtype=np.float64)
    n = len(t)
    out: dict[str, FloatArray] = {"amount": amount}
    when = pd.to_datetime(t, unit="s", utc=True)
    out["is_weekend"] = (when.dayofweek >= 5).astype(np.float64)
    out["is_night"] = (when.hour < 6).astype(np.float64)
    channel = events["channel"].to_numpy(dtype=object)
    out["channel_online"] = (channel == "online").astype(np.float64)
    out["channel_atm"] = (channel == "atm").astype(np.float64)

    ones = np.ones(n)
    for label, width in (("10m", 10 * MINUTE), ("1h", HOUR)):
        start = _window_start(t, width)
        out[f"card_tx_count_{label}"] = _window_sums(ones, start)
        out[f"card_tx_sum_{label}"] = _window_sums(amount, start)
    for label, width in (("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
        start = _window_start(t, width)
        count = _window_sums(ones, start)
        out[f"card_tx_count_{label}"] = count
        out[f"card_mean_amount_{label}"] = _window_sums(amount, start) / count
    out["card_amount_ratio_30d"] = amount / out["card_mean_amount_30d"]
    out["card_distinct_terminals_1d"] = _distinct_in_window(
        events["terminal_id"].to_numpy(dtype=object), _window_start(t, DAY)
    )
    out["card_seconds_since_prev"] = np.concatenate([[MISSING], np.diff(t)]) if n else np.empty(0)

    lat = events["lat"].to_numpy(dtype=np.float64)
    lon = events["lon"].to_numpy(dtype=np.float64)
    located = ~(np.isnan(lat) | np.isnan(lon))
    # The previous located transaction of each event (carried forward over unlocated ones).
    idx = np.where(located, np.arange(n), -1)
    last_located = np.maximum.accumulate(idx) if n else idx
    prev = np.concatenate([[-1], last_located[:-1]]) if n else idx
    has_prev = located & (prev >= 0)
    distance = np.full(n, MISSING)
    speed = np.full(n, MISSING)
    if has_prev.any():
        j = prev[has_prev]
        d = _haversine_km(lat[j], lon[j], lat[has_prev], lon[has_prev])
        distance[has_prev] = d
        speed[has_prev] = d / (np.maximum(t[has_prev] - t[j], MIN_TRAVEL_S) / HOUR)
    out["card_distance_prev_km"] = distance
    out["card_speed_prev_kmh"] = speed

    # Distance from the mean location of the card's located transactions over the previous 30 days.
    loc = located.astype(np.float64)
    start = _window_start(t, 30 * DAY)
    count = _window_sums(loc, start) - loc  # excluding the current transaction
    lat_sum = _window_sums(np.where(located, lat, 0.0), start) - np.where(located, lat, 0.0)
    lon_sum = _window_sums(np.where(located, lon, 0.0), start) - np.where(located, lon, 0.0)
    home = located & (count > 0)
    from_home = np.full(n, MISSING)
    if home.any():
        from_home[home] = _haversine_km(lat_sum[home] / count[home], lon_sum[home] / count[home], lat[home], lon[home])
    out["card_distance_home_km"] = from_home
    return pd.DataFrame({name: out[name] for name in CARD_FEATURES}, index=events.index)


def terminal_features(events: pd.DataFrame, *, label_delay_days: float) -> pd.DataFrame:
    """The terminal features of one terminal's events: count and fraud rate over 1, 7 and 30 days,
    shifted back by the label delay, so that only chargebacks known by then are used.

    Args:
        events: the terminal's transactions sorted by event time, with columns `event_s` and
            `known_fraud` (1 when a chargeback for it has arrived, else 0).
        label_delay_days: the label delay.

    Returns:
        One row per event, columns TERMINAL_FEATURES, same index as `events`.
    """
    t = events["event_s"].to_numpy(dtype=np.float64)
    fraud = events["known_fraud"].to_numpy(dtype=np.float64)
    delay = label_delay_days * DAY
    prefix_count = np.arange(len(t) + 1, dtype=np.float64)
    prefix_fraud = np.concatenate([[0.0], np.cumsum(fraud)])
    # Window (t - delay - w, t - delay]: events in it all happened at least a label delay ago.
    end = np.searchsorted(t, t - delay, side="right")
    out: dict[str, FloatArray] = {}
    for label, width in (("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
        start = np.searchsorted(t, t - delay - width, side="right")
        count = prefix_count[end] - prefix_count[start]
        frauds = prefix_fraud[end] - prefix_fraud[start]
        out[f"terminal_tx_count_{label}"] = count
        out[f"terminal_fraud_rate_{label}"] = np.divide(frauds, count, out=np.zeros_like(count), where=count > 0)
    return pd.DataFrame({name: out[name] for name in TERMINAL_FEATURES}, index=events.index)


def epoch_seconds(times: pd.Series) -> FloatArray:
    """Event times (any datetime unit, naive = UTC) as float seconds since the epoch, to the microsecond."""
    naive = pd.to_datetime(times, utc=True).dt.tz_convert(None)
    return np.asarray(naive.to_numpy(dtype="datetime64[us]").astype(np.int64) / 1e6, dtype=np.float64)


def compute_features(transactions: pd.DataFrame, *, label_delay_days: float = 7.0) -> pd.DataFrame:
    """Every feature of every transaction of a history (offline), in FEATURE_SPEC order.

    Args:
        transactions: the batch-input columns (`event_time`, `card_id`, `terminal_id`, `amount`,
            optional `channel`, `lat`, `lon`) and, for the terminal features, `is_fraud` (the
            chargebacks: each arrives within the label delay, so all that the windows use are known).
        label_delay_days: the label delay.

    Returns:
        A frame with the same index as `transactions`.
    """
    frame = pd.DataFrame(
        {
            "event_s": epoch_seconds(transactions["event_time"]),
            "card_id": transactions["card_id"].to_numpy(),
            "terminal_id": transactions["terminal_id"].to_numpy(),
            "amount": transactions["amount"].to_numpy(dtype=np.float64),
            "channel": transactions["channel"].to_numpy() if "channel" in transactions else None,
            "lat": transactions["lat"].to_numpy(dtype=np.float64) if "lat" in transactions else np.nan,
            "lon": transactions["lon"].to_numpy(dtype=np.float64) if "lon" in transactions else np.nan,
            "known_fraud": transactions["is_fraud"].to_numpy(dtype=np.float64) if "is_fraud" in transactions else 0.0,
        },
        index=transactions.index,
    )
    # A stable sort keeps the input order among equal times: that order decides "at or before".
    frame = frame.sort_values("event_s", kind="stable")
    cards = [card_features(group) for _, group in frame.groupby("card_id", sort=False)]
    terminals = [
        terminal_features(group, label_delay_days=label_delay_days)
        for _, group in frame.groupby("terminal_id", sort=False)
    ]
    features = pd.concat(cards).join(pd.concat(terminals))
    return features.loc[transactions.index, list(FEATURE_SPEC.names)]


def card_features_streaming(history: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stream's per-card step: features of the `new` events given the card's retained `history`.

    The same function as offline (`card_features`) runs over history and new events together, so
    the results are the offline ones for events that arrive in event order.

    Args:
        history: the card's retained events (columns of `card_features`), sorted by `event_s`.
        new: this micro-batch's events of the card, same columns.

    Returns:
        The new events' features (indexed like `new`) and the history to keep: the last 30 days
        before the newest event (what any window of a later event can reach).
    """
    combined = pd.concat([history.assign(_new=False), new.assign(_new=True)]).sort_values("event_s", kind="stable")
    flags = combined["_new"].to_numpy(dtype=bool)
    features = card_features(combined.drop(columns="_new"))[flags]
    kept = combined.drop(columns="_new")
    kept = kept[kept["event_s"] > kept["event_s"].max() - 30 * DAY]
    return features.loc[new.index], kept.reset_index(drop=True)
