"""Time and number helpers of the quality figures: epoch milliseconds and ISO-8601,
hour and minute buckets, integers read from JSON, percentages and quantiles."""

from __future__ import annotations

import calendar
import math
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


def iso_to_ms(text: Any) -> int | None:
    """``2026-05-12T11:10:00Z`` (any ISO-8601 with offset; naive means UTC) -> epoch ms."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return calendar.timegm(moment.timetuple()) * 1000 + moment.microsecond // 1000
    return round(moment.timestamp() * 1000)


def ms_to_iso(epoch_ms: int | None) -> str | None:
    if epoch_ms is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_ms // 1000)) + f".{epoch_ms % 1000:03d}Z"


def hour_start_ms(epoch_ms: int) -> int:
    """The start (epoch ms) of the UTC hour that contains the moment *epoch_ms*."""
    return epoch_ms - epoch_ms % HOUR_MS


def split_by(start: int, end: int, step: int) -> Iterator[tuple[int, int, int]]:
    """(bucket start, piece start, piece end) of [start, end) cut at multiples of *step*."""
    cursor = start
    while cursor < end:
        bucket = cursor - cursor % step
        piece_end = min(end, bucket + step)
        yield bucket, cursor, piece_end
        cursor = piece_end


def overlap_ms(start: int, end: int, windows: Iterable[tuple[int, int]]) -> int:
    """Milliseconds of [start, end) covered by *windows* (assumed not to overlap each other)."""
    total = 0
    for w_start, w_end in windows:
        lo, hi = max(start, w_start), min(end, w_end)
        if hi > lo:
            total += hi - lo
    return total


def in_windows(t_ms: int, windows: Iterable[tuple[int, int]]) -> bool:
    return any(w_start <= t_ms < w_end for w_start, w_end in windows)


def as_int(value: Any) -> int | None:
    """A JSON number as an int (floats rounded); None for anything else, booleans included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return round(value)
    return None


def pct(numerator: float, denominator: float) -> float | None:
    """100 * numerator / denominator, capped at 100 and rounded; None without a denominator."""
    if denominator <= 0:
        return None
    return round(min(100.0, 100.0 * numerator / denominator), 3)


def quantile(counts: Counter[int], q: float) -> float | None:
    """The *q* quantile (nearest rank) of a histogram {value: count}."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return float(value)
    return float(max(counts))  # pragma: no cover - unreachable


def quantiles(counts: Counter[int]) -> dict[str, float | None]:
    """p50, p99 and max of a histogram, as the report gives them."""
    return {
        "p50": quantile(counts, 0.50),
        "p99": quantile(counts, 0.99),
        "max": float(max(counts)) if counts else None,
    }
