"""The accumulating half of ``orderbooks quality``: rows and manifests in, counters out.

An ``Analysis`` is fed data files in time order (``add_file``), or rows and manifests
read elsewhere (``add_row``, ``add_failures``: union.py), and keeps per (series,
slug, UTC hour) counters, per token the last row seen, per market the gaps between
a token's rows, per hour the file figures, and the failure causes of the manifests.
Memory is bounded by the number of markets, tokens, gaps and minutes, never by the
number of rows. report.py turns what it kept into the report.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderbooks.quality import reading
from orderbooks.quality.reading import Cause
from orderbooks.quality.units import MINUTE_MS, as_int, hour_start_ms, in_windows, iso_to_ms
from orderbooks.store import paths

#: The collector keeps only markets with exactly two outcomes and two tokens.
TOKENS_PER_MARKET = 2
#: Slug of the pseudo-market for windows of a series that no row covers.
MISSING_MARKET = "(no market collected)"
#: A token's gap: (start_ms, end_ms, missed cycles, across runs, token id; "" for a whole market).
TokenGap = tuple[int, int, int, bool, str]


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

    def in_window(self, recv_ms: int) -> bool:
        if self.window_start_ms is None or self.window_end_ms is None:
            return False
        return self.window_start_ms <= recv_ms < self.window_end_ms


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


def snap_outward(windows: Iterable[tuple[int, int]], grid_ms: int) -> list[tuple[int, int]]:
    """Excluded windows widened to whole cells of the interval grid (epoch-aligned, the grid
    windows start on). Expected counts are time over the interval and observed counts are
    polls; cut at a cell edge, both lose the same whole number of token-cycles. Cut mid-cell,
    whether that cell's poll falls in or out depends on the collector's phase: up to one
    token-cycle per token and edge is lost at random (the soak's 99.4 % runs)."""
    grid = max(1, grid_ms)
    return sorted(
        (a - a % grid, b if b % grid == 0 else b - b % grid + grid)
        for a, b in ((int(x), int(y)) for x, y in windows)
        if b > a
    )


class Analysis:
    """Feed it data files in time order (``add_file``), then ``report.build(analysis)``."""

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
        self.exclude = snap_outward(exclude, round((interval_s or 1.0) * 1000))
        self.groups: dict[tuple[str, str, int], GroupStats] = defaultdict(GroupStats)
        self.markets: dict[tuple[str, str], Market] = {}
        self.tokens: dict[str, TokenState] = {}
        self.token_gaps: dict[tuple[str, str], list[TokenGap]] = defaultdict(list)
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
        self.missing_manifests = 0
        self.problems: list[str] = []

    # ------------------------------------------------------------ runs and interval

    def _run(self, run_id: str, data_file: Path) -> RunInfo:
        info = self.runs.get(run_id)
        if info is not None:
            return info
        run_manifest = reading.read_run_manifest(self.data_dir, run_id)
        interval = reading.interval_from_run_manifest(run_manifest)
        if self.interval_override is not None:
            info = RunInfo(run_id, self.interval_override, "option")
        elif interval is not None:
            info = RunInfo(run_id, interval, "run_manifest")
        else:
            inferred = reading.infer_interval(data_file)
            info = RunInfo(run_id, inferred, "inferred" if inferred else "unknown")
        self.configured_series.update(reading.series_from_run_manifest(run_manifest))
        if run_manifest is not None:
            info.start_ms = as_int(run_manifest.get("start"))
            info.end_ms = as_int(run_manifest.get("end")) or as_int(run_manifest.get("updated_at"))
        self.runs[run_id] = info
        return info

    def add_run(self, info: RunInfo) -> None:
        """A run whose rows come from elsewhere (union.py: the union's single run)."""
        self.runs[info.run_id] = info

    def interval(self) -> tuple[float, str, str | None]:
        """The interval used for expected counts (the option, else the most common run
        interval), where it came from, and a problem to report when runs disagree."""
        if self.interval_override is not None:
            return self.interval_override, "option", None
        known = Counter(
            (info.interval_s, info.interval_source) for info in self.runs.values() if info.interval_s
        )
        if not known:
            return 1.0, "default", None
        (interval, source), _ = known.most_common(1)[0]
        problem = None
        if len({i for i, _ in known}) > 1:
            problem = (
                "runs used different intervals: "
                + ", ".join(sorted({f"{i:g}s" for i, _ in known}))
                + f"; expected counts use {interval:g}s"
            )
        return interval, source, problem

    # ------------------------------------------------------------ files and manifests

    def add_file(self, data_file: Path) -> None:
        data_file = Path(data_file)
        partial = data_file.name.endswith(paths.PARTIAL_SUFFIX)
        run_id = reading.file_run_id(data_file)
        hour_ms = reading.file_hour_ms(data_file)
        file_manifest = None if partial else reading.read_manifest(data_file)
        if file_manifest is None and not partial:
            self.missing_manifests += 1
            self.problems.append(f"no manifest for {paths.relative(self.data_dir, data_file)}")
        if file_manifest is not None:
            run_id = str(file_manifest.get("run_id") or run_id)
            self.add_failures(file_manifest)
        run = self._run(run_id, data_file)
        self.files_read += 1
        scan = reading.FileScan()
        rows = 0
        try:
            for row in reading.scan_rows(data_file, scan):
                if self.add_row(row, run):
                    rows += 1
        except OSError as exc:
            self.problems.append(f"cannot read {data_file}: {exc}")
            return
        if hour_ms is None:
            hour_ms = hour_start_ms(run.last_recv_ms or 0)
        hour = self.hours[hour_ms]
        hour.files += 1
        hour.rows += rows
        hour.bytes += scan.size
        hour.raw_bytes += scan.raw_bytes
        hour.unreadable_lines += scan.bad_lines
        if partial:
            hour.partial_files += 1
        elif scan.tail_error is not None:
            hour.damaged_files += 1
            self.problems.append(
                f"damaged sealed file {paths.relative(self.data_dir, data_file)}: {scan.tail_error}"
            )
        if file_manifest is not None and file_manifest.get("recovered"):
            hour.recovered_files += 1
            hour.bytes_dropped += as_int(file_manifest.get("bytes_dropped")) or 0

    def add_failures(self, file_manifest: dict[str, Any]) -> None:
        """The failures and gaps of a file manifest: the causes gaps are explained by."""
        causes, counted = reading.manifest_causes(file_manifest)
        self.causes.extend(causes)
        self.failures_by_class.update(counted)

    # ------------------------------------------------------------ rows

    def add_row(self, row: dict[str, Any], run: RunInfo) -> bool:
        """One row of *run*; rows in time order per token. False when it is out of range."""
        recv_ms = as_int(row.get("recv_ms"))
        if (
            recv_ms is None
            or (self.since_ms is not None and recv_ms < self.since_ms)
            or (self.until_ms is not None and recv_ms >= self.until_ms)
        ):
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
        cycle = as_int(row.get("cycle"))
        latency = as_int(row.get("latency_ms"))
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

        group = self.groups[(series, slug, hour_start_ms(recv_ms))]
        group.rows += 1
        if latency is not None:
            group.latency[latency] += 1
        interval_ms = (run.interval_s or 0) * 1000
        if cycle is not None and interval_ms:
            due_offset = round(cycle * interval_ms)
            group.lateness_raw[run.run_id][recv_ms - due_offset] += 1
            run.anchor_ms = min(run.anchor_ms, recv_ms - (latency or 0) - due_offset)

        book_ts, book_hash = self._count_book(group, row)

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

        if market.in_window(recv_ms) and not in_windows(recv_ms, self.exclude):
            group.observed += 1
        if market.in_window(recv_ms):
            self.minutes[(series, recv_ms - recv_ms % MINUTE_MS)] += 1
        return True

    @staticmethod
    def _count_book(group: GroupStats, row: dict[str, Any]) -> tuple[Any, Any]:
        """Count an empty, one-sided or erroneous book; the book's (timestamp, hash)."""
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
        return book_ts, book_hash

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
