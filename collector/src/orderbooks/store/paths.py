"""The layout of the data folder (DATA_DIR): where everything lives, and what a file name says.

    DATA_DIR/
      raw/YYYY-MM-DD/HH/<stem>.jsonl.gz            sealed data file
      raw/YYYY-MM-DD/HH/<stem>.jsonl.gz.partial    open (or crashed) data file
      raw/YYYY-MM-DD/HH/<stem>.manifest.json       manifest beside a sealed file
      raw/YYYY-MM-DD/HH/<stem>.failures.jsonl      failure journal of the open hour (removed at seal)
      markets/YYYY-MM-DD/<markets stem>.jsonl.gz          sealed market documents of one run and day
      markets/YYYY-MM-DD/<markets stem>.jsonl.gz.partial  open (or crashed) market documents
      markets/YYYY-MM-DD/<markets stem>.manifest.json     manifest beside a sealed one
      quarantine/YYYY-MM-DD/HH/<stem>.jsonl.gz.partial    unrecoverable book partials, kept
      quarantine/markets/YYYY-MM-DD/<markets stem>.jsonl.gz.partial   unrecoverable market partials
      runs/<run_id>.json                           one manifest per collector run
      runs/<run_id>.lock                           held while the run is alive
      uploads/ledger.jsonl                         append-only upload/prune ledger
      uploads/runs/<upload_run_id>.json            one manifest per upload run
      uploads/last-upload.json                     the newest upload's result (for alarms)
      uploads/last-prune.json                      the newest prune's result (for alarms)
      state/collector.json                         the collector's health state

``<stem>`` is ``orderbooks-<YYYY-MM-DD>T<HH>Z-<run_id>``, or with one stream per
series ``orderbooks-<YYYY-MM-DD>T<HH>Z-<run_id>-s<series id>``; ``<markets stem>``
is ``markets-<YYYY-MM-DD>-<run_id>``; ``run_id`` is
``<YYYYmmddTHHMMSSZ>-<6 hex>``, unique per collector process, so two runs in
one hour never share a file.

``parse`` and ``parse_markets`` are the one reader of those names;
``hour_in_folder`` and ``day_in_folder`` also check that a name agrees with the
folder it is in (raising ``BadFileName`` with the reason).
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
MARKETS_DIR = "markets"
QUARANTINE_DIR = "quarantine"
RUNS_DIR = "runs"
UPLOADS_DIR = "uploads"
STATE_DIR = "state"
STATE_NAME = "collector.json"
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
MARKETS_STEM_RE = re.compile(r"^markets-(?P<date>\d{4}-\d{2}-\d{2})-(?P<run_id>\d{8}T\d{6}Z-[0-9a-f]{6})$")
#: A run id anywhere in a name (the temporary files of atomic writes carry their target's name).
RUN_ID_RE = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")
#: The temporary file of an atomic write (``atomic.atomic_write_bytes``): ``.<name>.<random>.tmp``.
TEMP_RE = re.compile(r"^\..+\.tmp$")


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


def markets_data_path(data_dir: Path, day: DayKey, run_id: str) -> Path:
    """The sealed market documents of *run_id* and *day*."""
    return Path(data_dir) / MARKETS_DIR / day.date / f"markets-{day.date}-{run_id}{DATA_SUFFIX}"


def markets_partial_path(data_dir: Path, day: DayKey, run_id: str) -> Path:
    final = markets_data_path(data_dir, day, run_id)
    return final.with_name(stem_of(final) + PARTIAL_SUFFIX)


def quarantine_path(data_dir: Path, path: Path) -> Path:
    """Where *path* goes when it cannot be recovered: the same place under DATA_DIR/quarantine
    (a book file without its ``raw/`` part: quarantine/YYYY-MM-DD/HH/...; market documents
    keep theirs: quarantine/markets/YYYY-MM-DD/...)."""
    data_dir = Path(data_dir)
    raw = data_dir / RAW_DIR
    rel = Path(path).relative_to(raw if raw in Path(path).parents else data_dir)
    return data_dir / QUARANTINE_DIR / rel


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


# ---------------------------------------------------------------------- what a file name says
class BadFileName(ValueError):
    """A file name or location that does not follow the naming scheme."""


@dataclass(frozen=True)
class BookFileName:
    stem: str
    hour: HourKey
    run_id: str
    series: str | None  # the series part of a one-stream-per-series file, else None


def _match_stem(path: Path | str, pattern: re.Pattern[str]) -> re.Match[str] | None:
    """*pattern* matched against the stem of *path* (``match.string``), or None: no stem or no match."""
    try:
        stem = stem_of(Path(path))
    except ValueError:
        return None
    return pattern.match(stem)


def parse(path: Path | str) -> BookFileName | None:
    """What the name of *path* says, or None when it is not an orderbooks file name."""
    match = _match_stem(path, STEM_RE)
    if match is None:
        return None
    return BookFileName(match.string, HourKey(match["date"], match["hour"]), match["run_id"], match["series"])


def run_id_of(path: Path | str) -> str | None:
    parsed = parse(path)
    return parsed.run_id if parsed else None


def hour_start_ms(path: Path | str) -> int | None:
    """Start of the UTC hour the name of *path* says, or None when the name has no hour."""
    parsed = parse(path)
    return parsed.hour.start_ms() if parsed else None


def hour_in_folder(data_dir: Path, path: Path) -> HourKey:
    """The hour of a file under DATA_DIR/raw/YYYY-MM-DD/HH, from its folder and its name; both must agree.

    Raises BadFileName with the reason.
    """
    raw = Path(data_dir) / RAW_DIR
    try:
        rel = Path(path).relative_to(raw)
    except ValueError as exc:
        raise BadFileName(f"not under {RAW_DIR}/: {path}") from exc
    if len(rel.parts) != 3:
        raise BadFileName(f"not in a raw/YYYY-MM-DD/HH folder: {relative(data_dir, path)}")
    date, hour, _name = rel.parts
    parsed = parse(path)
    if parsed is None:
        raise BadFileName(f"file name does not follow the naming scheme: {Path(path).name}")
    if (parsed.hour.date, parsed.hour.hour) != (date, hour):
        raise BadFileName(f"file name hour {parsed.hour.date}T{parsed.hour.hour} != folder {date}/{hour}")
    try:
        parsed.hour.start_ms()
        if int(hour) > 23:
            raise ValueError(hour)
    except ValueError as exc:
        raise BadFileName(f"folder is not a valid UTC hour: {date}/{hour}") from exc
    return parsed.hour


@dataclass(frozen=True)
class MarketsFileName:
    stem: str
    day: DayKey
    run_id: str


def parse_markets(path: Path | str) -> MarketsFileName | None:
    """What the name of a market documents file says, or None when it is not such a name."""
    match = _match_stem(path, MARKETS_STEM_RE)
    return None if match is None else MarketsFileName(match.string, DayKey(match["date"]), match["run_id"])


def day_in_folder(data_dir: Path, path: Path) -> DayKey:
    """The day of a file under DATA_DIR/markets/YYYY-MM-DD, from its folder and its name; both must agree.

    Raises BadFileName with the reason.
    """
    rel = Path(path).relative_to(Path(data_dir) / MARKETS_DIR)
    if len(rel.parts) != 2:
        raise BadFileName(f"not in a markets/YYYY-MM-DD folder: {relative(data_dir, path)}")
    parsed = parse_markets(path)
    if parsed is None:
        raise BadFileName(f"file name does not follow the naming scheme: {Path(path).name}")
    if parsed.day.date != rel.parts[0]:
        raise BadFileName(f"file name day {parsed.day.date} != folder {rel.parts[0]}")
    day = DayKey(rel.parts[0])
    try:
        day.start_ms()
    except ValueError as exc:
        raise BadFileName(f"folder is not a valid UTC day: {rel.parts[0]}") from exc
    return day
