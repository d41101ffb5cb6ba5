"""The collector's health state on disk: DATA_DIR/state/collector.json.

The file's format (where it lies, how it is written and read) is
``store.health_state``'s; this module decides what it holds and when it is saved.

``HealthTracker`` lives in the poll thread. After every cycle it is handed
the cycle's result, tracked tokens and how many of its rows the writer could
not write (``cycle_written``): health counts rows *written*, never rows only
received. It is also handed the failures
recorded outside cycles (``failures``); it keeps what ``orderbooks status``
needs and replaces the state file atomically (temporary file + rename) at
most every ``SAVE_SECONDS`` and at stop. The file is small (per-minute
counters of the last hour, one entry per series) and readable by the data
folder's group, so ``orderbooks status`` works for any user who can read the
data folder, without asking the running process anything.

State file fields (all times UTC epoch ms)::

    {"schema": 1, "pid": 123, "run_id": "...", "version": "...",
     "started_ms": ..., "starts_ms": [...],          # this and earlier starts (7 days)
     "saved_ms": ..., "interval_s": 1.0, "disk_floor_bytes": ...,
     "cycles": N, "last_cycle_ms": ..., "rows_total": N, "last_row_ms": ...,  # rows written
     "rows_lost_total": N, "last_row_lost_ms": ...,  # rows received but not written (write errors)
     "rows_lost_by_minute": {"<minute ms>": N},      # last 60 minutes
     "due_without_rows": N, "due_without_rows_since_ms": ...,
     "rows_by_minute": {"<minute ms>": N},           # last 60 minutes
     "failures_by_minute": {"<minute ms>": {"<class>": N}},
     "failures_total": {"<class>": N},
     "series": {"<id>": {"markets": N, "tokens": N, "empty_since_ms": ...,
                         "discovery_ok_ms": ..., "discovery_failing_since_ms": ...}},
     "books_changed_ms": ..., "sealed_files": N}
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from orderbooks.clock import Clock
from orderbooks.records import CycleResult, FailureRecord
from orderbooks.store import health_state

STATE_SCHEMA = 1
#: Most often the state file is replaced (seconds).
SAVE_SECONDS = 5.0
#: Per-minute counters older than this are dropped (ms).
WINDOW_MS = 3_600_000
#: Starts older than this are dropped from ``starts_ms`` (ms).
STARTS_KEEP_MS = 7 * 86_400_000
MINUTE_MS = 60_000


class HealthTracker:
    def __init__(
        self,
        data_dir: Path,
        clock: Clock,
        *,
        run_id: str,
        version: str,
        series: Iterable[str],
        interval_s: float,
        disk_floor_bytes: int,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.clock = clock
        now = clock.wall_ms()
        try:
            previous = health_state.read_state(self.data_dir) or {}
        except OSError:
            previous = {}
        starts = [t for t in previous.get("starts_ms", []) if isinstance(t, int) and now - t < STARTS_KEEP_MS]
        self.state: dict[str, Any] = {
            "schema": STATE_SCHEMA,
            "pid": os.getpid(),
            "run_id": run_id,
            "version": version,
            "started_ms": now,
            "starts_ms": [*starts[-199:], now],
            "saved_ms": None,
            "interval_s": interval_s,
            "disk_floor_bytes": disk_floor_bytes,
            "cycles": 0,
            "last_cycle_ms": None,
            "rows_total": 0,
            # Kept across restarts: a restart loop that writes nothing must not look fresh.
            "last_row_ms": previous.get("last_row_ms"),
            "rows_lost_total": 0,
            "last_row_lost_ms": previous.get("last_row_lost_ms"),
            # The last hour's losses and failures outlive a restart: "in the last hour" means it.
            "rows_lost_by_minute": _recent(previous.get("rows_lost_by_minute"), now),
            "due_without_rows": 0,
            "due_without_rows_since_ms": None,
            "rows_by_minute": {},
            "failures_by_minute": _recent(previous.get("failures_by_minute"), now),
            "failures_total": {},
            "series": {s: _series_entry() for s in series},
            "books_changed_ms": None,
            "sealed_files": 0,
        }
        self._books: dict[str, tuple[Any, Any]] = {}
        self._last_save = None

    # ------------------------------------------------------------ inputs (poll thread)

    def cycle_written(
        self, result: CycleResult, tokens: list, discovery: Any = None, *, rows_not_written: int = 0
    ) -> None:
        """One cycle handed to the writer; *rows_not_written* of its rows it could not write."""
        state = self.state
        now = self.clock.wall_ms()
        state["cycles"] += 1
        state["last_cycle_ms"] = now
        lost = max(0, min(rows_not_written, len(result.rows)))
        written = len(result.rows) - lost
        if lost:
            state["rows_lost_total"] += lost
            state["last_row_lost_ms"] = now
            _bump(state["rows_lost_by_minute"], _minute(now), lost)
        if written:
            state["rows_total"] += written
            state["last_row_ms"] = max(int(row.get("recv_ms") or now) for row in result.rows)
            _bump(state["rows_by_minute"], _minute(now), written)
            self._books_seen(result.rows, now)
        # Markets due but no row, or no market known because every series'
        # discovery fails (an outage of both APIs): a cycle that should have written.
        failed = getattr(discovery, "failed_in_a_row", {}) if discovery is not None else {}
        blind = bool(self.state["series"]) and all(failed.get(s, 0) > 0 for s in self.state["series"])
        if (tokens or blind) and not written:
            if state["due_without_rows"] == 0:
                state["due_without_rows_since_ms"] = now
            state["due_without_rows"] += 1
        else:
            state["due_without_rows"] = 0
            state["due_without_rows_since_ms"] = None
        self._tracking(tokens, now)
        if discovery is not None:
            self._discovery(discovery, now)
        self.failures(result.failures)
        self.save_if_due()

    def failures(self, failures: list[FailureRecord]) -> None:
        for failure in failures:
            bucket = self.state["failures_by_minute"].setdefault(str(_minute(failure.t_ms)), {})
            _bump(bucket, failure.error, 1)
            _bump(self.state["failures_total"], failure.error, 1)

    def sealed_files(self, count: int) -> bool:
        """Record the writer's count of sealed files; True when it grew."""
        grew = count > self.state["sealed_files"]
        self.state["sealed_files"] = count
        return grew

    # ------------------------------------------------------------ output

    def save_if_due(self) -> None:
        mono = self.clock.monotonic()
        if self._last_save is None or mono - self._last_save >= SAVE_SECONDS:
            self.save()

    def save(self) -> None:
        """Replace the state file; a failure to write it is the caller's to log."""
        self._last_save = self.clock.monotonic()
        now = self.clock.wall_ms()
        self._expire(now)
        self.state["saved_ms"] = now
        health_state.write_state(self.data_dir, self.state)

    # ------------------------------------------------------------ internals

    def _books_seen(self, rows: list[dict[str, Any]], now: int) -> None:
        for row in rows:
            book = row.get("book") if isinstance(row.get("book"), dict) else {}
            key = (book.get("hash"), book.get("timestamp"))
            token = str(row.get("token_id"))
            if self._books.get(token) != key:
                self._books[token] = key
                self.state["books_changed_ms"] = now
        if len(self._books) > 10_000:
            self._books.clear()

    def _tracking(self, tokens: list, now: int) -> None:
        per_series: dict[str, set[str]] = {}
        tokens_per: dict[str, int] = {}
        for token in tokens:
            series = str(token.market.series)
            per_series.setdefault(series, set()).add(token.market.slug)
            tokens_per[series] = tokens_per.get(series, 0) + 1
        for series, entry in self.state["series"].items():
            entry["markets"] = len(per_series.get(series, ()))
            entry["tokens"] = tokens_per.get(series, 0)
            if entry["tokens"]:
                entry["empty_since_ms"] = None
            elif entry["empty_since_ms"] is None:
                entry["empty_since_ms"] = now

    def _discovery(self, discovery: Any, now: int) -> None:
        last_ok = getattr(discovery, "last_ok_ms", {})
        failed = getattr(discovery, "failed_in_a_row", {})
        for series, entry in self.state["series"].items():
            if series in last_ok:
                entry["discovery_ok_ms"] = last_ok[series]
            if failed.get(series, 0) > 0:
                if entry["discovery_failing_since_ms"] is None:
                    entry["discovery_failing_since_ms"] = entry["discovery_ok_ms"] or self.state["started_ms"]
            else:
                entry["discovery_failing_since_ms"] = None

    def _expire(self, now: int) -> None:
        for key in ("rows_by_minute", "rows_lost_by_minute", "failures_by_minute"):
            counters = self.state[key]
            for minute in [m for m in counters if now - int(m) > WINDOW_MS]:
                del counters[minute]


def _series_entry() -> dict[str, Any]:
    return {
        "markets": 0,
        "tokens": 0,
        "empty_since_ms": None,
        "discovery_ok_ms": None,
        "discovery_failing_since_ms": None,
    }


def _minute(t_ms: int) -> int:
    return t_ms - t_ms % MINUTE_MS


def _bump(counter: dict[str, int], key: Any, n: int) -> None:
    counter[str(key)] = counter.get(str(key), 0) + n


def _recent(counters: Any, now: int) -> dict[str, Any]:
    """The per-minute counters of an earlier run's state that are still inside the window."""
    if not isinstance(counters, dict):
        return {}
    out = {}
    for minute, value in counters.items():
        try:
            if now - int(minute) <= WINDOW_MS:
                out[str(minute)] = value
        except (TypeError, ValueError):
            continue
    return out
