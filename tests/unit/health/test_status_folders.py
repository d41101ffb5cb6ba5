"""Status alarms on what upload and prune cannot see (issue 22, cases 3 and 7): a folder the
service user cannot read, a symbolic link out of the data folder, rows the writer refused to
write there, and a .partial left open far from its hour."""

from __future__ import annotations

import os

from orderbooks.health import status
from orderbooks.health.clocksync import ClockState
from orderbooks.health.tracker import HealthTracker
from orderbooks.records import CycleResult
from orderbooks.store import paths
from testkit.fake_clock import FakeClock
from testkit.sealed_files import make_partial, make_sealed
from testkit.unprivileged import as_service_user, hand_over, service_dir
from testkit.writers import new_writer

GIB = 2**30
SYNCED = ClockState(True, "adjtimex")
HOUR_MS = 3_600_000
NOW_HOUR = paths.HourKey("2026-12-08", "10")
NOW = NOW_HOUR.start_ms() + 20 * 60_000


def evaluate(data_dir, now=NOW) -> status.Status:
    return status.evaluate(data_dir, now_ms=now, free_bytes=lambda _p: 100 * GIB, clock_state=lambda: SYNCED)


def alarms(data_dir, now=NOW) -> dict[str, dict]:
    return {a["name"]: a for a in evaluate(data_dir, now).alarms}


def test_a_day_folder_linked_out_of_the_data_folder_is_an_alarm(tmp_path):
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    make_sealed(data, paths.HourKey("2026-12-08", "09"))
    make_sealed(elsewhere, paths.HourKey("2026-12-07", "09"))
    (data / "raw" / "2026-12-07").symlink_to(elsewhere / "raw" / "2026-12-07")
    found = alarms(data)
    assert "unreadable" in found
    assert (
        "raw/2026-12-07" in found["unreadable"]["detail"] and "leading out" in found["unreadable"]["detail"]
    )
    assert [u["path"] for u in evaluate(data).report["unreadable"]] == ["raw/2026-12-07"]


def test_an_hour_folder_the_service_user_cannot_read_is_an_alarm():
    with service_dir() as folder:
        data = folder / "data"
        hidden = make_sealed(data, paths.HourKey("2026-12-08", "08"))
        hand_over(folder)
        os.chmod(hidden.data.parent, 0o000)
        report = as_service_user(evaluate, data)
        found = {a["name"]: a for a in report.alarms}
        assert "unreadable" in found and "raw/2026-12-08/08" in found["unreadable"]["detail"]
        assert report.report["unreadable"] == [
            {"path": "raw/2026-12-08/08", "reason": "cannot be read: Permission denied"}
        ]


def test_a_readable_folder_has_no_such_alarm(tmp_path):
    make_sealed(tmp_path, paths.HourKey("2026-12-08", "09"))
    make_partial(tmp_path, NOW_HOUR)
    found = alarms(tmp_path)
    assert "unreadable" not in found and "stale_partial" not in found


def test_a_partial_open_far_from_its_hour_is_an_alarm(tmp_path):
    make_partial(tmp_path, paths.HourKey("2026-12-08", "09"))  # last hour: still being sealed, fine
    assert "stale_partial" not in alarms(tmp_path)
    stale = make_partial(tmp_path, paths.HourKey("2026-12-08", "07"))  # began 3 h 20 min ago
    found = alarms(tmp_path)
    assert "stale_partial" in found and paths.relative(tmp_path, stale) in found["stale_partial"]["detail"]
    # written under a clock that has since stepped back three days: its hour is ahead of the clock
    ahead = tmp_path / "ahead"
    make_partial(ahead, NOW_HOUR)
    assert "stale_partial" in alarms(ahead, now=NOW - 3 * 24 * HOUR_MS)
    assert evaluate(ahead, now=NOW - 3 * 24 * HOUR_MS).report["stale_partials"] == [
        paths.relative(ahead, next(ahead.rglob("*.partial")))
    ]


class Token:
    def __init__(self, series: str, slug: str, token_id: str) -> None:
        self.market = type("M", (), {"series": series, "slug": slug})()
        self.token_id = token_id


def test_rows_the_writer_refuses_to_write_through_a_link_are_rows_lost(tmp_path):
    """The poll loop hands the tracker the writer's rows_not_written of each cycle: so does this test."""
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    (data / "raw").mkdir(parents=True)
    elsewhere.mkdir()
    (data / "raw" / NOW_HOUR.date).symlink_to(elsewhere)
    clock = FakeClock(wall_ms=NOW)
    writer = new_writer(data, clock)
    tracker = HealthTracker(
        data,
        clock,
        run_id=writer.run_id,
        version="0",
        series=("10684",),
        interval_s=1.0,
        disk_floor_bytes=GIB,
    )
    tokens = [Token("10684", "m", "t1"), Token("10684", "m", "t2")]
    for n in range(3):
        clock.advance(1)
        rows = [
            {
                "schema": 1,
                "recv_ms": clock.wall_ms(),
                "latency_ms": 1,
                "cycle": n,
                "series": "10684",
                "slug": "m",
                "condition_id": "0xabc",
                "token_id": t.token_id,
                "outcome": "Up",
                "window_start": "2026-12-08T10:00:00Z",
                "window_end": "2026-12-08T10:05:00Z",
                "book": {"hash": str(n)},
            }
            for t in tokens
        ]
        result = CycleResult(cycle=n, started_ms=clock.wall_ms(), rows=rows)
        before = writer.run_manifest["totals"]["rows_not_written"]
        writer.write_cycle(result)
        tracker.cycle_written(
            result, tokens, rows_not_written=writer.run_manifest["totals"]["rows_not_written"] - before
        )
        tracker.save()
    found = alarms(data, now=clock.wall_ms())
    assert "rows_lost" in found and "6 rows" in found["rows_lost"]["detail"]
    assert "unreadable" in found  # the link itself
    writer.close("stop")
    assert not any(elsewhere.iterdir())
