"""The rows between the processor's stages: one Arrow definition each, which Spark sees unchanged."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from pyspark.sql.pandas.types import to_arrow_schema

from fraudstream.contracts import LABEL_ARROW_SCHEMA, TRANSACTION_ARROW_SCHEMA, Label, Transaction
from fraudstream.feature_names import FEATURE_NAMES
from fraudstream.lake import QUARANTINE, TRANSACTIONS
from fraudstream.stream_rows import CARD_STAGE_INPUT_ROW, CARD_STAGE_ROW, PARSED_LABEL_ROW, PARSED_ROW, STAGED_ROW
from processor.parsing import LABELS_SCHEMA, PARSED_SCHEMA
from processor.records import CARD_STAGE_INPUT_SCHEMA, CARD_STAGE_SCHEMA, STAGED_SCHEMA

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.types import StructType

PAIRS = [
    (PARSED_ROW, PARSED_SCHEMA),
    (PARSED_LABEL_ROW, LABELS_SCHEMA),
    (CARD_STAGE_INPUT_ROW, CARD_STAGE_INPUT_SCHEMA),
    (CARD_STAGE_ROW, CARD_STAGE_SCHEMA),
    (STAGED_ROW, STAGED_SCHEMA),
]


@pytest.mark.parametrize(("arrow", "spark"), PAIRS, ids=["parsed", "label", "card_in", "card_out", "staged"])
def test_the_spark_schema_is_the_arrow_one(arrow: pa.Schema, spark: StructType) -> None:
    # GIVEN a row's Arrow schema and the processor's Spark schema derived from it
    # WHEN Spark hands the rows to Python (Arrow, timestamps in microseconds, UTC)
    # THEN they have exactly the core's columns, types and nullability, in its order
    assert to_arrow_schema(spark) == arrow


def test_the_event_schemas_are_the_validators_fields() -> None:
    # the Arrow schemas name what parse_transaction and parse_label return, in the same order
    assert TRANSACTION_ARROW_SCHEMA.names == list(Transaction.__annotations__)
    assert LABEL_ARROW_SCHEMA.names == list(Label.__annotations__)


def test_staged_rows_carry_the_lake_columns_they_feed_with_their_types() -> None:
    # GIVEN the columns a staged row shares with the lake's transactions and quarantine tables
    for table in (TRANSACTIONS, QUARANTINE):
        shared = [f for f in table.schema if f.name in STAGED_ROW.names]
        assert shared
        # THEN each has the lake's type (staged rows are nullable: invalid rows lack the event's fields)
        for field in shared:
            assert STAGED_ROW.field(field.name).type == field.type, field.name
    # and every feature is a staged column
    assert set(FEATURE_NAMES) <= set(STAGED_ROW.names)
