"""Fuzzing with Hypothesis: the batch-file reader (strict, or skipping invalid rows) and the endpoint's
payload parser never crash; bad input gets a clear error or a report (the reader) or a 4xx (the
endpoint), never a 5xx."""

from __future__ import annotations

import http.client
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudstream.batch_files import load_batch_file
from fraudstream.exceptions import BatchFileError

if TYPE_CHECKING:
    from pathlib import Path

    from ml_model.serving import LocalEndpointServer

HEADER = "transaction_id,event_time,card_id,terminal_id,amount,is_fraud"
cell = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12),
    st.integers(-(10**9), 10**9).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.just("2026-11-23T19:50:04Z"),
)
row = st.lists(cell, min_size=0, max_size=8).map(lambda cells: ",".join(c.replace("\n", " ") for c in cells))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, max_size=6), header=st.sampled_from([HEADER, "a,b,c", ""]))
def test_the_batch_file_reader_never_crashes(tmp_path: Path, rows: list[str], header: str) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    for skip_invalid in (False, True):
        try:
            loaded = load_batch_file(path, skip_invalid=skip_invalid)
        except BatchFileError as e:
            assert str(e)  # a message that names what is wrong
            continue
        frame = loaded.frame
        # what is accepted meets the contract, and every row is either accepted or reported
        assert frame["transaction_id"].is_unique
        assert ((frame["amount"] >= 0) & (frame["amount"] <= 1_000_000)).all()
        assert str(frame["event_time"].dt.tz) == "UTC"
        assert len(frame) + loaded.invalid.skipped == loaded.invalid.total
        assert skip_invalid or not loaded.invalid.skipped


@pytest.mark.parametrize("content_type", ["text/csv", "application/json", "text/plain"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=2_000) | st.text(max_size=500).map(str.encode))
def test_the_endpoint_answers_4xx_never_5xx_to_bad_payloads(
    endpoint: LocalEndpointServer, content_type: str, body: bytes
) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    try:
        conn.request("POST", "/invocations", body=body, headers={"Content-Type": content_type})
        status = conn.getresponse().status
    finally:
        conn.close()
    assert status < 500, (status, body[:80])
