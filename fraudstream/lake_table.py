"""A lake table's declaration (`LakeTable`), apart from the tables themselves (`fraudstream.lake`) so
that a table declared in a module of its own (`fraudstream.monitoring_table`) can be one of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["PARTITION_KEYS", "LakeTable"]

# Hive-style partition keys, both strings: dt=YYYY-MM-DD, hour=HH (zero-padded, UTC). Every table
# has them, but for `labels` (by day only: see LABELS).
PARTITION_KEYS: Final = ("dt", "hour")


@dataclass(frozen=True)
class LakeTable:
    """A table of the lake: its S3 prefix, its Parquet schema, the column that partitions it and its
    partition keys (`dt` and `hour`, or `dt` alone)."""

    name: str
    prefix: str
    schema: pa.Schema
    partition_time_column: str
    description: str
    partition_keys: tuple[str, ...] = PARTITION_KEYS

    @property
    def hourly(self) -> bool:
        """Whether the table is partitioned by hour as well as by day."""
        return "hour" in self.partition_keys
