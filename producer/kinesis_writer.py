"""A Kinesis writer that behaves like a production producer: full PutRecords batches, per-record
retries of only the failed entries with exponential backoff and full jitter, per-key order kept
through retries, and a dead-letter file for what still fails: nothing is dropped silently."""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import botocore.exceptions

from fraudstream.aws import aws_errors, kinesis_client
from fraudstream.exceptions import AwsUnreachableError, ResourceNotFoundError
from fraudstream.retry import Backoff
from producer.exceptions import KinesisStreamNotFoundError, PutRecordsFatalError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_kinesis.type_defs import PutRecordsRequestEntryTypeDef

    from producer.dead_letter import DeadLetterFile

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_RECORDS", "MAX_RECORD_BYTES", "KinesisWriter", "WriterStats"]

logger = logging.getLogger(__name__)

# Kinesis limits: at most 500 records and 5 MiB per PutRecords call, 1 MiB per record
# (data plus partition key).
MAX_BATCH_RECORDS: Final = 500
MAX_BATCH_BYTES: Final = 5 * 1024 * 1024
MAX_RECORD_BYTES: Final = 1024 * 1024

THROTTLING_CODES: Final = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "LimitExceededException"}
)
# Errors that retrying cannot fix: stop, dead-letter what is buffered, tell the user.
FATAL_CODES: Final = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "ValidationException",
        "InvalidArgumentException",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSNotFoundException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
    }
)


@dataclass
class WriterStats:
    """Running counts for one stream."""

    sent: int = 0
    retried: int = 0
    dead_lettered: int = 0
    throttled: int = 0
    calls: int = 0


@dataclass(slots=True)
class _Entry:
    partition_key: str
    data: bytes
    attempts: int = 0
    size: int = 0

    def __post_init__(self) -> None:
        self.size = len(self.data) + len(self.partition_key.encode())


class KinesisWriter:
    """Buffers records and writes them with PutRecords.

    Args:
        stream_name: the target stream.
        dead_letter: where records go that still fail after `max_attempts`.
        client: a Kinesis client; one with botocore's adaptive retry mode is built when None.
        max_attempts: attempts per record before it is dead-lettered.
        backoff_base_s: first backoff ceiling; it doubles with each consecutive failed call.
        backoff_cap_s: the largest backoff.
        ordered: keep per-partition-key order even through retries, by sending at most one record
            per key in a call (PutRecords itself does not keep order when some entries fail).
        sleep: how to wait (injectable so that tests need not wait).
        on_batch: called after every PutRecords call with the stats, for progress displays.
    """

    def __init__(
        self,
        stream_name: str,
        *,
        dead_letter: DeadLetterFile,
        client: KinesisClient | None = None,
        max_attempts: int = 8,
        backoff_base_s: float = 0.05,
        backoff_cap_s: float = 5.0,
        ordered: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        on_batch: Callable[[WriterStats], None] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.stream_name = stream_name
        self.dead_letter = dead_letter
        # botocore's adaptive mode rate-limits the client itself when whole calls are throttled.
        self.client = client if client is not None else kinesis_client(retry_mode="adaptive", max_attempts=6)
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.ordered = ordered
        self.stats = WriterStats()
        self._sleep = sleep
        self._on_batch = on_batch
        self._pending: list[_Entry] = []
        self._pending_bytes = 0
        self._consecutive_failures = 0
        self._last_call_at = time.monotonic()
        self._random = random.Random()  # noqa: S311 - jitter, not cryptography
        self._stats_lock = threading.Lock()
        self._batches: queue.Queue[list[_Entry] | None] = queue.Queue(maxsize=1)
        self._sender_error: BaseException | None = None
        self._sender = threading.Thread(target=self._run_sender, name=f"kinesis-writer-{stream_name}", daemon=True)
        self._sender.start()

    def setup(self) -> None:
        """Check that the stream exists and accepts writes.

        Raises:
            KinesisStreamNotFoundError: no such stream.
        """
        try:
            with aws_errors(f"stream {self.stream_name!r}"):
                summary = self.client.describe_stream_summary(StreamName=self.stream_name)
        except ResourceNotFoundError as e:
            raise KinesisStreamNotFoundError(str(e)) from e
        status = summary["StreamDescriptionSummary"]["StreamStatus"]
        if status not in ("ACTIVE", "UPDATING"):
            raise KinesisStreamNotFoundError(f"stream {self.stream_name!r} is {status}, not ACTIVE")

    @property
    def pending(self) -> int:
        return len(self._pending)

    def put(self, partition_key: str, data: bytes) -> None:
        """Buffer one record; hands a full batch to the sender whenever one is buffered."""
        self._raise_sender_error()
        entry = _Entry(partition_key, data)
        if entry.size > MAX_RECORD_BYTES:
            self._dead_letter(entry, "RecordTooLarge", f"{entry.size} bytes exceeds the 1 MiB Kinesis record limit")
            return
        self._pending.append(entry)
        self._pending_bytes += entry.size
        # Twice a batch is buffered so that `ordered` can still fill a call with distinct keys.
        while len(self._pending) >= 2 * MAX_BATCH_RECORDS or self._pending_bytes >= 2 * MAX_BATCH_BYTES:
            self._submit(self._take_batch())

    def fills_batch(self, partition_key: str, data: bytes) -> bool:
        """Whether `put` of this record hands a batch to the sender (the caller may first send what
        another stream buffered: see `producer.stream_producer.ProducerRun`)."""
        entry = _Entry(partition_key, data)
        return (
            len(self._pending) + 1 >= 2 * MAX_BATCH_RECORDS or self._pending_bytes + entry.size >= 2 * MAX_BATCH_BYTES
        )

    def flush(self) -> None:
        """Send everything buffered; returns when each record is written or dead-lettered."""
        while self._pending:
            self._submit(self._take_batch())
        self._batches.join()
        self._raise_sender_error()

    def flush_if_idle(self, linger_s: float) -> None:
        """Send what is buffered if no call went out for `linger_s`: a trickle of records is not
        held back waiting for a full batch, while a steady flow still goes out in full batches."""
        if self._pending and self._batches.unfinished_tasks == 0 and time.monotonic() - self._last_call_at > linger_s:
            self.flush()

    def abort(self, error_code: str, error_message: str) -> None:
        """Dead-letter everything still buffered (used when the run cannot go on)."""
        for entry in self._pending:
            self._dead_letter(entry, error_code, error_message)
        self._pending = []
        self._pending_bytes = 0

    def close(self) -> None:
        """Stop the sender thread (after `flush`)."""
        if self._sender.is_alive():
            self._batches.put(None)
            self._sender.join(timeout=30)

    def _take_batch(self) -> list[_Entry]:
        batch: list[_Entry] = []
        skipped: list[_Entry] = []
        keys: set[str] = set()
        size = 0
        i = 0
        for i, entry in enumerate(self._pending):  # noqa: B007 - i is used after the loop
            if len(batch) == MAX_BATCH_RECORDS or size + entry.size > MAX_BATCH_BYTES:
                break
            if self.ordered and entry.partition_key in keys:
                skipped.append(entry)  # the key's earlier record goes first; this one waits
                continue
            batch.append(entry)
            keys.add(entry.partition_key)
            size += entry.size
        else:
            i = len(self._pending)
        self._pending = skipped + self._pending[i:]
        self._pending_bytes -= size
        return batch

    # -- the sender thread ------------------------------------------------------------------------
    # One PutRecords call is in flight at a time, and a batch's retries finish before the next
    # batch goes: so per-key order holds, while the caller builds the next batch during the call.

    def _submit(self, batch: list[_Entry]) -> None:
        if batch:
            self._batches.put(batch)  # blocks while the previous batch is still being sent
            self._raise_sender_error()

    def _run_sender(self) -> None:
        while True:
            batch = self._batches.get()
            try:
                if batch is None:
                    return
                if self._sender_error is not None:
                    self._dead_letter_all(batch, "Aborted", "the writer stopped on an earlier error")
                    continue
                self._send_with_retries(batch)
            except BaseException as e:  # handed to the caller's thread on its next call
                self._sender_error = e
            finally:
                self._batches.task_done()

    def _raise_sender_error(self) -> None:
        if self._sender_error is not None:
            error, self._sender_error = self._sender_error, None
            self.abort("Aborted", f"the writer stopped on an earlier error: {error}")
            raise error

    def _dead_letter_all(self, entries: list[_Entry], code: str, message: str) -> None:
        for entry in entries:
            self._dead_letter(entry, code, message)

    def _send_with_retries(self, batch: list[_Entry]) -> None:
        while batch:
            batch = self._send_once(batch)
            if batch:
                self._consecutive_failures += 1
                # Full jitter: a random wait up to a ceiling that doubles with each failing call.
                backoff = Backoff(self.backoff_base_s, self.backoff_cap_s)
                self._sleep(backoff.delay(self._consecutive_failures, self._random))
            else:
                self._consecutive_failures = 0

    def _send_once(self, batch: list[_Entry]) -> list[_Entry]:
        """One PutRecords call; returns the entries to try again."""
        records: list[PutRecordsRequestEntryTypeDef] = [
            {"Data": e.data, "PartitionKey": e.partition_key} for e in batch
        ]
        self.stats.calls += 1
        failed: list[tuple[_Entry, str, str]] = []
        try:
            response = self.client.put_records(StreamName=self.stream_name, Records=records)
        except botocore.exceptions.ClientError as e:
            code = e.response.get("Error", {}).get("Code", "ClientError")
            message = e.response.get("Error", {}).get("Message", str(e))
            if code in FATAL_CODES:
                self._dead_letter_all(batch, code, message)
                if code == "ResourceNotFoundException":
                    raise KinesisStreamNotFoundError(f"stream {self.stream_name!r} does not exist ({code})") from e
                raise PutRecordsFatalError(f"PutRecords to {self.stream_name!r} failed: {code}: {message}") from e
            # botocore already retried this call; its records go through the per-record retry below.
            failed = [(entry, code, message) for entry in batch]
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectionClosedError) as e:
            self._dead_letter_all(batch, "EndpointUnreachable", str(e))
            raise AwsUnreachableError(f"cannot reach Kinesis: {e}") from e
        else:
            for entry, result in zip(batch, response["Records"], strict=True):
                if "ErrorCode" in result:
                    failed.append((entry, result["ErrorCode"], result.get("ErrorMessage", "")))
                else:
                    self.stats.sent += 1
        finally:
            self._last_call_at = time.monotonic()

        retry: list[_Entry] = []
        for entry, code, message in failed:
            entry.attempts += 1
            if code in THROTTLING_CODES:
                self.stats.throttled += 1
            if entry.attempts >= self.max_attempts:
                self._dead_letter(entry, code, message)
            else:
                retry.append(entry)
                self.stats.retried += 1
        if failed:
            logger.debug("put_records partial failure", extra={"stream": self.stream_name, "failed": len(failed)})
        if self._on_batch is not None:
            self._on_batch(self.stats)
        return retry

    def _dead_letter(self, entry: _Entry, code: str, message: str) -> None:
        self.dead_letter.write(
            stream=self.stream_name,
            partition_key=entry.partition_key,
            data=entry.data,
            error_code=code,
            error_message=message,
            attempts=entry.attempts,
        )
        with self._stats_lock:  # both the caller's and the sender's thread dead-letter
            self.stats.dead_lettered += 1
        logger.warning(
            "record dead-lettered",
            extra={"stream": self.stream_name, "partition_key": entry.partition_key, "error_code": code},
        )
