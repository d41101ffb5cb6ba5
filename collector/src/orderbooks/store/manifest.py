"""File manifests and run manifests: what they hold, how they are built and written.

A file manifest (``<stem>.manifest.json``, schema 1) sits beside each sealed
data file and describes it completely: the row schema version of its rows,
size, sha256, md5, rows, members, time range, rows per series and per token,
cycles, failures and the gaps they form, and whether the file was recovered
after a crash or its manifest rebuilt.

A run manifest (``runs/<run_id>.json``, schema 1) describes one collector
process: start, end, exit reason, the files it sealed and its totals.

Both are written atomically (``atomic.atomic_write_json``). The field lists
and their meaning are documented in docs/data-format.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orderbooks.records import ROW_SCHEMA, FailureRecord
from orderbooks.store import gzmembers, paths, rows
from orderbooks.store.atomic import atomic_write_json
from orderbooks.store.hashing import FileHashes

FILE_MANIFEST_SCHEMA = 1
RUN_MANIFEST_SCHEMA = 1
FILE_MANIFEST_KIND = "orderbooks.file"
RUN_MANIFEST_KIND = "orderbooks.run"

#: At most this many failure records are kept in a file manifest; the rest are counted.
MAX_FAILURES = 5000
#: Two failures of the same cause at most this far apart belong to the same gap.
GAP_MERGE_MS = 60_000
#: Key used in rows_per_series / rows_per_token for a row without that field.
UNKNOWN_KEY = "unknown"

MANIFEST_MODE = 0o640


def _key(value: Any) -> str:
    return UNKNOWN_KEY if value is None else str(value)


@dataclass
class RowStats:
    """Counts over the rows of one file."""

    rows: int = 0
    members: int = 0
    first_recv_ms: int | None = None
    last_recv_ms: int | None = None
    per_series: Counter[str] = field(default_factory=Counter)
    per_token: Counter[str] = field(default_factory=Counter)
    cycles: set[int] = field(default_factory=set)
    row_schemas: set[int] = field(default_factory=set)  # versions the rows declare (``schema``)

    def fields(self) -> dict[str, Any]:
        """The counts a file manifest records (verify counts them again and compares)."""
        return {
            "rows": self.rows,
            "members": self.members,
            "first_recv_ms": self.first_recv_ms,
            "last_recv_ms": self.last_recv_ms,
            "rows_per_series": dict(sorted(self.per_series.items())),
            "rows_per_token": dict(sorted(self.per_token.items())),
        }

    def add_row(self, row: dict[str, Any]) -> None:
        self.rows += 1
        version = rows.declared_version(row)
        if version is not None:
            self.row_schemas.add(version)
        recv_ms = row.get("recv_ms")
        if isinstance(recv_ms, int) and not isinstance(recv_ms, bool):
            if self.first_recv_ms is None or recv_ms < self.first_recv_ms:
                self.first_recv_ms = recv_ms
            if self.last_recv_ms is None or recv_ms > self.last_recv_ms:
                self.last_recv_ms = recv_ms
        self.per_series[_key(row.get("series"))] += 1
        self.per_token[_key(row.get("token_id"))] += 1
        cycle = row.get("cycle")
        if isinstance(cycle, int):
            self.cycles.add(cycle)

    def merge(self, other: RowStats) -> None:
        self.rows += other.rows
        self.members += other.members
        for value in (other.first_recv_ms, other.last_recv_ms):
            if value is None:
                continue
            if self.first_recv_ms is None or value < self.first_recv_ms:
                self.first_recv_ms = value
            if self.last_recv_ms is None or value > self.last_recv_ms:
                self.last_recv_ms = value
        self.per_series.update(other.per_series)
        self.per_token.update(other.per_token)
        self.cycles |= other.cycles
        self.row_schemas |= other.row_schemas

    def row_schema(self) -> int:
        """The manifest's ``row_schema``: the highest version the rows declare (should a merged
        file mix them), else the one this collector writes."""
        return max(self.row_schemas, default=ROW_SCHEMA)


class GapBuilder:
    """Merges failure records into gaps: consecutive records of the same cause
    (at most GAP_MERGE_MS apart) become one gap ``{start_ms, end_ms, cause, count}``."""

    def __init__(self) -> None:
        self.gaps: list[dict[str, Any]] = []

    def add(self, t_ms: int, cause: str, end_ms: int | None = None) -> None:
        end = t_ms if end_ms is None else end_ms
        last = self.gaps[-1] if self.gaps else None
        if last is not None and last["cause"] == cause and t_ms - last["end_ms"] <= GAP_MERGE_MS:
            last["end_ms"] = max(last["end_ms"], end)
            last["start_ms"] = min(last["start_ms"], t_ms)
            last["count"] += 1
            return
        self.gaps.append({"start_ms": t_ms, "end_ms": end, "cause": cause, "count": 1})


@dataclass
class FailureLog:
    """Failure records of one file: a capped list plus the gaps they form."""

    records: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    gaps: GapBuilder = field(default_factory=GapBuilder)
    by_class: Counter[str] = field(default_factory=Counter)

    def add(
        self, failure: FailureRecord, gap_start_ms: int | None = None, gap_end_ms: int | None = None
    ) -> None:
        if len(self.records) < MAX_FAILURES:
            self.records.append(failure.to_dict())
        else:
            self.dropped += 1
        start = failure.t_ms if gap_start_ms is None else gap_start_ms
        self.gaps.add(start, failure.error, gap_end_ms)
        self.by_class[failure.error] += 1


def stats_from_data(path: Path, upto: int | None = None) -> tuple[RowStats, gzmembers.ScanResult]:
    """Row statistics recomputed from the complete members of *path*.

    With *upto*, only members ending at or before that offset are counted
    (used after a truncation that has not happened on disk yet).
    """
    stats = RowStats()
    reader = rows.RowReader(path, upto=upto, keys=())
    for line in reader:
        stats.add_row(line.obj or {})
    stats.members = reader.members_read
    assert reader.result is not None
    return stats, reader.result


def salvage_rows(partial: Path, good_end: int) -> tuple[bytes, int]:
    """Rows readable in the member a crash cut short after *good_end*, and the bytes they used.

    A member written with sync flushes (``gzmembers.MemberStream``) decompresses
    up to its last flush without a trailer. Each line must be a JSON object with
    every key of its row schema version (``rows.judge``); the first line that is
    not ends the salvage (a torn write never yields a row). Returns ``(b"", 0)``
    when nothing is kept.
    """
    with open(partial, "rb") as handle:
        handle.seek(good_end)
        cut = gzmembers.salvage(handle.read())
    kept: list[bytes] = []
    for line in gzmembers.split_lines(cut.data):
        if rows.judge(line)[1] is not None:
            break
        kept.append(line + b"\n")
    if not kept:
        return b"", 0
    return b"".join(kept), cut.used


def build_file_manifest(
    *,
    data_dir: Path,
    data_file: Path,
    hashes: FileHashes,
    stats: RowStats,
    failures: FailureLog,
    cycles_ok: int,
    cycles_failed: int,
    recovered: bool,
    bytes_dropped: int,
    rebuilt: bool,
    collector_version: str,
    host: str,
    run_id: str,
    hour: str,
    opened_at: int | None,
    sealed_at: int | None,
) -> dict[str, Any]:
    """The manifest of a sealed data file (*data_file* is the final ``.jsonl.gz`` path)."""
    return {
        "schema": FILE_MANIFEST_SCHEMA,
        "kind": FILE_MANIFEST_KIND,
        "row_schema": stats.row_schema(),
        "file": data_file.name,
        "path": paths.relative(data_dir, data_file),
        **hashes.fields(),
        **stats.fields(),
        "cycles_ok": cycles_ok,
        "cycles_failed": cycles_failed,
        "gaps": failures.gaps.gaps,
        "failures": failures.records,
        "failures_dropped": failures.dropped,
        "recovered": recovered,
        "bytes_dropped": bytes_dropped,
        "rebuilt": rebuilt,
        "collector_version": collector_version,
        "host": host,
        "run_id": run_id,
        "hour": hour,
        "opened_at": opened_at,
        "sealed_at": sealed_at,
    }


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    atomic_write_json(path, manifest, mode=MANIFEST_MODE)


def read_json(path: Path) -> Any:
    return orjson.loads(Path(path).read_bytes())


# ---------------------------------------------------------------- run manifests


def run_manifest_path(data_dir: Path, run_id: str) -> Path:
    return Path(data_dir) / paths.RUNS_DIR / f"{run_id}.json"


def new_run_manifest(
    *,
    run_id: str,
    start_ms: int,
    host: str,
    version: str,
    run_info: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "schema": RUN_MANIFEST_SCHEMA,
        "kind": RUN_MANIFEST_KIND,
        "run_id": run_id,
        "start": start_ms,
        "end": None,
        "exit_reason": None,
        "updated_at": start_ms,
        "pid": os.getpid(),
        "host": host,
        "version": version,
        "run_info": run_info or {},
        "files": [],
        "totals": {
            "rows": 0,
            "rows_not_written": 0,
            "files": 0,
            "cycles_ok": 0,
            "cycles_failed": 0,
            "failures_by_class": {},
        },
        "closed_by_recovery": None,
    }


def file_entry(manifest: dict[str, Any]) -> dict[str, Any]:
    """The run manifest's record of one sealed file."""
    return {
        "path": manifest["path"],
        "sha256": manifest["sha256"],
        "bytes": manifest["bytes"],
        "rows": manifest["rows"],
        "recovered": manifest["recovered"],
    }


# ---------------------------------------------------------------- run locks
#
# A running writer holds an exclusive flock on runs/<run_id>.lock for its whole
# life; the kernel drops it when the process dies, even by SIGKILL. Recovery
# and verify use it to tell a live run's open .partial from a crashed run's.


def run_lock_path(data_dir: Path, run_id: str) -> Path:
    return Path(data_dir) / paths.RUNS_DIR / f"{run_id}.lock"


class RunLock:
    """An exclusive, non-blocking flock on a run's lock file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd

    def release(self, remove: bool = True) -> None:
        if self._fd is None:
            return
        if remove:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        os.close(self._fd)
        self._fd = None


def run_is_live(data_dir: Path, run_id: str) -> bool | None:
    """True if a live process holds the run's lock, False if not, None if unknown."""
    path = run_lock_path(data_dir, run_id)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
