"""SnapshotWriter: rows -> hourly gzip JSONL files that survive crashes.

Life of a data file (see docs/data-format.md):

1. The first rows of a UTC hour open ``raw/YYYY-MM-DD/HH/<stem>.jsonl.gz.partial``
   (the folders and the new entry are fsynced).
2. Each flush appends ONE complete gzip member and fsyncs, so every flushed
   row is on disk behind a CRC before the next cycle starts.
3. At the next hour (or on close) the file is sealed: fsync, manifest written
   atomically beside it, ``os.replace`` to ``<stem>.jsonl.gz``, folder fsynced.
   A sealed file is never opened for writing again, and no file stays open past
   its hour of real time: a clock step or the monotonic deadline seals it too
   (``hour_file``). Nothing is written through a symbolic link leading out of
   the data folder (``walk.escape``): such rows are not written (``unsafe_path``).

Failure records also go to ``<stem>.failures.jsonl`` beside the partial
(``failure_journal``), fsynced after the data member of each flush (at once
when no rows wait), so recovery can put them in the manifest after a crash.
The journal is removed after the seal.

Disk trouble never raises: below the free-space floor rows are not written
and ``disk_floor`` failures are recorded; an OSError during a flush (ENOSPC,
EIO) cuts the file back to its last complete member, records ``enospc`` and
carries on.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orderbooks.clock import Clock
from orderbooks.logs import Logger, get_logger
from orderbooks.records import CycleResult, FailureRecord
from orderbooks.store import gzmembers, manifest, paths, walk
from orderbooks.store.atomic import (
    DATA_MODE,
    close_synced,
    durable_rename,
    fsync_dir,
    make_dirs_durable,
    write_all,
)
from orderbooks.store.diskspace import DEFAULT_FLOOR_BYTES, DiskFloor, free_bytes
from orderbooks.store.hashing import hash_file
from orderbooks.store.hour_file import ClockWatch, HourFile, deadline, serialize


class SnapshotWriter:
    """Implements records.SnapshotSink. See the module docstring."""

    def __init__(
        self,
        data_dir: Path,
        *,
        run_id: str,
        clock: Clock,
        collector_version: str,
        host: str,
        flush_rows: int = 0,
        flush_seconds: float = 0.0,
        disk_floor_bytes: int = DEFAULT_FLOOR_BYTES,
        compress_level: int = 6,
        member_cycles: int = 0,
        run_info: dict[str, Any] | None = None,
        log: Logger | None = None,
        disk_probe: Callable[[Path], int] = free_bytes,
        write_bytes: Callable[[int, bytes], int] = os.write,
    ) -> None:
        if flush_rows < 0:
            raise ValueError(f"flush_rows must be >= 0, got {flush_rows}")
        if flush_seconds < 0:
            raise ValueError(f"flush_seconds must be >= 0, got {flush_seconds}")
        if member_cycles < 0:
            raise ValueError(f"member_cycles must be >= 0, got {member_cycles}")
        if not 0 <= compress_level <= 9:
            raise ValueError(f"compress_level must be 0..9, got {compress_level}")
        self.data_dir = Path(data_dir)
        self.run_id = run_id
        self.clock = clock
        self.collector_version = collector_version
        self.host = host
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self.compress_level = compress_level
        #: 0: one file per hour, one member per flush. N > 0: one file per series and hour,
        #: a sync flush per cycle and a member closed every N flushes (see docs/data-format.md).
        self.member_cycles = member_cycles
        self._series_files: dict[str, HourFile] = {}
        self.log = log or get_logger("writer")
        self._write = write_bytes
        self._floor = DiskFloor(
            self.data_dir, disk_floor_bytes, probe=disk_probe, monotonic=clock.monotonic, log=self.log
        )
        self._current: HourFile | None = None
        self._unsealed: list[HourFile] = []
        self._buffer: list[dict[str, Any]] = []
        self._buffer_cycle: int | None = None
        self._last_flush = clock.monotonic()
        self._closed = False
        self._clock_watch = ClockWatch(clock.wall_ms(), clock.monotonic())
        #: this run's hours that have had a file (a sealed file is never reopened)
        self._hours_used: set[paths.HourKey] = set()
        #: folders refused because they lead out of the data folder (one warning per incident)
        self._refused_dirs: set[Path] = set()

        self._run_info = run_info
        make_dirs_durable(self.data_dir / paths.RUNS_DIR)
        self._start_run(clock.wall_ms())

    def _start_run(self, start_ms: int) -> None:
        self._lock = manifest.RunLock(manifest.run_lock_path(self.data_dir, self.run_id))
        self._run = manifest.new_run_manifest(
            run_id=self.run_id,
            start_ms=start_ms,
            host=self.host,
            version=self.collector_version,
            run_info=self._run_info,
        )
        self._save_run_manifest()

    def _next_run(self, now_ms: int, step: dict[str, Any] | None) -> None:
        """The clock stepped back into an hour this run already wrote: a sealed file is never
        reopened and a name never reused, so the run ends (``exit_reason`` ``clock_step``) and
        the writer goes on under a new run id, rows keeping the hour they were received in."""
        previous = self.run_id
        self._run["end"] = now_ms
        self._run["exit_reason"] = "clock_step"
        self._save_run_manifest()
        self._lock.release(remove=True)
        self.run_id = paths.new_run_id(now_ms)
        self._hours_used = set()
        self._start_run(now_ms)
        self._run["previous_run"] = previous
        if step is not None:
            self._run["clock_steps"] = [step]
        self._save_run_manifest()
        self.log.warning("run_continued_after_clock_step", previous_run=previous, run_id=self.run_id)

    # ------------------------------------------------------------ SnapshotSink

    def write_cycle(self, result: CycleResult) -> None:
        if self._closed:
            raise RuntimeError("SnapshotWriter is closed")
        hour_file = self._hour_file_for(self.clock.wall_ms())
        failed = (not result.ok) or bool(result.failures)
        if failed:
            hour_file.cycles_failed += 1
            self._run["totals"]["cycles_failed"] += 1
        else:
            hour_file.cycles_ok += 1
            self._run["totals"]["cycles_ok"] += 1
        self._add_failures(hour_file, result.failures)
        if result.rows:
            self._buffer.extend(result.rows)
            self._buffer_cycle = result.cycle
        if self._flush_due():
            self._flush()
        if not self._buffer:
            self._journal(hour_file)
        self._retry_unsealed()

    def record_failures(self, failures: list[FailureRecord]) -> None:
        if self._closed or not failures:
            return
        hour_file = self._hour_file_for(self.clock.wall_ms())
        self._add_failures(hour_file, failures)
        if not self._buffer:
            self._journal(hour_file)

    def close(self, exit_reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._flush()
        if self._current is not None:
            self._seal_hour(self._current)
            self._current = None
        self._retry_unsealed()
        now = self.clock.wall_ms()
        self._run["end"] = now
        self._run["exit_reason"] = exit_reason
        if self._unsealed:
            self._run["unsealed"] = [paths.relative(self.data_dir, f.partial) for f in self._unsealed]
            self.log.critical(
                "files_left_unsealed",
                files=self._run["unsealed"],
                action="the next start recovers them",
            )
        self._save_run_manifest()
        self._lock.release(remove=True)
        self.log.info("writer_closed", run_id=self.run_id, exit_reason=exit_reason, **self._run["totals"])

    # ------------------------------------------------------------ introspection (tests, logs)

    @property
    def run_manifest(self) -> dict[str, Any]:
        return self._run

    @property
    def open_partial(self) -> Path | None:
        if self._current is None or self._current.fd is None:
            return None
        return self._current.partial

    @property
    def paused(self) -> bool:
        return self._floor.paused

    # ------------------------------------------------------------ internals

    def _hour_file_for(self, now_ms: int) -> HourFile:
        """The hour file rows go to now: the file of the UTC hour they are received in.

        A later hour seals the open file and opens the next. A wall clock a little
        behind the open file's hour (no step) keeps writing to it. A clock step
        (``hour_file.ClockWatch``) to another hour seals the open file at once, and
        a file past its monotonic deadline is sealed whatever the wall clock says,
        so no file stays open longer than its hour of real time. A sealed file is
        never reopened: rows of an hour this run already wrote (the clock stepped
        back into it) start a new run (``_next_run``). Every step seen is kept in
        ``clock_steps`` of the open file's manifest and of the file it opens.
        """
        mono = self.clock.monotonic()
        step = self._clock_watch.step(now_ms, mono)
        if step is not None:
            self._run.setdefault("clock_steps", []).append(step)
            self.log.warning(
                "clock_step", step_ms=step["step_ms"], wall_ms=now_ms, monotonic_s=step["monotonic_s"]
            )
        hour = paths.HourKey.from_epoch_ms(now_ms)
        current = self._current
        if current is not None:
            if step is not None:
                current.clock_steps.append(step)
            earlier = hour.start_ms() < current.hour.start_ms()
            if mono <= current.deadline_mono and (hour == current.hour or (earlier and step is None)):
                return current
            self._flush()
            self._seal_hour(current)
        if hour in self._hours_used:
            self._next_run(now_ms, step)
        self._hours_used.add(hour)
        self._current = HourFile.of(self.data_dir, hour, self.run_id)
        self._current.deadline_mono = deadline(hour, now_ms, mono)
        if step is not None:
            self._current.clock_steps.append(step)
        return self._current

    def _seal_hour(self, hour_file: HourFile) -> None:
        """Seal the hour's series files, then its own file (cycles, failures)."""
        for series_file in self._series_files.values():
            series_file.clock_steps = hour_file.clock_steps
            self._seal(series_file)
        self._series_files = {}
        self._seal(hour_file)

    def _series_file(self, hour_file: HourFile, series: str) -> HourFile:
        found = self._series_files.get(series)
        if found is None:
            found = HourFile.of(self.data_dir, hour_file.hour, self.run_id, series)
            self._series_files[series] = found
        return found

    def _add_failures(self, hour_file: HourFile, failures: list[FailureRecord]) -> None:
        by_class = self._run["totals"]["failures_by_class"]
        for failure in failures:
            hour_file.failures.add(failure)
            by_class[failure.error] = by_class.get(failure.error, 0) + 1
        hour_file.unjournaled.extend(failures)

    def _journal(self, hour_file: HourFile) -> None:
        hour_file.journal_pending(self.data_dir, self._write, self.log)

    def _flush_due(self) -> bool:
        if not self._buffer:
            return False
        if self.flush_rows == 0 and self.flush_seconds == 0:
            return True
        if self.flush_rows and len(self._buffer) >= self.flush_rows:
            return True
        return bool(self.flush_seconds) and self.clock.monotonic() - self._last_flush >= self.flush_seconds

    def _flush(self) -> None:
        """Append the buffered rows to the open hour file as one gzip member."""
        rows, self._buffer = self._buffer, []
        cycle, self._buffer_cycle = self._buffer_cycle, None
        self._last_flush = self.clock.monotonic()
        if not rows:
            return
        hour_file = self._current
        assert hour_file is not None
        now = self.clock.wall_ms()
        if not self._floor.check():
            message = (
                f"free space {self._floor.last_free} B below floor "
                f"{self._floor.floor_bytes} B; {len(rows)} rows not written"
            )
            self._not_written(hour_file, rows, now=now, cycle=cycle, error="disk_floor", message=message)
            return
        if self.member_cycles:
            self._flush_streams(hour_file, rows, cycle=cycle, now=now)
            return
        if not self._ready(hour_file, hour_file, rows, cycle=cycle, now=now):
            return
        batch = manifest.RowStats()
        for row in rows:
            batch.add_row(row)
        batch.members = 1
        member = gzmembers.compress_member(b"".join(serialize(row) for row in rows), self.compress_level)
        assert hour_file.fd is not None
        try:
            write_all(hour_file.fd, member, self._write)
            os.fsync(hour_file.fd)
        except OSError as exc:
            self._disk_error(hour_file=hour_file, rows=rows, cycle=cycle, now=now, exc=exc, stage="write")
            with contextlib.suppress(OSError):
                hour_file.cut_back()
            return
        hour_file.good_end += len(member)
        hour_file.stats.merge(batch)
        self._run["totals"]["rows"] += len(rows)

    def _ready(
        self,
        hour_file: HourFile,
        target: HourFile,
        rows: list[dict[str, Any]],
        *,
        cycle: int | None,
        now: int,
    ) -> bool:
        """Make *target* writable (finish a failed cut back, open it); False, with the rows
        counted as not written under *hour_file*, when its folder leads out or the disk refuses."""
        try:
            if target.needs_cut:
                target.cut_back()
            if target.fd is None:
                self._open(target, now)
        except walk.UnsafePath as exc:
            # The folder leads out of the data folder: its rows are not written (one warning
            # per incident, an ``unsafe_path`` failure per flush, counted in ``rows_not_written``).
            reason, folder = str(exc), target.partial.parent
            if folder not in self._refused_dirs:
                self._refused_dirs.add(folder)
                self._run.setdefault("unsafe_paths", []).append(
                    {"folder": paths.relative(self.data_dir, folder), "reason": reason, "t_ms": now}
                )
                self.log.warning(
                    "unsafe_path",
                    folder=paths.relative(self.data_dir, folder),
                    reason=reason,
                    rows_not_written=len(rows),
                    action="no row is written there while the link leads out; remove the link",
                )
            message = f"{reason}; {len(rows)} rows not written"
            self._not_written(hour_file, rows, now=now, cycle=cycle, error="unsafe_path", message=message)
            return False
        except OSError as exc:
            self._disk_error(hour_file=hour_file, rows=rows, cycle=cycle, now=now, exc=exc, stage="open")
            return False
        return True

    def _flush_streams(
        self, hour_file: HourFile, rows: list[dict[str, Any]], *, cycle: int | None, now: int
    ) -> None:
        """One stream per series: each series file gets the cycle's rows behind a sync flush + fsync."""
        by_series: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_series.setdefault(str(row.get("series") or "none"), []).append(row)
        for series, series_rows in by_series.items():
            target = self._series_file(hour_file, series)
            if not self._ready(hour_file, target, series_rows, cycle=cycle, now=now):
                continue
            if target.stream is None:
                target.stream = gzmembers.MemberStream(self.compress_level)
            stream = target.stream
            data = stream.flush(b"".join(serialize(row) for row in series_rows))
            assert target.fd is not None
            try:
                write_all(target.fd, data, self._write)
                os.fsync(target.fd)
            except OSError as exc:
                stream.rollback()
                stream.flushes -= 1
                self._disk_error(
                    hour_file=hour_file, rows=series_rows, cycle=cycle, now=now, exc=exc, stage="write"
                )
                with contextlib.suppress(OSError):
                    target.cut_back()
                continue
            target.good_end += len(data)
            target.cycles_ok += 1
            batch = manifest.RowStats()
            for row in series_rows:
                batch.add_row(row)
            batch.members = 0  # counted when the member is finished
            target.stats.merge(batch)
            self._run["totals"]["rows"] += len(series_rows)
            if stream.flushes >= self.member_cycles:
                # the rows are on disk already; a failed trailer only leaves the member open longer
                with contextlib.suppress(OSError):
                    target.finish_member(self._write)

    def _not_written(
        self,
        hour_file: HourFile,
        rows: list[dict[str, Any]],
        *,
        now: int,
        cycle: int | None,
        error: str,
        message: str,
    ) -> None:
        """Count *rows* as not written and record why (message cut to records.MESSAGE_MAX_CHARS)."""
        self._run["totals"]["rows_not_written"] += len(rows)
        self._add_failures(hour_file, [FailureRecord.observed(now, cycle, error, message)])

    def _disk_error(
        self,
        *,
        hour_file: HourFile,
        rows: list[dict[str, Any]],
        cycle: int | None,
        now: int,
        exc: OSError,
        stage: str,
    ) -> None:
        name = errno.errorcode.get(exc.errno or 0, "OSError")
        self.log.error(
            "flush_failed",
            stage=stage,
            errno=name,
            error=str(exc),
            file=str(hour_file.partial),
            rows_not_written=len(rows),
            action="file cut back to its last complete member; writing resumes at the next flush",
        )
        message = f"{stage} failed ({name}: {exc.strerror or exc}); {len(rows)} rows not written"
        self._not_written(hour_file, rows, now=now, cycle=cycle, error="enospc", message=message)

    def _open(self, hour_file: HourFile, now: int) -> None:
        """Create the hour's ``.partial``; raises walk.UnsafePath when its folder leads out of DATA_DIR."""
        reason = walk.escape(self.data_dir, hour_file.partial)
        if reason is not None:
            raise walk.UnsafePath(reason)
        if hour_file.partial.parent in self._refused_dirs:
            self._refused_dirs.discard(hour_file.partial.parent)
            self.log.info("unsafe_path_gone", folder=paths.relative(self.data_dir, hour_file.partial.parent))
        make_dirs_durable(hour_file.partial.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        hour_file.fd = os.open(hour_file.partial, flags, DATA_MODE)
        fsync_dir(hour_file.partial.parent)
        hour_file.opened_at = now
        self.log.info("file_opened", file=paths.relative(self.data_dir, hour_file.partial))

    def _seal(self, hour_file: HourFile) -> None:
        if not hour_file.active:
            return
        try:
            self._seal_steps(hour_file)
        except walk.UnsafePath as exc:
            # nothing was written there; what it would have said is in the run manifest's totals
            self.log.error(
                "file_not_sealed",
                file=paths.relative(self.data_dir, hour_file.partial),
                reason=str(exc),
                action="its cycles and failures are counted in the run manifest only",
            )
            if hour_file in self._unsealed:
                self._unsealed.remove(hour_file)
            return
        except OSError as exc:
            self.log.error(
                "seal_failed",
                file=str(hour_file.partial),
                error=str(exc),
                action="retried at the next cycle; recovered at the next start otherwise",
            )
            if hour_file not in self._unsealed:
                self._unsealed.append(hour_file)
            return
        if hour_file in self._unsealed:
            self._unsealed.remove(hour_file)

    def _seal_steps(self, hour_file: HourFile) -> None:
        now = self.clock.wall_ms()
        if hour_file.sealed_manifest is None:
            if hour_file.fd is None and not hour_file.partial.exists():
                # An hour with cycles or failures but no rows written: an empty file
                # still carries its manifest (cycles, gaps) to the archive.
                self._open(hour_file, now)
                if self.member_cycles:
                    # the hour's own file of the per-series layout, read beside its series
                    # files with `zcat hour/*.jsonl.gz`: one empty member keeps it valid gzip
                    assert hour_file.fd is not None
                    empty = gzmembers.compress_member(b"", self.compress_level)
                    write_all(hour_file.fd, empty, self._write)
                    hour_file.good_end += len(empty)
                    hour_file.stats.members += 1
            if hour_file.needs_cut:
                hour_file.cut_back()
            hour_file.finish_member(self._write)
            close_synced(hour_file.fd)
            hour_file.fd = None
            hashes = hash_file(hour_file.partial)
            if hashes.size != hour_file.good_end:
                raise OSError(
                    errno.EIO,
                    f"{hour_file.partial}: {hashes.size} bytes on disk, expected {hour_file.good_end}",
                )
            hour_file.sealed_manifest = manifest.build_file_manifest(
                data_dir=self.data_dir,
                data_file=hour_file.final,
                hashes=hashes,
                stats=hour_file.stats,
                failures=hour_file.failures,
                cycles_ok=hour_file.cycles_ok,
                cycles_failed=hour_file.cycles_failed,
                recovered=False,
                bytes_dropped=0,
                rebuilt=False,
                collector_version=self.collector_version,
                host=self.host,
                run_id=self.run_id,
                hour=hour_file.hour.label(),
                opened_at=hour_file.opened_at,
                sealed_at=now,
            )
            if hour_file.clock_steps:
                hour_file.sealed_manifest["clock_steps"] = list(hour_file.clock_steps)
        manifest.write_manifest(hour_file.manifest_path, hour_file.sealed_manifest)
        if hour_file.partial.exists():
            durable_rename(hour_file.partial, hour_file.final)
        else:
            fsync_dir(hour_file.final.parent)
        hour_file.drop_journal(self.log)
        sealed = hour_file.sealed_manifest
        self._run["files"].append(manifest.file_entry(sealed))
        self._run["totals"]["files"] += 1
        self._save_run_manifest()
        self.log.info(
            "file_sealed",
            file=sealed["path"],
            rows=sealed["rows"],
            bytes=sealed["bytes"],
            members=sealed["members"],
            sha256=sealed["sha256"],
        )

    def _retry_unsealed(self) -> None:
        for hour_file in list(self._unsealed):
            self._seal(hour_file)

    def _save_run_manifest(self) -> None:
        self._run["updated_at"] = self.clock.wall_ms()
        try:
            manifest.write_manifest(manifest.run_manifest_path(self.data_dir, self.run_id), self._run)
        except OSError as exc:
            self.log.error("run_manifest_write_failed", run_id=self.run_id, error=str(exc))
