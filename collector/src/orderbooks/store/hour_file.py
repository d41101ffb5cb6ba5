"""The writer's state of one hour's data file, and the clock rules that decide when it rotates.

The hour of a file is the UTC hour (wall clock) its rows were received in; the
file name says it, and it is sealed when the next hour starts. A wall clock
that steps (an operator's ``date -s``, a VM restored, a time daemon's step)
must never keep a file open past its hour of real time, so the writer also
watches the monotonic clock (``ClockWatch``):

* a step is a change of more than ``STEP_TOLERANCE_MS`` in the offset between
  the wall clock and the monotonic clock from one look to the next; each is
  kept as a ``clock_steps`` entry in the manifest of the file open when it was
  seen and of the file it opened (and in the run manifest);
* every file has a monotonic deadline: the real time left in its hour when it
  was opened (at most an hour) plus ``DEADLINE_GRACE_S``; past it the file is
  sealed whatever the wall clock says.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orderbooks.logs import Logger
from orderbooks.records import FailureRecord
from orderbooks.store import failure_journal, gzmembers, manifest, paths, walk
from orderbooks.store.atomic import make_dirs_durable, write_all

HOUR_MS = 3_600_000
#: A change of the wall-minus-monotonic offset larger than this between two looks is a clock step
#: (a time daemon slews at most 0.5 ms/s: far below, between cycles a second apart).
STEP_TOLERANCE_MS = 2_000
#: Monotonic seconds a file may stay open beyond the real time left in its hour when it opened
#: (room for a slewed clock; a file is never open longer than an hour plus this).
DEADLINE_GRACE_S = 10.0


def serialize(row: dict[str, Any]) -> bytes:
    return orjson.dumps(row, default=str) + b"\n"


@dataclass
class HourFile:
    """State of the (possibly not yet opened) data file of one hour."""

    hour: paths.HourKey
    partial: Path
    final: Path
    manifest_path: Path
    fd: int | None = None
    good_end: int = 0  # bytes of complete, fsynced members
    opened_at: int | None = None
    stats: manifest.RowStats = field(default_factory=manifest.RowStats)
    failures: manifest.FailureLog = field(default_factory=manifest.FailureLog)
    cycles_ok: int = 0
    cycles_failed: int = 0
    needs_cut: bool = False  # a cut back to good_end failed; retry before the next write
    sealed_manifest: dict[str, Any] | None = None
    journal: failure_journal.FailureJournal | None = None
    unjournaled: list[FailureRecord] = field(default_factory=list)
    series: str | None = None  # a series file (member_cycles > 0): rows only
    stream: gzmembers.MemberStream | None = None  # the member being written, sync-flushed
    #: monotonic time after which the file is sealed whatever the wall clock says
    deadline_mono: float = float("inf")
    #: clock steps seen while the file was open (or that opened it), for its manifest
    clock_steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.fd is not None or self.cycles_ok + self.cycles_failed > 0 or bool(self.failures.by_class)

    def cut_back(self) -> None:
        """Truncate the open file to the end of its last complete member and fsync."""
        if self.fd is None:
            self.needs_cut = False
            return
        self.needs_cut = True
        os.ftruncate(self.fd, self.good_end)
        os.fsync(self.fd)
        self.needs_cut = False

    def finish_member(self, write: Callable[[int, bytes], int]) -> None:
        """Write the trailer of the member being written (before the seal)."""
        stream = self.stream
        if stream is None or self.fd is None:
            return
        data = stream.finish()
        try:
            write_all(self.fd, data, write)
            os.fsync(self.fd)
        except OSError:
            stream.rollback()
            with contextlib.suppress(OSError):
                self.cut_back()
            raise
        self.good_end += len(data)
        self.stats.members += 1
        self.stream = None

    def journal_pending(self, data_dir: Path, write: Callable[[int, bytes], int], log: Logger) -> None:
        """Append the hour's failures not yet on disk to its journal and fsync (never raises)."""
        if not self.unjournaled or self.sealed_manifest is not None:
            return
        try:
            if self.journal is None:
                if walk.escape(data_dir, self.partial) is not None:
                    return  # a refused folder: the records stay in memory and in the run's totals
                make_dirs_durable(self.partial.parent)
                self.journal = failure_journal.FailureJournal(
                    paths.failures_path_for(self.partial), lambda fd, data: write_all(fd, data, write)
                )
            self.journal.append(self.unjournaled)
        except OSError as exc:
            log.error(
                "failure_journal_write_failed",
                file=str(paths.failures_path_for(self.partial)),
                error=str(exc),
                records=len(self.unjournaled),
                action="kept in memory for the manifest; retried at the next flush",
            )
            return
        self.unjournaled = []

    def drop_journal(self, log: Logger) -> None:
        """After the seal the manifest holds every failure: the journal goes."""
        if self.journal is not None:
            self.journal.close()
            self.journal = None
        self.unjournaled = []
        journal = paths.failures_path_for(self.partial)
        try:
            failure_journal.remove(journal)
        except OSError as exc:
            log.warning(
                "failure_journal_not_removed",
                file=str(journal),
                error=str(exc),
                action="the next start removes it (its manifest is sealed)",
            )

    @classmethod
    def of(cls, data_dir: Path, hour: paths.HourKey, run_id: str, series: str | None = None) -> HourFile:
        final = paths.data_path(data_dir, hour, run_id, series)
        return cls(
            hour=hour,
            partial=paths.partial_path(data_dir, hour, run_id, series),
            final=final,
            manifest_path=paths.manifest_path_for(final),
            series=series,
        )


def deadline(hour: paths.HourKey, wall_ms: int, mono: float) -> float:
    """The monotonic deadline of a file of *hour* opened at *wall_ms* / *mono*."""
    left_s = min(HOUR_MS, max(0, hour.end_ms() - wall_ms)) / 1000
    return mono + left_s + DEADLINE_GRACE_S


class ClockWatch:
    """Sees the wall clock step against the monotonic clock (see the module docstring)."""

    def __init__(self, wall_ms: int, mono: float) -> None:
        self._offset_ms = wall_ms - mono * 1000

    def step(self, wall_ms: int, mono: float) -> dict[str, Any] | None:
        """The step seen since the last look, as a manifest's ``clock_steps`` entry, or None."""
        offset = wall_ms - mono * 1000
        step_ms = round(offset - self._offset_ms)
        self._offset_ms = offset
        if abs(step_ms) <= STEP_TOLERANCE_MS:
            return None
        return {"wall_ms": wall_ms, "step_ms": step_ms, "monotonic_s": round(mono, 3)}
