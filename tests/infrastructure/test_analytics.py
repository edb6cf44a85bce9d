"""Glue tables and Athena: the catalog declares exactly what the processor writes, where it writes it.

The proof goes through real files: the processor's own lake writer (`S3ParquetSink`) writes each
table, and the Glue columns, types and partition projection of the synthesized template are checked
against the Parquet schema of those files and against the paths they landed at.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from fraudstream.lake import LABELS, LAKE_TABLES, MONITORING, partition_path
from fraudstream.named_queries import NAMED_QUERIES
from infrastructure.app import DEV
from infrastructure.constants import ATHENA_RESULTS_PREFIX, DEFAULT_GLUE_DATABASE
from ml_model.monitor_cli import write_daily
from processor.sinks import S3ParquetSink
from tests.infrastructure.helpers import only, render, resources

if TYPE_CHECKING:
    from pathlib import Path

    from aws_cdk.assertions import Template

    from fraudstream.lake import LakeTable

T0 = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)


def _value(field: pa.Field, i: int) -> Any:
    t = field.type
    if pa.types.is_timestamp(t):
        return T0 + timedelta(minutes=20 * i)
    if pa.types.is_boolean(t):
        return i % 2 == 0
    if pa.types.is_integer(t):
        return i
    if pa.types.is_floating(t):
        return i + 0.5
    if pa.types.is_list(t):
        return [f"{field.name}-{i}"]
    return f"{field.name}-{i}"


# The days of the sample's monitoring rows (one per row of `_sample`).
_MONITORED_DAYS = [f"2026-03-0{day}" for day in range(1, 7)]


def _sample(table: LakeTable, rows: int = 6) -> pa.Table:
    """Rows of every column of the table, spanning three hours and two dates of the partition column."""
    return pa.Table.from_pylist(
        [{f.name: _value(f, i) for f in table.schema} for i in range(rows)], schema=table.schema
    )


# How Athena (Hive SerDe over Parquet) reads each Parquet column: (physical type, logical type) -> Hive
# type. Independent of the code under test: it is read off the files, not the Arrow schema.
_ATHENA_READS = {
    ("BYTE_ARRAY", "STRING"): "string",
    ("INT32", "NONE"): "int",
    ("INT64", "NONE"): "bigint",
    ("DOUBLE", "NONE"): "double",
    ("BOOLEAN", "NONE"): "boolean",
    ("INT64", "TIMESTAMP"): "timestamp",  # an instant: isAdjustedToUTC, checked below
}


def _hive_types_in_file(path: str) -> dict[str, str]:
    schema = pq.ParquetFile(path).schema
    types: dict[str, str] = {}
    for i in range(len(schema)):
        column = schema.column(i)
        top = column.path.split(".")[0]
        logical = column.logical_type
        hive = _ATHENA_READS[(column.physical_type, logical.type)]
        if logical.type == "TIMESTAMP":
            assert "isAdjustedToUTC=true" in str(logical), column.path
        # A repeated leaf (`reasons.list.element`) is an array of its element type.
        types[top] = f"array<{hive}>" if column.max_repetition_level > 0 else hive
    return types


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Each lake table written by the processor's sink to a local 'bucket': table -> file paths."""
    bucket = tmp_path_factory.mktemp("lake")
    filesystem = fs.LocalFileSystem()
    files: dict[str, list[str]] = {}
    for table in LAKE_TABLES:
        if table is MONITORING:  # written by the model monitor, one file per day, not by the processor's sink
            for dt in _MONITORED_DAYS:  # (a local folder, unlike an S3 prefix, must exist)
                filesystem.create_dir(f"{bucket}/{table.prefix}{partition_path(dt)}")
            write_daily(
                _sample(table).to_pandas().assign(dt=_MONITORED_DAYS), str(bucket), filesystem, model_version="m"
            )
        else:
            S3ParquetSink(str(bucket), table, filesystem).write(1, _sample(table))
        selector = fs.FileSelector(f"{bucket}/{table.prefix}", recursive=True)
        files[table.name] = sorted(i.path for i in filesystem.get_file_info(selector) if i.type == fs.FileType.File)
        assert files[table.name], table.name
    return files


def _tables(template: Template) -> dict[str, dict[str, Any]]:
    return {
        t["Properties"]["TableInput"]["Name"]: render(t["Properties"])
        for t in resources(template, "AWS::Glue::Table").values()
    }


def test_glue_columns_and_types_equal_the_parquet_the_processor_writes(
    dev: Template, written: dict[str, list[str]]
) -> None:
    tables = _tables(dev)
    assert set(tables) == {t.name for t in LAKE_TABLES}
    for table in LAKE_TABLES:
        storage = tables[table.name]["TableInput"]["StorageDescriptor"]
        declared = [(c["Name"], c["Type"]) for c in storage["Columns"]]
        for path in written[table.name]:
            in_file = _hive_types_in_file(path)
            # The same columns, in the same order, with the types Athena reads them as.
            assert declared == list(in_file.items()), table.name
        assert storage["SerdeInfo"]["SerializationLibrary"] == (
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
        )
        assert storage["InputFormat"].endswith("MapredParquetInputFormat")


def test_partition_projection_finds_the_files_where_the_processor_writes_them(
    dev: Template, written: dict[str, list[str]]
) -> None:
    lake_id = next(
        i for i, b in resources(dev, "AWS::S3::Bucket").items() if "VersioningConfiguration" in b["Properties"]
    )
    tables = _tables(dev)
    for table in LAKE_TABLES:
        table_input = tables[table.name]["TableInput"]
        params = table_input["Parameters"]
        # GIVEN dt (and hour, but for a table partitioned by day) as the layout's string keys,
        # projected as a date and a two-digit hour
        keys = list(table.partition_keys)
        assert [(k["Name"], k["Type"]) for k in table_input["PartitionKeys"]] == [(k, "string") for k in keys]
        assert params["projection.enabled"] == "true"
        assert (params["projection.dt.type"], params["projection.dt.format"]) == ("date", "yyyy-MM-dd")
        assert (params["projection.dt.interval"], params["projection.dt.interval.unit"]) == ("1", "DAYS")
        assert params["projection.dt.range"] == DEV.lake.projection_dt_range
        hour_projection = tuple(params.get(f"projection.hour.{p}") for p in ("type", "range", "digits"))
        assert hour_projection == (("integer", "0,23", "2") if "hour" in keys else (None, None, None))
        template = params["storage.location.template"]
        location = f"s3://<{lake_id}>/{table.prefix}"
        assert table_input["StorageDescriptor"]["Location"] == location
        # WHEN the template is filled in for any hour THEN it is the lake's own partition path
        for hour in range(24) if "hour" in keys else [None]:
            filled = template.replace("${dt}", "2026-11-23")
            if hour is not None:
                filled = filled.replace("${hour}", f"{hour:02d}")
            assert filled == f"{location}{partition_path('2026-11-23', hour)}/"
        # and the processor's files sit exactly in the directories it names
        for path in written[table.name]:
            *parts, _file = path.split(f"/{table.prefix}", 1)[1].split("/")
            assert [p.split("=")[0] for p in parts] == keys
            filled = template
            for part in parts:
                key, value = part.split("=")
                filled = filled.replace(f"${{{key}}}", value)
            assert filled == f"{location}{'/'.join(parts)}/"


def test_the_glue_database_holds_the_tables(dev: Template) -> None:
    _, database = only(dev, "AWS::Glue::Database")
    assert database["Properties"]["DatabaseInput"]["Name"] == DEFAULT_GLUE_DATABASE
    for table in resources(dev, "AWS::Glue::Table").values():
        assert table["Properties"]["DatabaseName"] == DEFAULT_GLUE_DATABASE
        assert table["Properties"]["TableInput"]["TableType"] == "EXTERNAL_TABLE"


def test_the_workgroup_enforces_an_encrypted_result_location_in_the_lake(dev: Template) -> None:
    key_id, _ = only(dev, "AWS::KMS::Key")
    lake_id = next(
        i for i, b in resources(dev, "AWS::S3::Bucket").items() if "VersioningConfiguration" in b["Properties"]
    )
    _, workgroup = only(dev, "AWS::Athena::WorkGroup")
    config = render(workgroup["Properties"]["WorkGroupConfiguration"])
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["PublishCloudWatchMetricsEnabled"] is True
    assert config["BytesScannedCutoffPerQuery"] == DEV.lake.bytes_scanned_cutoff
    assert config["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert config["ResultConfiguration"] == {
        "OutputLocation": f"s3://<{lake_id}>/{ATHENA_RESULTS_PREFIX}",
        "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": f"<{key_id}.Arn>"},
    }
    assert workgroup["Properties"]["RecursiveDeleteOption"] is True


def test_the_named_queries_are_the_ones_fraudstream_query_runs(dev: Template) -> None:
    workgroup_id, _ = only(dev, "AWS::Athena::WorkGroup")
    saved = {q["Properties"]["Name"]: q["Properties"] for q in resources(dev, "AWS::Athena::NamedQuery").values()}
    assert set(saved) == {q.name for q in NAMED_QUERIES}
    for query in NAMED_QUERIES:
        props = saved[query.name]
        assert props["QueryString"] == query.sql
        assert props["Description"] == query.description
        assert props["Database"] == DEFAULT_GLUE_DATABASE
        assert props["WorkGroup"] == {"Ref": workgroup_id}


def test_every_partition_key_is_written_as_the_layout_says(written: dict[str, list[str]], tmp_path: Path) -> None:
    # The layout itself: dt=YYYY-MM-DD/hour=HH under each table's prefix, by the partition column (UTC);
    # dt=YYYY-MM-DD alone for the labels, by their label_time.
    assert LABELS.partition_time_column == "label_time"
    for table in LAKE_TABLES:
        if table is MONITORING:  # a row per monitored day, which is its partition (no column holds it)
            expected = {partition_path(dt) for dt in _MONITORED_DAYS}
        else:
            sample = _sample(table)
            expected = {
                partition_path(t.strftime("%Y-%m-%d"), t.hour if table.hourly else None)
                for t in sample[table.partition_time_column].to_pylist()
            }
        found = {p.split(f"/{table.prefix}", 1)[1].rsplit("/", 1)[0] for p in written[table.name]}
        assert found == expected


def test_the_chargebacks_have_a_glue_table_and_a_named_query(dev: Template) -> None:
    # GIVEN the labels table of the lake (the label contract, the record's source, the batch)
    labels = _tables(dev)[LABELS.name]["TableInput"]
    columns = [c["Name"] for c in labels["StorageDescriptor"]["Columns"]]
    # THEN Athena sees it with every field of a chargeback, partitioned by the day of its label_time
    assert columns[:7] == [
        "schema_version",
        "transaction_id",
        "card_id",
        "terminal_id",
        "tx_event_time",
        "label_time",
        "is_fraud",
    ]
    assert {"stream_name", "shard_id", "sequence_number", "arrival_time", "batch_id", "processed_at"} <= set(columns)
    assert labels["Parameters"]["fraudstream.partition_time_column"] == "label_time"
    # AND a named query reads it
    saved = {q["Properties"]["Name"]: q["Properties"] for q in resources(dev, "AWS::Athena::NamedQuery").values()}
    assert f"FROM {LABELS.name}" in saved["chargebacks-by-day"]["QueryString"]
