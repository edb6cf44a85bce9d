"""Backoff with full jitter and the retry loop for calls that fail by raising."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import pytest

from fraudstream.retry import Backoff, call_with_retries

if TYPE_CHECKING:
    from collections.abc import Callable


class _Flaky(Exception):
    pass


class _Fatal(Exception):
    pass


class _Stop(Exception):
    pass


def _failing(errors: list[Exception], result: str = "ok") -> tuple[list[int], Callable[[int], str]]:
    attempts: list[int] = []

    def call(attempt: int) -> str:
        attempts.append(attempt)
        if errors:
            raise errors.pop(0)
        return result

    return attempts, call


def test_the_ceiling_doubles_per_failure_up_to_the_cap() -> None:
    # GIVEN a backoff from 0.1 s capped at 0.5 s
    backoff = Backoff(base_s=0.1, cap_s=0.5)
    # WHEN / THEN the ceilings double from the first failure on, and stop at the cap
    assert [backoff.ceiling(n) for n in range(1, 6)] == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_a_delay_is_drawn_uniformly_below_the_ceiling_from_the_given_source() -> None:
    # GIVEN a backoff and a seeded source
    backoff = Backoff(base_s=0.1, cap_s=0.25)
    # WHEN delays are drawn after one to three failures
    delays = [backoff.delay(n, random.Random(3)) for n in (1, 2, 3)]
    # THEN each is the source's uniform draw from zero to that failure's ceiling (full jitter)
    assert delays == [random.Random(3).uniform(0.0, c) for c in (0.1, 0.2, 0.25)]


def test_retries_the_retryable_errors_with_backoff_then_returns() -> None:
    # GIVEN a call that fails twice with a retryable error, then succeeds
    attempts, call = _failing([_Flaky(), _Flaky()])
    slept: list[float] = []
    # WHEN it is called with retries
    result = call_with_retries(
        call,
        retryable=lambda e: isinstance(e, _Flaky),
        backoff=Backoff(0.1, 1.0),
        max_attempts=3,
        sleep=slept.append,
        rng=random.Random(7),
    )
    # THEN three attempts, numbered from 1, with a jittered wait before each further one
    draws = random.Random(7)
    assert (result, attempts) == ("ok", [1, 2, 3])
    assert slept == [draws.uniform(0.0, 0.1), draws.uniform(0.0, 0.2)]


def test_a_fatal_error_is_raised_at_once() -> None:
    # GIVEN a call that fails with an error that is not retryable
    attempts, call = _failing([_Fatal()])
    slept: list[float] = []
    # WHEN / THEN it is raised after one attempt, without a wait
    with pytest.raises(_Fatal):
        call_with_retries(
            call,
            retryable=lambda e: isinstance(e, _Flaky),
            backoff=Backoff(0.1, 1.0),
            sleep=slept.append,
        )
    assert (attempts, slept) == ([1], [])


def test_the_last_error_is_raised_when_no_attempt_is_left() -> None:
    # GIVEN a call that keeps failing with retryable errors
    last = _Flaky("third")
    attempts, call = _failing([_Flaky("first"), _Flaky("second"), last, _Flaky("fourth")])
    slept: list[float] = []
    # WHEN / THEN after max_attempts the last attempt's error is raised, with a wait between attempts only
    with pytest.raises(_Flaky) as raised:
        call_with_retries(
            call,
            retryable=lambda e: isinstance(e, _Flaky),
            backoff=Backoff(0.1, 1.0),
            max_attempts=3,
            sleep=slept.append,
        )
    assert raised.value is last
    assert (attempts, len(slept)) == ([1, 2, 3], 2)


def test_without_a_limit_it_retries_until_the_call_succeeds() -> None:
    # GIVEN a call that fails with a retryable error many times
    attempts, call = _failing([_Flaky() for _ in range(20)])
    slept: list[float] = []
    # WHEN it is called with retries and no limit
    result = call_with_retries(
        call,
        retryable=lambda e: isinstance(e, _Flaky),
        backoff=Backoff(0.1, 0.5),
        sleep=slept.append,
    )
    # THEN it succeeded on the 21st attempt, no wait longer than the cap
    assert (result, len(attempts)) == ("ok", 21)
    assert all(0.0 <= s <= 0.5 for s in slept)


def test_an_error_raised_by_the_wait_ends_the_retries() -> None:
    # GIVEN a call that keeps failing, and a wait that is interrupted (a stop request)
    attempts, call = _failing([_Flaky() for _ in range(5)])

    def interrupted(_seconds: float) -> None:
        raise _Stop

    # WHEN / THEN the wait's error ends the loop after the first attempt
    with pytest.raises(_Stop):
        call_with_retries(
            call,
            retryable=lambda e: isinstance(e, _Flaky),
            backoff=Backoff(0.1, 0.5),
            sleep=interrupted,
        )
    assert attempts == [1]


def test_max_attempts_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        call_with_retries(lambda _: None, retryable=lambda _: True, backoff=Backoff(0.1, 1.0), max_attempts=0)
