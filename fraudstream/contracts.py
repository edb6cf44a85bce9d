"""The event contracts between components (ARCHITECTURE.md, "Contracts").

`parse_transaction` is the single validator of the transaction event: the producer's tests, the
batch-file reader and the processor's parse step all use it, so "valid" means one thing everywhere.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Self, TypedDict

import orjson
import pyarrow as pa

__all__ = [
    "CHANNELS",
    "COUNTRY_PATTERN",
    "CURRENCY_PATTERN",
    "LABEL_ARROW_SCHEMA",
    "LABEL_FIELDS",
    "MAX_AMOUNT",
    "MCC_PATTERN",
    "SCHEMA_VERSION",
    "TRANSACTION_ARROW_SCHEMA",
    "TRANSACTION_FIELDS",
    "InvalidRecord",
    "Label",
    "ScoredBy",
    "Transaction",
    "format_event_time",
    "parse_label",
    "parse_transaction",
]

SCHEMA_VERSION: Final = 1
# Amounts are within 0..MAX_AMOUNT, both included: a zero-amount authorisation is a real event (card
# verification, and a known card-testing signal).
MAX_AMOUNT: Final = 1_000_000.0
CHANNELS: Final = frozenset({"pos", "online", "atm"})
# Events stamped further ahead of the processing clock than this are rejected as bad timestamps.
DEFAULT_MAX_FUTURE: Final = timedelta(minutes=5)

MCC_PATTERN: Final = re.compile(r"^\d{4}$")
CURRENCY_PATTERN: Final = re.compile(r"^[A-Z]{3}$")
COUNTRY_PATTERN: Final = re.compile(r"^[A-Z]{2}$")


class ScoredBy(StrEnum):
    """Who scored a row: the `scored_by` of scored rows (the lake), of alerts (DynamoDB) and of
    `fraudstream score`'s output. The one definition of its values.

    `ENDPOINT` is written with the endpoint's name, `endpoint:<name>` (`ScoredBy.for_endpoint`);
    the others are written as their value. `ScoredBy.parse` reads a written value back.
    """

    # The SageMaker endpoint <name> (or the local server that stands in for it) scored the row.
    ENDPOINT = "endpoint"
    # The endpoint's model in process scored the row because the endpoint did not (an error that
    # outlasted the retries, or the open circuit breaker): the stream's counted fallback.
    FALLBACK = "fallback"
    # The model in process scored the row by configuration: the stream runs without an endpoint.
    LOCAL = "local"
    # `fraudstream score` scored the row offline, with a whole file's history.
    BATCH = "batch"

    @classmethod
    def for_endpoint(cls, name: str) -> str:
        """`endpoint:<name>`, what rows scored by the endpoint `name` carry."""
        if not name:
            raise ValueError("an endpoint's scored_by needs the endpoint's name")
        return f"{cls.ENDPOINT.value}:{name}"

    @classmethod
    def parse(cls, value: str) -> Self:
        """The member a written `scored_by` value stands for.

        Raises:
            ValueError: the value is none of the contract's.
        """
        kind, sep, name = value.partition(":")
        if sep and kind == cls.ENDPOINT.value and name:
            return cls(kind)
        if not sep and value != cls.ENDPOINT.value and value in {member.value for member in cls}:
            return cls(value)
        raise ValueError(f"scored_by {value!r} is not one of endpoint:<name>, fallback, local, batch")


class Transaction(TypedDict):
    """A valid transaction event, normalised: UTC `event_time`, defaults filled in."""

    schema_version: int
    transaction_id: str
    event_time: datetime
    card_id: str
    terminal_id: str
    amount: float
    currency: str
    merchant_category: str | None
    channel: str | None
    country: str | None
    lat: float | None
    lon: float | None


class Label(TypedDict):
    """A chargeback on the `labels` stream."""

    schema_version: int
    transaction_id: str
    card_id: str
    terminal_id: str
    tx_event_time: str
    label_time: str
    is_fraud: int


TRANSACTION_FIELDS: Final = tuple(Transaction.__annotations__)
LABEL_FIELDS: Final = tuple(Label.__annotations__)

TRANSACTION_ARROW_SCHEMA: Final = pa.schema(
    [
        pa.field("schema_version", pa.int32(), nullable=False),
        pa.field("transaction_id", pa.string(), nullable=False),
        pa.field("event_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("card_id", pa.string(), nullable=False),
        pa.field("terminal_id", pa.string(), nullable=False),
        pa.field("amount", pa.float64(), nullable=False),
        pa.field("currency", pa.string(), nullable=False),
        pa.field("merchant_category", pa.string()),
        pa.field("channel", pa.string()),
        pa.field("country", pa.string()),
        pa.field("lat", pa.float64()),
        pa.field("lon", pa.float64()),
    ]
)

# A valid chargeback, normalised as `parse_label` returns it (times as UTC timestamps).
LABEL_ARROW_SCHEMA: Final = pa.schema(
    [
        pa.field("schema_version", pa.int32(), nullable=False),
        pa.field("transaction_id", pa.string(), nullable=False),
        pa.field("card_id", pa.string(), nullable=False),
        pa.field("terminal_id", pa.string(), nullable=False),
        pa.field("tx_event_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("label_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("is_fraud", pa.int32(), nullable=False),
    ]
)


@dataclass(frozen=True, slots=True)
class InvalidRecord:
    """Why a record breaks the contract: a stable `reason` code and a human `detail`."""

    reason: str
    detail: str


def format_event_time(ts: datetime) -> str:
    """ISO-8601 in UTC with millisecond precision and a `Z` suffix, as the contract's example."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _string(obj: dict[str, Any], name: str, *, required: bool, max_len: int = 64) -> str | None | InvalidRecord:
    value = obj.get(name)
    if value is None:
        return InvalidRecord("missing_field", f"{name} is required") if required else None
    if not isinstance(value, str):
        return InvalidRecord("wrong_type", f"{name} must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= max_len:
        return InvalidRecord("out_of_range", f"{name} must be 1..{max_len} characters")
    return value


def _coordinate(obj: dict[str, Any], name: str, limit: float) -> float | None | InvalidRecord:
    value = obj.get(name)
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value):
        return InvalidRecord("wrong_type", f"{name} must be a finite number")
    if not -limit <= value <= limit:
        return InvalidRecord("out_of_range", f"{name} must be within -{limit:g}..{limit:g}")
    return float(value)


def _versioned_object(raw: bytes | str | dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any] | InvalidRecord:
    """The decoded JSON object, if it is one, has only `fields` and is of the known schema version."""
    if isinstance(raw, dict):
        obj: Any = raw
    else:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # orjson is strict where the json module is lenient (NaN, huge integers): the json module
            # decides, so that a record means the same whichever parser saw it first.
            try:
                obj = json.loads(raw)
            except (UnicodeDecodeError, ValueError) as e:
                return InvalidRecord("bad_json", str(e)[:200])
    if not isinstance(obj, dict):
        return InvalidRecord("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    unknown = set(obj) - set(fields)
    if unknown:
        return InvalidRecord("unknown_field", f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
    version = obj.get("schema_version")
    if version is None:
        return InvalidRecord("missing_field", "schema_version is required")
    if version != SCHEMA_VERSION or not isinstance(version, int) or isinstance(version, bool):
        return InvalidRecord("unknown_schema_version", f"schema_version {version!r} is not {SCHEMA_VERSION}")
    return obj


def parse_transaction(
    raw: bytes | str | dict[str, Any],
    *,
    now: datetime | None = None,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
) -> Transaction | InvalidRecord:
    """Validate one transaction event against the contract.

    Args:
        raw: the record's payload (UTF-8 JSON) or an already decoded object.
        now: the clock that "far future" is measured against; None skips that check.
        max_future: how far ahead of `now` an event time may be.

    Returns:
        The normalised transaction, or an `InvalidRecord` saying why it was rejected.
    """
    obj = _versioned_object(raw, TRANSACTION_FIELDS)
    if isinstance(obj, InvalidRecord):
        return obj

    strings: dict[str, str | None] = {}
    for name, required in (("transaction_id", True), ("card_id", True), ("terminal_id", True)):
        value = _string(obj, name, required=required)
        if isinstance(value, InvalidRecord):
            return value
        strings[name] = value

    raw_time = obj.get("event_time")
    if raw_time is None:
        return InvalidRecord("missing_field", "event_time is required")
    if not isinstance(raw_time, str):
        return InvalidRecord("wrong_type", "event_time must be an ISO-8601 string")
    try:
        event_time = datetime.fromisoformat(raw_time)
    except ValueError:
        return InvalidRecord("bad_timestamp", f"event_time {raw_time[:64]!r} is not ISO-8601")
    if event_time.tzinfo is None:
        return InvalidRecord("bad_timestamp", "event_time must carry a UTC offset")
    event_time = event_time.astimezone(UTC)
    if now is not None and event_time > now + max_future:
        return InvalidRecord(
            "future_timestamp", f"event_time {raw_time} is ahead of the clock by more than {max_future}"
        )

    amount = obj.get("amount")
    if amount is None:
        return InvalidRecord("missing_field", "amount is required")
    if not _is_number(amount) or not math.isfinite(amount):
        return InvalidRecord("wrong_type", "amount must be a finite number")
    if not 0 <= amount <= MAX_AMOUNT:
        return InvalidRecord("out_of_range", f"amount {amount!r} must be >= 0 and <= {MAX_AMOUNT:,.0f}")

    currency = obj.get("currency", "USD")
    if not isinstance(currency, str) or not CURRENCY_PATTERN.match(currency):
        return InvalidRecord("bad_value", "currency must be an ISO 4217 code such as USD")
    mcc = obj.get("merchant_category")
    if mcc is not None and (not isinstance(mcc, str) or not MCC_PATTERN.match(mcc)):
        return InvalidRecord("bad_value", "merchant_category must be a 4-digit MCC string")
    channel = obj.get("channel")
    if channel is not None and channel not in CHANNELS:
        return InvalidRecord("bad_value", f"channel must be one of {sorted(CHANNELS)}")
    country = obj.get("country")
    if country is not None and (not isinstance(country, str) or not COUNTRY_PATTERN.match(country)):
        return InvalidRecord("bad_value", "country must be an ISO 3166-1 alpha-2 code")
    lat = _coordinate(obj, "lat", 90.0)
    if isinstance(lat, InvalidRecord):
        return lat
    lon = _coordinate(obj, "lon", 180.0)
    if isinstance(lon, InvalidRecord):
        return lon

    return Transaction(
        schema_version=SCHEMA_VERSION,
        transaction_id=strings["transaction_id"] or "",
        event_time=event_time,
        card_id=strings["card_id"] or "",
        terminal_id=strings["terminal_id"] or "",
        amount=float(amount) + 0.0,  # -0.0 is 0.0
        currency=currency,
        merchant_category=mcc,
        channel=channel,
        country=country,
        lat=lat,
        lon=lon,
    )


def _time_field(obj: dict[str, Any], name: str) -> datetime | InvalidRecord:
    value = obj.get(name)
    if value is None:
        return InvalidRecord("missing_field", f"{name} is required")
    if not isinstance(value, str):
        return InvalidRecord("wrong_type", f"{name} must be an ISO-8601 string")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return InvalidRecord("bad_timestamp", f"{name} {value[:64]!r} is not ISO-8601")
    if ts.tzinfo is None:
        return InvalidRecord("bad_timestamp", f"{name} must carry a UTC offset")
    return ts.astimezone(UTC)


def parse_label(raw: bytes | str | dict[str, Any]) -> dict[str, Any] | InvalidRecord:
    """Validate one chargeback from the `labels` stream.

    Returns:
        The label with `tx_event_time` and `label_time` as UTC datetimes, or why it was rejected.
    """
    obj = _versioned_object(raw, LABEL_FIELDS)
    if isinstance(obj, InvalidRecord):
        return obj
    label: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for name in ("transaction_id", "card_id", "terminal_id"):
        value = _string(obj, name, required=True)
        if isinstance(value, InvalidRecord):
            return value
        label[name] = value
    for name in ("tx_event_time", "label_time"):
        ts = _time_field(obj, name)
        if isinstance(ts, InvalidRecord):
            return ts
        label[name] = ts
    if label["label_time"] < label["tx_event_time"]:
        return InvalidRecord("bad_timestamp", "label_time is before tx_event_time")
    is_fraud = obj.get("is_fraud")
    if is_fraud not in (0, 1) or isinstance(is_fraud, bool):
        return InvalidRecord("bad_value", "is_fraud must be 0 or 1")
    label["is_fraud"] = int(is_fraud)
    return label
