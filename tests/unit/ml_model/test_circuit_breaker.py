from __future__ import annotations

from ml_model.scoring._circuit_breaker import BreakerState, CircuitBreaker, Permit


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state(breaker: CircuitBreaker) -> BreakerState:
    """The breaker's state, read afresh (a function call keeps mypy from narrowing it across calls)."""
    return breaker.state


def test_opens_after_consecutive_failures_then_half_opens_and_closes() -> None:
    # GIVEN a breaker that opens after 3 failures and probes after 10 s
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout_s=10, clock=clock)
    # WHEN three calls fail
    for _ in range(3):
        breaker.record_failure(breaker.acquire())
    # THEN it is open and refuses calls until the cool-down has passed
    assert state(breaker) is BreakerState.OPEN
    assert breaker.acquire() is Permit.DENIED
    clock.now = 10
    # ... then lets exactly one probe through
    assert breaker.acquire() is Permit.PROBE
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.acquire() is Permit.DENIED
    # ... whose success closes it
    breaker.record_success(Permit.PROBE)
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.acquire() is Permit.CALL
    assert list(breaker.transitions) == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_failed_probe_reopens_for_a_new_cool_down() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout_s=5, clock=clock)
    breaker.record_failure(breaker.acquire())
    clock.now = 5
    breaker.record_failure(breaker.acquire())
    assert state(breaker) is BreakerState.OPEN
    clock.now = 9
    assert breaker.acquire() is Permit.DENIED
    clock.now = 10
    assert breaker.acquire() is Permit.PROBE


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=FakeClock())
    breaker.record_failure(breaker.acquire())
    breaker.record_success(breaker.acquire())
    breaker.record_failure(breaker.acquire())
    assert state(breaker) is BreakerState.CLOSED
