"""The stages' keys: each partition of a stateful stage has a card key, a terminal key and a
pass-through key of its own, as Spark's shuffle partitions them."""

from __future__ import annotations

from typing import Any

import pytest

from processor.records import THROUGH_ROUTE, stage_keys

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("partitions", [1, 2, 4])
def test_every_partition_gets_one_key_of_each_kind(spark: Any, partitions: int) -> None:
    # GIVEN the keys for a number of partitions
    keys = stage_keys(spark, partitions)

    # WHEN rows keyed by them go through a hash shuffle of that many partitions, as before each stage
    def landed(names: tuple[str, ...]) -> list[int]:
        rows = (
            spark.createDataFrame([(i, name) for i, name in enumerate(names)], "i int, name string")
            .repartition(partitions, "name")
            .selectExpr("i", "spark_partition_id() AS part")
            .collect()
        )
        return [row["part"] for row in sorted(rows, key=lambda row: row["i"])]

    # THEN the i-th key of each kind lands in partition i, so no partition serves two keys of a kind
    # (and none is idle), and the pass-through keys are recognisable as such
    for names in (keys.cards, keys.terminals, keys.through):
        assert landed(names) == list(range(partitions))
    assert all(name.startswith(THROUGH_ROUTE) for name in keys.through)
    assert not any(name.startswith(THROUGH_ROUTE) for name in keys.cards + keys.terminals)
