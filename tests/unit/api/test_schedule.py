"""Drift-free schedule and the retry policies, called as pure functions."""

import random

import pytest
from orderbooks.api.schedule import CycleSchedule, retry_after_seconds, stop_before_deadline, wait_backoff
from tenacity import RetryCallState, Retrying, stop_after_attempt


def make_state(attempt: int, upcoming_sleep: float = 0.0) -> RetryCallState:
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.upcoming_sleep = upcoming_sleep
    return state


def test_due_times_do_not_drift():
    s = CycleSchedule(t0=100.0, interval=0.5)
    assert s.due(0) == 100.0
    assert s.due(1000) == pytest.approx(600.0)


def test_on_time_cycle_goes_to_the_next_slot():
    s = CycleSchedule(t0=0.0, interval=1.0)
    assert s.next_cycle(3, now=3.7) == (4, 0)
    assert s.next_cycle(3, now=4.0) == (4, 0)


def test_overrun_skips_ahead_instead_of_bunching():
    s = CycleSchedule(t0=0.0, interval=1.0)
    assert s.next_cycle(3, now=6.2) == (7, 3)  # slots 4, 5, 6 passed; 7 is at 7.0
    assert s.next_cycle(3, now=4.01) == (5, 1)


def test_interval_must_be_positive():
    with pytest.raises(ValueError):
        CycleSchedule(0.0, 0.0)


def test_retry_after_parsing():
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds(" 0.5 ") == 0.5
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:05 GMT", now_epoch_s=1445412480.0) == pytest.approx(
        5.0
    )


def test_backoff_is_exponential_with_full_jitter_and_a_cap():
    class Top(random.Random):
        def uniform(self, a, b):
            return b

    w = wait_backoff(base=0.1, cap=1.0, rng=Top())
    assert [w(make_state(n)) for n in (1, 2, 3, 4, 5, 6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    jittered = wait_backoff(base=0.1, cap=1.0, rng=random.Random(7))
    values = [jittered(make_state(3)) for _ in range(50)]
    assert all(0 <= v <= 0.4 for v in values) and len(set(values)) > 10


def test_backoff_honours_retry_after():
    w = wait_backoff(base=0.1, cap=1.0, retry_after=lambda state: 3.0, rng=random.Random(1))
    assert w(make_state(1)) == 3.0


def test_stop_before_deadline():
    now = [10.0]
    stop = stop_before_deadline(lambda: now[0], deadline=11.0, min_attempt=0.05)
    assert not stop(make_state(1, upcoming_sleep=0.5))
    assert stop(make_state(1, upcoming_sleep=0.96))
    now[0] = 10.96
    assert stop(make_state(1, upcoming_sleep=0.0))


def test_retrying_with_injected_sleep_never_sleeps_for_real():
    sleeps: list[float] = []
    calls = []
    clock = [0.0]

    def fail():
        calls.append(1)
        raise OSError("boom")

    def fake_sleep(s):
        sleeps.append(s)
        clock[0] += s

    r = Retrying(
        stop=stop_after_attempt(10) | stop_before_deadline(lambda: clock[0], deadline=1.0),
        wait=wait_backoff(base=0.2, cap=5.0, rng=random.Random(3), retry_after=lambda s: 0.3),
        sleep=fake_sleep,
        reraise=True,
    )
    with pytest.raises(OSError):
        r(fail)
    assert sum(sleeps) <= 1.0
    assert len(calls) == len(sleeps) + 1
