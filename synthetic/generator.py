"""Synthetic card transactions with labelled fraud scenarios, deterministic for a seed.

The world: cities; card holders with a home, a spending profile and a daily rhythm; terminals with
a location, a merchant category and a channel. Each day is generated vectorised from its own seeded
stream, so a given seed always yields the same history. Fraud comes from five scenarios, each
labelled with its id:

1. LARGE_AMOUNT: a single transaction far above the card's usual amounts.
2. COMPROMISED_TERMINAL: every transaction on a skimmed terminal is fraud for some weeks.
3. COMPROMISED_CARD: for two weeks, extra transactions on the card at several times its usual amount.
4. IMPOSSIBLE_TRAVEL: the card used in a far city minutes after a purchase at home.
5. CARD_TESTING: a burst of small online amounts on one card across many terminals.

A regime change (`GeneratorConfig.regime_change`, off by default) makes fraud shift from a given
day, as it does in production: compromised cards move to other amounts and channels (by default
"low and slow": close to the card's usual amounts, almost all online), and the scenarios' shares can
change (a scenario with no share before appears). The days before it are the same as without it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "TRANSACTION_COLUMNS",
    "FraudScenario",
    "GeneratorConfig",
    "RegimeChange",
    "TransactionGenerator",
    "generate_history",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DAY_S: Final = 86_400.0
EARTH_RADIUS_KM: Final = 6371.0

# The columns of a generated frame: the event contract plus the truth (`is_fraud`, `scenario`).
TRANSACTION_COLUMNS: Final = (
    "transaction_id",
    "event_time",
    "card_id",
    "terminal_id",
    "amount",
    "currency",
    "merchant_category",
    "channel",
    "country",
    "lat",
    "lon",
    "is_fraud",
    "scenario",
)

_POS_MCC: Final = np.array(["5411", "5812", "5541", "5311", "5999", "5732", "5912", "5814"])
_ONLINE_MCC: Final = np.array(["5818", "5964", "5735", "4121", "5967", "5999"])
_ATM_MCC: Final = "6011"


class FraudScenario(IntEnum):
    """The label attached to each generated transaction (0 = genuine)."""

    GENUINE = 0
    LARGE_AMOUNT = 1
    COMPROMISED_TERMINAL = 2
    COMPROMISED_CARD = 3
    IMPOSSIBLE_TRAVEL = 4
    CARD_TESTING = 5


# Share of the fraudulent transactions each scenario contributes, on average.
DEFAULT_SCENARIO_MIX: Final = {
    FraudScenario.LARGE_AMOUNT: 0.15,
    FraudScenario.COMPROMISED_TERMINAL: 0.25,
    FraudScenario.COMPROMISED_CARD: 0.25,
    FraudScenario.IMPOSSIBLE_TRAVEL: 0.15,
    FraudScenario.CARD_TESTING: 0.20,
}


@dataclass(frozen=True)
class RegimeChange:
    """From `day` on, fraud follows another pattern.

    Args:
        day: the first UTC day of the new regime.
        card_fraud_amount: a compromised card's fraudulent amounts, as multiples (low, high) of the
            card's usual mean (before: 4 to 8).
        card_fraud_online_share: the share of them at online merchants (before: 0.6).
        scenario_mix: the scenarios' shares from `day` on (None: unchanged); a scenario absent
            before appears.
    """

    day: date
    card_fraud_amount: tuple[float, float] = (0.8, 1.6)
    card_fraud_online_share: float = 0.95
    scenario_mix: dict[FraudScenario, float] | None = None

    def __post_init__(self) -> None:
        low, high = self.card_fraud_amount
        if not 0 < low <= high:
            raise ValueError("card_fraud_amount must be (low, high) with 0 < low <= high")
        if not 0.0 <= self.card_fraud_online_share <= 1.0:
            raise ValueError("card_fraud_online_share must be in [0, 1]")


# A compromised card's fraud before any regime change: amounts (x the card's mean) and online share.
_CARD_FRAUD_AMOUNT: Final = (4.0, 8.0)
_CARD_FRAUD_ONLINE_SHARE: Final = 0.6


@dataclass(frozen=True)
class GeneratorConfig:
    """Size and behaviour of the synthetic world.

    Args:
        seed: makes the whole history reproducible.
        n_cards: card holders.
        n_terminals: terminals (physical and online merchants).
        n_cities: cities the card holders and physical terminals are spread over.
        fraud_rate: target share of fraudulent transactions (real data: well under 1%).
        scenario_mix: share of the fraud each scenario contributes.
        compromised_terminal_days: how long a skimmed terminal stays compromised (min, max).
        compromised_card_days: how long a compromised card is abused.
        travel_rate: chance per card and day of a genuine trip to another city.
        regime_change: from its day on, fraud follows another pattern (None: never).
    """

    seed: int = 42
    n_cards: int = 5_000
    n_terminals: int = 10_000
    n_cities: int = 40
    fraud_rate: float = 0.006
    scenario_mix: dict[FraudScenario, float] = field(default_factory=lambda: dict(DEFAULT_SCENARIO_MIX))
    compromised_terminal_days: tuple[int, int] = (14, 35)
    compromised_card_days: int = 14
    travel_rate: float = 0.002
    regime_change: RegimeChange | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.fraud_rate < 0.5:
            raise ValueError("fraud_rate must be in [0, 0.5)")
        if self.n_cards < 1 or self.n_terminals < 10 or self.n_cities < 2:
            raise ValueError("need at least 1 card, 10 terminals and 2 cities")


@dataclass(frozen=True)
class _World:
    """The static part of the simulation, drawn once from the seed."""

    city_lat: FloatArray
    city_lon: FloatArray
    card_city: IntArray
    card_lat: FloatArray
    card_lon: FloatArray
    card_mean_amount: FloatArray
    card_std_amount: FloatArray
    card_tx_per_day: FloatArray
    card_peak_hour: FloatArray
    card_hour_sd: FloatArray
    card_online_share: FloatArray
    card_usual_physical: IntArray  # (n_cards, k): indices into the terminal arrays
    card_usual_online: IntArray  # (n_cards, k_online)
    term_lat: FloatArray  # NaN for online terminals
    term_lon: FloatArray
    term_city: IntArray  # -1 for online terminals
    term_channel: npt.NDArray[np.str_]
    term_mcc: npt.NDArray[np.str_]
    card_ids: npt.NDArray[np.str_]  # "card-000042" of card 42
    terminal_ids: npt.NDArray[np.str_]
    physical_terminals: IntArray
    online_terminals: IntArray
    city_terminals: list[IntArray]
    far_cities: list[IntArray]  # per city: cities at least 1,500 km away


def haversine_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    """Great-circle distance in km, element-wise."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


def _nearest(dist: np.ndarray, k: int) -> np.ndarray:
    """Per row, the columns of the `k` smallest distances, nearest first (all columns if fewer)."""
    if dist.shape[1] <= k:
        return np.argsort(dist, axis=1)
    # A partial sort: a big city has thousands of terminals and only the nearest few matter.
    nearest = np.argpartition(dist, k - 1, axis=1)[:, :k]
    return np.take_along_axis(nearest, np.take_along_axis(dist, nearest, axis=1).argsort(axis=1), axis=1)


# The last few worlds built, by repr of their configuration (it holds a dict: not hashable).
_WORLDS: dict[str, _World] = {}
_WORLDS_LOCK = threading.Lock()


def _world(config: GeneratorConfig) -> _World:
    """The world of `config`, built once per process: the demo's producer and its truth check, or
    the tests, share it. Its arrays are read-only, since every generator of `config` holds them.
    A thread that asks while another builds it waits for that build (the demo's two ask at once)."""
    key = repr(config)
    with _WORLDS_LOCK:
        if key not in _WORLDS:
            if len(_WORLDS) >= 4:
                del _WORLDS[next(iter(_WORLDS))]
            _WORLDS[key] = _build_world(config)
        return _WORLDS[key]


def _build_world(config: GeneratorConfig) -> _World:
    rng = np.random.default_rng([config.seed, 0xC0FFEE])
    n_cities = config.n_cities
    # A continent-sized box (roughly the contiguous US) so that cities can be thousands of km apart.
    city_lat = rng.uniform(30.0, 47.0, n_cities)
    city_lon = rng.uniform(-122.0, -72.0, n_cities)
    city_weight = 1.0 / np.arange(1, n_cities + 1) ** 0.8  # a few big cities, many small ones
    city_weight /= city_weight.sum()

    n_cards = config.n_cards
    card_city = rng.choice(n_cities, n_cards, p=city_weight).astype(np.int64)
    card_lat = city_lat[card_city] + rng.normal(0, 0.08, n_cards)
    card_lon = city_lon[card_city] + rng.normal(0, 0.10, n_cards)
    card_mean_amount = rng.uniform(5, 100, n_cards)
    card_std_amount = card_mean_amount * rng.uniform(0.2, 0.5, n_cards)
    card_tx_per_day = rng.uniform(0.5, 4.0, n_cards)
    card_peak_hour = np.clip(rng.normal(14.0, 2.5, n_cards), 9.0, 20.0)
    card_hour_sd = rng.uniform(1.5, 3.5, n_cards)
    card_online_share = rng.uniform(0.05, 0.3, n_cards)

    n_terminals = config.n_terminals
    n_online = max(5, n_terminals // 5)
    n_physical = n_terminals - n_online
    term_city = np.concatenate([rng.choice(n_cities, n_physical, p=city_weight), np.full(n_online, -1)]).astype(
        np.int64
    )
    term_lat = np.full(n_terminals, np.nan)
    term_lon = np.full(n_terminals, np.nan)
    term_lat[:n_physical] = city_lat[term_city[:n_physical]] + rng.normal(0, 0.08, n_physical)
    term_lon[:n_physical] = city_lon[term_city[:n_physical]] + rng.normal(0, 0.10, n_physical)
    is_atm = rng.random(n_physical) < 0.08
    term_channel = np.concatenate([np.where(is_atm, "atm", "pos"), np.full(n_online, "online")])
    term_mcc = np.concatenate(
        [np.where(is_atm, _ATM_MCC, rng.choice(_POS_MCC, n_physical)), rng.choice(_ONLINE_MCC, n_online)]
    )
    physical = np.arange(n_physical, dtype=np.int64)
    online = np.arange(n_physical, n_terminals, dtype=np.int64)
    city_terminals = [physical[term_city[:n_physical] == c] for c in range(n_cities)]
    # A city with no terminal borrows the nearest city's, so every card has somewhere to shop.
    for c in range(n_cities):
        if len(city_terminals[c]) == 0:
            d = haversine_km(np.full(n_cities, city_lat[c]), np.full(n_cities, city_lon[c]), city_lat, city_lon)
            for nearest in np.argsort(d):
                if len(city_terminals[nearest]) > 0:
                    city_terminals[c] = city_terminals[nearest]
                    break

    # Each card shops at the terminals nearest its home in its city, and a few online merchants.
    k_physical = 12
    usual_physical = np.empty((n_cards, k_physical), dtype=np.int64)
    for c in range(n_cities):
        cards = np.flatnonzero(card_city == c)
        if len(cards) == 0:
            continue
        terms = city_terminals[c]
        dist = (card_lat[cards, None] - term_lat[terms][None, :]) ** 2 + (
            card_lon[cards, None] - term_lon[terms][None, :]
        ) ** 2
        nearest = _nearest(dist, k_physical)
        if nearest.shape[1] < k_physical:  # a tiny city: repeat what there is
            nearest = np.resize(nearest, (len(cards), k_physical)) if nearest.shape[1] else nearest
        usual_physical[cards] = terms[nearest]
    usual_online = rng.choice(online, (n_cards, 4))

    city_dist = haversine_km(
        np.repeat(city_lat, n_cities),
        np.repeat(city_lon, n_cities),
        np.tile(city_lat, n_cities),
        np.tile(city_lon, n_cities),
    ).reshape(n_cities, n_cities)
    far_cities = []
    for c in range(n_cities):
        far = np.flatnonzero(city_dist[c] >= 1500.0)
        far_cities.append(far if len(far) else np.array([int(np.argmax(city_dist[c]))], dtype=np.int64))

    world = _World(
        city_lat=city_lat,
        city_lon=city_lon,
        card_city=card_city,
        card_lat=card_lat,
        card_lon=card_lon,
        card_mean_amount=card_mean_amount,
        card_std_amount=card_std_amount,
        card_tx_per_day=card_tx_per_day,
        card_peak_hour=card_peak_hour,
        card_hour_sd=card_hour_sd,
        card_online_share=card_online_share,
        card_usual_physical=usual_physical,
        card_usual_online=usual_online,
        term_lat=term_lat,
        term_lon=term_lon,
        term_city=term_city,
        term_channel=term_channel,
        term_mcc=term_mcc,
        card_ids=np.array([_card_id(i) for i in range(n_cards)]),
        terminal_ids=np.array([_terminal_id(i) for i in range(len(term_lat))]),
        physical_terminals=physical,
        online_terminals=online,
        city_terminals=city_terminals,
        far_cities=far_cities,
    )
    for value in vars(world).values():
        for array in value if isinstance(value, list) else [value]:
            array.flags.writeable = False
    return world


@dataclass
class _Day:
    """Column arrays of one day's transactions before they become a frame."""

    seconds: list[FloatArray] = field(default_factory=list)
    card: list[IntArray] = field(default_factory=list)
    terminal: list[IntArray] = field(default_factory=list)
    amount: list[FloatArray] = field(default_factory=list)
    scenario: list[IntArray] = field(default_factory=list)

    def add(self, seconds: FloatArray, card: IntArray, terminal: IntArray, amount: FloatArray, scenario: int) -> None:
        self.seconds.append(seconds)
        self.card.append(card)
        self.terminal.append(terminal)
        self.amount.append(amount)
        self.scenario.append(np.full(len(seconds), scenario, dtype=np.int64))


class TransactionGenerator:
    """Generates one UTC calendar day at a time; the same seed gives the same days.

    Args:
        config: the world's size and behaviour.
        start: first day generated (its date, UTC).
    """

    def __init__(self, config: GeneratorConfig, start: date) -> None:
        self.config = config
        self.start = start
        self.world = _world(config)
        self._card_fraud_per_day = 0.5  # extra fraudulent transactions per day on a compromised card
        self._rates = self._scenario_rates(config.scenario_mix)
        regime = config.regime_change
        self._regime_rates = self._scenario_rates(regime.scenario_mix) if regime and regime.scenario_mix else None
        self._regime_start = (regime.day - start).days if regime else None
        self._use_rates(self._rates)
        self._card_fraud_amount, self._card_fraud_online_share = _CARD_FRAUD_AMOUNT, _CARD_FRAUD_ONLINE_SHARE
        self._compromised_terminals: dict[int, int] = {}  # terminal -> last day index compromised
        self._compromised_cards: dict[int, int] = {}  # card -> last day index compromised
        self._next_day = 0

    def _scenario_rates(self, mix: dict[FraudScenario, float]) -> tuple[float, float, float, float, float]:
        """Scenario intensities, calibrated so that each contributes its share of `fraud_rate`:
        large amounts, skimmed terminals, compromised cards, impossible travel, card testing."""
        w, config = self.world, self.config
        genuine_per_day = float(w.card_tx_per_day.sum())
        fraud_per_day = config.fraud_rate * genuine_per_day / max(1e-9, 1.0 - config.fraud_rate)
        physical_share = 1.0 - float(np.mean(w.card_online_share))
        tx_per_physical_terminal = genuine_per_day * physical_share / max(1, len(w.physical_terminals))
        lo, hi = config.compromised_terminal_days
        return (
            fraud_per_day * mix.get(FraudScenario.LARGE_AMOUNT, 0.0),
            fraud_per_day
            * mix.get(FraudScenario.COMPROMISED_TERMINAL, 0.0)
            / ((lo + hi) / 2 * tx_per_physical_terminal),
            fraud_per_day
            * mix.get(FraudScenario.COMPROMISED_CARD, 0.0)
            / (config.compromised_card_days * self._card_fraud_per_day),
            fraud_per_day * mix.get(FraudScenario.IMPOSSIBLE_TRAVEL, 0.0) / 1.5,
            fraud_per_day * mix.get(FraudScenario.CARD_TESTING, 0.0) / 10.0,
        )

    def _use_rates(self, rates: tuple[float, float, float, float, float]) -> None:
        self._rate_large, self._rate_terminals, self._rate_cards, self._rate_travel, self._rate_testing = rates

    def _enter_regime(self, d: int) -> None:
        """On the regime change's day: its rates and compromised-card pattern from then on (the same
        random draws, other parameters: the days before are untouched)."""
        regime = self.config.regime_change
        if regime is None or self._regime_start is None or d < self._regime_start:
            return
        if self._regime_rates is not None:
            self._use_rates(self._regime_rates)
        self._card_fraud_amount = regime.card_fraud_amount
        self._card_fraud_online_share = regime.card_fraud_online_share

    def days(self) -> Iterator[pd.DataFrame]:
        """Yield day after day, without end; each frame sorted by event time."""
        while True:
            yield self.next_day()

    def next_day(self) -> pd.DataFrame:
        """Generate the next day (state such as compromised terminals carries over)."""
        d = self._next_day
        self._next_day += 1
        rng = np.random.default_rng([self.config.seed, d])
        self._enter_regime(d)
        day = _Day()
        genuine_seconds, genuine_card, genuine_terminal = self._genuine(rng, day)
        self._large_amounts(rng, day)
        self._compromised_card_fraud(rng, day, d)
        self._impossible_travel(rng, day, genuine_seconds, genuine_card, genuine_terminal)
        self._card_testing(rng, day)
        frame = self._to_frame(rng, day, d)
        self._mark_compromised_terminals(rng, frame, d)
        return frame

    # -- genuine spending -------------------------------------------------------------------------

    def _genuine(self, rng: np.random.Generator, day: _Day) -> tuple[FloatArray, IntArray, IntArray]:
        w = self.world
        counts = rng.poisson(w.card_tx_per_day)
        card = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        n = len(card)
        # Wrapped, not clipped, so that the rare night-owl purchase lands at night and not at 00:00:00.
        seconds = np.mod(rng.normal(w.card_peak_hour[card] * 3600.0, w.card_hour_sd[card] * 3600.0), DAY_S)
        online = rng.random(n) < w.card_online_share[card]
        terminal = np.where(
            online,
            w.card_usual_online[card, rng.integers(0, w.card_usual_online.shape[1], n)],
            w.card_usual_physical[card, rng.integers(0, w.card_usual_physical.shape[1], n)],
        )
        # Genuine trips: on some days a card holder shops in another city.
        travelling = np.flatnonzero(rng.random(len(counts)) < self.config.travel_rate)
        if len(travelling):
            away = np.isin(card, travelling) & ~online
            for i in np.flatnonzero(away):
                city = int(rng.integers(0, len(w.city_terminals)))
                terminal[i] = rng.choice(w.city_terminals[city])
        mean = w.card_mean_amount[card]
        amount = rng.normal(mean, w.card_std_amount[card])
        amount = np.where(amount <= 0.5, rng.uniform(0.5, 2 * mean), amount)
        atm = w.term_channel[terminal] == "atm"
        amount = np.where(atm, np.maximum(20.0, np.round(amount / 20.0) * 20.0), amount)
        day.add(seconds, card, terminal, amount, FraudScenario.GENUINE)
        return seconds, card, terminal

    # -- fraud scenarios --------------------------------------------------------------------------

    def _large_amounts(self, rng: np.random.Generator, day: _Day) -> None:
        w = self.world
        n = rng.poisson(self._rate_large)
        if n == 0:
            return
        card = rng.integers(0, self.config.n_cards, n)
        seconds = rng.uniform(0, DAY_S, n)
        terminal = np.where(
            rng.random(n) < 0.5,
            w.card_usual_online[card, rng.integers(0, w.card_usual_online.shape[1], n)],
            w.card_usual_physical[card, rng.integers(0, w.card_usual_physical.shape[1], n)],
        )
        amount = np.maximum(w.card_mean_amount[card] * rng.uniform(8, 20, n), rng.uniform(400, 3000, n))
        day.add(seconds, card, terminal, amount, FraudScenario.LARGE_AMOUNT)

    def _compromised_card_fraud(self, rng: np.random.Generator, day: _Day, d: int) -> None:
        w = self.world
        for card in rng.integers(0, self.config.n_cards, rng.poisson(self._rate_cards)):
            self._compromised_cards.setdefault(int(card), d + self.config.compromised_card_days - 1)
        self._compromised_cards = {c: end for c, end in self._compromised_cards.items() if end >= d}
        if not self._compromised_cards:
            return
        cards = np.fromiter(self._compromised_cards, dtype=np.int64)
        counts = rng.poisson(self._card_fraud_per_day, len(cards))
        card = np.repeat(cards, counts)
        n = len(card)
        if n == 0:
            return
        seconds = rng.uniform(0, DAY_S, n)
        terminal = np.where(
            rng.random(n) < self._card_fraud_online_share,
            rng.choice(w.online_terminals, n),
            w.card_usual_physical[card, rng.integers(0, w.card_usual_physical.shape[1], n)],
        )
        amount = w.card_mean_amount[card] * rng.uniform(*self._card_fraud_amount, n)
        day.add(seconds, card, terminal, amount, FraudScenario.COMPROMISED_CARD)

    def _impossible_travel(
        self, rng: np.random.Generator, day: _Day, seconds: FloatArray, card: IntArray, terminal: IntArray
    ) -> None:
        w = self.world
        physical = np.flatnonzero(w.term_channel[terminal] != "online")
        n = min(rng.poisson(self._rate_travel), len(physical))
        if n == 0:
            return
        anchors = rng.choice(physical, n, replace=False)
        out_s, out_card, out_term = [], [], []
        for i in anchors:
            c = int(card[i])
            home_city = int(w.card_city[c])
            far_city = int(rng.choice(w.far_cities[home_city]))
            # One to two purchases in a city at least 1,500 km away, minutes after a purchase at home.
            t = float(seconds[i]) + rng.uniform(5 * 60, 45 * 60)
            for _ in range(int(rng.integers(1, 3))):
                if t >= DAY_S:
                    break
                out_s.append(t)
                out_card.append(c)
                out_term.append(int(rng.choice(w.city_terminals[far_city])))
                t += rng.uniform(5 * 60, 30 * 60)
        if not out_s:
            return
        cards = np.array(out_card, dtype=np.int64)
        amount = w.card_mean_amount[cards] * rng.uniform(1.5, 5.0, len(cards))
        day.add(np.array(out_s), cards, np.array(out_term, dtype=np.int64), amount, FraudScenario.IMPOSSIBLE_TRAVEL)

    def _card_testing(self, rng: np.random.Generator, day: _Day) -> None:
        w = self.world
        for _ in range(rng.poisson(self._rate_testing)):
            card = int(rng.integers(0, self.config.n_cards))
            k = int(rng.integers(6, 15))
            start = rng.uniform(0, DAY_S - 900)
            seconds = start + np.cumsum(rng.uniform(5, 60, k))
            # distinct terminals, unless the world is too small to have that many online ones
            terminal = rng.choice(w.online_terminals, k, replace=k > len(w.online_terminals))
            amount = np.round(rng.uniform(0.5, 3.0, k), 2)
            day.add(
                seconds, np.full(k, card, dtype=np.int64), terminal.astype(np.int64), amount, FraudScenario.CARD_TESTING
            )

    def _mark_compromised_terminals(self, rng: np.random.Generator, frame: pd.DataFrame, d: int) -> None:
        """Skimming: from the day a terminal is compromised, every transaction on it is fraud."""
        w = self.world
        lo, hi = self.config.compromised_terminal_days
        for t in rng.choice(w.physical_terminals, rng.poisson(self._rate_terminals)):
            self._compromised_terminals.setdefault(int(t), d + int(rng.integers(lo, hi + 1)) - 1)
        self._compromised_terminals = {t: end for t, end in self._compromised_terminals.items() if end >= d}
        if not self._compromised_terminals:
            return
        names = w.terminal_ids[list(self._compromised_terminals)]
        hit = frame["terminal_id"].isin(names).to_numpy() & (frame["scenario"].to_numpy() == FraudScenario.GENUINE)
        frame.loc[hit, "scenario"] = int(FraudScenario.COMPROMISED_TERMINAL)
        frame.loc[hit, "is_fraud"] = 1

    # -- assembly ---------------------------------------------------------------------------------

    def _to_frame(self, rng: np.random.Generator, day: _Day, d: int) -> pd.DataFrame:
        w = self.world
        seconds = np.concatenate(day.seconds)
        card = np.concatenate(day.card)
        terminal = np.concatenate(day.terminal)
        amount = np.round(np.clip(np.concatenate(day.amount), 0.01, 1_000_000.0), 2)
        scenario = np.concatenate(day.scenario)
        order = np.argsort(seconds, kind="stable")
        seconds, amount = seconds[order], amount[order]
        card, terminal, scenario = card[order], terminal[order], scenario[order]
        n = len(seconds)
        day_start = pd.Timestamp(datetime.combine(self.start + timedelta(days=d), datetime.min.time(), tzinfo=UTC))
        event_time = day_start + pd.to_timedelta(np.floor(seconds * 1000).astype(np.int64), unit="ms")
        ids = rng.integers(0, 2**63 - 1, (n, 2), dtype=np.int64)
        frame = pd.DataFrame(
            {
                "transaction_id": _hex_ids(ids),
                "event_time": event_time.as_unit("ms"),
                "card_id": w.card_ids[card],
                "terminal_id": w.terminal_ids[terminal],
                "amount": amount,
                "currency": "USD",
                "merchant_category": w.term_mcc[terminal],
                "channel": w.term_channel[terminal],
                "country": "US",
                "lat": np.round(w.term_lat[terminal], 5),
                "lon": np.round(w.term_lon[terminal], 5),
                "is_fraud": (scenario != FraudScenario.GENUINE).astype(np.int8),
                "scenario": scenario.astype(np.int8),
            },
            columns=list(TRANSACTION_COLUMNS),
        )
        return frame


def _hex_ids(ids: IntArray) -> npt.NDArray[np.str_]:
    """Per row (a, b) of non-negative int64s, f"{a:016x}{b:016x}": 32 lowercase hex digits, vectorised."""
    return np.frombuffer(ids.astype(">u8").tobytes().hex().encode("ascii"), dtype="S32").astype(np.str_)


def _card_id(i: int | np.integer) -> str:
    return f"card-{int(i):06d}"


def _terminal_id(i: int | np.integer) -> str:
    return f"term-{int(i):06d}"


def generate_history(config: GeneratorConfig, start: date, days: int) -> pd.DataFrame:
    """`days` consecutive days from `start`, as one frame sorted by event time."""
    if days < 1:
        raise ValueError("days must be >= 1")
    gen = TransactionGenerator(config, start)
    frames = [gen.next_day() for _ in range(days)]
    return pd.concat(frames, ignore_index=True)


def expected_daily_transactions(config: GeneratorConfig) -> float:
    """Roughly how many transactions a day the configuration produces (for sizing runs)."""
    world = _world(config)
    return math.fsum(world.card_tx_per_day) / max(1e-9, 1.0 - config.fraud_rate)
