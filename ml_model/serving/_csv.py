"""Parsing of `text/csv` request bodies as SageMaker's XGBoost container accepts them, fast.

The contract: UTF-8 without BOM, rows separated by newlines, no header, no quotes, comma-separated
numbers; an empty cell is a missing value. A header, a quote, `inf` or rows of different lengths
make the body unparsable (the container answers 415). Parsing is the cost of the endpoint, not the
model, so the body goes through Arrow's multi-threaded C++ CSV reader straight into numpy arrays.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pyarrow as pa
from pyarrow import csv as pacsv

__all__ = ["CsvFormatError", "parse_csv"]

_PARSE: Final = pacsv.ParseOptions(
    delimiter=",",
    quote_char=False,
    double_quote=False,
    escape_char=False,
    newlines_in_values=False,
    ignore_empty_lines=False,
)
# 1 MiB blocks: a 2-6 MiB body (4,000-10,000 rows) is parsed on every core. A body of one block is
# parsed in the calling thread: handing it to Arrow's pool only adds the wake-up of a pool thread.
_BLOCK_SIZE: Final = 1024 * 1024


class CsvFormatError(ValueError):
    """Raised when a body is not the contract's CSV (the endpoint answers 415)."""


def parse_csv(body: bytes) -> np.ndarray:
    """Parse a `text/csv` body into a float64 matrix, NaN for empty cells.

    Args:
        body: the request body; surrounding whitespace (the trailing newline) is ignored.

    Returns:
        An array of shape (rows, columns).

    Raises:
        CsvFormatError: the body is not numeric CSV with the same number of columns on every row.
    """
    data = body.strip()
    if not data:
        raise CsvFormatError("no rows")
    if data.startswith(b"\xef\xbb\xbf"):
        raise CsvFormatError("the body starts with a byte-order mark")
    first_newline = data.find(b"\n")
    columns = data.count(b",", 0, first_newline if first_newline >= 0 else len(data)) + 1
    names = [f"f{i}" for i in range(columns)]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(
                column_names=names, use_threads=len(data) > _BLOCK_SIZE, block_size=_BLOCK_SIZE
            ),
            parse_options=_PARSE,
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.float64()),
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as e:
        raise CsvFormatError(str(e)) from e
    # Arrow reads an empty line as a row of nulls; the container refuses it. Every other line has
    # exactly columns - 1 commas (ragged lines were refused above), so the commas tell.
    if columns > 1 and data.count(b",") != table.num_rows * (columns - 1):
        raise CsvFormatError("empty row")
    matrix = np.empty((table.num_rows, columns), dtype=np.float64)
    for i, column in enumerate(table.columns):
        matrix[:, i] = column.to_numpy()
    if np.isinf(matrix).any():
        raise CsvFormatError("infinite values are not accepted")
    return matrix
