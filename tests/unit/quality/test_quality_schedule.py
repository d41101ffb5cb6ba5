"""orderbooks quality against the series schedule, and the per-poll hash-change share.

Runs are written by the real SnapshotWriter (tools/testkit/fabricate.py), so the
figures asserted are what production files give.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from orderbooks import quality
from testkit.fabricate import T0_MS, Scenario, write_run

FIVE_MIN = {"10684": 300}
MINUTE = 60_000


def series_row(report: dict, series: str) -> dict:
    rows = [s for s in report["series"] if s["series"] == series]
    assert len(rows) == 1, rows
    return rows[0]


def test_windows_after_the_collector_stopped_are_expected_at_zero(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=600, series=FIVE_MIN))  # 10:00-10:10, then down
    report = quality.analyze(tmp_path, since_ms=T0_MS, until_ms=T0_MS + 20 * MINUTE)
    five = series_row(report, "10684")
    assert five["schedule"] == {
        "recurrence": "5m", "window_s": 300.0, "source": "data", "windows": 4, "windows_missed": 2,
    }  # fmt: skip
    assert five["markets"] == 2  # the pseudo-market of missed windows is not a market
    assert five["expected_cycles"] == pytest.approx(2400)
    assert five["observed_cycles"] == 1200
    assert five["coverage_pct"] == 50.0
    missed = [g for g in report["gaps"] if g["slug"] == quality.MISSING_MARKET]
    assert [(g["start_ms"], g["end_ms"], g["cause"]) for g in missed] == [
        (T0_MS + 10 * MINUTE, T0_MS + 15 * MINUTE, "market_not_collected"),
        (T0_MS + 15 * MINUTE, T0_MS + 20 * MINUTE, "market_not_collected"),
    ]


def test_a_configured_series_with_no_row_is_a_zero_percent_series(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=600, series=FIVE_MIN, run_series=("10684", "10192")))
    report = quality.analyze(tmp_path)
    fifteen = series_row(report, "10192")
    # 10:00-10:15 is the 15m window open during the 10-minute span.
    assert fifteen["schedule"] == {
        "recurrence": "15m", "window_s": 900.0, "source": "known", "windows": 1, "windows_missed": 1,
    }  # fmt: skip
    assert fifteen["expected_cycles"] == pytest.approx(1200, abs=1)
    assert (fifteen["observed_cycles"], fifteen["coverage_pct"]) == (0, 0.0)
    assert series_row(report, "10684")["coverage_pct"] == 100.0
    assert report["totals"]["coverage_pct"] == pytest.approx(50.0, abs=0.05)


def test_without_the_series_in_the_manifest_only_collected_series_count(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=600, series=FIVE_MIN))
    report = quality.analyze(tmp_path)
    assert [s["series"] for s in report["series"]] == ["10684"]
    assert report["totals"]["coverage_pct"] == 100.0


def test_hash_change_share_counts_consecutive_polls_of_a_token(tmp_path: Path) -> None:
    # Books change every 3rd cycle; two 5m windows, two tokens each, 300 rows per token.
    write_run(tmp_path, Scenario(cycles=600, series=FIVE_MIN, change_every=3))
    five = series_row(quality.analyze(tmp_path), "10684")
    assert five["consecutive_polls"] == 4 * 299
    assert five["hash_changes"] == 4 * 99  # cycles 3, 6 ... 297 of each window's 299 pairs
    assert five["hash_changed_pct"] == pytest.approx(100 * 396 / 1196, abs=0.001)
    assert five["unchanged_books"] == 4 * 200


def test_polls_across_an_outage_are_not_consecutive(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=300, series=FIVE_MIN, outages=[(100, 110, "http_5xx")]))
    five = series_row(quality.analyze(tmp_path), "10684")
    # 300 cycles, 10 lost: 290 rows per token, 288 consecutive pairs (99->110 is not one).
    assert five["consecutive_polls"] == 2 * 288
    assert five["hash_changes"] == 2 * 288  # change_every=1: every poll sees a new book
    assert five["hash_changed_pct"] == 100.0
