"""Failure journal: the failure records of the open hour file, on disk.

The writer keeps an hour's failure records in memory for the manifest written
at seal. So that a crash does not lose them, it also appends them to
``<stem>.failures.jsonl`` beside the ``.partial`` (one JSON object per line,
``records.FailureRecord`` fields) and fsyncs at each flush, right after the
data member. The journal is removed once the file is sealed (its manifest
holds every record); startup recovery merges a crashed run's journal into the
recovered manifest. A crash can tear the last line: readers skip and count
lines that do not parse.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from orderbooks.records import FailureRecord
from orderbooks.store.atomic import fsync_dir

JOURNAL_MODE = 0o640
_FIELDS = frozenset(f.name for f in dataclasses.fields(FailureRecord))


def encode(failures: list[FailureRecord]) -> bytes:
    return b"".join(orjson.dumps(failure.to_dict()) + b"\n" for failure in failures)


class FailureJournal:
    """Append-only journal of one hour file. ``append`` raises OSError; after a
    failed write the file is cut back to its last complete line."""

    def __init__(self, path: Path, write_all: Callable[[int, bytes], None]) -> None:
        self.path = Path(path)
        self._write_all = write_all
        self._fd: int | None = None
        self._good_end = 0

    def append(self, failures: list[FailureRecord]) -> None:
        if not failures:
            return
        if self._fd is None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
            self._fd = os.open(self.path, flags, JOURNAL_MODE)
            fsync_dir(self.path.parent)
            self._good_end = os.fstat(self._fd).st_size
        data = encode(failures)
        try:
            self._write_all(self._fd, data)
            os.fsync(self._fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._good_end)
            raise
        self._good_end += len(data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def remove(path: Path) -> bool:
    """Delete a journal and fsync its folder; False if there was none."""
    try:
        Path(path).unlink()
    except FileNotFoundError:
        return False
    fsync_dir(Path(path).parent)
    return True


@dataclass
class JournalContents:
    records: list[FailureRecord] = field(default_factory=list)
    bad_lines: int = 0  # lines that did not parse (skipped)
    torn_tail: bool = False  # the last line was one of them: a crash mid-write

    @property
    def bad_inner_lines(self) -> int:
        """Bad lines before the last one: not a torn write, damage."""
        return self.bad_lines - int(self.torn_tail)


def read(path: Path) -> JournalContents:
    """The records of a journal (none if it does not exist)."""
    contents = JournalContents()
    try:
        lines = Path(path).read_bytes().splitlines()
    except FileNotFoundError:
        return contents
    for index, line in enumerate(lines):
        record = _parse(line)
        if record is not None:
            contents.records.append(record)
            continue
        contents.bad_lines += 1
        contents.torn_tail = index == len(lines) - 1
    return contents


def _parse(line: bytes) -> FailureRecord | None:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    try:
        record = FailureRecord(**{k: v for k, v in obj.items() if k in _FIELDS})
    except TypeError:
        return None
    if not isinstance(record.t_ms, int) or not isinstance(record.error, str):
        return None
    return record
