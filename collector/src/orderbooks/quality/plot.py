"""The coverage timeline PNG of a quality report (``orderbooks quality --plot``).

One lane per series: a strip coloured by the coverage of each minute (green is
complete, red is nothing), and under it the gaps, coloured by their cause and
named in the legend. Plotting runs on the controller only: matplotlib is the
optional extra ``orderbooks[plot]`` and is imported here, lazily, never by the
collector.
"""

from __future__ import annotations

import importlib.util
import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orderbooks.quality.units import MINUTE_MS

SERIES_NAMES = {"10684": "5m", "10192": "15m", "10114": "1h", "10331": "4h", "41": "daily"}

#: (lower bound %, colour, legend label), best first.
COVERAGE_BANDS = (
    (99.5, "#1a9850", ">= 99.5%"),
    (95.0, "#a6d96a", "95-99.5%"),
    (80.0, "#fee08b", "80-95%"),
    (1e-9, "#f46d43", "> 0-80%"),
    (0.0, "#a50026", "0%"),
)
NO_MARKET_COLOUR = "#e0e0e0"
#: Gaps at least this fraction of the timeline get their cause written beside them.
LABEL_MIN_FRACTION = 0.005

CAUSE_COLOURS = {
    "timeout": "#1f77b4",
    "connect": "#17becf",
    "reset": "#9edae5",
    "http_status": "#d62728",
    "rate_limited": "#9467bd",
    "not_ready": "#c5b0d5",
    "blocked": "#8c564b",
    "html_body": "#e377c2",
    "bad_json": "#f7b6d2",
    "schema_drift": "#bcbd22",
    "missing_book": "#dbdb8d",
    "book_closed": "#c7c7c7",
    "discovery": "#aec7e8",
    "overrun": "#ff7f0e",
    "disk_floor": "#7f4f24",
    "enospc": "#5c3317",
    "restart": "#000000",
    "not_running": "#444444",
    "market_not_collected": "#7f7f7f",
    "unexplained": "#ff00ff",
}


def unavailable() -> str | None:
    """Why a PNG cannot be drawn here (None when it can)."""
    if importlib.util.find_spec("matplotlib") is None:
        return "--plot needs matplotlib, which is not installed: pip install 'orderbooks[plot]'"
    return None


def coverage_colour(value: float | None) -> str:
    if value is None:
        return NO_MARKET_COLOUR
    for lower, colour, _label in COVERAGE_BANDS:
        if value >= lower:
            return colour
    return COVERAGE_BANDS[-1][1]


def colour_runs(minutes: list[int], values: list[float | None]) -> list[tuple[int, int, str]]:
    """Consecutive minutes of the same colour as (start ms, end ms, colour)."""
    runs: list[tuple[int, int, str]] = []
    for minute_ms, value in zip(minutes, values, strict=True):
        colour = coverage_colour(value)
        end = minute_ms + MINUTE_MS
        if runs and runs[-1][2] == colour and runs[-1][1] == minute_ms:
            runs[-1] = (runs[-1][0], end, colour)
        else:
            runs.append((minute_ms, end, colour))
    return runs


def series_label(series: str, row: dict[str, Any] | None) -> str:
    name = SERIES_NAMES.get(series)
    head = f"{name} ({series})" if name else series
    if row is None or row.get("coverage_pct") is None:
        return head
    return f"{head}\n{row['coverage_pct']:.2f}%, {row['gaps']} gaps"


def _num(epoch_ms: float, mdates: Any) -> float:
    return mdates.date2num(datetime.fromtimestamp(epoch_ms / 1000, tz=UTC))


def _side_legend(ax: Any, handles: list, title: str, loc: str, y: float) -> Any:
    """A small frameless legend right of the chart, anchored at height *y* (0 bottom, 1 top)."""
    return ax.legend(
        handles=handles,
        title=title,
        loc=loc,
        bbox_to_anchor=(1.01, y),
        fontsize=8,
        title_fontsize=8,
        frameon=False,
    )


def title(report: dict[str, Any], span: dict[str, str]) -> str:
    """The chart's title: span, coverage (and what it leaves out), gaps, interval."""
    totals = report["totals"]
    coverage = "-" if totals["coverage_pct"] is None else f"{totals['coverage_pct']:.2f}%"
    excluded = len(report.get("excluded") or ())
    scope = f"outside {excluded} excluded windows" if excluded else "overall"
    return (
        f"Order-book coverage per minute, {span['start'][:16].replace('T', ' ')} to "
        f"{span['end'][:16].replace('T', ' ')} UTC: {coverage} {scope}, {totals['gaps']} gaps "
        f"({totals['gap_seconds']:.0f} s), interval {report['interval_s']:g} s"
    )


def render(report: dict[str, Any], path: Path) -> Path:
    """Draw *report*'s timeline into *path* (PNG). Raises RuntimeError without matplotlib."""
    problem = unavailable()
    if problem:
        raise RuntimeError(problem)
    import matplotlib  # noqa: PLC0415 - optional extra, imported only when plotting

    matplotlib.use("Agg")
    import matplotlib.dates as mdates  # noqa: PLC0415
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    timeline = report["timeline"]
    minutes: list[int] = timeline["minute_ms"]
    series_ids = sorted(
        timeline["series"], key=lambda s: list(SERIES_NAMES).index(s) if s in SERIES_NAMES else 99
    )
    summaries = {row["series"]: row for row in report["series"]}
    gaps = report["gaps"]
    lanes = max(1, len(series_ids))
    fig, ax = plt.subplots(figsize=(14, 1.6 + 1.0 * lanes), dpi=110)

    span = report["span"]
    start_ms = span["start_ms"] or (minutes[0] if minutes else 0)
    end_ms = span["end_ms"] or (minutes[-1] + MINUTE_MS if minutes else start_ms + MINUTE_MS)
    width_ms = max(end_ms - start_ms, MINUTE_MS)
    min_gap_ms = width_ms / 500  # keeps a short gap visible on a long timeline
    day = mdates.date2num(datetime(1970, 1, 2, tzinfo=UTC)) - mdates.date2num(
        datetime(1970, 1, 1, tzinfo=UTC)
    )
    ms_unit = day / 86_400_000

    causes_seen: Counter[str] = Counter()
    label_end: dict[int, float] = {}
    for lane, series in enumerate(series_ids):
        y = lanes - 1 - lane
        values = timeline["series"][series]
        bars: dict[str, list[tuple[float, float]]] = {}
        for run_start, run_end, colour in colour_runs(minutes, values):
            bars.setdefault(colour, []).append((_num(run_start, mdates), (run_end - run_start) * ms_unit))
        for colour, segments in bars.items():
            ax.broken_barh(segments, (y - 0.02, 0.5), facecolors=colour, edgecolors="none")
        for gap in gaps:
            if gap["series"] != series:
                continue
            causes_seen[gap["cause"]] += 1
            length = max(gap["end_ms"] - gap["start_ms"], min_gap_ms)
            ax.broken_barh(
                [(_num(gap["start_ms"], mdates), length * ms_unit)],
                (y - 0.35, 0.3),
                facecolors=CAUSE_COLOURS.get(gap["cause"], "#ff00ff"),
                edgecolors="none",
            )
            text = f"{gap['cause']} {gap['duration_s']:.0f} s"
            free_from = label_end.get(y, -math.inf)
            if length >= width_ms * LABEL_MIN_FRACTION and gap["start_ms"] > free_from:
                # about 0.55% of the width per character at this size
                label_end[y] = gap["start_ms"] + length + width_ms * 0.0055 * (len(text) + 2)
                ax.text(
                    _num(gap["start_ms"] + length, mdates) + width_ms * 0.003 * ms_unit,
                    y - 0.2,
                    text,
                    fontsize=7,
                    va="center",
                    ha="left",
                    color="#333333",
                )
        ax.axhline(y - 0.45, color="#bbbbbb", linewidth=0.6)

    ax.set_ylim(-0.5, lanes - 0.45)
    ax.set_yticks([lanes - 1 - i + 0.05 for i in range(lanes)])
    ax.set_yticklabels([series_label(s, summaries.get(s)) for s in series_ids], fontsize=9)
    ax.set_xlim(_num(start_ms, mdates), _num(start_ms + width_ms, mdates))
    locator = mdates.AutoDateLocator(tz=UTC, minticks=6, maxticks=14)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    ax.set_xlabel("UTC")
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)

    ax.set_title(title(report, span), fontsize=11, loc="left")
    coverage_handles = [Patch(facecolor=c, label=label) for _lower, c, label in COVERAGE_BANDS]
    coverage_handles.append(Patch(facecolor=NO_MARKET_COLOUR, label="no market open"))
    ax.add_artist(_side_legend(ax, coverage_handles, "coverage (upper strip)", "upper left", 1.0))
    if causes_seen:
        cause_handles = [
            Patch(facecolor=CAUSE_COLOURS.get(cause, "#ff00ff"), label=f"{cause} ({count})")
            for cause, count in causes_seen.most_common()
        ]
        _side_legend(ax, cause_handles, "gaps by cause (lower strip)", "lower left", 0.0)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
