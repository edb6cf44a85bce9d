"""The feature spec and the feature functions: one definition for training, batch scoring and the stream.

Every feature of a transaction is computed from the events of its card (or terminal) up to and
including it, by the same numpy functions whether they run over a whole history (offline: all
cards in one vectorised call) or per micro-batch in the stream (the cards' retained history plus
the new events, keeping the rows of the new ones). Card windows are half-open on the left and end
at the current transaction: `(t - w, t]`, counting only events at or before it in event order.

Terminal windows are whole UTC hours, shifted back by the label delay: for a transaction in hour
`H`, the terminal's transactions in hours `[H - delay - w, H - delay)`. They read only what is at
least a label delay old, so the stream keeps per terminal a count and a fraud count per hour (not
every event), and the offline computation uses the same function on the same counts.

Values when something is missing are defined, not errors: a card's first transaction has
`card_seconds_since_prev = -1`; a transaction without a location (online) has -1 for distances
and speed, as has one whose card has no located transaction before it; a terminal with no
transaction in a window has count 0 and fraud rate 0.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from fraudstream.feature_names import CARD_FEATURES, FEATURE_NAMES, TERMINAL_FEATURES
from ml_model.feature_spec import FeatureSpec, label_delay_hours

__all__ = [
    "CARD_FEATURES",
    "FEATURE_SPEC",
    "LONGEST_WINDOW_S",
    "MISSING",
    "TERMINAL_FEATURES",
    "card_features",
    "card_features_streaming",
    "compute_features",
    "epoch_seconds",
    "group_order",
    "hour_of",
    "hourly_counts",
    "label_delay_hours",
    "terminal_features",
    "terminal_keys",
    "terminal_window_features",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MISSING: Final = -1.0
MINUTE: Final = 60.0
HOUR: Final = 3_600.0
DAY: Final = 86_400.0
EARTH_RADIUS_KM: Final = 6_371.0
# Implied speed divides by at least a minute: two purchases in the same second are not infinitely fast.
MIN_TRAVEL_S: Final = 60.0
# The card windows (`(t - w, t]`), in seconds; the 30-day one is also the home location's and the history kept.
CARD_WINDOWS_S: Final = (("10m", 10 * MINUTE), ("1h", HOUR), ("1d", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY))
# The terminal windows, in hours (the terminals' time buckets are whole UTC hours).
TERMINAL_WINDOWS_H: Final = (("1d", 24), ("7d", 7 * 24), ("30d", 30 * 24))
# The widest window of all: how far back any feature reaches (before the label delay's shift).
LONGEST_WINDOW_S: Final = max(*(w for _, w in CARD_WINDOWS_S), *(h * HOUR for _, h in TERMINAL_WINDOWS_H))
# A transaction is at night before this many seconds into its UTC day.
NIGHT_END_S: Final = 6 * HOUR

# The names are the core's (the lake's columns carry them); bump the version when they change.
FEATURE_SPEC: Final = FeatureSpec(
    version="3",
    names=FEATURE_NAMES,
    # Every fixed width of the functions below: the hash changes with any of them. The label delay
    # is the trained model's (`with_label_delay`); this default is the contract's seven days.
    parameters=(
        *((f"card_window_{label}_s", width) for label, width in CARD_WINDOWS_S),
        ("terminal_bucket_s", HOUR),
        *((f"terminal_window_{label}_h", float(hours)) for label, hours in TERMINAL_WINDOWS_H),
        ("night_end_s", NIGHT_END_S),
        ("min_travel_s", MIN_TRAVEL_S),
        ("earth_radius_km", EARTH_RADIUS_KM),
    ),
)


def _window_start(times: FloatArray, width: float, groups: IntArray | None = None) -> IntArray:
    """Index of the first event inside `(t_i - width, t_i]` of the same group, for each i.

    Rows are sorted by group, then time. With groups, each row is the complex number
    `group + i * time`: numpy orders complex numbers by real part, then imaginary part, which is
    exactly (group, time), so one `searchsorted` answers every group at once, on the same float
    comparisons of the times as without groups.
    """
    if groups is None:
        return np.searchsorted(times, times - width, side="right").astype(np.int64)
    group = groups.astype(np.float64)
    return np.searchsorted(group + 1j * times, group + 1j * (times - width), side="right").astype(np.int64)


def _group_first_row(groups: IntArray | None, n: int) -> IntArray:
    """For each row, the index of the first row of its group (rows sorted by group)."""
    if groups is None or n == 0:
        return np.zeros(n, dtype=np.int64)
    first = np.concatenate([[True], groups[1:] != groups[:-1]])
    return np.maximum.accumulate(np.where(first, np.arange(n), 0)).astype(np.int64)


def _window_sums(values: FloatArray, start: npt.NDArray[np.int64]) -> FloatArray:
    # One running sum over every group of the frame, in extended precision: the difference of two
    # running sums then carries the rounding of everything summed before it, which in float64 grows
    # with the frame (the stream computes a partition's cards together, training all cards at once)
    # and shows in the features' last digits; 80-bit sums keep them equal to well below 1e-9.
    prefix = np.concatenate([[0.0], np.cumsum(values, dtype=np.longdouble)])
    end = np.arange(1, len(values) + 1)
    return np.asarray(prefix[end] - prefix[start], dtype=np.float64)


def _haversine_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


def _distinct_in_window(keys: npt.NDArray[np.generic], start: IntArray) -> FloatArray:
    """Number of distinct keys among rows `start[i]..i`, for each i (`start` non-decreasing, as
    window starts of rows sorted by group, then time, are).

    Row j counts for row i when it is the first of its key in i's window: `j` in `start[i]..i` and
    the previous row with the same key before `start[i]`. As `start` never decreases, the rows i
    that row j counts for are one contiguous range, so one +1/-1 pair per row and a cumulative sum
    give every count. (A previous row of another group lies before any window of j's group.)
    """
    n = len(keys)
    codes = pd.factorize(keys)[0]
    by_key = np.argsort(codes, kind="stable")
    previous = np.full(n, -1, dtype=np.int64)
    same_key = codes[by_key[1:]] == codes[by_key[:-1]]
    previous[by_key[1:][same_key]] = by_key[:-1][same_key]
    rows = np.arange(n)
    first = np.maximum(rows, np.searchsorted(start, previous, side="right"))
    end = np.searchsorted(start, rows, side="right")  # rows i >= end have moved their window past j
    counts = first < end
    change = np.bincount(first[counts], minlength=n + 1) - np.bincount(end[counts], minlength=n + 1)
    return np.cumsum(change[:n]).astype(np.float64)


def card_features(events: pd.DataFrame, groups: IntArray | None = None) -> pd.DataFrame:
    """The card features of the events of one card, or of many at once.

    Args:
        events: transactions sorted by card, then event time, with columns `event_s` (epoch
            seconds), `amount`, `terminal_key` (`terminal_keys` of the terminal ids; or `terminal_id`),
            `channel` (read for the current row's flags only), `lat`, `lon`.
        groups: the card of each row as a non-decreasing integer code; None: all rows are one card.

    Returns:
        One row per event, columns CARD_FEATURES, same index as `events`.
    """
    t = events["event_s"].to_numpy(dtype=np.float64)
    amount = events["amount"].to_numpy(dtype=np.float64)
    n = len(t)
    first_row = _group_first_row(groups, n)
    out: dict[str, FloatArray] = {"amount": amount}
    day = np.floor(t / DAY)
    out["is_weekend"] = ((day + 3) % 7 >= 5).astype(np.float64)  # day 0, 1970-01-01, was a Thursday (3)
    out["is_night"] = (t - day * DAY < NIGHT_END_S).astype(np.float64)  # UTC
    channel = events["channel"].to_numpy(dtype=object)
    out["channel_online"] = (channel == "online").astype(np.float64)
    out["channel_atm"] = (channel == "atm").astype(np.float64)

    ones = np.ones(n)
    widths = dict(CARD_WINDOWS_S)
    for label in ("10m", "1h"):
        start = _window_start(t, widths[label], groups)
        out[f"card_tx_count_{label}"] = _window_sums(ones, start)
        out[f"card_tx_sum_{label}"] = _window_sums(amount, start)
    day_start = _window_start(t, widths["1d"], groups)
    month_start = _window_start(t, widths["30d"], groups)
    for label, start in (("1d", day_start), ("7d", _window_start(t, widths["7d"], groups)), ("30d", month_start)):
        count = _window_sums(ones, start)
        out[f"card_tx_count_{label}"] = count
        out[f"card_mean_amount_{label}"] = _window_sums(amount, start) / count
    # Zero amounts are valid events (card verification, card testing). A card whose 30-day amounts
    # are all zero (a sum under half a cent: the running sums carry float error) is at its usual
    # amount: ratio 1, where dividing would give 0/0.
    spent = out["card_mean_amount_30d"] * out["card_tx_count_30d"] >= 0.005
    out["card_amount_ratio_30d"] = np.divide(amount, out["card_mean_amount_30d"], out=np.ones(n), where=spent)
    keys = events["terminal_key"] if "terminal_key" in events else terminal_keys(events["terminal_id"])
    out["card_distinct_terminals_1d"] = _distinct_in_window(np.asarray(keys), day_start)
    since_prev = np.full(n, MISSING)
    has_before = np.arange(n) > first_row
    since_prev[has_before] = t[has_before] - t[np.flatnonzero(has_before) - 1]
    out["card_seconds_since_prev"] = since_prev

    lat = events["lat"].to_numpy(dtype=np.float64)
    lon = events["lon"].to_numpy(dtype=np.float64)
    located = ~(np.isnan(lat) | np.isnan(lon))
    # The previous located transaction of the same card (carried forward over unlocated ones).
    idx = np.where(located, np.arange(n), -1)
    last_located = np.maximum.accumulate(idx) if n else idx
    prev = np.concatenate([[-1], last_located[:-1]]) if n else idx
    has_prev = located & (prev >= first_row)
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
    count = _window_sums(loc, month_start) - loc  # excluding the current transaction
    lat_sum = _window_sums(np.where(located, lat, 0.0), month_start) - np.where(located, lat, 0.0)
    lon_sum = _window_sums(np.where(located, lon, 0.0), month_start) - np.where(located, lon, 0.0)
    home = located & (count > 0)
    from_home = np.full(n, MISSING)
    if home.any():
        from_home[home] = _haversine_km(lat_sum[home] / count[home], lon_sum[home] / count[home], lat[home], lon[home])
    out["card_distance_home_km"] = from_home
    return pd.DataFrame({name: out[name] for name in CARD_FEATURES}, index=events.index)


def terminal_keys(ids: pd.Series | npt.NDArray[np.object_]) -> npt.NDArray[np.uint64]:
    """A 64-bit key per terminal id (pandas' stable hash): what a card's state keeps of a terminal,
    and what the distinct-terminals feature counts, offline and in the stream alike."""
    keys: npt.NDArray[np.uint64] = pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)
    return keys


def hour_of(event_s: FloatArray) -> IntArray:
    """The UTC hour (hours since the epoch) of each time in epoch seconds."""
    return np.floor(np.asarray(event_s, dtype=np.float64) / HOUR).astype(np.int64)


def terminal_window_features(
    table: tuple[IntArray, IntArray, FloatArray, FloatArray],
    groups: IntArray,
    hours: IntArray,
    *,
    delay_hours: int,
) -> pd.DataFrame:
    """The terminal features of transactions, from per-terminal hourly counts.

    Args:
        table: `(group, hour, count, frauds)`, one entry per terminal and hour, sorted by group,
            then hour: how many transactions the terminal had in that hour, and how many were fraud.
        groups: the terminal (group code of the table) of each transaction.
        hours: the UTC hour of each transaction (`hour_of`).
        delay_hours: the label delay in hours.

    Returns:
        One row per transaction, columns TERMINAL_FEATURES: count and fraud rate over the hours
        `[H - delay - w, H - delay)` of its terminal (0 and 0 with no transaction there).
    """
    table_groups, table_hours, counts, frauds = table
    keys = table_groups.astype(np.float64) + 1j * table_hours.astype(np.float64)
    count_prefix = np.concatenate([[0.0], np.cumsum(counts, dtype=np.float64)])
    fraud_prefix = np.concatenate([[0.0], np.cumsum(frauds, dtype=np.float64)])
    group = groups.astype(np.float64)
    end_hour = (hours - delay_hours).astype(np.float64)
    end = np.searchsorted(keys, group + 1j * end_hour, side="left")
    out: dict[str, FloatArray] = {}
    for label, width in TERMINAL_WINDOWS_H:
        start = np.searchsorted(keys, group + 1j * (end_hour - width), side="left")
        count = count_prefix[end] - count_prefix[start]
        fraud = fraud_prefix[end] - fraud_prefix[start]
        out[f"terminal_tx_count_{label}"] = count
        out[f"terminal_fraud_rate_{label}"] = np.divide(fraud, count, out=np.zeros_like(count), where=count > 0)
    return pd.DataFrame({name: out[name] for name in TERMINAL_FEATURES})


def hourly_counts(
    groups: IntArray, hours: IntArray, counts: FloatArray, frauds: FloatArray
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """`terminal_window_features`' table: per (group, hour), the sums of `counts` and `frauds`, sorted
    by group, then hour (offline: one row per transaction; in the stream: the kept hours and a batch's)."""
    if len(groups) == 0:
        return groups, hours, counts, frauds
    order = np.lexsort((hours, groups))
    g, h = groups[order], hours[order]
    first = np.flatnonzero(np.concatenate([[True], (g[1:] != g[:-1]) | (h[1:] != h[:-1])]))
    summed_counts: FloatArray = np.add.reduceat(counts[order], first)
    summed_frauds: FloatArray = np.add.reduceat(frauds[order], first)
    return g[first], h[first], summed_counts, summed_frauds


def terminal_features(events: pd.DataFrame, *, label_delay_days: float) -> pd.DataFrame:
    """The terminal features of a history's transactions (any order): count and fraud rate over
    1, 7 and 30 days of whole hours, shifted back by the label delay, so that only chargebacks
    known by then are used.

    Args:
        events: transactions with columns `terminal_id`, `event_s` and `known_fraud` (1 when a
            chargeback for it has arrived, else 0).
        label_delay_days: the label delay (a whole number of hours).

    Returns:
        One row per event, columns TERMINAL_FEATURES, same index as `events`.
    """
    groups = pd.factorize(events["terminal_id"])[0].astype(np.int64)
    hours = hour_of(events["event_s"].to_numpy(dtype=np.float64))
    table = hourly_counts(groups, hours, np.ones(len(groups)), events["known_fraud"].to_numpy(dtype=np.float64))
    features = terminal_window_features(table, groups, hours, delay_hours=label_delay_hours(label_delay_days))
    return features.set_axis(events.index)


def group_order(keys: pd.Series, times: FloatArray) -> tuple[IntArray, IntArray]:
    """The row order that sorts by key, then time (stable: input order among equal times decides
    "at or before"), and the key's integer code of each row in that order."""
    codes = pd.factorize(keys)[0].astype(np.int64)
    order = np.lexsort((times, codes)).astype(np.int64)
    return order, codes[order]


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
        label_delay_days: the label delay (a whole number of hours).

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
    # One vectorised pass per entity kind, all cards (terminals) at once; each part's rows go back
    # to the input's positions.
    times = frame["event_s"].to_numpy()
    features = np.empty((len(frame), len(FEATURE_SPEC)), dtype=np.float64)
    order, cards = group_order(frame["card_id"], times)
    features[order, : len(CARD_FEATURES)] = card_features(frame.iloc[order], cards).to_numpy()
    features[:, len(CARD_FEATURES) :] = terminal_features(frame, label_delay_days=label_delay_days).to_numpy()
    by_part = pd.DataFrame(features, columns=CARD_FEATURES + TERMINAL_FEATURES, index=transactions.index)
    return by_part[list(FEATURE_SPEC.names)]


def card_features_streaming(history: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stream's step: features of the `new` events given their cards' retained `history`.

    The same function as offline (`card_features`) runs over history and new events together, so
    the results are the offline ones for events that arrive in event order.

    Args:
        history: the cards' retained events (`card_id` and the columns of `card_features`).
        new: this micro-batch's events of those cards, same columns.

    Returns:
        The new events' features (indexed like `new`) and the history to keep, sorted by card and
        time: each card's last 30 days before its newest event (what any later window can reach).
    """
    columns = list(new.columns)
    values = {c: np.concatenate([history[c].to_numpy(), new[c].to_numpy()]) for c in columns}
    order, cards = group_order(pd.Series(values["card_id"]), values["event_s"].astype(np.float64))
    combined = pd.DataFrame({c: v[order] for c, v in values.items()})
    is_new = order >= len(history)
    features = card_features(combined, cards)[is_new].set_axis(new.index[order[is_new] - len(history)])
    # Each card's newest time on all its rows: the group's maximum, spread back over its rows.
    times = combined["event_s"].to_numpy(dtype=np.float64)
    newest = times
    if len(cards):
        first = np.flatnonzero(np.concatenate([[True], cards[1:] != cards[:-1]]))
        newest = np.repeat(np.maximum.reduceat(times, first), np.diff(np.append(first, len(cards))))
    kept = combined[times > newest - dict(CARD_WINDOWS_S)["30d"]]
    return features.loc[new.index], kept.reset_index(drop=True)
