"""Reads lake files back with boto3 and pyarrow, independently of the code under test."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

__all__ = ["read_parquet"]


def read_parquet(s3: Any, bucket: str, prefix: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Every row of every Parquet file under `prefix`, each with the `key` of its file.

    Given `columns`, only those (also when there is no file yet: an empty frame with them).
    """
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    ]
    frames = [
        pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read())).to_pandas().assign(key=k)
        for k in keys
    ]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return rows if columns is None else rows[columns]
