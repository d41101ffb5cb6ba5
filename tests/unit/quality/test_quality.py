"""orderbooks.quality against runs written by the real SnapshotWriter (tools/testkit/fabricate.py)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from orderbooks import quality
from orderbooks.quality import gaps, units
from orderbooks.store import gzmembers, paths
from orderbooks.store.recovery import recover
from testkit.fabricate import T0_MS, Scenario, markets_for, write_run

FIVE_MIN = {"10684": 300}


def only_market(report: dict, slug: str) -> dict:
    rows = [m for m in report["markets"] if m["slug"] == slug]
    assert len(rows) == 1, rows
    return rows[0]


def first_slug(start_ms: int = T0_MS) -> str:
    return markets_for("10684", 300, start_ms, start_ms + 1)[0].slug


def test_clean_run_is_complete_and_counts_unchanged_books(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=300, series=FIVE_MIN, change_every=3, flush_seconds=10))

    report = quality.analyze(tmp_path)

    market = only_market(report, first_slug())
    assert market["observed_cycles"] == 600  # 300 cycles x 2 tokens
    assert market["expected_cycles"] == pytest.approx(600, abs=1)
    assert market["coverage_pct"] == 100.0
    assert report["gaps"] == []
    # books change every 3rd cycle: cycles 0, 3, 6, ... are new; the first row of a token has no predecessor
    assert market["unchanged_books"] == 2 * 200
    assert market["latency_ms"]["p50"] == 5.0
    assert market["lateness_ms"]["p99"] == 5.0
    assert report["interval_s"] == 1.0
    assert report["interval_source"] == "run_manifest"
    assert report["files"]["read"] == 1
    assert report["hours"][0]["rows"] == 600
    assert report["hours"][0]["compression_ratio"] > 2


def test_outage_is_a_gap_with_its_cause_and_lowers_coverage(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=300, series=FIVE_MIN, outages=[(100, 130, "timeout")]))

    report = quality.analyze(tmp_path)

    market = only_market(report, first_slug())
    assert market["observed_cycles"] == 2 * 270
    assert market["coverage_pct"] == pytest.approx(90.0, abs=0.2)
    [gap] = report["gaps"]
    assert gap["cause"] == "timeout"
    assert gap["missed_cycles"] == 30
    assert gap["tokens"] == 2
    assert gap["start_ms"] == T0_MS + 99_000 + 5  # last good row (cycle 99)
    assert gap["end_ms"] == T0_MS + 130_000 + 5  # next good row (cycle 130)
    assert report["totals"]["gaps_by_cause"] == {"timeout": 1}
    assert report["failures_by_class"] == {"timeout": 30}


def test_excluded_window_is_left_out_of_coverage(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=300, series=FIVE_MIN, outages=[(100, 130, "down")]))

    report = quality.analyze(tmp_path, exclude=[(T0_MS + 100_000, T0_MS + 130_000)])

    assert report["totals"]["coverage_pct"] == 100.0
    assert len(report["gaps"]) == 1  # the gap is still reported


def test_windows_cut_mid_cycle_cost_no_coverage_whatever_the_collector_phase(tmp_path: Path) -> None:
    # Polls 0.9 s into each second; an excluded window and the span's end both fall mid-cell.
    # Counted in continuous time, such cuts expected a fraction of a poll that cannot exist
    # (the soak's coverage then read 99.4 % on a complete run).
    write_run(tmp_path, Scenario(start_ms=T0_MS + 900, cycles=300, series=FIVE_MIN))

    report = quality.analyze(tmp_path, exclude=[(T0_MS + 100_900, T0_MS + 130_700)])

    assert report["excluded"] == [{"start_ms": T0_MS + 100_000, "end_ms": T0_MS + 131_000}]
    assert report["span"]["end_ms"] == T0_MS + 300_000  # the cell of the last poll is the last one
    assert report["totals"]["observed_cycles"] == 2 * (300 - 31)
    assert report["totals"]["coverage_pct"] == 100.0


def test_missing_token_is_a_one_token_gap(tmp_path: Path) -> None:
    market = markets_for("10684", 300, T0_MS, T0_MS + 1)[0]
    token = market.tokens[1][0]
    missing = {c: {token} for c in range(50, 55)}
    write_run(tmp_path, Scenario(cycles=120, series=FIVE_MIN, missing=missing))

    report = quality.analyze(tmp_path)

    [gap] = report["gaps"]
    assert (gap["cause"], gap["tokens"], gap["missed_cycles"]) == ("missing_book", 1, 5)
    assert only_market(report, market.slug)["observed_cycles"] == 240 - 5


def test_skipped_cycles_of_an_overrun_are_a_gap(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=60, series=FIVE_MIN, skipped={20, 21}))

    [gap] = quality.analyze(tmp_path)["gaps"]

    assert (gap["cause"], gap["missed_cycles"]) == ("overrun", 2)


def test_lateness_measures_schedule_delay(tmp_path: Path) -> None:
    delays = {c: 40 for c in range(0, 100, 10)}  # every 10th cycle starts 40 ms late
    write_run(tmp_path, Scenario(cycles=100, series=FIVE_MIN, delay_ms=delays, latency_ms=3))

    totals = quality.analyze(tmp_path)["totals"]

    assert totals["lateness_ms"]["p50"] == 3.0
    assert totals["lateness_ms"]["p99"] == 43.0
    assert totals["lateness_ms"]["max"] == 43.0
    assert totals["latency_ms"]["p99"] == 3.0


def test_empty_and_one_sided_books_are_counted(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=30, series=FIVE_MIN, empty_cycles={3, 4}, one_sided_cycles={7}))

    totals = quality.analyze(tmp_path)["totals"]

    assert (totals["empty_books"], totals["one_sided_books"]) == (4, 2)


def test_interval_is_inferred_without_run_manifest_and_option_wins(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=50, interval_s=0.5, series=FIVE_MIN, interval_in_run_info=False))

    inferred = quality.analyze(tmp_path)
    forced = quality.analyze(tmp_path, interval_s=1.0)

    assert (inferred["interval_s"], inferred["interval_source"]) == (0.5, "inferred")
    assert inferred["totals"]["coverage_pct"] == 100.0
    assert (forced["interval_s"], forced["interval_source"]) == (1.0, "option")
    # at 1 s only half as many cycles were expected: still 100%, capped
    assert forced["totals"]["expected_cycles"] == pytest.approx(50, abs=1)


def test_market_window_nobody_collected_counts_as_missing(tmp_path: Path) -> None:
    dropped = markets_for("10684", 300, T0_MS + 300_000, T0_MS + 300_001)[0].slug
    write_run(tmp_path, Scenario(cycles=900, series=FIVE_MIN, dropped_slugs={dropped}))

    report = quality.analyze(tmp_path)

    missing = only_market(report, quality.MISSING_MARKET)
    assert missing["observed_cycles"] == 0
    assert missing["expected_cycles"] == pytest.approx(600, abs=2)
    assert report["totals"]["coverage_pct"] == pytest.approx(66.67, abs=0.2)
    causes = Counter(g["cause"] for g in report["gaps"])
    assert causes["market_not_collected"] == 1


def test_since_and_until_select_rows(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=300, series=FIVE_MIN))

    report = quality.analyze(tmp_path, since_ms=T0_MS + 60_000, until_ms=T0_MS + 120_000)

    assert report["totals"]["rows"] == 120
    assert report["totals"]["expected_cycles"] == pytest.approx(120)
    assert report["totals"]["coverage_pct"] == 100.0


def test_restart_after_a_crash_is_a_gap_with_cause_restart(tmp_path: Path) -> None:
    first = write_run(tmp_path, Scenario(cycles=100, series=FIVE_MIN), close=False)
    first["writer"]._lock.release(remove=False)  # the "process" died: its lock is gone
    restart_ms = T0_MS + 110_000
    recover(tmp_path, now_ms=restart_ms, collector_version="test", host="test")
    write_run(tmp_path, Scenario(start_ms=restart_ms, cycles=100, series=FIVE_MIN))

    report = quality.analyze(tmp_path)

    [gap] = report["gaps"]
    assert gap["across_runs"] is True
    assert gap["cause"] == "restart"
    assert gap["start_ms"] == T0_MS + 99_005
    assert gap["end_ms"] == restart_ms + 5
    assert report["files"]["recovered"] == 1
    assert len(report["runs"]) == 2


def test_gap_between_runs_without_a_record_is_not_running(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=60, series=FIVE_MIN))
    write_run(tmp_path, Scenario(start_ms=T0_MS + 90_000, cycles=60, series=FIVE_MIN))

    [gap] = quality.analyze(tmp_path)["gaps"]

    assert (gap["cause"], gap["missed_cycles"], gap["across_runs"]) == ("not_running", 30, True)


def test_partial_file_counts_only_complete_members(tmp_path: Path) -> None:
    run = write_run(tmp_path, Scenario(cycles=20, series=FIVE_MIN), close=False)
    partial = run["writer"].open_partial
    assert partial is not None
    with open(partial, "ab") as handle:  # a member cut short by a crash
        handle.write(gzmembers.compress_member(b'{"recv_ms": 1}\n')[:-6])

    report = quality.analyze(tmp_path)
    run["writer"].close("test")

    assert report["files"]["partial"] == 1
    assert report["totals"]["rows"] == 40
    assert report["problems"] == []


def test_damaged_sealed_file_is_reported(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=20, series=FIVE_MIN))
    [data] = paths.iter_files(tmp_path, paths.DATA_SUFFIX)
    size = data.stat().st_size
    os.truncate(data, size - 3)

    report = quality.analyze(tmp_path)

    assert report["files"]["damaged"] == 1
    assert any("damaged sealed file" in p for p in report["problems"])
    assert report["totals"]["rows"] == 38  # the last member (one cycle) is lost


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(quality.QualityError):
        quality.analyze(tmp_path / "nope")


def test_timeline_has_a_value_per_minute_and_series(tmp_path: Path) -> None:
    write_run(
        tmp_path, Scenario(cycles=180, series={"10684": 300, "10192": 900}, outages=[(60, 120, "down")])
    )

    timeline = quality.analyze(tmp_path)["timeline"]

    assert len(timeline["minute_ms"]) == 3
    assert timeline["series"]["10684"][1] == 0.0
    assert timeline["series"]["10192"][0] == 100.0


def test_render_text_names_the_figures(tmp_path: Path) -> None:
    write_run(tmp_path, Scenario(cycles=120, series=FIVE_MIN, outages=[(10, 20, "rate_limited")]))

    text = quality.render_text(quality.analyze(tmp_path), markets=True)

    assert "coverage" in text
    assert "rate_limited" in text
    assert first_slug() in text


def test_quantile_nearest_rank() -> None:
    counts = Counter({1: 98, 50: 1, 100: 1})
    assert units.quantile(counts, 0.5) == 1.0
    assert units.quantile(counts, 0.99) == 50.0
    assert units.quantile(counts, 1.0) == 100.0
    assert units.quantile(Counter(), 0.5) is None


def test_merge_token_gaps_joins_overlapping_gaps_of_two_tokens() -> None:
    merged = gaps.merge_token_gaps([(10, 20, 3, False, "a"), (12, 25, 4, False, "b"), (40, 50, 2, True, "a")])
    assert merged == [(10, 25, 4, False, {"a", "b"}), (40, 50, 2, True, {"a"})]


def test_iso_to_ms() -> None:
    assert units.iso_to_ms("2026-05-12T10:00:00Z") == T0_MS
    assert units.iso_to_ms("2026-05-12T10:00:00.250+00:00") == T0_MS + 250
    assert units.iso_to_ms("not a date") is None
