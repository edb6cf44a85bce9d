"""Real partial failures for PutRecords: botocore hooks take chosen entries out of the HTTP
request before it is sent (so the emulator never stores them) and report them failed in the
response, exactly as Kinesis reports per-record failures."""

from __future__ import annotations

import json
import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_kinesis import KinesisClient


class PutRecordsFaults:
    """Fails a share of PutRecords entries, or every entry whose data matches `always_fail`.

    Args:
        client: the Kinesis client to inject into.
        share: chance that any entry fails on a given attempt.
        error_code: the per-record error code reported.
        always_fail: entries whose decoded data this returns True for fail on every attempt.
        seed: makes the choice of failing entries reproducible.
    """

    def __init__(
        self,
        client: KinesisClient,
        *,
        share: float = 0.0,
        error_code: str = "ProvisionedThroughputExceededException",
        always_fail: Callable[[bytes], bool] | None = None,
        seed: int = 7,
    ) -> None:
        self.share = share
        self.error_code = error_code
        self.always_fail = always_fail
        self.failed_entries = 0
        self.calls = 0
        self._rng = random.Random(seed)
        client.meta.events.register("before-call.kinesis.PutRecords", self._before)
        client.meta.events.register("after-call.kinesis.PutRecords", self._after)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> Any:
        import base64

        body = json.loads(params["body"])
        keep, failed = [], []
        for i, record in enumerate(body["Records"]):
            data = base64.b64decode(record["Data"])
            if (self.always_fail and self.always_fail(data)) or self._rng.random() < self.share:
                failed.append(i)
            else:
                keep.append(record)
        self.calls += 1
        context["injected_failures"] = failed
        if not keep:
            # Nothing left to send: answer without calling the emulator (botocore uses a response
            # returned by a before-call handler instead of making the request).
            return _Http200(), {"FailedRecordCount": 0, "Records": [], "ResponseMetadata": {"HTTPStatusCode": 200}}
        body["Records"] = keep
        params["body"] = json.dumps(body).encode()
        return None

    def _after(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        failed: list[int] = context.get("injected_failures", [])
        if not failed:
            return
        ok = iter(parsed.get("Records", []))
        total = len(parsed.get("Records", [])) + len(failed)
        failed_set = set(failed)
        records = []
        for i in range(total):
            if i in failed_set:
                records.append({"ErrorCode": self.error_code, "ErrorMessage": "injected by the test"})
            else:
                records.append(next(ok))
        parsed["Records"] = records
        parsed["FailedRecordCount"] = parsed.get("FailedRecordCount", 0) + len(failed)
        self.failed_entries += len(failed)


class _Http200:
    status_code = 200
    headers: dict[str, str] = {}
    content = b""
