"""Data quality of a data folder: what ``orderbooks quality`` measures.

``analyze(data_dir)`` streams every data file under ``DATA_DIR/raw`` one at a
time (sealed files, and the complete CRC-checked members of ``.partial``
files) with its manifest, and returns a report (a JSON-ready dict) per series,
market (slug) and UTC hour. Memory is bounded by the number of markets, tokens,
gaps and minutes, never by the number of rows. docs/quality.md documents every
key and the method; in short:

* interval: ``interval_s`` if given, else the run manifest's
  ``run_info.settings.interval``, else the median spacing of consecutive cycles
  in the run's first file.
* collection span: ``since_ms``..``until_ms`` if given, else the first to the
  last row of the data.
* expected cycles of a market in an hour: the part of its window
  ``[window_start, window_end)`` inside the collection span and the hour,
  divided by the interval, times two tokens (the collector only keeps two-outcome
  markets). Every window the series' schedule says existed in the span counts as
  expected too (series_schedule); one no row covers is slug ``MISSING_MARKET``.
* hash changed: per token, rows one cycle after its previous row (same run) whose
  book ``hash`` differs from that row's, over all such consecutive polls.
* observed: rows inside the window, one per token and cycle (repeats are counted
  as ``duplicate_rows``, not observed). Coverage = observed / expected, capped at 100%.
* gaps: per token, two consecutive rows more than one cycle apart (same run:
  cycle numbers, which are schedule slots; across runs: time), and the parts of
  the window before the first and after the last row; merged over the market's
  tokens. The cause is the failure class that overlaps the gap most often
  (manifest ``failures`` and ``gaps``); ``not_running`` for a gap between two
  runs that nothing explains; ``unexplained`` otherwise.
* schedule lateness: ``recv_ms - due(cycle)``, ``due(cycle) = anchor + cycle *
  interval`` with, per run, ``anchor = min(recv_ms - latency_ms - cycle *
  interval)``: the earliest request start of the run is taken as on time, so the
  figure is a lower bound that includes the request's own latency.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
import math
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from orderbooks import gzmembers, paths, series_schedule

QUALITY_SCHEMA = 1
#: The collector keeps only markets with exactly two outcomes and two tokens.
TOKENS_PER_MARKET = 2
#: Slug of the pseudo-market for windows of a series that no row covers.
MISSING_MARKET = "(no market collected)"
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
#: Cycles read from a run's first file to infer its interval.
INFER_CYCLES = 300
#: Failure classes that follow from another failure in the same cycle (a timed-out
#: POST /books leaves books missing, a slow cycle overruns): a gap's cause is one of
#: these only when nothing else overlaps it.
CONSEQUENCES = frozenset({"missing_book", "overrun"})
#: At most this many gaps are kept in the report (longest first); the rest are counted.
MAX_GAPS = 10_000


class QualityError(Exception):
    """The data folder cannot be analysed (missing, unreadable)."""


# ---------------------------------------------------------------- small helpers


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


def hour_of(epoch_ms: int) -> int:
    return epoch_ms - epoch_ms % HOUR_MS


def split_by(start: int, end: int, step: int) -> Iterator[tuple[int, int, int]]:
    """(bucket start, piece start, piece end) of [start, end) cut at multiples of *step*."""
    cursor = start
    while cursor < end:
        bucket = cursor - cursor % step
        piece_end = min(end, bucket + step)
        yield bucket, cursor, piece_end
        cursor = piece_end


def _pct(numerator: float, denominator: float) -> float | None:
    if denominator <= 0:
        return None
    return round(min(100.0, 100.0 * numerator / denominator), 3)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return round(value)
    return None


# ---------------------------------------------------------------- accumulators


@dataclass
class GroupStats:
    """One (series, slug, hour): what its rows showed."""

    rows: int = 0
    observed: int = 0  # token-cycles inside the window and outside excluded windows
    duplicate_rows: int = 0
    unchanged_books: int = 0
    consecutive_polls: int = 0  # rows one cycle after the token's previous row, both with a hash
    hash_changes: int = 0  # ... whose book hash differs from that previous row's
    empty_books: int = 0
    one_sided_books: int = 0
    rows_with_book_errors: int = 0
    latency: Counter[int] = field(default_factory=Counter)
    lateness_raw: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))


@dataclass
class Market:
    series: str
    slug: str
    window_start_ms: int | None
    window_end_ms: int | None
    tokens: set[str] = field(default_factory=set)
    first_recv_ms: int | None = None
    last_recv_ms: int | None = None


@dataclass
class TokenState:
    market: tuple[str, str]
    run_id: str
    cycle: int | None
    recv_ms: int
    first_recv_ms: int
    book_timestamp: Any = None
    book_hash: Any = None


@dataclass
class HourFiles:
    files: int = 0
    partial_files: int = 0
    recovered_files: int = 0
    damaged_files: int = 0
    rows: int = 0
    bytes: int = 0
    raw_bytes: int = 0
    bytes_dropped: int = 0
    unreadable_lines: int = 0


@dataclass
class Cause:
    start_ms: int
    end_ms: int
    cause: str
    series: str | None
    token_id: str | None
    count: int


@dataclass
class RunInfo:
    run_id: str
    interval_s: float | None
    interval_source: str
    anchor_ms: float = math.inf  # min(recv_ms - latency_ms - cycle * interval)
    rows: int = 0
    first_recv_ms: int | None = None
    last_recv_ms: int | None = None
    start_ms: int | None = None  # run manifest: when the run started
    end_ms: int | None = None  # run manifest: when it ended (or was last updated)


# ---------------------------------------------------------------- the analysis


class Analysis:
    """Feed it data files in time order (``add_file``), then ``report()``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        interval_s: float | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        exclude: Iterable[tuple[int, int]] = (),
    ) -> None:
        if interval_s is not None and not interval_s > 0:
            raise ValueError(f"interval must be > 0, got {interval_s!r}")
        self.data_dir = Path(data_dir)
        self.interval_override = interval_s
        self.since_ms = since_ms
        self.until_ms = until_ms
        self.exclude = sorted((int(a), int(b)) for a, b in exclude if b > a)
        self.groups: dict[tuple[str, str, int], GroupStats] = defaultdict(GroupStats)
        self.markets: dict[tuple[str, str], Market] = {}
        self.tokens: dict[str, TokenState] = {}
        self.token_gaps: dict[tuple[str, str], list[tuple[int, int, int, bool, str]]] = defaultdict(list)
        self.hours: dict[int, HourFiles] = defaultdict(HourFiles)
        self.minutes: Counter[tuple[str, int]] = Counter()  # (series, minute) -> observed token-cycles
        self.causes: list[Cause] = []
        self.failures_by_class: Counter[str] = Counter()
        self.runs: dict[str, RunInfo] = {}
        self.configured_series: set[str] = set()  # run manifests' run_info.settings.series
        self.first_recv_ms: int | None = None
        self.last_recv_ms: int | None = None
        self.files_read = 0
        self.rows_read = 0
        self.rows_out_of_range = 0
        self.missing_manifests = 0
        self.problems: list[str] = []

    # ------------------------------------------------------------ runs and interval

    def _run(self, run_id: str, data_file: Path) -> RunInfo:
        info = self.runs.get(run_id)
        if info is not None:
            return info
        run_manifest = read_run_manifest(self.data_dir, run_id)
        interval = interval_from_run_manifest(run_manifest)
        if self.interval_override is not None:
            info = RunInfo(run_id, self.interval_override, "option")
        elif interval is not None:
            info = RunInfo(run_id, interval, "run_manifest")
        else:
            inferred = infer_interval(data_file)
            info = RunInfo(run_id, inferred, "inferred" if inferred else "unknown")
        self.configured_series.update(series_from_run_manifest(run_manifest))
        if run_manifest is not None:
            info.start_ms = _as_int(run_manifest.get("start"))
            info.end_ms = _as_int(run_manifest.get("end")) or _as_int(run_manifest.get("updated_at"))
        self.runs[run_id] = info
        return info

    def interval(self) -> tuple[float, str]:
        """The interval used for expected counts: the option, else the most common run interval."""
        if self.interval_override is not None:
            return self.interval_override, "option"
        known = Counter(
            (info.interval_s, info.interval_source) for info in self.runs.values() if info.interval_s
        )
        if not known:
            return 1.0, "default"
        (interval, source), _ = known.most_common(1)[0]
        if len({i for i, _ in known}) > 1:
            self.problems.append(
                "runs used different intervals: "
                + ", ".join(sorted({f"{i:g}s" for i, _ in known}))
                + f"; expected counts use {interval:g}s"
            )
        return interval, source

    # ------------------------------------------------------------ files

    def add_file(self, data_file: Path) -> None:
        data_file = Path(data_file)
        partial = data_file.name.endswith(paths.PARTIAL_SUFFIX)
        stem = paths.stem_of(data_file)
        match = paths.STEM_RE.match(stem)
        run_id = match.group("run_id") if match else stem
        hour_ms = None
        if match:
            hour_ms = paths.HourKey(match.group("date"), match.group("hour")).start_ms()
        manifest = None if partial else read_manifest(data_file)
        if manifest is None and not partial:
            self.missing_manifests += 1
            self.problems.append(f"no manifest for {paths.relative(self.data_dir, data_file)}")
        if manifest is not None:
            run_id = str(manifest.get("run_id") or run_id)
            self._add_manifest_failures(manifest)
        run = self._run(run_id, data_file)
        self.files_read += 1
        raw_bytes = 0
        rows = 0
        bad_lines = 0
        tail_error: str | None = None
        try:
            with open(data_file, "rb") as handle:
                size = handle.seek(0, 2)
                handle.seek(0)
                try:
                    for member in gzmembers.iter_members(handle):
                        raw_bytes += len(member.data)
                        for line in gzmembers.split_lines(member.data):
                            try:
                                row = orjson.loads(line)
                            except orjson.JSONDecodeError:
                                bad_lines += 1
                                continue
                            if not isinstance(row, dict):
                                bad_lines += 1
                                continue
                            if self._add_row(row, run):
                                rows += 1
                except gzmembers.DamagedTail as exc:
                    tail_error = exc.reason
        except OSError as exc:
            self.problems.append(f"cannot read {data_file}: {exc}")
            return
        if hour_ms is None:
            hour_ms = hour_of(run.last_recv_ms or 0)
        hour = self.hours[hour_ms]
        hour.files += 1
        hour.rows += rows
        hour.bytes += size
        hour.raw_bytes += raw_bytes
        hour.unreadable_lines += bad_lines
        if partial:
            hour.partial_files += 1
        elif tail_error is not None:
            hour.damaged_files += 1
            self.problems.append(
                f"damaged sealed file {paths.relative(self.data_dir, data_file)}: {tail_error}"
            )
        if manifest is not None and manifest.get("recovered"):
            hour.recovered_files += 1
            hour.bytes_dropped += _as_int(manifest.get("bytes_dropped")) or 0

    def add_failures(self, manifest: dict[str, Any]) -> None:
        """The failures and gaps of a file manifest, read from elsewhere (union.py)."""
        self._add_manifest_failures(manifest)

    def add_row(self, row: dict[str, Any], run: RunInfo) -> bool:
        """One row of *run*, read from elsewhere (union.py); rows in time order per token."""
        return self._add_row(row, run)

    def _add_manifest_failures(self, manifest: dict[str, Any]) -> None:
        failures = manifest.get("failures") or []
        by_key: dict[tuple[str, str | None, str | None], Cause] = {}
        seen_classes: set[str] = set()
        for record in failures:
            if not isinstance(record, dict):
                continue
            t_ms = _as_int(record.get("t_ms"))
            error = str(record.get("error") or "unknown")
            if t_ms is None:
                continue
            series = None if record.get("series") is None else str(record.get("series"))
            token = None if record.get("token_id") is None else str(record.get("token_id"))
            seen_classes.add(error)
            key = (error, series, token)
            current = by_key.get(key)
            if current is not None and t_ms - current.end_ms <= 60_000:
                current.end_ms = max(current.end_ms, t_ms)
                current.start_ms = min(current.start_ms, t_ms)
                current.count += 1
                continue
            if current is not None:
                self.causes.append(current)
            by_key[key] = Cause(t_ms, t_ms, error, series, token, 1)
        self.causes.extend(by_key.values())
        counted = Counter(str(r.get("error") or "unknown") for r in failures if isinstance(r, dict))
        dropped = _as_int(manifest.get("failures_dropped")) or 0
        for gap in manifest.get("gaps") or []:
            if not isinstance(gap, dict):
                continue
            cause = str(gap.get("cause") or "unknown")
            start, end = _as_int(gap.get("start_ms")), _as_int(gap.get("end_ms"))
            if start is None or end is None:
                continue
            count = _as_int(gap.get("count")) or 1
            if cause not in seen_classes or dropped:
                # Failures the manifest only kept as a gap (capped list, recovery's restart gap).
                self.causes.append(Cause(start, end, cause, None, None, count))
                if cause not in seen_classes:
                    counted[cause] += count
        if dropped:
            counted["(dropped from manifest)"] += dropped
        self.failures_by_class.update(counted)

    # ------------------------------------------------------------ rows

    def _add_row(self, row: dict[str, Any], run: RunInfo) -> bool:
        recv_ms = _as_int(row.get("recv_ms"))
        if recv_ms is None:
            self.rows_out_of_range += 1
            return False
        if (self.since_ms is not None and recv_ms < self.since_ms) or (
            self.until_ms is not None and recv_ms >= self.until_ms
        ):
            self.rows_out_of_range += 1
            return False
        self.rows_read += 1
        if self.first_recv_ms is None or recv_ms < self.first_recv_ms:
            self.first_recv_ms = recv_ms
        if self.last_recv_ms is None or recv_ms > self.last_recv_ms:
            self.last_recv_ms = recv_ms
        run.rows += 1
        if run.first_recv_ms is None:
            run.first_recv_ms = recv_ms
        run.last_recv_ms = recv_ms

        series = str(row.get("series"))
        slug = str(row.get("slug"))
        token = str(row.get("token_id"))
        cycle = _as_int(row.get("cycle"))
        latency = _as_int(row.get("latency_ms"))
        market_key = (series, slug)
        market = self.markets.get(market_key)
        if market is None:
            market = Market(
                series, slug, iso_to_ms(row.get("window_start")), iso_to_ms(row.get("window_end"))
            )
            self.markets[market_key] = market
        market.tokens.add(token)
        if market.first_recv_ms is None:
            market.first_recv_ms = recv_ms
        market.last_recv_ms = recv_ms

        group = self.groups[(series, slug, hour_of(recv_ms))]
        group.rows += 1
        if latency is not None:
            group.latency[latency] += 1
        interval_ms = (run.interval_s or 0) * 1000
        if cycle is not None and interval_ms:
            due_offset = round(cycle * interval_ms)
            group.lateness_raw[run.run_id][recv_ms - due_offset] += 1
            run.anchor_ms = min(run.anchor_ms, recv_ms - (latency or 0) - due_offset)

        book = row.get("book")
        book_ts = book_hash = None
        if isinstance(book, dict):
            bids, asks = book.get("bids"), book.get("asks")
            has_bids = isinstance(bids, list) and len(bids) > 0
            has_asks = isinstance(asks, list) and len(asks) > 0
            if not has_bids and not has_asks:
                group.empty_books += 1
            elif has_bids != has_asks:
                group.one_sided_books += 1
            book_ts, book_hash = book.get("timestamp"), book.get("hash")
        else:
            group.empty_books += 1
        if row.get("book_errors"):
            group.rows_with_book_errors += 1

        state = self.tokens.get(token)
        same_run = state is not None and state.run_id == run.run_id
        if same_run and cycle is not None and state.cycle is not None and cycle <= state.cycle:
            group.duplicate_rows += 1
            return True
        if state is not None:
            if book_hash is not None and book_ts == state.book_timestamp and book_hash == state.book_hash:
                group.unchanged_books += 1
            consecutive = (
                same_run and cycle is not None and state.cycle is not None and cycle == state.cycle + 1
            )
            if consecutive and isinstance(book_hash, str) and book_hash and isinstance(state.book_hash, str):
                group.consecutive_polls += 1
                group.hash_changes += book_hash != state.book_hash
            self._check_gap(state, token, run, cycle, recv_ms)
            state.run_id, state.cycle, state.recv_ms = run.run_id, cycle, recv_ms
            state.book_timestamp, state.book_hash = book_ts, book_hash
        else:
            self.tokens[token] = TokenState(
                market_key, run.run_id, cycle, recv_ms, recv_ms, book_ts, book_hash
            )

        if self._in_window(market, recv_ms) and not in_windows(recv_ms, self.exclude):
            group.observed += 1
        if self._in_window(market, recv_ms):
            self.minutes[(series, recv_ms - recv_ms % MINUTE_MS)] += 1
        return True

    @staticmethod
    def _in_window(market: Market, recv_ms: int) -> bool:
        if market.window_start_ms is None or market.window_end_ms is None:
            return False
        return market.window_start_ms <= recv_ms < market.window_end_ms

    def _check_gap(
        self, state: TokenState, token: str, run: RunInfo, cycle: int | None, recv_ms: int
    ) -> None:
        interval_ms = (run.interval_s or 1.0) * 1000
        if state.run_id == run.run_id and cycle is not None and state.cycle is not None:
            missed = cycle - state.cycle - 1
            run_change = False
        else:
            missed = round((recv_ms - state.recv_ms) / interval_ms) - 1
            run_change = state.run_id != run.run_id
        if missed >= 1:
            self.token_gaps[state.market].append((state.recv_ms, recv_ms, missed, run_change, token))

    # ------------------------------------------------------------ the report

    def report(self) -> dict[str, Any]:
        interval_s, interval_source = self.interval()
        interval_ms = interval_s * 1000
        span_start, span_end = self._span(interval_ms)
        expected: Counter[tuple[str, str, int]] = Counter()
        expected_minutes: Counter[tuple[str, int]] = Counter()
        gap_rows: list[dict[str, Any]] = []
        schedules: dict[str, dict[str, Any]] = {}

        if span_start is not None and span_end is not None and span_end > span_start:
            for (series, slug), market in self.markets.items():
                if market.window_start_ms is None or market.window_end_ms is None:
                    continue
                start = max(market.window_start_ms, span_start)
                end = min(market.window_end_ms, span_end)
                self._add_expected(
                    series=series, slug=slug, start=start, end=end, interval_ms=interval_ms,
                    expected=expected, expected_minutes=expected_minutes,
                )  # fmt: skip
                self._edge_gaps(market, start, end, interval_ms)
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
        gap_rows = self._gap_rows(interval_ms)

        markets_out = self._market_rows(expected, gap_rows)
        series_out = self._series_rows(markets_out, gap_rows, schedules)
        totals = _totals(markets_out, gap_rows)
        hours_out = [
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
            for hour_ms, files in sorted(self.hours.items())
        ]
        all_series = sorted({s for s, _ in self.minutes} | {s for s, _ in expected_minutes})
        # A minute only touched by a few ms of the span (its edges) is left out.
        minute_keys = sorted(
            {m for _, m in self.minutes} | {m for (_, m), exp in expected_minutes.items() if exp >= 1}
        )
        timeline = {
            "minute_ms": minute_keys,
            "series": {
                series: [
                    _pct(self.minutes.get((series, m), 0), expected_minutes.get((series, m), 0))
                    for m in minute_keys
                ]
                for series in all_series
            },
        }
        kept_gaps = sorted(gap_rows, key=lambda g: -g["duration_s"])[:MAX_GAPS]
        return {
            "schema": QUALITY_SCHEMA,
            "kind": "orderbooks.quality",
            "data_dir": str(self.data_dir),
            "interval_s": interval_s,
            "interval_source": interval_source,
            "span": {
                "start_ms": span_start,
                "end_ms": span_end,
                "start": ms_to_iso(span_start),
                "end": ms_to_iso(span_end),
                "seconds": round((span_end - span_start) / 1000, 3) if span_start and span_end else 0,
            },
            "excluded": [{"start_ms": a, "end_ms": b} for a, b in self.exclude],
            "files": {
                "read": self.files_read,
                "partial": sum(h.partial_files for h in self.hours.values()),
                "recovered": sum(h.recovered_files for h in self.hours.values()),
                "damaged": sum(h.damaged_files for h in self.hours.values()),
                "missing_manifests": self.missing_manifests,
                "bytes": sum(h.bytes for h in self.hours.values()),
                "raw_bytes": sum(h.raw_bytes for h in self.hours.values()),
                "bytes_dropped": sum(h.bytes_dropped for h in self.hours.values()),
                "unreadable_lines": sum(h.unreadable_lines for h in self.hours.values()),
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
                for info in sorted(self.runs.values(), key=lambda r: r.run_id)
            ],
            "totals": totals,
            "failures_by_class": dict(sorted(self.failures_by_class.items())),
            "series": series_out,
            "hours": hours_out,
            "markets": markets_out,
            "gaps": sorted(kept_gaps, key=lambda g: (g["start_ms"], g["series"], g["slug"])),
            "gaps_not_listed": len(gap_rows) - len(kept_gaps),
            "timeline": timeline,
            "problems": self.problems,
        }

    def _span(self, interval_ms: float) -> tuple[int | None, int | None]:
        """--since/--until; else from the earliest run start (or first row) to the
        latest run end (or last row plus one interval, the last row's own slot)."""
        if self.first_recv_ms is None or self.last_recv_ms is None:
            return self.since_ms, self.until_ms
        starts = [self.first_recv_ms] + [r.start_ms for r in self.runs.values() if r.rows and r.start_ms]
        ends = [self.last_recv_ms + round(interval_ms)]
        ends += [r.end_ms for r in self.runs.values() if r.rows and r.end_ms]
        start = self.since_ms if self.since_ms is not None else min(starts)
        end = self.until_ms if self.until_ms is not None else max(ends)
        return start, end

    def _add_expected(
        self,
        *,
        series: str,
        slug: str,
        start: int,
        end: int,
        interval_ms: float,
        expected: Counter[tuple[str, str, int]],
        expected_minutes: Counter[tuple[str, int]],
    ) -> None:
        if end <= start:
            return
        for hour_ms, lo, hi in split_by(start, end, HOUR_MS):
            counted = (hi - lo) - overlap_ms(lo, hi, self.exclude)
            expected[(series, slug, hour_ms)] += counted / interval_ms * TOKENS_PER_MARKET
        for minute_ms, lo, hi in split_by(start, end, MINUTE_MS):
            expected_minutes[(series, minute_ms)] += (hi - lo) / interval_ms * TOKENS_PER_MARKET

    def _edge_gaps(self, market: Market, start: int, end: int, interval_ms: float) -> None:
        """Gaps before a token's first row and after its last one, inside [start, end)."""
        if end <= start:
            return
        slack = 1.5 * interval_ms
        for token in sorted(market.tokens):
            state = self.tokens.get(token)
            if state is None:
                continue
            if state.first_recv_ms - start > slack:
                missed = round((state.first_recv_ms - start) / interval_ms)
                self.token_gaps[state.market].append((start, state.first_recv_ms, missed, False, token))
            if end - state.recv_ms > slack and state.recv_ms < end:
                missed = round((end - state.recv_ms) / interval_ms)
                self.token_gaps[state.market].append((state.recv_ms, end, missed, False, token))

    def _missing_windows(
        self, span_start: int, span_end: int, interval_ms: float, schedules: dict[str, dict[str, Any]]
    ) -> Iterator[tuple[str, int, int]]:
        """Windows the series' schedule says existed in the span that no row covers
        (series_schedule); fills *schedules* with each series' figures. A piece shorter
        than one interval (the span's fuzzy edge, last row plus one interval) is left out."""
        by_series: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for market in self.markets.values():
            if market.window_start_ms is not None and market.window_end_ms is not None:
                by_series[market.series].append((market.window_start_ms, market.window_end_ms))
        for series in sorted(set(by_series) | self.configured_series):
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

    def _gap_rows(self, interval_ms: float) -> list[dict[str, Any]]:
        causes = sorted(self.causes, key=lambda c: c.start_ms)
        cause_starts = [c.start_ms for c in causes]
        longest_cause = max((c.end_ms - c.start_ms for c in causes), default=0)
        rows: list[dict[str, Any]] = []
        for (series, slug), gaps in self.token_gaps.items():
            for start, end, missed, run_change, tokens in merge_token_gaps(gaps):
                lo, hi = start - interval_ms, end + interval_ms
                first = bisect.bisect_left(cause_starts, lo - longest_cause)
                counts: Counter[str] = Counter()
                for cause in causes[first:]:
                    if cause.start_ms > hi:
                        break
                    if cause.end_ms < lo:
                        continue
                    if cause.series is not None and cause.series != series:
                        continue
                    if cause.token_id is not None and tokens and cause.token_id not in tokens:
                        continue
                    counts[cause.cause] += cause.count
                primary = Counter({k: v for k, v in counts.items() if k not in CONSEQUENCES})
                if counts:
                    cause_name = (primary or counts).most_common(1)[0][0]
                elif run_change:
                    cause_name = "not_running"
                elif slug == MISSING_MARKET:
                    cause_name = "market_not_collected"
                else:
                    cause_name = "unexplained"
                rows.append(
                    {
                        "series": series,
                        "slug": slug,
                        "start_ms": start,
                        "end_ms": end,
                        "start": ms_to_iso(start),
                        "end": ms_to_iso(end),
                        "duration_s": round((end - start) / 1000, 3),
                        "missed_cycles": missed,
                        "tokens": len(tokens) if tokens else TOKENS_PER_MARKET,
                        "across_runs": run_change,
                        "cause": cause_name,
                        "causes": dict(counts.most_common()),
                    }
                )
        return rows

    def _market_rows(self, expected: Counter[tuple[str, str, int]], gaps: list[dict[str, Any]]) -> list[dict]:
        gaps_by_group: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
        for gap in gaps:
            gaps_by_group[(gap["series"], gap["slug"], hour_of(gap["start_ms"]))].append(gap)
        rows = []
        for key in sorted(set(self.groups) | set(expected), key=lambda k: (k[2], k[0], k[1])):
            series, slug, hour_ms = key
            group = self.groups.get(key) or GroupStats()
            market = self.markets.get((series, slug))
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
                    "coverage_pct": _pct(group.observed, exp),
                    "rows": group.rows,
                    "duplicate_rows": group.duplicate_rows,
                    "gaps": len(group_gaps),
                    "gap_seconds": round(sum(g["duration_s"] for g in group_gaps), 3),
                    "latency_ms": _quantiles(group.latency),
                    "lateness_ms": _quantiles(lateness),
                    "unchanged_books": group.unchanged_books,
                    "consecutive_polls": group.consecutive_polls,
                    "hash_changes": group.hash_changes,
                    "hash_changed_pct": _pct(group.hash_changes, group.consecutive_polls),
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
            anchor = self.runs[run_id].anchor_ms
            if not math.isfinite(anchor):
                continue
            for value, count in raw.items():
                out[round(value - anchor)] += count
        return out

    def _series_rows(
        self, markets: list[dict[str, Any]], gaps: list[dict[str, Any]], schedules: dict[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        by_series: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in markets:
            by_series[row["series"]].append(row)
        out = []
        for series in sorted(by_series):
            rows = by_series[series]
            series_gaps = [g for g in gaps if g["series"] == series]
            summary = _summarise(rows, series_gaps)
            hours: dict[int, list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                hours[row["hour_ms"]].append(row)
            summary["hours"] = [
                {
                    "hour": ms_to_iso(h),
                    **_summarise(hour_rows, [g for g in series_gaps if hour_of(g["start_ms"]) == h]),
                }
                for h, hour_rows in sorted(hours.items())
            ]
            out.append({"series": series, **summary, "schedule": schedules.get(series)})
        return out


def _quantiles(counts: Counter[int]) -> dict[str, float | None]:
    return {
        "p50": quantile(counts, 0.50),
        "p99": quantile(counts, 0.99),
        "max": float(max(counts)) if counts else None,
    }


def _summarise(rows: list[dict[str, Any]], gaps: list[dict[str, Any]]) -> dict[str, Any]:
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
        "coverage_pct": _pct(observed, expected),
        "rows": sum(r["rows"] for r in rows),
        "duplicate_rows": sum(r["duplicate_rows"] for r in rows),
        "gaps": len(gaps),
        "gap_seconds": round(sum(g["duration_s"] for g in gaps), 3),
        "latency_ms": _quantiles(latency),
        "lateness_ms": _quantiles(lateness),
        "unchanged_books": sum(r["unchanged_books"] for r in rows),
        "consecutive_polls": sum(r["consecutive_polls"] for r in rows),
        "hash_changes": sum(r["hash_changes"] for r in rows),
        "hash_changed_pct": _pct(
            sum(r["hash_changes"] for r in rows), sum(r["consecutive_polls"] for r in rows)
        ),
        "empty_books": sum(r["empty_books"] for r in rows),
        "one_sided_books": sum(r["one_sided_books"] for r in rows),
        "rows_with_book_errors": sum(r["rows_with_book_errors"] for r in rows),
    }


def _totals(markets: list[dict[str, Any]], gaps: list[dict[str, Any]]) -> dict[str, Any]:
    summary = _summarise(markets, gaps)
    summary["gaps_by_cause"] = dict(Counter(g["cause"] for g in gaps).most_common())
    return summary


def merge_token_gaps(
    gaps: list[tuple[int, int, int, bool, str]],
) -> list[tuple[int, int, int, bool, set[str]]]:
    """Merge overlapping per-token gaps of one market.

    Returns market gaps as (start, end, missed, across_runs, tokens).
    """
    merged: list[tuple[int, int, int, bool, set[str]]] = []
    for start, end, missed, run_change, token in sorted(gaps):
        if merged and start < merged[-1][1]:
            m_start, m_end, m_missed, m_change, tokens = merged[-1]
            if token:
                tokens.add(token)
            merged[-1] = (m_start, max(m_end, end), max(m_missed, missed), m_change or run_change, tokens)
        else:
            merged.append((start, end, missed, run_change, {token} if token else set()))
    return merged


# ---------------------------------------------------------------- reading helpers


def read_manifest(data_file: Path) -> dict[str, Any] | None:
    try:
        manifest = orjson.loads(paths.manifest_path_for(data_file).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return manifest if isinstance(manifest, dict) else None


def read_run_manifest(data_dir: Path, run_id: str) -> dict[str, Any] | None:
    try:
        run = orjson.loads((Path(data_dir) / paths.RUNS_DIR / f"{run_id}.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return run if isinstance(run, dict) else None


def series_from_run_manifest(run: dict[str, Any] | None) -> list[str]:
    """``run_info.settings.series`` of a run manifest: the series the run was told to collect."""
    info = run.get("run_info") if isinstance(run, dict) else None
    settings = info.get("settings") if isinstance(info, dict) else None
    series = settings.get("series") if isinstance(settings, dict) else None
    return [str(s) for s in series if isinstance(s, str | int)] if isinstance(series, list) else []


def interval_from_run_manifest(run: dict[str, Any] | None) -> float | None:
    """``run_info.settings.interval`` (or ``run_info.interval``) of a run manifest, if any."""
    info = run.get("run_info") if isinstance(run, dict) else None
    if not isinstance(info, dict):
        return None
    settings = info.get("settings")
    for candidate in (
        (settings or {}).get("interval") if isinstance(settings, dict) else None,
        info.get("interval"),
    ):
        if isinstance(candidate, int | float) and not isinstance(candidate, bool) and candidate > 0:
            return float(candidate)
    return None


def file_rows(data_file: Path) -> Iterator[dict[str, Any]]:
    """The rows of a sealed file, or of the complete members of a ``.partial``; bad lines skipped."""
    with open(data_file, "rb") as handle:
        try:
            for member in gzmembers.iter_members(handle):
                for line in gzmembers.split_lines(member.data):
                    try:
                        row = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(row, dict):
                        yield row
        except gzmembers.DamagedTail:
            return


def infer_interval(data_file: Path, max_cycles: int = INFER_CYCLES) -> float | None:
    """Median of (recv_ms difference / cycle difference) over consecutive cycles, in seconds."""
    first_recv: dict[int, int] = {}
    try:
        for row in file_rows(data_file):
            cycle, recv = _as_int(row.get("cycle")), _as_int(row.get("recv_ms"))
            if cycle is not None and recv is not None and cycle not in first_recv:
                first_recv[cycle] = recv
                if len(first_recv) >= max_cycles:
                    break
    except OSError:
        return None
    cycles = sorted(first_recv)
    steps = [(first_recv[b] - first_recv[a]) / (b - a) for a, b in itertools.pairwise(cycles) if b > a]
    if not steps:
        return None
    return round(statistics.median(steps)) / 1000 or None


def data_files(data_dir: Path, since_ms: int | None = None, until_ms: int | None = None) -> list[Path]:
    """Sealed and partial data files under DATA_DIR/raw in time order, skipping hours outside the range."""
    found = paths.iter_files(data_dir, paths.DATA_SUFFIX) + paths.iter_files(data_dir, paths.PARTIAL_SUFFIX)
    selected = []
    for path in found:
        match = paths.STEM_RE.match(paths.stem_of(path))
        if match:
            start = paths.HourKey(match.group("date"), match.group("hour")).start_ms()
            if since_ms is not None and start + HOUR_MS <= since_ms:
                continue
            if until_ms is not None and start >= until_ms:
                continue
        selected.append(path)
    return sorted(selected, key=lambda p: (p.parent.as_posix(), paths.stem_of(p)))


def analyze(
    data_dir: Path,
    *,
    interval_s: float | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    exclude: Iterable[tuple[int, int]] = (),
    on_file: Callable[[Path], None] | None = None,
) -> dict[str, Any]:
    """The quality report of *data_dir* (see the module docstring and docs/quality.md)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise QualityError(f"data folder {data_dir} does not exist or is not a folder")
    analysis = Analysis(
        data_dir, interval_s=interval_s, since_ms=since_ms, until_ms=until_ms, exclude=exclude
    )
    for path in data_files(data_dir, since_ms, until_ms):
        if on_file is not None:
            on_file(path)
        analysis.add_file(path)
    report = analysis.report()
    return public(report)


def public(report: dict[str, Any]) -> dict[str, Any]:
    """Drop the private histogram keys (``_latency``...) from market rows."""
    for row in report.get("markets", []):
        for key in [k for k in row if k.startswith("_")]:
            del row[key]
    return report


# ---------------------------------------------------------------- text output


def _fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(
            str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=False))
        )
        for r in [header, *rows]
    ]
    return [line.rstrip() for line in lines]


def _summary_cells(item: dict[str, Any]) -> list[str]:
    return [
        str(item["markets"]),
        f"{item['expected_cycles']:.0f}",
        str(item["observed_cycles"]),
        _fmt_pct(item["coverage_pct"]),
        str(item["gaps"]),
        f"{item['gap_seconds']:.0f}",
        f"{_fmt_ms(item['latency_ms']['p50'])}/{_fmt_ms(item['latency_ms']['p99'])}",
        f"{_fmt_ms(item['lateness_ms']['p50'])}/{_fmt_ms(item['lateness_ms']['p99'])}",
        str(item["unchanged_books"]),
        _fmt_pct(item["hash_changed_pct"]),
        str(item["empty_books"]),
        str(item["one_sided_books"]),
    ]


SUMMARY_HEADER = [
    "markets", "expected", "observed", "coverage", "gaps", "gap s",
    "latency p50/p99 ms", "lateness p50/p99 ms", "unchanged", "hash changed", "empty", "one-sided",
]  # fmt: skip


def render_text(report: dict[str, Any], *, markets: bool = False, max_gaps: int = 20) -> str:
    """A human-readable summary of *report* (``--json`` gives everything)."""
    span = report["span"]
    files = report["files"]
    totals = report["totals"]
    ratio = f"{files['raw_bytes'] / files['bytes']:.1f}x" if files["bytes"] else "-"
    rows_total = sum(h["rows"] for h in report["hours"])
    out = [
        f"orderbooks quality: {report['data_dir']}",
        f"span      {span['start']} .. {span['end']} ({span['seconds']:.0f} s); "
        f"interval {report['interval_s']:g} s ({report['interval_source']})",
        f"files     {files['read']} read ({files['partial']} partial, {files['recovered']} recovered, "
        f"{files['damaged']} damaged, {files['missing_manifests']} without manifest); {rows_total} rows; "
        f"{files['bytes']} bytes stored, {files['raw_bytes']} raw, compression {ratio}",
        f"coverage  {_fmt_pct(totals['coverage_pct'])} ({totals['observed_cycles']} of "
        f"{totals['expected_cycles']:.0f} expected token-cycles); {totals['gaps']} gaps, "
        f"{totals['gap_seconds']:.0f} s",
    ]
    if report["failures_by_class"]:
        out.append(
            "failures  " + ", ".join(f"{name} {count}" for name, count in report["failures_by_class"].items())
        )
    out += ["", "by series"]
    out += _table(["series", *SUMMARY_HEADER], [[s["series"], *_summary_cells(s)] for s in report["series"]])
    out += ["", "schedule (windows the series' recurrence says existed in the span)"]
    out += _table(
        ["series", "recurrence", "window s", "from", "windows", "missed"],
        [
            [s["series"], sc["recurrence"] or "-", f"{sc['window_s']:g}", sc["source"], str(sc["windows"]),
             str(sc["windows_missed"])]
            for s in report["series"]
            if (sc := s.get("schedule"))
        ],
    )  # fmt: skip
    out += ["", "by series and hour"]
    out += _table(
        ["series", "hour", *SUMMARY_HEADER],
        [
            [s["series"], h["hour"][:13] + "Z", *_summary_cells(h)]
            for s in report["series"]
            for h in s["hours"]
        ],
    )
    out += ["", "files by hour"]
    out += _table(
        ["hour", "files", "rows", "bytes", "bytes/row", "ratio", "partial", "recovered", "damaged"],
        [
            [
                h["hour"][:13] + "Z",
                str(h["files"]),
                str(h["rows"]),
                str(h["bytes"]),
                "-" if h["bytes_per_row"] is None else f"{h['bytes_per_row']:.0f}",
                "-" if h["compression_ratio"] is None else f"{h['compression_ratio']:.1f}x",
                str(h["partial_files"]),
                str(h["recovered_files"]),
                str(h["damaged_files"]),
            ]
            for h in report["hours"]
        ],
    )
    if markets:
        out += ["", "by market and hour"]
        out += _table(
            ["series", "market", "hour", "expected", "observed", "coverage", "gaps", "latency p50/p99",
             "lateness p50/p99", "unchanged", "empty", "one-sided"],
            [
                [
                    m["series"], m["slug"], m["hour"][:13] + "Z", f"{m['expected_cycles']:.0f}",
                    str(m["observed_cycles"]), _fmt_pct(m["coverage_pct"]), str(m["gaps"]),
                    f"{_fmt_ms(m['latency_ms']['p50'])}/{_fmt_ms(m['latency_ms']['p99'])}",
                    f"{_fmt_ms(m['lateness_ms']['p50'])}/{_fmt_ms(m['lateness_ms']['p99'])}",
                    str(m["unchanged_books"]), str(m["empty_books"]), str(m["one_sided_books"]),
                ]
                for m in report["markets"]
            ],
        )  # fmt: skip
    gaps = report["gaps"]
    out += ["", f"gaps ({len(gaps) + report['gaps_not_listed']}; longest {min(max_gaps, len(gaps))} shown)"]
    if gaps:
        longest = sorted(gaps, key=lambda g: -g["duration_s"])[:max_gaps]
        out += _table(
            ["start", "end", "seconds", "series", "market", "tokens", "missed", "cause"],
            [
                [g["start"], g["end"], f"{g['duration_s']:.1f}", g["series"], g["slug"], str(g["tokens"]),
                 str(g["missed_cycles"]), g["cause"]]
                for g in sorted(longest, key=lambda g: g["start_ms"])
            ],
        )  # fmt: skip
    if report["problems"]:
        out += ["", "problems"] + [f"  {p}" for p in report["problems"]]
    return "\n".join(out) + "\n"
