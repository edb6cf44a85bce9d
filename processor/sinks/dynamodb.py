"""The DynamoDB `alerts` table: one item per alerting transaction, keyed by `transaction_id`.

Items are derived only from the row (the TTL from the event time, not the clock), so a replayed
batch writes identical items: BatchWriteItem overwrites, and the table ends as after one write.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, cast

from fraudstream.alerts_table import ALERTS
from fraudstream.aws import aws_errors, dynamodb_client
from fraudstream.contracts import format_event_time
from fraudstream.exceptions import ResourceNotFoundError
from fraudstream.retry import Backoff
from processor.exceptions import AlertSinkError, AlertsTableNotFoundError
from processor.sinks.base import BatchSink

if TYPE_CHECKING:
    from collections.abc import Callable

    import pyarrow as pa
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import WriteRequestTypeDef

__all__ = ["BATCH_WRITE_MAX_ITEMS", "DynamoDBAlertSink", "alert_items"]

logger = logging.getLogger(__name__)

BATCH_WRITE_MAX_ITEMS: Final = 25  # DynamoDB's BatchWriteItem limit


def _wire(kind: str, value: Any) -> dict[str, Any]:
    """One attribute in DynamoDB's wire format, typed as the alerts table's description says."""
    if kind == "S":
        return {"S": value}
    if kind == "N":
        # DynamoDB numbers travel as strings; repr keeps a float's exact shortest form.
        return {"N": str(value) if isinstance(value, int) else str(Decimal(repr(float(value))))}
    return {"L": [{"S": v} for v in value]}  # "L": a list of strings


def alert_items(table: pa.Table, *, ttl_days: float) -> list[dict[str, Any]]:
    """The alert items (DynamoDB wire format) for the rows of a scored batch with `is_alert`.

    The attributes and their types are `fraudstream.alerts_table.ALERTS.item`'s, in its order; an
    optional one without a value (`model_variant` of a row the fallback scored) is left out.
    """
    rows = table.filter(table["is_alert"]).to_pylist() if table.num_rows else []
    items = []
    for row in rows:
        event_time = row["event_time"].astimezone(UTC)
        values: dict[str, Any] = {
            "transaction_id": row["transaction_id"],
            "card_id": row["card_id"],
            "event_time": format_event_time(event_time),
            "amount": float(row["amount"]),
            "score": float(row["score"]),
            "reasons": list(row.get("reasons") or []),
            "model_version": row["model_version"],
            "scored_by": row["scored_by"],
            "model_variant": row.get("model_variant"),
            ALERTS.ttl_attribute: int((event_time + timedelta(days=ttl_days)).timestamp()),
        }
        items.append(
            {
                name: _wire(kind, values[name])
                for name, kind in ALERTS.item.items()
                if values[name] is not None or name not in ALERTS.optional
            }
        )
    return items


class DynamoDBAlertSink(BatchSink):
    """Writes alerts with BatchWriteItem, 25 at a time, retrying unprocessed items with backoff.

    Args:
        table_name: the alerts table.
        client: a DynamoDB client; one with botocore's standard retries is built when None.
        ttl_days: items expire this long after the transaction's event time.
        max_attempts: attempts for items DynamoDB leaves unprocessed, before the batch fails.
        sleep: how to wait between attempts (injectable for tests).
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: DynamoDBClient | None = None,
        ttl_days: float = 90.0,
        max_attempts: int = 8,
        backoff_base_s: float = 0.05,
        backoff_cap_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.table_name = table_name
        self.client = client if client is not None else dynamodb_client(max_attempts=8)
        self.ttl_days = ttl_days
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._sleep = sleep
        self._random = random.Random()  # noqa: S311 - jitter, not cryptography

    def setup(self) -> None:
        try:
            with aws_errors(f"alerts table {self.table_name!r}"):
                self.client.describe_table(TableName=self.table_name)
        except ResourceNotFoundError as e:
            raise AlertsTableNotFoundError(str(e)) from e

    def write(self, batch_id: int, table: pa.Table, *, part: int = 0) -> int:
        # Within one call DynamoDB refuses two requests for the same key: last one wins here.
        items = {i[ALERTS.partition_key]["S"]: i for i in alert_items(table, ttl_days=self.ttl_days)}
        requests: list[WriteRequestTypeDef] = [{"PutRequest": {"Item": item}} for item in items.values()]
        for start in range(0, len(requests), BATCH_WRITE_MAX_ITEMS):
            self._write_chunk(batch_id, requests[start : start + BATCH_WRITE_MAX_ITEMS])
        return len(requests)

    def _write_chunk(self, batch_id: int, chunk: list[WriteRequestTypeDef]) -> None:
        pending = chunk
        for attempt in range(1, self.max_attempts + 1):
            with aws_errors(f"alerts table {self.table_name!r}"):
                response = self.client.batch_write_item(RequestItems={self.table_name: pending})
            pending = cast("list[WriteRequestTypeDef]", response.get("UnprocessedItems", {}).get(self.table_name, []))
            if not pending:
                return
            logger.info(
                "alerts left unprocessed, retrying",
                extra={"batch_id": batch_id, "unprocessed": len(pending), "attempt": attempt},
            )
            self._sleep(Backoff(self.backoff_base_s, self.backoff_cap_s).delay(attempt, self._random))
        raise AlertSinkError(
            f"{len(pending)} alert(s) of batch {batch_id} still unprocessed after {self.max_attempts} attempts"
        )
