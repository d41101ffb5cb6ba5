"""Status says unhealthy when the collector writes nothing or loses rows:
rows written count, not rows received, and a restart never makes an old
silence look fresh. The real tracker writes the real state file; status
reads it back."""

from __future__ import annotations

from orderbooks.health import status
from orderbooks.health.clocksync import ClockState
from orderbooks.health.tracker import HealthTracker
from orderbooks.records import CycleResult
from testkit.fake_clock import FakeClock

GIB = 2**30
SYNCED = ClockState(True, "adjtimex")


class Token:
    def __init__(self, series: str, slug: str, token_id: str) -> None:
        self.market = type("M", (), {"series": series, "slug": slug})()
        self.token_id = token_id


TOKENS = [Token("10684", "m", "t1"), Token("10684", "m", "t2")]


def start(data_dir, clock) -> HealthTracker:
    """One start of the collector: a new tracker over the same state file, as after a restart."""
    tracker = HealthTracker(
        data_dir, clock, run_id="r", version="0", series=("10684",), interval_s=1.0, disk_floor_bytes=GIB
    )
    tracker.save()
    return tracker


def cycle(tracker, clock, *, rows: int, not_written: int = 0) -> None:
    result = CycleResult(
        cycle=0,
        started_ms=clock.wall_ms(),
        rows=[
            {"recv_ms": clock.wall_ms(), "token_id": f"t{i}", "book": {"hash": str(i)}} for i in range(rows)
        ],
    )
    tracker.cycle_written(result, TOKENS, rows_not_written=not_written)
    tracker.save()


def alarms(data_dir, clock) -> dict[str, dict]:
    report = status.evaluate(
        data_dir, now_ms=clock.wall_ms(), free_bytes=lambda _p: 100 * GIB, clock_state=lambda: SYNCED
    )
    return {a["name"]: a for a in report.alarms}


def test_a_restart_loop_that_writes_nothing_is_unhealthy(tmp_path):
    """Each start hangs before its first cycle (a trickling API under the watchdog)."""
    clock = FakeClock()
    for _ in range(4):
        start(tmp_path, clock)
        clock.advance(30)
    found = alarms(tmp_path, clock)
    assert {"no_rows", "restart_loop"} <= set(found)
    assert "4 times" in found["restart_loop"]["detail"]


def test_a_silence_is_measured_from_the_last_written_row_across_restarts(tmp_path):
    clock = FakeClock()
    cycle(start(tmp_path, clock), clock, rows=2)
    clock.advance(120)
    start(tmp_path, clock)  # a fresh start 2 minutes later, then nothing written
    clock.advance(10)
    found = alarms(tmp_path, clock)
    assert "no_rows" in found and "130 s ago" in found["no_rows"]["detail"]
    assert "restart_loop" not in found  # one start since the last row is no loop


def test_healthy_while_rows_are_written_and_restarts_come_after_rows(tmp_path):
    clock = FakeClock()
    for _ in range(4):
        tracker = start(tmp_path, clock)
        for _ in range(5):
            clock.advance(1)
            cycle(tracker, clock, rows=2)
    assert alarms(tmp_path, clock) == {}


def test_rows_that_could_not_be_written_are_an_alarm_and_do_not_count_as_written(tmp_path):
    clock = FakeClock()
    tracker = start(tmp_path, clock)
    clock.advance(1)
    cycle(tracker, clock, rows=2)
    clock.advance(1)
    cycle(tracker, clock, rows=2, not_written=2)  # received, not on disk (ENOSPC, EIO, EACCES ...)
    found = alarms(tmp_path, clock)
    assert "rows_lost" in found and "2 rows" in found["rows_lost"]["detail"]
    report = status.evaluate(
        tmp_path, now_ms=clock.wall_ms(), free_bytes=lambda _p: 100 * GIB, clock_state=lambda: SYNCED
    ).report["collector"]
    assert (report["rows_total_this_run"], report["rows_lost_total_this_run"]) == (2, 2)


def test_every_cycle_losing_its_rows_is_no_rows_after_the_stall_limit(tmp_path):
    clock = FakeClock()
    tracker = start(tmp_path, clock)
    for _ in range(status.NO_ROWS_CYCLES + 1):
        clock.advance(1)
        cycle(tracker, clock, rows=2, not_written=2)
    assert {"no_rows", "rows_lost"} <= set(alarms(tmp_path, clock))


def test_an_old_offload_result_is_not_taken_for_news(tmp_path):
    from orderbooks.store import results
    from orderbooks.timefmt import iso_ms

    clock = FakeClock()
    tracker = start(tmp_path, clock)
    clock.advance(1)
    cycle(tracker, clock, rows=2)
    document = {"result": "ok", "finished_at": iso_ms(clock.wall_ms()), "remote": "r:x", "totals": {}}
    results.write_last_upload(tmp_path, document)
    assert "offload_stale" not in alarms(tmp_path, clock)
    clock.advance(status.OFFLOAD_STALE_SECONDS + 60)
    tracker.cycle_written(CycleResult(cycle=1, started_ms=clock.wall_ms(), rows=[]), TOKENS)
    cycle(tracker, clock, rows=2)
    found = alarms(tmp_path, clock)
    assert "offload_stale" in found and "upload result is 3.0 h old" in found["offload_stale"]["detail"]


def test_a_market_whose_ids_cannot_be_read_is_an_alarm(tmp_path):
    from orderbooks.records import FailureRecord

    clock = FakeClock()
    tracker = start(tmp_path, clock)
    clock.advance(1)
    cycle(tracker, clock, rows=2)
    drift = FailureRecord.observed(
        clock.wall_ms(), 1, "schema_drift", "market btc-x (id 7): positionIds is None"
    )
    tracker.failures([drift])
    tracker.save()
    found = alarms(tmp_path, clock)
    assert "schema_drift" in found and "1 answers" in found["schema_drift"]["detail"]
    clock.advance(status.RECENT_SECONDS + 60)
    cycle(tracker, clock, rows=2)
    assert "schema_drift" not in alarms(tmp_path, clock)


def test_rows_lost_before_a_restart_still_count_in_the_last_hour(tmp_path):
    clock = FakeClock()
    tracker = start(tmp_path, clock)
    clock.advance(1)
    cycle(tracker, clock, rows=2, not_written=2)
    clock.advance(300)
    tracker = start(tmp_path, clock)  # a deploy or a watchdog restart; the new run writes fine
    clock.advance(1)
    cycle(tracker, clock, rows=2)
    found = alarms(tmp_path, clock)
    assert "rows_lost" in found and "2 rows" in found["rows_lost"]["detail"]
    clock.advance(3600)
    cycle(tracker, clock, rows=2)
    assert "rows_lost" not in alarms(tmp_path, clock)  # an hour later it is history
