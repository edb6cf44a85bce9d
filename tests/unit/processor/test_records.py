"""Packing rows for the trip between stages: one blob per route, every row once, in order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql.types import LongType, StringType, StructField, StructType

from processor.records import PACK_ROWS, PACKED_SCHEMA, packed, read_packed

_X = StructType([StructField("x", LongType())])


def test_rows_are_packed_per_route_and_unpacked_in_order() -> None:
    table = pa.table({"x": [1, 2, 3, 4, 5]})
    routes = np.array(["b1", "b0", "b1", "b0", "b1"], dtype=object)
    times = np.array(["2026-01-01T00:00", "NaT", "2026-01-03T00:00", "2026-01-02T00:00", "NaT"], dtype="datetime64[us]")
    out = packed(table, routes, times)
    assert list(out.columns) == PACKED_SCHEMA.fieldNames()
    by_route = {r["route"]: r for r in out.to_dict("records")}
    assert read_packed([by_route["b0"]["rows"]], _X)["x"].to_pylist() == [2, 4]
    assert read_packed([by_route["b1"]["rows"]], _X)["x"].to_pylist() == [1, 3, 5]
    # each packed row's event time is the newest of its rows' (missing ones left out)
    assert by_route["b0"]["event_time"] == pd.Timestamp("2026-01-02")
    assert by_route["b1"]["event_time"] == pd.Timestamp("2026-01-03")


def test_no_rows_pack_to_no_packed_rows() -> None:
    out = packed(pa.table({"x": pa.array([], pa.int64())}), np.array([], dtype=object), pd.Timestamp(0))
    assert out.empty and list(out.columns) == PACKED_SCHEMA.fieldNames()


def test_a_route_with_many_rows_is_packed_in_bounded_blobs_each_at_its_newest_time() -> None:
    # GIVEN one route holding two and a half blobs' worth of rows, their times increasing
    n = 2 * PACK_ROWS + PACK_ROWS // 2
    table = pa.table({"i": np.arange(n)})
    times = np.datetime64("2026-11-23T00:00:00", "us") + np.arange(n).astype("timedelta64[s]")
    # WHEN packed
    out = packed(table, np.full(n, "b0", dtype=object), times)
    # THEN three packed rows of that route, none over PACK_ROWS rows, each at the newest time in it,
    # and together every row in order
    assert list(out["route"]) == ["b0"] * 3
    blobs = [pa.ipc.open_stream(blob).read_all() for blob in out["rows"]]
    assert [b.num_rows for b in blobs] == [PACK_ROWS, PACK_ROWS, PACK_ROWS // 2]
    assert list(out["event_time"]) == [times[PACK_ROWS - 1], times[2 * PACK_ROWS - 1], times[-1]]
    assert pa.concat_tables(blobs)["i"].to_pylist() == list(range(n))


def test_blobs_of_fewer_columns_are_read_with_the_missing_ones_null() -> None:
    # GIVEN one blob with every column of a schema and one without its last column (rows that a
    # stage passed on as they came)
    schema = StructType([StructField("x", LongType()), StructField("name", StringType())])
    full = packed(pa.table({"x": [1], "name": ["a"]}), np.array(["b0"], dtype=object), pd.Timestamp(0))
    fewer = packed(pa.table({"x": [2, 3]}), np.array(["b0", "b0"], dtype=object), pd.Timestamp(0))
    # WHEN read together
    table = read_packed([*full["rows"], *fewer["rows"]], schema)
    # THEN every row is there, in the schema, the missing column null
    assert table.schema.names == ["x", "name"]
    assert table.to_pylist() == [{"x": 1, "name": "a"}, {"x": 2, "name": None}, {"x": 3, "name": None}]
