from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ml_model.scoring.sagemaker import encode_rows
from ml_model.serving._csv import CsvFormatError, parse_csv

_cells = st.floats(allow_infinity=False, width=64) | st.just(np.nan)


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=12), elements=_cells))
def test_client_encoding_round_trips_through_the_server_parser(matrix: np.ndarray) -> None:
    # GIVEN any finite-or-missing matrix of 2+ columns (one empty cell alone would be an empty line)
    body = ("\n".join(encode_rows(matrix)) + "\n").encode()
    # WHEN the endpoint parses it
    parsed = parse_csv(body)
    # THEN every value comes back bit for bit, missing values as NaN
    np.testing.assert_array_equal(parsed, matrix)


def test_empty_cells_are_missing_values() -> None:
    np.testing.assert_array_equal(parse_csv(b"1,,3\n,5,\n"), [[1, np.nan, 3], [np.nan, 5, np.nan]])


@pytest.mark.parametrize(
    "body",
    [
        b"amount,is_night\n1,2\n",
        b'"1",2\n',
        b"1,inf\n",
        b"1,-Infinity\n",
        b"1,2\n3\n",
        b"1,2\n\n3,4\n",
        b"1;2\n",
        b"\xef\xbb\xbf1,2\n",
        b"\xff\xfe,1\n",
        b"   \n",
    ],
    ids=["header", "quotes", "inf", "-inf", "ragged", "blank-row", "semicolon", "bom", "not-utf8", "blank"],
)
def test_unparsable_bodies(body: bytes) -> None:
    with pytest.raises(CsvFormatError):
        parse_csv(body)


def test_a_body_of_several_blocks_parses_on_threads_like_a_small_one() -> None:
    # GIVEN 8,000 rows of 27 columns: about 3 MiB, three of the parser's 1 MiB blocks (read on threads)
    rng = np.random.default_rng(7)
    matrix = rng.lognormal(2.0, 1.5, size=(8_000, 27))
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    lines = encode_rows(matrix)
    body = ("\n".join(lines) + "\n").encode()
    assert len(body) > 2 * 1024 * 1024
    # WHEN it is parsed whole and in single-block pieces
    # THEN both give the matrix back bit for bit
    np.testing.assert_array_equal(parse_csv(body), matrix)
    np.testing.assert_array_equal(parse_csv(("\n".join(lines[:100]) + "\n").encode()), matrix[:100])
    # AND a ragged row in a later block is refused as anywhere else
    lines[7_000] = lines[7_000].rsplit(",", 1)[0]
    with pytest.raises(CsvFormatError):
        parse_csv(("\n".join(lines) + "\n").encode())
