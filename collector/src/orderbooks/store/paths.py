"""Where everything lives under the data folder (DATA_DIR).

    DATA_DIR/
      raw/YYYY-MM-DD/HH/<stem>.jsonl.gz            sealed data file
      raw/YYYY-MM-DD/HH/<stem>.jsonl.gz.partial    open (or crashed) data file
      raw/YYYY-MM-DD/HH/<stem>.manifest.json       manifest beside a sealed file
      raw/YYYY-MM-DD/HH/<stem>.failures.jsonl      failure journal of the open hour (removed at seal)
      quarantine/YYYY-MM-DD/HH/<stem>.jsonl.gz.partial   unrecoverable partials, kept
      runs/<run_id>.json                           one manifest per collector run
      uploads/ledger.jsonl                         append-only upload/prune ledger
      uploads/runs/<upload_run_id>.json            one manifest per upload run
      uploads/last-upload.json                     the newest upload's result (for alarms)
      uploads/last-prune.json                      the newest prune's result (for alarms)

``<stem>`` is ``orderbooks-<YYYY-MM-DD>T<HH>Z-<run_id>``, or with one stream per
series ``orderbooks-<YYYY-MM-DD>T<HH>Z-<run_id>-s<series id>``; ``run_id`` is
``<YYYYmmddTHHMMSSZ>-<6 hex>``, unique per collector process, so two runs in
one hour never share a file.
"""

from __future__ import annotations

import calendar
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from orderbooks import timefmt

RAW_DIR = "raw"
QUARANTINE_DIR = "quarantine"
RUNS_DIR = "runs"
UPLOADS_DIR = "uploads"
LEDGER_NAME = "ledger.jsonl"
LAST_UPLOAD_NAME = "last-upload.json"
LAST_PRUNE_NAME = "last-prune.json"

DATA_SUFFIX = ".jsonl.gz"
PARTIAL_SUFFIX = ".jsonl.gz.partial"
MANIFEST_SUFFIX = ".manifest.json"
FAILURES_SUFFIX = ".failures.jsonl"

STEM_RE = re.compile(
    r"^orderbooks-(?P<date>\d{4}-\d{2}-\d{2})T(?P<hour>\d{2})Z-(?P<run_id>\d{8}T\d{6}Z-[0-9a-f]{6})"
    r"(?:-s(?P<series>[0-9A-Za-z]+))?$"
)
SERIES_PART_RE = re.compile(r"[^0-9A-Za-z]")


def new_run_id(epoch_ms: int | None = None) -> str:
    return timefmt.compact_s(timefmt.now_ms() if epoch_ms is None else epoch_ms) + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class HourKey:
    """A UTC hour: the unit of rotation."""

    date: str  # YYYY-MM-DD
    hour: str  # HH

    @classmethod
    def from_epoch_ms(cls, epoch_ms: int) -> HourKey:
        return cls(*timefmt.date_hour(epoch_ms))

    def start_ms(self) -> int:
        # Called for every written cycle: plain integer parsing, no strptime.
        year, month, day = (int(part) for part in self.date.split("-"))
        return calendar.timegm((year, month, day, int(self.hour), 0, 0, 0, 0, 0)) * 1000

    def end_ms(self) -> int:
        return self.start_ms() + 3_600_000

    def label(self) -> str:
        return f"{self.date}T{self.hour}Z"


@dataclass(frozen=True)
class DayKey:
    """A UTC day: the period of a file sealed once a day."""

    date: str  # YYYY-MM-DD

    @classmethod
    def from_epoch_ms(cls, epoch_ms: int) -> DayKey:
        return cls(timefmt.date_hour(epoch_ms)[0])

    def start_ms(self) -> int:
        year, month, day = (int(part) for part in self.date.split("-"))
        return calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0)) * 1000

    def end_ms(self) -> int:
        return self.start_ms() + 86_400_000

    def label(self) -> str:
        return self.date


def stem_for(hour: HourKey, run_id: str, series: str | None = None) -> str:
    """The stem of a run's file of *hour*; with *series*, that series' file (one stream per series)."""
    stem = f"orderbooks-{hour.label()}-{run_id}"
    if series is None:
        return stem
    return f"{stem}-s{SERIES_PART_RE.sub('', series) or 'none'}"


def hour_dir(data_dir: Path, hour: HourKey, top: str = RAW_DIR) -> Path:
    return Path(data_dir) / top / hour.date / hour.hour


def data_path(data_dir: Path, hour: HourKey, run_id: str, series: str | None = None) -> Path:
    return hour_dir(data_dir, hour) / (stem_for(hour, run_id, series) + DATA_SUFFIX)


def partial_path(data_dir: Path, hour: HourKey, run_id: str, series: str | None = None) -> Path:
    return hour_dir(data_dir, hour) / (stem_for(hour, run_id, series) + PARTIAL_SUFFIX)


def manifest_path_for(data_file: Path) -> Path:
    """``x.jsonl.gz`` (or ``x.jsonl.gz.partial``) -> ``x.manifest.json``."""
    name = data_file.name
    for suffix in (PARTIAL_SUFFIX, DATA_SUFFIX):
        if name.endswith(suffix):
            return data_file.with_name(name[: -len(suffix)] + MANIFEST_SUFFIX)
    raise ValueError(f"not a data file name: {data_file}")


def failures_path_for(path: Path) -> Path:
    """``x.jsonl.gz.partial`` (or any orderbooks file of stem ``x``) -> ``x.failures.jsonl``."""
    return Path(path).with_name(stem_of(path) + FAILURES_SUFFIX)


def stem_of(path: Path) -> str:
    name = path.name
    for suffix in (PARTIAL_SUFFIX, DATA_SUFFIX, MANIFEST_SUFFIX, FAILURES_SUFFIX):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    raise ValueError(f"not an orderbooks file name: {path}")


def iter_files(data_dir: Path, suffix: str, top: str = RAW_DIR) -> list[Path]:
    """All files under DATA_DIR/<top> ending in *suffix*, sorted by path."""
    root = Path(data_dir) / top
    if not root.is_dir():
        return []
    found: list[Path] = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            if name.endswith(suffix) and not name.startswith("."):
                found.append(Path(dirpath) / name)
    return sorted(found)


def relative(data_dir: Path, path: Path) -> str:
    """Path relative to DATA_DIR with forward slashes (used in manifests and ledgers)."""
    return Path(path).relative_to(Path(data_dir)).as_posix()
