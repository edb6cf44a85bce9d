"""The event contracts between components (ARCHITECTURE.md, "Contracts").

`TRANSACTION_RULES` are the one definition of a valid transaction event: `parse_transaction`
applies them to one event (the processor's parse step, the producer's tests), the batch-file reader
(`fraudstream.batch_files`) to a file's columns, so "valid" means one thing everywhere.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, Self, TypedDict, cast

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
    "TRANSACTION_RULES",
    "FieldRule",
    "InvalidRecord",
    "Label",
    "ScoredBy",
    "Transaction",
    "format_event_time",
    "parse_label",
    "parse_transaction",
    "transaction_rules",
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


# Each rule below is a closure over its field's name and limits: one call per field and record (the
# stream parses every record with them).
Check = Callable[[Any], Any]


def _string(name: str, *, required: bool = True, max_len: int = 64) -> Check:
    missing = InvalidRecord("missing_field", f"{name} is required")
    too_long = InvalidRecord("out_of_range", f"{name} must be 1..{max_len} characters")

    def check(value: Any) -> str | None | InvalidRecord:
        if value is None:
            return missing if required else None
        if not isinstance(value, str):
            return InvalidRecord("wrong_type", f"{name} must be a string, got {type(value).__name__}")
        if not 1 <= len(value) <= max_len:
            return too_long
        return value

    return check


def _coordinate(name: str, limit: float) -> Check:
    not_a_number = InvalidRecord("wrong_type", f"{name} must be a finite number")
    out_of_range = InvalidRecord("out_of_range", f"{name} must be within -{limit:g}..{limit:g}")

    def check(value: Any) -> float | None | InvalidRecord:
        if value is None:
            return None
        if not _is_number(value) or not math.isfinite(value):
            return not_a_number
        if not -limit <= value <= limit:
            return out_of_range
        return float(value)

    return check


def _time(name: str, *, naive_as_utc: bool = False) -> Check:
    missing = InvalidRecord("missing_field", f"{name} is required")
    not_a_string = InvalidRecord("wrong_type", f"{name} must be an ISO-8601 string")
    naive = InvalidRecord("bad_timestamp", f"{name} must carry a UTC offset, e.g. 2026-11-23T19:50:04Z or +01:00")

    def check(value: Any) -> datetime | InvalidRecord:
        # A datetime comes from typed sources (a decoded object, a Parquet timestamp column): the
        # same rule as for the ISO-8601 text, that it carries its zone.
        if value is None:
            return missing
        if isinstance(value, datetime):
            ts = value
        elif not isinstance(value, str):
            return not_a_string
        else:
            try:
                ts = datetime.fromisoformat(value)
            except ValueError:
                return InvalidRecord("bad_timestamp", f"{name} {value[:64]!r} is not ISO-8601")
        if ts.tzinfo is None:
            if not naive_as_utc:
                return naive
            ts = ts.replace(tzinfo=UTC)
        return ts.astimezone(UTC)

    return check


_AMOUNT_MISSING: Final = InvalidRecord("missing_field", "amount is required")
_AMOUNT_NOT_A_NUMBER: Final = InvalidRecord("wrong_type", "amount must be a finite number")


def _amount(value: Any) -> float | InvalidRecord:
    if value is None:
        return _AMOUNT_MISSING
    if not _is_number(value) or not math.isfinite(value):
        return _AMOUNT_NOT_A_NUMBER
    if not 0 <= value <= MAX_AMOUNT:
        return InvalidRecord("out_of_range", f"amount {value!r} must be >= 0 and <= {MAX_AMOUNT:,.0f}")
    return float(value) + 0.0  # -0.0 is 0.0


def _code(name: str, pattern: re.Pattern[str], what: str, *, nullable: bool = True) -> Check:
    bad = InvalidRecord("bad_value", f"{name} must be {what}")
    match = pattern.match

    def check(value: Any) -> str | None | InvalidRecord:
        if value is None:
            return None if nullable else bad
        if not isinstance(value, str) or not match(value):
            return bad
        return value

    return check


_BAD_CHANNEL: Final = InvalidRecord("bad_value", f"channel must be one of {sorted(CHANNELS)}")


def _channel(value: Any) -> str | None | InvalidRecord:
    if value is not None and (not isinstance(value, str) or value not in CHANNELS):
        return _BAD_CHANNEL
    return value


@dataclass(frozen=True, slots=True)
class FieldRule:
    """The rule of one field of the transaction event.

    Attributes:
        name: the field.
        check: the field's value (None for null) -> its normalised value, or why it breaks the contract.
        default: what an absent field stands for.
    """

    name: str
    check: Callable[[Any], Any]
    default: Any = None


def transaction_rules(*, naive_times_utc: bool = False) -> tuple[FieldRule, ...]:
    """The transaction event's field rules, in the order `parse_transaction` checks them (a record
    breaking several gets the first one's reason). Whatever validates transactions (one event, or a
    batch file's columns) applies these.

    Args:
        naive_times_utc: read an `event_time` without an offset as UTC instead of refusing it. The
            contract requires the offset; a batch file may be declared to hold UTC times without one.
    """
    return (
        FieldRule("transaction_id", _string("transaction_id")),
        FieldRule("card_id", _string("card_id")),
        FieldRule("terminal_id", _string("terminal_id")),
        FieldRule("event_time", _time("event_time", naive_as_utc=naive_times_utc)),
        FieldRule("amount", _amount),
        # An absent currency is USD; a null one is not a currency.
        FieldRule(
            "currency", _code("currency", CURRENCY_PATTERN, "an ISO 4217 code such as USD", nullable=False), "USD"
        ),
        FieldRule("merchant_category", _code("merchant_category", MCC_PATTERN, "a 4-digit MCC string")),
        FieldRule("channel", _channel),
        FieldRule("country", _code("country", COUNTRY_PATTERN, "an ISO 3166-1 alpha-2 code")),
        FieldRule("lat", _coordinate("lat", 90.0)),
        FieldRule("lon", _coordinate("lon", 180.0)),
    )


TRANSACTION_RULES: Final = transaction_rules()
# The rules as plain tuples, split where "far future" is checked (once the event time is known, so
# that it is the reason of a record that also breaks a later rule): the stream parses every record.
_RULE_TUPLES: Final = [(rule.name, rule.check, rule.default) for rule in TRANSACTION_RULES]
_SPLIT: Final = [rule.name for rule in TRANSACTION_RULES].index("event_time") + 1
_UP_TO_EVENT_TIME: Final = tuple(_RULE_TUPLES[:_SPLIT])
_AFTER_EVENT_TIME: Final = tuple(_RULE_TUPLES[_SPLIT:])


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
    """Validate one transaction event against the contract (`TRANSACTION_RULES`, then "far future").

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
    values: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for name, check, default in _UP_TO_EVENT_TIME:
        value = check(obj.get(name, default))
        if isinstance(value, InvalidRecord):
            return value
        values[name] = value
    if now is not None and values["event_time"] > now + max_future:
        return InvalidRecord(
            "future_timestamp", f"event_time {obj['event_time']} is ahead of the clock by more than {max_future}"
        )
    for name, check, default in _AFTER_EVENT_TIME:
        value = check(obj.get(name, default))
        if isinstance(value, InvalidRecord):
            return value
        values[name] = value
    return cast("Transaction", values)


_LABEL_CHECKS: Final = {
    **{name: _string(name) for name in ("transaction_id", "card_id", "terminal_id")},
    **{name: _time(name) for name in ("tx_event_time", "label_time")},
}


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
        value = _LABEL_CHECKS[name](obj.get(name))
        if isinstance(value, InvalidRecord):
            return value
        label[name] = value
    for name in ("tx_event_time", "label_time"):
        ts = _LABEL_CHECKS[name](obj.get(name))
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
