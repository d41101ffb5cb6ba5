"""The coverage timeline PNG (matplotlib, optional extra)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from orderbooks import quality
from orderbooks.quality import plot
from testkit.fabricate import Scenario, write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib (orderbooks[plot]) not installed"
)


@needs_matplotlib
def test_render_writes_a_png_with_one_lane_per_series(tmp_path: Path) -> None:
    write_run(
        tmp_path / "data",
        Scenario(cycles=240, series={"10684": 300, "10192": 900}, outages=[(60, 100, "rate_limited")]),
    )
    report = quality.analyze(tmp_path / "data")

    out = plot.render(report, tmp_path / "out" / "timeline.png")

    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC)
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width > 1000 and height > 250


def test_colour_runs_merge_equal_minutes() -> None:
    runs = plot.colour_runs([0, 60_000, 120_000, 240_000], [100.0, 99.9, 0.0, None])
    assert runs == [
        (0, 120_000, plot.COVERAGE_BANDS[0][1]),
        (120_000, 180_000, plot.COVERAGE_BANDS[-1][1]),
        (240_000, 300_000, plot.NO_MARKET_COLOUR),
    ]


def test_coverage_colour_bands() -> None:
    assert plot.coverage_colour(99.5) == "#1a9850"
    assert plot.coverage_colour(99.4) == "#a6d96a"
    assert plot.coverage_colour(0.1) == "#f46d43"
    assert plot.coverage_colour(0.0) == "#a50026"


def test_unavailable_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "matplotlib" else real(name)
    )
    assert "orderbooks[plot]" in (plot.unavailable() or "")
    with pytest.raises(RuntimeError, match="orderbooks\\[plot\\]"):
        plot.render({}, Path("unused.png"))


def test_title_says_when_coverage_leaves_windows_out() -> None:
    report = {"totals": {"coverage_pct": 100.0, "gaps": 3, "gap_seconds": 41.6}, "interval_s": 1.0}
    span = {"start": "2026-11-21T11:55:00Z", "end": "2026-11-21T12:26:00Z"}
    assert plot.title(report, span) == (
        "Order-book coverage per minute, 2026-11-21 11:55 to 2026-11-21 12:26 UTC: "
        "100.00% overall, 3 gaps (42 s), interval 1 s"
    )
    report["excluded"] = [{"start_ms": 0, "end_ms": 1}, {"start_ms": 5, "end_ms": 9}]
    assert ": 100.00% outside 2 excluded windows, 3 gaps" in plot.title(report, span)
