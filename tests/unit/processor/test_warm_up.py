"""`start_warm_up`'s bookkeeping: one background run per Spark application, whatever ran before."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import processor.warm_up
from processor.warm_up import start_warm_up

if TYPE_CHECKING:
    import pytest


def _session(application_id: str) -> Any:
    return SimpleNamespace(sparkContext=SimpleNamespace(applicationId=application_id))


def test_each_application_is_warmed_up_once_and_a_new_one_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no application warmed up yet, and a warm-up that only records the session it ran for
    monkeypatch.setattr(processor.warm_up, "_started", {})
    ran: list[Any] = []
    release = threading.Event()

    def run(spark: Any) -> None:
        ran.append(spark)
        release.wait(10)

    monkeypatch.setattr(processor.warm_up, "_run", run)
    first, restarted = _session("local-1"), _session("local-2")

    # WHEN the warm-up is started twice for one application (the second time while the first still
    # runs), then for an application started later in the same process
    thread = start_warm_up(first)
    again = start_warm_up(first)
    other = start_warm_up(restarted)
    release.set()
    for started in (thread, other):
        started.join(10)

    # THEN the first application's calls share one run, and the later application gets its own
    assert again is thread
    assert other is not thread
    assert ran == [first, restarted]
    assert not thread.is_alive()
    assert not other.is_alive()
    assert thread.daemon
