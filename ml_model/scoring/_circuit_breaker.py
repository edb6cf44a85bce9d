"""A thread-safe circuit breaker: closed (calls go through), open (calls are refused until a
cool-down has passed), half-open (one probe call decides whether to close or open again)."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["BreakerState", "CircuitBreaker", "Permit"]

logger = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Permit(StrEnum):
    """What `CircuitBreaker.acquire` allows."""

    DENIED = "denied"
    CALL = "call"
    PROBE = "probe"


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failed calls; after `reset_timeout_s` lets one
    probe through (half-open); the probe's success closes it, its failure re-opens it.

    Args:
        failure_threshold: consecutive failures that open the circuit.
        reset_timeout_s: how long it stays open before probing.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self, *, failure_threshold: int = 5, reset_timeout_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self.clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._lock = threading.Lock()
        self.transitions: deque[tuple[BreakerState, BreakerState]] = deque(maxlen=1000)

    @property
    def state(self) -> BreakerState:
        return self._state

    def acquire(self) -> Permit:
        """Whether a call may go to the endpoint now, and whether it is the half-open probe."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return Permit.CALL
            if self._state is BreakerState.OPEN:
                if self.clock() - self._opened_at < self.reset_timeout_s:
                    return Permit.DENIED
                self._move(BreakerState.HALF_OPEN)
            if self._probing:
                return Permit.DENIED
            self._probing = True
            return Permit.PROBE

    def record_success(self, permit: Permit) -> None:
        with self._lock:
            if permit is Permit.PROBE:
                self._probing = False
                self._move(BreakerState.CLOSED)
            if self._state is BreakerState.CLOSED:
                self._failures = 0

    def record_failure(self, permit: Permit) -> None:
        with self._lock:
            if permit is Permit.PROBE:
                self._probing = False
                self._open()
            elif self._state is BreakerState.CLOSED:
                self._failures += 1
                if self._failures >= self.failure_threshold:
                    self._open()

    def _open(self) -> None:
        self._opened_at = self.clock()
        self._failures = 0
        self._move(BreakerState.OPEN)

    def _move(self, state: BreakerState) -> None:
        if state is not self._state:
            self.transitions.append((self._state, state))
            logger.warning("circuit breaker %s -> %s", self._state.value, state.value)
            self._state = state
