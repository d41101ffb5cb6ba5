"""The windows a series' schedule says existed: what ``orderbooks quality`` expects.

A series' grid comes, in order, from the data (the most common window length
among the windows its rows named, anchored on one of them) or from the known
recurrence of the real BTC series (``KNOWN_RECURRENCE``, Gamma's
``series[].recurrence``, true on 2026-05-12). 5m, 15m and 1h windows sit on the
UTC grid (US Eastern offsets are whole hours); 4h windows start at 12AM, 4AM, ...
8PM US Eastern and daily windows run from noon to noon US Eastern, so both
follow daylight saving time. ``missing_windows`` lists the scheduled windows no
collected window matches: a window that passed while the collector was down is
expected, at 0 %, not absent. Pure functions, no I/O.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

#: Gamma series id -> recurrence of the BTC up/down series (docs/quality.md).
KNOWN_RECURRENCE = {"10684": "5m", "10192": "15m", "10114": "1h", "10331": "4h", "41": "daily"}
RECURRENCE_MS = {"5m": 300_000, "15m": 900_000, "1h": 3_600_000, "4h": 14_400_000, "daily": 86_400_000}
EASTERN = ZoneInfo("America/New_York")
_CALENDAR_HOURS = {"4h": (0, 4, 8, 12, 16, 20), "daily": (12,)}

Window = tuple[int, int]


@dataclass(frozen=True)
class SeriesGrid:
    series: str
    recurrence: str | None  # "5m" ... "daily", None for a window length no real series has
    window_ms: int
    anchor_ms: int  # the start of one window of the grid
    source: str  # "data" (windows seen in rows) or "known" (KNOWN_RECURRENCE)

    @property
    def calendar(self) -> bool:
        """4h and daily windows follow US Eastern wall-clock time (daylight saving)."""
        return self.recurrence in _CALENDAR_HOURS and _eastern_boundary(self.anchor_ms, self.recurrence)

    def windows(self, start_ms: int, end_ms: int) -> Iterator[Window]:
        """Every window of the grid that overlaps [start_ms, end_ms), in order."""
        if self.calendar:
            yield from _calendar_windows(self.recurrence or "", start_ms, end_ms)
            return
        k = (start_ms - self.anchor_ms) // self.window_ms
        w_start = self.anchor_ms + k * self.window_ms
        while w_start < end_ms:
            if w_start + self.window_ms > start_ms:
                yield w_start, w_start + self.window_ms
            w_start += self.window_ms


def grid_for(series: str, seen: Iterable[Window]) -> SeriesGrid | None:
    """The series' grid from its seen windows, else its known recurrence; None if neither."""
    seen = sorted(seen)
    if seen:
        length, _ = Counter(end - start for start, end in seen).most_common(1)[0]
        anchor = next(start for start, end in seen if end - start == length)
        recurrence = next((name for name, ms in RECURRENCE_MS.items() if ms == length), None)
        return SeriesGrid(series, recurrence, length, anchor, "data")
    recurrence = KNOWN_RECURRENCE.get(str(series))
    if recurrence is None:
        return None
    anchor = next(_calendar_windows(recurrence, 0, 1))[0] if recurrence in _CALENDAR_HOURS else 0
    return SeriesGrid(series, recurrence, RECURRENCE_MS[recurrence], anchor, "known")


def missing_windows(
    grid: SeriesGrid, seen: Iterable[Window], span: Window, min_overlap_ms: float = 0
) -> tuple[int, list[Window]]:
    """(scheduled windows overlapping *span*, those no seen window matches, clipped to *span*).

    A scheduled window matches a seen one that covers more than half of it. A window
    inside the span for less than *min_overlap_ms* (a sliver at its edge) is not counted.
    """
    seen = sorted(seen)
    span_start, span_end = span
    scheduled = 0
    missing: list[Window] = []
    for w_start, w_end in grid.windows(span_start, span_end):
        if min(w_end, span_end) - max(w_start, span_start) < max(min_overlap_ms, 1):
            continue
        scheduled += 1
        covered = sum(max(0, min(w_end, e) - max(w_start, s)) for s, e in seen if s < w_end and e > w_start)
        if 2 * covered <= w_end - w_start:
            missing.append((max(w_start, span_start), min(w_end, span_end)))
    return scheduled, missing


def _eastern_boundary(epoch_ms: int, recurrence: str) -> bool:
    local = datetime.fromtimestamp(epoch_ms / 1000, EASTERN)
    return (local.hour, local.minute, local.second) in {(h, 0, 0) for h in _CALENDAR_HOURS[recurrence]}


def _calendar_windows(recurrence: str, start_ms: int, end_ms: int) -> Iterator[Window]:
    hours = _CALENDAR_HOURS[recurrence]
    day = datetime.fromtimestamp(start_ms / 1000, UTC).astimezone(EASTERN).date() - timedelta(days=1)
    boundaries: list[int] = []
    while not boundaries or boundaries[-1] < end_ms:
        for hour in hours:
            local = datetime(day.year, day.month, day.day, hour, tzinfo=EASTERN)
            boundaries.append(round(local.timestamp() * 1000))
        day += timedelta(days=1)
    for w_start, w_end in itertools.pairwise(boundaries):
        if w_end > start_ms and w_start < end_ms:
            yield w_start, w_end
