"""series_schedule: the windows a series' recurrence says existed."""

from __future__ import annotations

from datetime import UTC, datetime

from orderbooks.quality.series_schedule import grid_for, missing_windows


def ms(text: str) -> int:
    return round(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def windows(grid, start: str, end: str) -> list[tuple[str, str]]:
    return [(iso(a), iso(b)) for a, b in grid.windows(ms(start), ms(end))]


def test_known_5m_and_hourly_series_sit_on_the_utc_grid():
    five = grid_for("10684", [])
    assert (five.recurrence, five.source) == ("5m", "known")
    assert windows(five, "2026-05-12T10:02:00", "2026-05-12T10:10:00") == [
        ("2026-05-12T10:00Z", "2026-05-12T10:05Z"),
        ("2026-05-12T10:05Z", "2026-05-12T10:10Z"),
    ]
    assert windows(grid_for("10114", []), "2026-05-12T10:30:00", "2026-05-12T11:30:00") == [
        ("2026-05-12T10:00Z", "2026-05-12T11:00Z"),
        ("2026-05-12T11:00Z", "2026-05-12T12:00Z"),
    ]


def test_4h_windows_follow_eastern_time_across_daylight_saving():
    grid = grid_for("10331", [])
    assert grid.calendar
    # 2026-03-08: US daylight saving starts at 2AM EST; 12AM EST = 05:00Z, 4AM EDT = 08:00Z.
    assert windows(grid, "2026-03-08T04:00:00", "2026-03-08T13:00:00") == [
        ("2026-03-08T01:00Z", "2026-03-08T05:00Z"),
        ("2026-03-08T05:00Z", "2026-03-08T08:00Z"),
        ("2026-03-08T08:00Z", "2026-03-08T12:00Z"),
        ("2026-03-08T12:00Z", "2026-03-08T16:00Z"),
    ]


def test_daily_windows_run_noon_to_noon_eastern():
    assert windows(grid_for("41", []), "2026-05-12T17:00:00", "2026-05-13T17:00:00") == [
        ("2026-05-12T16:00Z", "2026-05-13T16:00Z"),
        ("2026-05-13T16:00Z", "2026-05-14T16:00Z"),
    ]
    assert windows(grid_for("41", []), "2026-01-12T17:00:00", "2026-01-12T18:00:00") == [
        ("2026-01-12T17:00Z", "2026-01-13T17:00Z"),
    ]


def test_the_data_sets_the_grid_of_a_series_it_names():
    seen = [(ms("2026-05-12T10:00:20"), ms("2026-05-12T10:00:30"))]  # a simulator's 10 s windows
    grid = grid_for("10684", seen)
    assert (grid.window_ms, grid.recurrence, grid.source) == (10_000, None, "data")
    assert windows(grid, "2026-05-12T10:00:00", "2026-05-12T10:00:30")[0] == (
        "2026-05-12T10:00Z",
        "2026-05-12T10:00Z",
    )
    assert len(list(grid.windows(ms("2026-05-12T10:00:00"), ms("2026-05-12T10:01:00")))) == 6
    assert grid_for("999", []) is None  # an unknown series with no rows has no schedule


def test_missing_windows_are_those_no_seen_window_covers_clipped_to_the_span():
    grid = grid_for("10684", [])
    seen = [(ms("2026-05-12T10:05:00"), ms("2026-05-12T10:10:00"))]
    span = (ms("2026-05-12T10:02:00"), ms("2026-05-12T10:17:00"))
    scheduled, missing = missing_windows(grid, seen, span)
    assert scheduled == 4
    assert [(iso(a), iso(b)) for a, b in missing] == [
        ("2026-05-12T10:02Z", "2026-05-12T10:05Z"),
        ("2026-05-12T10:10Z", "2026-05-12T10:15Z"),
        ("2026-05-12T10:15Z", "2026-05-12T10:17Z"),
    ]
    # A window only a sliver inside the span is not counted at all.
    assert missing_windows(grid, seen, span, min_overlap_ms=200_000)[0] == 2
