"""The DynamoDB `alerts` table, described once: its key, the card index, the TTL attribute and the
layout of an item (ARCHITECTURE.md, "Alert item").

Local provisioning (`fraudstream.local.provision`), the CDK stack (`infrastructure.storage`) and the
processor's sink (`processor.sinks.dynamodb`) all derive what they create or write from `ALERTS`.
The shapes returned here are DynamoDB's API shapes, which CloudFormation's
`AWS::DynamoDB::Table` properties share.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ALERTS", "ALERTS_CARD_INDEX", "ALERTS_TTL_ATTRIBUTE", "AlertsTable", "AttributeType"]

# DynamoDB's attribute types used by an alert item: string, number, list (of strings here).
AttributeType = Literal["S", "N", "L"]


@dataclass(frozen=True)
class AlertsTable:
    """The table's shape.

    Args:
        partition_key: the table's key (one item per alerting transaction).
        index_name: the global secondary index answering "alerts of this card".
        index_partition_key, index_sort_key: that index's key.
        ttl_attribute: the epoch-seconds attribute DynamoDB expires items by.
        item: every attribute of an item, in order, with its DynamoDB type.
        optional: attributes an item leaves out when its row has no value (DynamoDB has no typed null).
    """

    partition_key: str
    index_name: str
    index_partition_key: str
    index_sort_key: str
    ttl_attribute: str
    item: Mapping[str, AttributeType]
    optional: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        keys = (self.partition_key, self.index_partition_key, self.index_sort_key)
        # Key attributes must be scalars, and every key and the TTL are part of each item.
        if any(self.item.get(k) not in ("S", "N") for k in keys) or self.item.get(self.ttl_attribute) != "N":
            raise ValueError("the alerts table's keys must be string or number attributes and its TTL a number")
        if not self.optional <= set(self.item) or self.optional & {*keys, self.ttl_attribute}:
            raise ValueError("optional attributes must be attributes of the item, and neither keys nor the TTL")

    def key_schema(self) -> list[dict[str, str]]:
        """The table's `KeySchema`."""
        return [{"AttributeName": self.partition_key, "KeyType": "HASH"}]

    def attribute_definitions(self) -> list[dict[str, str]]:
        """`AttributeDefinitions`: the key attributes of the table and of its index."""
        keys = (self.partition_key, self.index_partition_key, self.index_sort_key)
        return [{"AttributeName": k, "AttributeType": self.item[k]} for k in keys]

    def global_secondary_indexes(self) -> list[dict[str, Any]]:
        """`GlobalSecondaryIndexes` (without throughput: the table is billed per request)."""
        return [
            {
                "IndexName": self.index_name,
                "KeySchema": [
                    {"AttributeName": self.index_partition_key, "KeyType": "HASH"},
                    {"AttributeName": self.index_sort_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]

    def time_to_live(self) -> dict[str, Any]:
        """`TimeToLiveSpecification`."""
        return {"AttributeName": self.ttl_attribute, "Enabled": True}


ALERTS: Final = AlertsTable(
    partition_key="transaction_id",
    index_name="card_id-event_time-index",
    index_partition_key="card_id",
    index_sort_key="event_time",
    ttl_attribute="ttl",
    item=MappingProxyType(
        {
            "transaction_id": "S",
            "card_id": "S",
            "event_time": "S",  # ISO-8601, UTC, milliseconds: sorts as time does
            "amount": "N",
            "score": "N",
            "reasons": "L",  # of strings: the top contributing features
            "model_version": "S",
            "scored_by": "S",
            "model_variant": "S",  # the endpoint's variant that scored it; absent when the fallback did
            "ttl": "N",  # epoch seconds
        }
    ),
    optional=frozenset({"model_variant"}),
)
ALERTS_CARD_INDEX: Final = ALERTS.index_name
ALERTS_TTL_ATTRIBUTE: Final = ALERTS.ttl_attribute
