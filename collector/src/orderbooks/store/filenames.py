"""File names -> what they say: the hour, run and series of an orderbooks data file.

Every name under DATA_DIR/raw is ``<stem><suffix>`` with the stem
``orderbooks-<YYYY-MM-DD>T<HH>Z-<run_id>[-s<series>]`` (``paths.STEM_RE``) and
one of the suffixes in ``paths`` (data, partial, manifest, failure journal).
``parse`` is the one reader of that scheme; ``hour_in_folder`` also checks
that the name agrees with the raw/YYYY-MM-DD/HH folder the file is in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orderbooks.store import paths


class BadFileName(ValueError):
    """A file name or location that does not follow the naming scheme."""


@dataclass(frozen=True)
class BookFileName:
    stem: str
    hour: paths.HourKey
    run_id: str
    series: str | None  # the series part of a one-stream-per-series file, else None


def parse(path: Path | str) -> BookFileName | None:
    """What the name of *path* says, or None when it is not an orderbooks file name."""
    try:
        stem = paths.stem_of(Path(path))
    except ValueError:
        return None
    match = paths.STEM_RE.match(stem)
    if match is None:
        return None
    return BookFileName(stem, paths.HourKey(match["date"], match["hour"]), match["run_id"], match["series"])


def run_id_of(path: Path | str) -> str | None:
    parsed = parse(path)
    return parsed.run_id if parsed else None


def hour_start_ms(path: Path | str) -> int | None:
    """Start of the UTC hour the name of *path* says, or None when the name has no hour."""
    parsed = parse(path)
    return parsed.hour.start_ms() if parsed else None


def hour_in_folder(data_dir: Path, path: Path) -> paths.HourKey:
    """The hour of a file under DATA_DIR/raw/YYYY-MM-DD/HH, from its folder and its name; both must agree.

    Raises BadFileName with the reason.
    """
    raw = Path(data_dir) / paths.RAW_DIR
    try:
        rel = Path(path).relative_to(raw)
    except ValueError as exc:
        raise BadFileName(f"not under {paths.RAW_DIR}/: {path}") from exc
    if len(rel.parts) != 3:
        raise BadFileName(f"not in a raw/YYYY-MM-DD/HH folder: {paths.relative(data_dir, path)}")
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
