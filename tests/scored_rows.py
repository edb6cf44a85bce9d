"""Scored transactions as the processor hands them to its sinks, for the tests of the sinks and of
what reads the lake back: one Arrow table in the lake's schema, every `alert_every`-th row an alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from fraudstream.lake import TRANSACTIONS
from ml_model.features import FEATURE_SPEC

__all__ = ["T0", "scored_rows"]

T0 = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)


def scored_rows(n: int, *, start: datetime = T0, alert_every: int = 3) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {
            "schema_version": 1,
            "transaction_id": f"tx-{i:05d}",
            "event_time": start + timedelta(minutes=20 * i),
            "card_id": f"card-{i % 4}",
            "terminal_id": f"term-{i % 7}",
            "amount": 10.0 + i,
            "currency": "USD",
            "merchant_category": "5411",
            "channel": "pos",
            "country": "US",
            "lat": 40.0,
            "lon": -74.0,
            "score": 0.9 if i % alert_every == 0 else 0.01,
            "is_alert": i % alert_every == 0,
            "model_version": "m-1",
            "model_variant": "champion",
            "scored_by": "endpoint:fraud-detector",
            "reasons": ["amount", "card_amount_ratio_30d", "is_night"],
            "batch_id": 0,
            "processed_at": datetime.now(UTC),
            "arrival_time": datetime.now(UTC),
        }
        row.update({name: float(i) for name in FEATURE_SPEC.names if name not in row})
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=TRANSACTIONS.schema)
