"""Glue/Hive column types from the lake's one schema definition (`fraudstream.lake`), and the
partition projection that lets Athena find `dt=YYYY-MM-DD/hour=HH/` (`dt=YYYY-MM-DD/` for a table
partitioned by day) without crawlers or MSCK REPAIR. Pure functions: the Glue construct and the tests both call them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import pyarrow as pa

if TYPE_CHECKING:
    from fraudstream.lake import LakeTable

__all__ = [
    "PARQUET_INPUT_FORMAT",
    "PARQUET_OUTPUT_FORMAT",
    "PARQUET_SERDE",
    "GlueColumn",
    "UnsupportedArrowTypeError",
    "glue_columns",
    "glue_type",
    "location_template",
    "partition_columns",
    "projection_parameters",
]

PARQUET_INPUT_FORMAT: Final = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT: Final = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE: Final = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


class UnsupportedArrowTypeError(TypeError):
    """Raised when a lake column has an Arrow type with no Glue/Hive equivalent here."""


@dataclass(frozen=True)
class GlueColumn:
    """One Glue column: name, Hive type string, comment."""

    name: str
    type: str
    comment: str = ""


_SIMPLE: Final = {
    pa.string(): "string",
    pa.large_string(): "string",
    pa.bool_(): "boolean",
    pa.int8(): "tinyint",
    pa.int16(): "smallint",
    pa.int32(): "int",
    pa.int64(): "bigint",
    pa.float32(): "float",
    pa.float64(): "double",
    pa.date32(): "date",
    pa.binary(): "binary",
    pa.large_binary(): "binary",
}


def glue_type(arrow_type: pa.DataType) -> str:
    """The Hive type Athena reads a Parquet column of this Arrow type as.

    Raises:
        UnsupportedArrowTypeError: no mapping (for example unsigned integers, which Hive lacks).
    """
    if arrow_type in _SIMPLE:
        return _SIMPLE[arrow_type]
    if pa.types.is_timestamp(arrow_type):
        # Parquet stores the instant (UTC-adjusted); Athena reads it as timestamp, any unit.
        return "timestamp"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return f"array<{glue_type(arrow_type.value_type)}>"
    if pa.types.is_struct(arrow_type):
        fields = ",".join(f"{f.name}:{glue_type(f.type)}" for f in arrow_type)
        return f"struct<{fields}>"
    if pa.types.is_map(arrow_type):
        return f"map<{glue_type(arrow_type.key_type)},{glue_type(arrow_type.item_type)}>"
    raise UnsupportedArrowTypeError(f"no Glue type for Arrow type {arrow_type}")


def glue_columns(schema: pa.Schema) -> list[GlueColumn]:
    """The table's data columns, in the Parquet schema's order."""
    return [GlueColumn(f.name, glue_type(f.type), "" if f.nullable else "never null") for f in schema]


def partition_columns(table: LakeTable) -> list[GlueColumn]:
    """The table's partition keys, strings as the layout writes them (`dt=2026-11-23/hour=07`)."""
    comments = {"dt": "UTC date, YYYY-MM-DD", "hour": "UTC hour, 00-23"}
    return [GlueColumn(key, "string", comments.get(key, "")) for key in table.partition_keys]


def location_template(table: LakeTable, table_location: str) -> str:
    """`storage.location.template`: the table location followed by the table's partition layout.

    Args:
        table: the lake table.
        table_location: `s3://<bucket>/<table prefix>`, ending in `/`.
    """
    # One `key=${key}` segment per partition key, in the layout's order (tested against partition_path).
    return table_location + "/".join(f"{key}=${{{key}}}" for key in table.partition_keys) + "/"


def projection_parameters(table: LakeTable, table_location: str, *, dt_range: str) -> dict[str, str]:
    """Glue table parameters for Athena partition projection on dt (date) and, for an hourly table,
    hour (00-23).

    Args:
        table: the lake table.
        table_location: `s3://<bucket>/<table prefix>`.
        dt_range: `projection.dt.range`, for example `NOW-2YEARS,NOW+1DAYS`.
    """
    hour = (
        {"projection.hour.type": "integer", "projection.hour.range": "0,23", "projection.hour.digits": "2"}
        if table.hourly
        else {}
    )
    return {
        "classification": "parquet",
        "projection.enabled": "true",
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": dt_range,
        "projection.dt.interval": "1",
        "projection.dt.interval.unit": "DAYS",
        **hour,
        "storage.location.template": location_template(table, table_location),
        "fraudstream.partition_time_column": table.partition_time_column,
    }
