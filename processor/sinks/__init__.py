"""The processor's idempotent per-batch sinks: the Parquet lake on S3 and the DynamoDB alerts table."""

from __future__ import annotations

from processor.sinks.base import BatchSink
from processor.sinks.dynamodb import DynamoDBAlertSink
from processor.sinks.s3_parquet import S3ParquetSink

__all__ = ["BatchSink", "DynamoDBAlertSink", "S3ParquetSink"]
