"""Retries with exponential backoff and full jitter, in one place.

`Backoff` is the wait: a random time from zero up to a ceiling that doubles with each failure, up
to a cap ("full jitter", which spreads the clients that failed together). `call_with_retries` is the
loop for calls that fail by raising: it retries what its `retryable` says, waits through an
injectable `sleep` (which may itself raise, to end the waiting early), and re-raises the last error.

Resends of a partial failure (PutRecords' failed entries, BatchWriteItem's unprocessed items) have
their own loops, since what is sent again depends on each answer; they share `Backoff`.

NOTE: botocore's own retry modes (`fraudstream.aws.client_config`) retry inside one AWS call; this
module is for what they cannot do: retries decided by the project (a SageMaker endpoint's 5xx, with
a circuit breaker beside them), or waits that a stop event must be able to interrupt.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Backoff", "call_with_retries"]

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter.

    Args:
        base_s: the ceiling of the first wait; it doubles with each further failure.
        cap_s: the largest ceiling.
    """

    base_s: float
    cap_s: float

    def ceiling(self, failures: int) -> float:
        """The longest wait after `failures` consecutive failures (1 for the first)."""
        return min(self.cap_s, self.base_s * 2.0 ** (failures - 1))

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """A wait drawn uniformly from zero to `ceiling(failures)`, from `rng` (else the `random` module)."""
        return (rng.uniform if rng is not None else random.uniform)(0.0, self.ceiling(failures))  # noqa: S311 - jitter


def call_with_retries(
    call: Callable[[int], T],
    *,
    retryable: Callable[[Exception], bool],
    backoff: Backoff,
    max_attempts: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """`call(attempt)` (attempt counts from 1) until it returns, retrying the errors `retryable`
    accepts after a `backoff` wait.

    Args:
        call: one attempt; it is given the attempt's number.
        retryable: whether an error is worth another attempt.
        backoff: the wait before each further attempt.
        max_attempts: attempts in all, the first included; None: no limit.
        sleep: how to wait; an error it raises (e.g. on a stop request) ends the retries.
        rng: the jitter's source (else the `random` module).

    Returns:
        What the first successful attempt returned.

    Raises:
        Exception: the last attempt's error, when it is not retryable or no attempt is left.
    """
    if max_attempts is not None and max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    attempt = 1
    while True:
        try:
            return call(attempt)
        except Exception as e:
            if not retryable(e) or (max_attempts is not None and attempt >= max_attempts):
                raise
        sleep(backoff.delay(attempt, rng))
        attempt += 1
