"""Market documents on disk: what a document is, the daily file and its manifest.

One file per collector run and UTC day (its place and name: ``paths``,
``paths.markets_data_path``). Each document (one JSON line, see
docs/data-format.md "Market documents") is appended as one complete gzip
member and fsynced before the next one, like the rows of an hour file. The
file is sealed (manifest written atomically beside it, then renamed) when a
later UTC day starts and when the run stops.

Market documents are a kind of sealed file (``sealed.MARKETS``): ``verify``
checks them and ``recovery.recover_market_documents`` seals or quarantines
what a crash left, through the same code as the book files. What is specific
to market documents is here: ``doc_problem`` (is a line a document),
``read_stats`` (the figures of a file's complete members), ``build_manifest``,
and what recovery does to a dead run's partial (``recover_partial``) or to a
sealed file without manifest (``rebuilt_manifest``). The book files' helpers do
the rest: ``gzmembers`` for members and CRCs, ``manifest`` for atomic
manifests, ``atomic`` for durable folders and writes.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orderbooks.clock import Clock
from orderbooks.logs import Logger, get_logger
from orderbooks.store import gzmembers, manifest, paths
from orderbooks.store.atomic import (
    DATA_MODE,
    close_synced,
    cut_durably,
    durable_rename,
    fsync_dir,
    make_dirs_durable,
    seal_or_keep,
    write_all,
)
from orderbooks.store.hashing import hash_file

DOC_SCHEMA = 1
MANIFEST_SCHEMA = 1
MANIFEST_KIND = "orderbooks.market_documents"
FIRST_SEEN = "first_seen"
CLOSED = "closed"
DOC_KINDS = (FIRST_SEEN, CLOSED)
#: Keys every document has (docs/data-format.md); a first_seen one also has ``event``.
DOC_KEYS = (
    "schema",
    "kind",
    "recv_ms",
    "series",
    "slug",
    "condition_id",
    "market_id",
    "window_start",
    "window_end",
    "tokens",
    "source",
    "market",
)

# ---------------------------------------------------------------- contents


def doc_problem(doc: Any) -> str | None:
    """Why one decoded line is not a market document (None: it is one)."""
    if not isinstance(doc, dict):
        return "not a JSON object"
    missing = [key for key in DOC_KEYS if key not in doc]
    if missing:
        return f"missing keys {missing}"
    if doc["kind"] not in DOC_KINDS:
        return f"kind {doc['kind']!r} is not one of {list(DOC_KINDS)}"
    if not isinstance(doc["market"], dict):
        return "market is not an object"
    if doc["kind"] == CLOSED and (
        doc["market"].get("closed") is not True or not doc["market"].get("outcomePrices")
    ):
        return "a closed document without closed: true and outcomePrices"
    return None


@dataclass
class DocStats:
    records: int = 0
    members: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    markets: set[str] = field(default_factory=set)
    first_recv_ms: int | None = None
    last_recv_ms: int | None = None
    bad_lines: list[str] = field(default_factory=list)

    def add(self, doc: Any) -> None:
        self.records += 1
        if not isinstance(doc, dict):
            return
        self.by_kind[str(doc.get("kind"))] += 1
        if isinstance(doc.get("condition_id"), str):
            self.markets.add(doc["condition_id"])
        recv = doc.get("recv_ms")
        if isinstance(recv, int) and not isinstance(recv, bool):
            self.first_recv_ms = recv if self.first_recv_ms is None else min(self.first_recv_ms, recv)
            self.last_recv_ms = recv if self.last_recv_ms is None else max(self.last_recv_ms, recv)


def read_stats(path: Path, upto: int | None = None) -> tuple[DocStats, gzmembers.ScanResult]:
    """Counts over the complete members of *path* (only those ending at or before *upto*)."""
    stats = DocStats()

    def on_member(member: gzmembers.Member) -> None:
        if upto is not None and member.end > upto:
            return
        stats.members += 1
        for line_no, line in enumerate(gzmembers.split_lines(member.data), start=1):
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                doc, problem = None, f"not JSON ({exc})"
            else:
                problem = doc_problem(doc)
            stats.add(doc)
            if problem is not None:
                stats.bad_lines.append(f"member {member.index} line {line_no}: {problem}")

    return stats, gzmembers.scan(path, on_member)


def build_manifest(
    *,
    data_dir: Path,
    data_file: Path,
    stats: DocStats,
    run_id: str,
    host: str,
    version: str,
    recovered: bool,
    bytes_dropped: int,
    rebuilt: bool,
    opened_at: int | None,
    sealed_at: int,
) -> dict[str, Any]:
    """The manifest of a sealed markets file (*data_file*: its final ``.jsonl.gz`` path, hashed here)."""
    source = (
        data_file
        if data_file.exists()
        else data_file.with_name(paths.stem_of(data_file) + paths.PARTIAL_SUFFIX)
    )
    hashes = hash_file(source)
    return {
        "schema": MANIFEST_SCHEMA,
        "kind": MANIFEST_KIND,
        "file": data_file.name,
        "path": paths.relative(data_dir, data_file),
        **hashes.fields(),
        "records": stats.records,
        "members": stats.members,
        "records_by_kind": dict(sorted(stats.by_kind.items())),
        "markets": len(stats.markets),
        "first_recv_ms": stats.first_recv_ms,
        "last_recv_ms": stats.last_recv_ms,
        "day": name.day.date if (name := paths.parse_markets(data_file)) else None,
        "recovered": recovered,
        "bytes_dropped": bytes_dropped,
        "rebuilt": rebuilt,
        "collector_version": version,
        "host": host,
        "run_id": run_id,
        "opened_at": opened_at,
        "sealed_at": sealed_at,
    }


# ---------------------------------------------------------------- the daily file


@dataclass
class _Open:
    day: paths.DayKey
    partial: Path
    final: Path
    fd: int | None = None
    good_end: int = 0
    opened_at: int | None = None


@dataclass(eq=False)
class DocsFile:
    """The run's daily markets file: ``append`` one document durably, ``roll`` at a new day, ``close``.

    Not thread-safe: one thread (the market-documents worker, then the
    stopping command) uses it at a time. ``append`` raises OSError when the
    document could not be written (the file is cut back to its last complete
    member first); sealing problems are logged and retried, and recovery
    seals what is left at the next start.
    """

    data_dir: Path
    _: KW_ONLY
    run_id: str
    clock: Clock
    host: str
    version: str
    compress_level: int = 6
    log: Logger = field(default_factory=lambda: get_logger("market_docs"))
    write_bytes: Callable[[int, bytes], int] = os.write
    sealed: list[dict[str, Any]] = field(default_factory=list, init=False)
    _open: _Open | None = field(default=None, init=False)
    _unsealed: list[_Open] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)

    @property
    def open_partial(self) -> Path | None:
        return self._open.partial if self._open is not None and self._open.fd is not None else None

    def append(self, doc: dict[str, Any]) -> None:
        now = self.clock.wall_ms()
        current = self._file_for(now)
        if current.fd is None:
            make_dirs_durable(current.partial.parent)
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
            current.fd = os.open(current.partial, flags, DATA_MODE)
            fsync_dir(current.partial.parent)
            current.good_end = os.fstat(current.fd).st_size
            current.opened_at = now
            self.log.info("file_opened", file=paths.relative(self.data_dir, current.partial))
        member = gzmembers.compress_member(orjson.dumps(doc) + b"\n", self.compress_level)
        try:
            write_all(current.fd, member, self.write_bytes)
            os.fsync(current.fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(current.fd, current.good_end)
                os.fsync(current.fd)
            raise
        current.good_end += len(member)

    def roll(self) -> None:
        """Seal the open file if its day is over; retry seals that failed."""
        if (
            self._open is not None
            and paths.DayKey.from_epoch_ms(self.clock.wall_ms()).start_ms() > self._open.day.start_ms()
        ):
            self._seal_open()
        self._retry_unsealed()

    def close(self) -> None:
        self._seal_open()
        self._retry_unsealed()
        if self._unsealed:
            self.log.critical(
                "market_documents_left_unsealed",
                files=[paths.relative(self.data_dir, f.partial) for f in self._unsealed],
                action="the next start recovers them",
            )

    def _seal_open(self) -> None:
        if self._open is not None:
            self._seal(self._open)
            self._open = None

    def _retry_unsealed(self) -> None:
        for pending in list(self._unsealed):
            self._seal(pending)

    def _file_for(self, now_ms: int) -> _Open:
        day = paths.DayKey.from_epoch_ms(now_ms)
        if self._open is not None and day.start_ms() <= self._open.day.start_ms():
            return self._open  # days only move forward: a clock stepping back keeps the open file
        if self._open is not None:
            self._seal(self._open)
        self._open = _Open(
            day,
            paths.markets_partial_path(self.data_dir, day, self.run_id),
            paths.markets_data_path(self.data_dir, day, self.run_id),
        )
        return self._open

    def _seal(self, target: _Open) -> None:
        sealed = seal_or_keep(
            target,
            self._seal_steps,
            self._unsealed,
            self.log,
            file=target.partial,
            action="retried at the next day check; recovered at the next start otherwise",
        )
        if sealed is None:
            return
        self.sealed.append(sealed)
        self.log.info("file_sealed", file=sealed["path"], records=sealed["records"], sha256=sealed["sha256"])

    def _seal_steps(self, target: _Open) -> dict[str, Any]:
        """Close, check, write the manifest and rename: the sealed file's manifest."""
        close_synced(target.fd)
        target.fd = None
        stats, scan = read_stats(target.partial)
        if scan.size != target.good_end or not scan.clean:
            raise OSError(f"{target.partial}: {scan.size} bytes on disk, {target.good_end} written")
        sealed = build_manifest(
            data_dir=self.data_dir,
            data_file=target.final,
            stats=stats,
            run_id=self.run_id,
            host=self.host,
            version=self.version,
            recovered=False,
            bytes_dropped=0,
            rebuilt=False,
            opened_at=target.opened_at,
            sealed_at=self.clock.wall_ms(),
        )
        manifest.write_manifest(paths.manifest_path_for(target.final), sealed)
        durable_rename(target.partial, target.final)
        return sealed


# ---------------------------------------------------------------- after a crash (recovery's part)


def recover_partial(
    *,
    data_dir: Path,
    partial: Path,
    final: Path,
    run_id: str,
    stats: DocStats,
    scan: gzmembers.ScanResult,
    now_ms: int,
    version: str,
    host: str,
) -> dict[str, Any] | str:
    """Cut a dead run's partial back to its last complete document; its ``recovered`` manifest
    (not yet written), or why it cannot be kept (``recovery`` quarantines it then)."""
    if scan.members == 0:
        return "no complete gzip member"
    cut_durably(partial, scan.good_end)
    return build_manifest(
        data_dir=data_dir,
        data_file=final,
        stats=stats,
        run_id=run_id,
        host=host,
        version=version,
        recovered=True,
        bytes_dropped=scan.tail_bytes,
        rebuilt=False,
        opened_at=None,
        sealed_at=now_ms,
    )


def rebuilt_manifest(
    *, data_dir: Path, data_file: Path, run_id: str, stats: DocStats, now_ms: int, version: str, host: str
) -> dict[str, Any]:
    """The ``rebuilt`` manifest of a sealed markets file found without one; sealed now."""
    return build_manifest(
        data_dir=data_dir,
        data_file=data_file,
        stats=stats,
        run_id=run_id,
        host=host,
        version=version,
        recovered=False,
        bytes_dropped=0,
        rebuilt=True,
        opened_at=None,
        sealed_at=now_ms,
    )
