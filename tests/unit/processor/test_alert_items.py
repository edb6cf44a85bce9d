"""The alert item's variant: carried when the endpoint's variant scored the row, left out when the
fallback did (DynamoDB has no typed null), and the table description that says which attributes may be absent."""

from __future__ import annotations

from types import MappingProxyType

import pyarrow as pa
import pytest

from fraudstream.alerts_table import ALERTS, AlertsTable
from fraudstream.lake import TRANSACTIONS
from processor.sinks.dynamodb import alert_items
from tests.scored_rows import scored_rows


def _with_variants(table: pa.Table, variants: list[str | None]) -> pa.Table:
    index = table.schema.get_field_index("model_variant")
    return table.set_column(index, TRANSACTIONS.schema.field("model_variant"), pa.array(variants, pa.string()))


def test_the_lake_column_is_a_nullable_string() -> None:
    field = TRANSACTIONS.schema.field("model_variant")
    assert field.type == pa.string() and field.nullable


def test_an_alert_carries_its_variant_and_one_the_fallback_scored_has_none() -> None:
    # GIVEN three alerting rows: two scored by variants, one by the fallback
    table = _with_variants(scored_rows(7, alert_every=3), ["champion", None, None, None, None, None, "challenger"])
    fallback = table.column("scored_by").to_pylist()
    fallback[3] = "fallback"
    table = table.set_column(table.schema.get_field_index("scored_by"), "scored_by", pa.array(fallback))
    # WHEN they become alert items
    items = {i["transaction_id"]["S"]: i for i in alert_items(table, ttl_days=30)}
    # THEN each variant's item names it; the fallback's item has no model_variant attribute
    assert items["tx-00000"]["model_variant"] == {"S": "champion"}
    assert items["tx-00006"]["model_variant"] == {"S": "challenger"}
    assert "model_variant" not in items["tx-00003"]
    assert set(items["tx-00003"]) == set(ALERTS.item) - ALERTS.optional
    assert all(set(i) == set(ALERTS.item) for k, i in items.items() if k != "tx-00003")


@pytest.mark.parametrize("optional", [{"transaction_id"}, {"ttl"}, {"nope"}], ids=["key", "ttl", "unknown"])
def test_keys_and_the_ttl_cannot_be_optional(optional: set[str]) -> None:
    with pytest.raises(ValueError, match="optional attributes"):
        AlertsTable(
            partition_key="transaction_id",
            index_name="i",
            index_partition_key="card_id",
            index_sort_key="event_time",
            ttl_attribute="ttl",
            item=MappingProxyType({"transaction_id": "S", "card_id": "S", "event_time": "S", "ttl": "N"}),
            optional=frozenset(optional),
        )
