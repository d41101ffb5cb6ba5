"""The report of ``orderbooks quality``: the figures built from what an ``Analysis`` kept.

``build(analysis)`` returns the JSON-ready report (docs/quality.md documents every
key): expected cycles per (series, slug, hour) from the markets' windows and the
series' schedules, coverage, gaps with their causes (gaps.py), latency and
lateness quantiles, per series, per hour and in total, the files by hour and a
per-minute coverage timeline. It does not change the analysis. Market rows carry
private histograms (``_latency``, ``_lateness``) that ``public`` drops.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from orderbooks.quality import gaps, series_schedule
from orderbooks.quality.analysis import MISSING_MARKET, TOKENS_PER_MARKET, Analysis, GroupStats
from orderbooks.quality.units import (
    HOUR_MS,
    MINUTE_MS,
    hour_start_ms,
    ms_to_iso,
    overlap_ms,
    pct,
    quantiles,
    split_by,
)

QUALITY_SCHEMA = 1
#: At most this many gaps are kept in the report (longest first); the rest are counted.
MAX_GAPS = 10_000

Expected = Counter[tuple[str, str, int]]  # (series, slug, hour) -> expected token-cycles
ExpectedMinutes = Counter[tuple[str, int]]  # (series, minute) -> expected token-cycles


def build(analysis: Analysis) -> dict[str, Any]:
    """The report of *analysis*, market rows with their private histograms."""
    return _Builder(analysis).report()


def public(report: dict[str, Any]) -> dict[str, Any]:
    """Drop the private histogram keys (``_latency``...) from market rows."""
    for row in report.get("markets", []):
        for key in [k for k in row if k.startswith("_")]:
            del row[key]
    return report


class _Builder:
    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        # The edges of windows and the missed windows add gaps of their own: to a copy.
        self.token_gaps: gaps.MarketGaps = defaultdict(
            list, {key: list(found) for key, found in analysis.token_gaps.items()}
        )

    def report(self) -> dict[str, Any]:
        a = self.analysis
        interval_s, interval_source, interval_problem = a.interval()
        interval_ms = interval_s * 1000
        span_start, span_end = self._span(interval_ms)
        expected: Expected = Counter()
        expected_minutes: ExpectedMinutes = Counter()
        schedules: dict[str, dict[str, Any]] = {}

        if span_start is not None and span_end is not None and span_end > span_start:
            for (series, slug), market in a.markets.items():
                if market.window_start_ms is None or market.window_end_ms is None:
                    continue
                start = max(market.window_start_ms, span_start)
                end = min(market.window_end_ms, span_end)
                self._add_expected(
                    series=series, slug=slug, start=start, end=end, interval_ms=interval_ms,
                    expected=expected, expected_minutes=expected_minutes,
                )  # fmt: skip
                gaps.edge_gaps(
                    market, a.tokens, start=start, end=end, interval_ms=interval_ms, out=self.token_gaps
                )
            for series, hole_start, hole_end in self._missing_windows(
                span_start, span_end, interval_ms, schedules
            ):
                self._add_expected(
                    series=series, slug=MISSING_MARKET, start=hole_start, end=hole_end,
                    interval_ms=interval_ms, expected=expected, expected_minutes=expected_minutes,
                )  # fmt: skip
                self.token_gaps[(series, MISSING_MARKET)].append(
                    (hole_start, hole_end, round((hole_end - hole_start) / interval_ms), False, "")
                )
        gap_rows = gaps.gap_rows(self.token_gaps, a.causes, interval_ms)

        markets_out = self._market_rows(expected, gap_rows)
        series_out = _series_rows(markets_out, gap_rows, schedules)
        kept_gaps = sorted(gap_rows, key=lambda g: -g["duration_s"])[:MAX_GAPS]
        hours = a.hours.values()
        return {
            "schema": QUALITY_SCHEMA,
            "kind": "orderbooks.quality",
            "data_dir": str(a.data_dir),
            "interval_s": interval_s,
            "interval_source": interval_source,
            "span": {
                "start_ms": span_start,
                "end_ms": span_end,
                "start": ms_to_iso(span_start),
                "end": ms_to_iso(span_end),
                "seconds": round((span_end - span_start) / 1000, 3) if span_start and span_end else 0,
            },
            "excluded": [{"start_ms": lo, "end_ms": hi} for lo, hi in a.exclude],
            "files": {
                "read": a.files_read,
                "partial": sum(h.partial_files for h in hours),
                "recovered": sum(h.recovered_files for h in hours),
                "damaged": sum(h.damaged_files for h in hours),
                "missing_manifests": a.missing_manifests,
                "bytes": sum(h.bytes for h in hours),
                "raw_bytes": sum(h.raw_bytes for h in hours),
                "bytes_dropped": sum(h.bytes_dropped for h in hours),
                "unreadable_lines": sum(h.unreadable_lines for h in hours),
            },
            "runs": [
                {
                    "run_id": info.run_id,
                    "interval_s": info.interval_s,
                    "interval_source": info.interval_source,
                    "rows": info.rows,
                    "first_recv": ms_to_iso(info.first_recv_ms),
                    "last_recv": ms_to_iso(info.last_recv_ms),
                }
                for info in sorted(a.runs.values(), key=lambda r: r.run_id)
            ],
            "totals": _totals(markets_out, gap_rows),
            "failures_by_class": dict(sorted(a.failures_by_class.items())),
            "series": series_out,
            "hours": self._hour_rows(),
            "markets": markets_out,
            "gaps": sorted(kept_gaps, key=lambda g: (g["start_ms"], g["series"], g["slug"])),
            "gaps_not_listed": len(gap_rows) - len(kept_gaps),
            "timeline": self._timeline(expected_minutes),
            "problems": [*a.problems, interval_problem] if interval_problem else a.problems,
        }

    def _span(self, interval_ms: float) -> tuple[int | None, int | None]:
        """--since/--until; else from the earliest run start (or first row) to the
        latest run end (or last row plus one interval, the last row's own slot), that end
        rounded down to the interval grid: the cell holding the last poll is the last one
        counted (a mid-cell end would expect a fraction of a poll that cannot exist)."""
        a = self.analysis
        if a.first_recv_ms is None or a.last_recv_ms is None:
            return a.since_ms, a.until_ms
        starts = [a.first_recv_ms] + [r.start_ms for r in a.runs.values() if r.rows and r.start_ms]
        ends = [a.last_recv_ms + round(interval_ms)]
        ends += [r.end_ms for r in a.runs.values() if r.rows and r.end_ms]
        start = a.since_ms if a.since_ms is not None else min(starts)
        grid = max(1, round(interval_ms))
        end = a.until_ms if a.until_ms is not None else max(ends) - max(ends) % grid
        return start, end

    def _add_expected(
        self,
        *,
        series: str,
        slug: str,
        start: int,
        end: int,
        interval_ms: float,
        expected: Expected,
        expected_minutes: ExpectedMinutes,
    ) -> None:
        if end <= start:
            return
        for hour_ms, lo, hi in split_by(start, end, HOUR_MS):
            counted = (hi - lo) - overlap_ms(lo, hi, self.analysis.exclude)
            expected[(series, slug, hour_ms)] += counted / interval_ms * TOKENS_PER_MARKET
        for minute_ms, lo, hi in split_by(start, end, MINUTE_MS):
            expected_minutes[(series, minute_ms)] += (hi - lo) / interval_ms * TOKENS_PER_MARKET

    def _missing_windows(
        self, span_start: int, span_end: int, interval_ms: float, schedules: dict[str, dict[str, Any]]
    ) -> Iterator[tuple[str, int, int]]:
        """Windows the series' schedule says existed in the span that no row covers
        (series_schedule); fills *schedules* with each series' figures. A piece shorter
        than one interval (the span's fuzzy edge, last row plus one interval) is left out."""
        by_series: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for market in self.analysis.markets.values():
            if market.window_start_ms is not None and market.window_end_ms is not None:
                by_series[market.series].append((market.window_start_ms, market.window_end_ms))
        for series in sorted(set(by_series) | self.analysis.configured_series):
            grid = series_schedule.grid_for(series, by_series.get(series, []))
            if grid is None:
                continue
            scheduled, missing = series_schedule.missing_windows(
                grid, by_series.get(series, []), (span_start, span_end), interval_ms
            )
            schedules[series] = {
                "recurrence": grid.recurrence,
                "window_s": grid.window_ms / 1000,
                "source": grid.source,
                "windows": scheduled,
                "windows_missed": len(missing),
            }
            for lo, hi in missing:
                yield series, lo, hi

    def _market_rows(self, expected: Expected, gap_rows: list[dict[str, Any]]) -> list[dict]:
        a = self.analysis
        gaps_by_group: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
        for gap in gap_rows:
            gaps_by_group[(gap["series"], gap["slug"], hour_start_ms(gap["start_ms"]))].append(gap)
        rows = []
        for key in sorted(set(a.groups) | set(expected), key=lambda k: (k[2], k[0], k[1])):
            series, slug, hour_ms = key
            group = a.groups.get(key) or GroupStats()
            market = a.markets.get((series, slug))
            exp = expected.get(key, 0.0)
            if group.rows == 0 and exp < 1:
                continue  # an edge sliver of the span
            lateness = self._lateness(group)
            group_gaps = gaps_by_group.get(key, [])
            rows.append(
                {
                    "series": series,
                    "slug": slug,
                    "hour": ms_to_iso(hour_ms),
                    "hour_ms": hour_ms,
                    "window_start": ms_to_iso(market.window_start_ms) if market else None,
                    "window_end": ms_to_iso(market.window_end_ms) if market else None,
                    "tokens": len(market.tokens) if market else 0,
                    "expected_cycles": round(exp, 1),
                    "observed_cycles": group.observed,
                    "coverage_pct": pct(group.observed, exp),
                    "rows": group.rows,
                    "duplicate_rows": group.duplicate_rows,
                    "gaps": len(group_gaps),
                    "gap_seconds": round(sum(g["duration_s"] for g in group_gaps), 3),
                    "latency_ms": quantiles(group.latency),
                    "lateness_ms": quantiles(lateness),
                    "unchanged_books": group.unchanged_books,
                    "consecutive_polls": group.consecutive_polls,
                    "hash_changes": group.hash_changes,
                    "hash_changed_pct": pct(group.hash_changes, group.consecutive_polls),
                    "empty_books": group.empty_books,
                    "one_sided_books": group.one_sided_books,
                    "rows_with_book_errors": group.rows_with_book_errors,
                    "_latency": group.latency,
                    "_lateness": lateness,
                }
            )
        return rows

    def _lateness(self, group: GroupStats) -> Counter[int]:
        out: Counter[int] = Counter()
        for run_id, raw in group.lateness_raw.items():
            anchor = self.analysis.runs[run_id].anchor_ms
            if not math.isfinite(anchor):
                continue
            for value, count in raw.items():
                out[round(value - anchor)] += count
        return out

    def _hour_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "hour": ms_to_iso(hour_ms),
                "hour_ms": hour_ms,
                "files": files.files,
                "partial_files": files.partial_files,
                "recovered_files": files.recovered_files,
                "damaged_files": files.damaged_files,
                "rows": files.rows,
                "bytes": files.bytes,
                "raw_bytes": files.raw_bytes,
                "compression_ratio": round(files.raw_bytes / files.bytes, 2) if files.bytes else None,
                "bytes_per_row": round(files.bytes / files.rows, 1) if files.rows else None,
                "bytes_dropped": files.bytes_dropped,
                "unreadable_lines": files.unreadable_lines,
            }
            for hour_ms, files in sorted(self.analysis.hours.items())
        ]

    def _timeline(self, expected_minutes: ExpectedMinutes) -> dict[str, Any]:
        minutes = self.analysis.minutes
        all_series = sorted({s for s, _ in minutes} | {s for s, _ in expected_minutes})
        # A minute only touched by a few ms of the span (its edges) is left out.
        minute_keys = sorted(
            {m for _, m in minutes} | {m for (_, m), exp in expected_minutes.items() if exp >= 1}
        )
        return {
            "minute_ms": minute_keys,
            "series": {
                series: [
                    pct(minutes.get((series, m), 0), expected_minutes.get((series, m), 0))
                    for m in minute_keys
                ]
                for series in all_series
            },
        }


def _series_rows(
    markets: list[dict[str, Any]], gap_rows: list[dict[str, Any]], schedules: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    by_series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in markets:
        by_series[row["series"]].append(row)
    out = []
    for series in sorted(by_series):
        rows = by_series[series]
        series_gaps = [g for g in gap_rows if g["series"] == series]
        summary = _summarise(rows, series_gaps)
        hours: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            hours[row["hour_ms"]].append(row)
        summary["hours"] = [
            {
                "hour": ms_to_iso(h),
                **_summarise(hour_rows, [g for g in series_gaps if hour_start_ms(g["start_ms"]) == h]),
            }
            for h, hour_rows in sorted(hours.items())
        ]
        out.append({"series": series, **summary, "schedule": schedules.get(series)})
    return out


def _summarise(rows: list[dict[str, Any]], gap_rows: list[dict[str, Any]]) -> dict[str, Any]:
    latency: Counter[int] = Counter()
    lateness: Counter[int] = Counter()
    for row in rows:
        latency.update(row["_latency"])
        lateness.update(row["_lateness"])
    expected = sum(r["expected_cycles"] for r in rows)
    observed = sum(r["observed_cycles"] for r in rows)
    return {
        "markets": len({r["slug"] for r in rows if r["slug"] != MISSING_MARKET}),
        "expected_cycles": round(expected, 1),
        "observed_cycles": observed,
        "coverage_pct": pct(observed, expected),
        "rows": sum(r["rows"] for r in rows),
        "duplicate_rows": sum(r["duplicate_rows"] for r in rows),
        "gaps": len(gap_rows),
        "gap_seconds": round(sum(g["duration_s"] for g in gap_rows), 3),
        "latency_ms": quantiles(latency),
        "lateness_ms": quantiles(lateness),
        "unchanged_books": sum(r["unchanged_books"] for r in rows),
        "consecutive_polls": sum(r["consecutive_polls"] for r in rows),
        "hash_changes": sum(r["hash_changes"] for r in rows),
        "hash_changed_pct": pct(
            sum(r["hash_changes"] for r in rows), sum(r["consecutive_polls"] for r in rows)
        ),
        "empty_books": sum(r["empty_books"] for r in rows),
        "one_sided_books": sum(r["one_sided_books"] for r in rows),
        "rows_with_book_errors": sum(r["rows_with_book_errors"] for r in rows),
    }


def _totals(markets: list[dict[str, Any]], gap_rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary = _summarise(markets, gap_rows)
    summary["gaps_by_cause"] = dict(Counter(g["cause"] for g in gap_rows).most_common())
    return summary
