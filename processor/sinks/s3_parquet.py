"""The Parquet lake on S3: `<table>/dt=YYYY-MM-DD/hour=HH/batch-<batch id>-<part>-<query>.parquet`
(`<table>/dt=YYYY-MM-DD/...` for a table partitioned by day), one file per lake partition, batch and
Spark partition that wrote it (no tiny-file storm), named after them so that a re-run of the batch
overwrites its own files, and after the streaming query so that two checkpoints over the same
streams never overwrite each other's."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fraudstream.lake import LakeTable, partition_path
from processor.sinks.base import BatchSink

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from pyarrow.fs import FileSystem

__all__ = ["S3ParquetSink", "batch_file_name"]

logger = logging.getLogger(__name__)


_FILE_WRITERS: Final = ThreadPoolExecutor(max_workers=4, thread_name_prefix="parquet")


def batch_file_name(batch_id: int, part: int = 0, query: str = "") -> str:
    """The file a batch's Spark partition `part` of streaming query `query` writes in each lake
    partition it touches."""
    return f"batch-{batch_id:012d}-{part:04d}{'-' + query if query else ''}.parquet"


class S3ParquetSink(BatchSink):
    """Writes a lake table's rows, partitioned by the UTC date and hour (or date alone, as the table
    says) of its time column.

    Args:
        bucket: the lake bucket.
        table: which lake table (schema, prefix, partition column).
        filesystem: a pyarrow filesystem (`fraudstream.aws.s3_filesystem()`, or a local one in tests).
        compression: Parquet codec.
        query: the streaming query's identity, in every file name (empty: none).
        s3: a boto3 S3 client: each file is then encoded in memory and uploaded with one PutObject.
            pyarrow's S3 output stream uploads every file as a multipart upload (three requests);
            for the lake's files, of one partition's rows of one hour, one request is a tenth of the
            time on the emulator and a third of the requests on S3.
    """

    def __init__(
        self,
        bucket: str,
        table: LakeTable,
        filesystem: FileSystem,
        compression: str = "zstd",
        *,
        query: str = "",
        s3: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        self.table = table
        self.filesystem = filesystem
        self.compression = compression
        self.query = query
        self.s3 = s3
        from pyarrow import fs

        self._local = isinstance(filesystem, fs.LocalFileSystem)
        # Dictionary pages for the text columns alone (ids, channels, who scored): numbers rarely
        # repeat within a file, and their dictionaries cost time and bytes. Measured on the lake's
        # transaction files: a quarter faster to encode at 125 rows, a third at 5,000, and smaller.
        self._dictionary = [f.name for f in table.schema if pa.types.is_string(f.type)]

    def setup(self) -> None:
        from pyarrow import fs

        info = self.filesystem.get_file_info(self.bucket)
        if info.type == fs.FileType.NotFound:
            from fraudstream.exceptions import ResourceNotFoundError

            raise ResourceNotFoundError(f"lake bucket {self.bucket!r} does not exist")

    def write(self, batch_id: int, table: pa.Table, *, part: int = 0) -> int:
        if table.num_rows == 0:
            return 0
        table = table.select(self.table.schema.names).cast(self.table.schema)
        # The rows of each lake partition, from one sort of their UTC hour (or day) numbers.
        period_us = 3_600_000_000 if self.table.hourly else 86_400_000_000
        times = table[self.table.partition_time_column].cast(pa.timestamp("us", tz="UTC"))
        times_us = times.cast(pa.int64()).to_numpy()
        periods = times_us // period_us
        order = np.argsort(periods, kind="stable")  # stable: a file keeps the batch's row order
        values, starts = np.unique(periods[order], return_index=True)
        ends = [*starts[1:], len(order)]
        groups = [(int(value), order[i:j]) for value, i, j in zip(values, starts, ends, strict=True)]
        options = {"compression": self.compression, "use_dictionary": self._dictionary}

        def write_file(group: tuple[int, np.ndarray]) -> None:
            period, rows_at = group
            start = datetime.fromtimestamp(period * period_us / 1e6, UTC)
            partition = partition_path(start.strftime("%Y-%m-%d"), start.hour if self.table.hourly else None)
            rows = table.take(pa.array(rows_at))
            directory = f"{self.bucket}/{self.table.prefix}{partition}"
            if self._local:  # object stores have no directories to create
                self.filesystem.create_dir(directory, recursive=True)
            path = f"{directory}/{batch_file_name(batch_id, part, self.query)}"
            if self.s3 is None:
                pq.write_table(rows, path, filesystem=self.filesystem, **options)
                return
            encoded = pa.BufferOutputStream()
            pq.write_table(rows, encoded, **options)
            bucket, key = path.split("/", 1)
            self.s3.put_object(Bucket=bucket, Key=key, Body=encoded.getvalue().to_pybytes())

        # Each file is a PUT that waits on the network: the files of several partitions go side by side.
        for _ in _FILE_WRITERS.map(write_file, groups):
            pass
        logger.debug("lake batch written", extra={"batch_id": batch_id, "table": self.table.name, "files": len(groups)})
        return len(groups)

    def read_all(self) -> pa.Table:
        """Every row of the table (for tests and small local queries)."""
        import pyarrow.dataset as ds

        dataset: Any = ds.dataset(
            f"{self.bucket}/{self.table.prefix}", filesystem=self.filesystem, format="parquet", partitioning="hive"
        )
        return dataset.to_table()
