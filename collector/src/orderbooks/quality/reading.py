"""Reading a data folder for ``orderbooks quality``: which data files, their rows, what
their file manifests say failed, and what the run manifests say about each run.

Nothing here adds figures up (analysis.py does); a file or manifest that cannot be
read is skipped or returned as None, never a crash.
"""

from __future__ import annotations

import itertools
import statistics
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orderbooks.quality.units import HOUR_MS, as_int
from orderbooks.store import gzmembers, paths, survey
from orderbooks.store import run_manifests as stored_runs
from orderbooks.store.rows import RowReader, iter_rows

#: Cycles read from a run's first file to infer its interval.
INFER_CYCLES = 300
#: ``derived.kind`` of a merged folder's manifests.
MERGED_KIND = "merge"


class QualityError(Exception):
    """The data folder cannot be analysed (missing, unreadable)."""


# ---------------------------------------------------------------- data files


def file_hour_ms(data_file: Path) -> int | None:
    """Start of the UTC hour a data file's name says it holds; None when the name has no hour."""
    return paths.hour_start_ms(data_file)


def file_run_id(data_file: Path) -> str:
    """The run id in a data file's name (the whole stem when the name has none)."""
    return paths.run_id_of(data_file) or paths.stem_of(data_file)


def data_files(data_dir: Path, since_ms: int | None = None, until_ms: int | None = None) -> list[Path]:
    """Sealed and partial data files under DATA_DIR/raw in time order, skipping hours outside the range."""
    found = paths.iter_files(data_dir, paths.DATA_SUFFIX) + paths.iter_files(data_dir, paths.PARTIAL_SUFFIX)
    selected = []
    for path in found:
        start = file_hour_ms(path)
        if start is not None:
            if since_ms is not None and start + HOUR_MS <= since_ms:
                continue
            if until_ms is not None and start >= until_ms:
                continue
        selected.append(path)
    return sorted(selected, key=lambda p: (p.parent.as_posix(), paths.stem_of(p)))


def files_by_hour(
    data_dir: Path, since_ms: int | None = None, until_ms: int | None = None
) -> dict[int, list[Path]]:
    """``data_files`` grouped by the hour in their names (0 for a name without one)."""
    out: dict[int, list[Path]] = {}
    for path in data_files(data_dir, since_ms, until_ms):
        out.setdefault(file_hour_ms(path) or 0, []).append(path)
    return out


@dataclass
class FileScan:
    """What reading one data file showed besides its rows."""

    size: int = 0
    raw_bytes: int = 0  # decompressed bytes of its complete members
    bad_lines: int = 0  # lines that are not a JSON object
    tail_error: str | None = None  # why its tail is not a complete member, if it is not


def scan_rows(data_file: Path, scan: FileScan) -> Iterator[dict[str, Any]]:
    """The rows of a sealed file, or of the complete members of a ``.partial``, filling *scan*.

    Bad lines are counted and skipped; a damaged tail ends the rows. OSError is the caller's."""
    scan.size = survey.file_size(data_file)

    def on_member(member: gzmembers.Member) -> None:
        scan.raw_bytes += len(member.data)

    reader = RowReader(data_file, on_member=on_member, keys=())
    for line in reader:
        if line.obj is None:
            scan.bad_lines += 1
        else:
            yield line.obj
    if reader.result is not None:
        scan.tail_error = reader.result.tail_error


def file_rows(data_file: Path) -> Iterator[dict[str, Any]]:
    """The rows of a sealed file, or of the complete members of a ``.partial``; bad lines skipped."""
    return iter_rows(data_file)


def infer_interval(data_file: Path, max_cycles: int = INFER_CYCLES) -> float | None:
    """Median of (recv_ms difference / cycle difference) over consecutive cycles, in seconds."""
    first_recv: dict[int, int] = {}
    try:
        for row in file_rows(data_file):
            cycle, recv = as_int(row.get("cycle")), as_int(row.get("recv_ms"))
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


# ---------------------------------------------------------------- file manifests


def read_manifest(data_file: Path) -> dict[str, Any] | None:
    """The file manifest beside *data_file*, None when it is missing or not a JSON object."""
    return survey.manifest_beside(data_file)


@dataclass
class Cause:
    """A stretch of time in which failures of one class happened (a gap's possible cause)."""

    start_ms: int
    end_ms: int
    cause: str
    series: str | None
    token_id: str | None
    count: int


def manifest_causes(file_manifest: dict[str, Any]) -> tuple[list[Cause], Counter[str]]:
    """A file manifest's failures and gaps as causes, and its failure count per class.

    Records of one (class, series, token) less than a minute apart are one cause."""
    causes: list[Cause] = []
    failures = file_manifest.get("failures") or []
    by_key: dict[tuple[str, str | None, str | None], Cause] = {}
    seen_classes: set[str] = set()
    for record in failures:
        if not isinstance(record, dict):
            continue
        t_ms = as_int(record.get("t_ms"))
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
            causes.append(current)
        by_key[key] = Cause(t_ms, t_ms, error, series, token, 1)
    causes.extend(by_key.values())
    counted = Counter(str(r.get("error") or "unknown") for r in failures if isinstance(r, dict))
    dropped = as_int(file_manifest.get("failures_dropped")) or 0
    for gap in file_manifest.get("gaps") or []:
        if not isinstance(gap, dict):
            continue
        cause = str(gap.get("cause") or "unknown")
        start, end = as_int(gap.get("start_ms")), as_int(gap.get("end_ms"))
        if start is None or end is None:
            continue
        count = as_int(gap.get("count")) or 1
        if cause not in seen_classes or dropped:
            # Failures the manifest only kept as a gap (capped list, recovery's restart gap).
            causes.append(Cause(start, end, cause, None, None, count))
            if cause not in seen_classes:
                counted[cause] += count
    if dropped:
        counted["(dropped from manifest)"] += dropped
    return causes, counted


# ---------------------------------------------------------------- run manifests


def read_run_manifest(data_dir: Path, run_id: str) -> dict[str, Any] | None:
    """The run manifest of *run_id* as written, if ``sealed.load_run_manifest`` accepts it."""
    return stored_runs.load(data_dir, run_id)


def run_manifests(data_dir: Path) -> list[dict[str, Any]]:
    """Every run manifest of a folder that ``sealed.load_run_manifest`` accepts, in file-name order."""
    return stored_runs.load_all(data_dir)


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


def derived_info(data_dir: Path) -> dict[str, Any] | None:
    """``derived`` of a merged folder's run manifest, None for a collector's folder."""
    for run in run_manifests(data_dir):
        derived = run.get("derived")
        if isinstance(derived, dict) and derived.get("kind") == MERGED_KIND:
            return derived
    return None


def source_runs(data_dir: Path, label: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(source, run_id) -> {start_ms, end_ms, interval_s, series} of a folder's runs.

    A merged folder keeps its sources' runs in ``derived.runs``."""
    derived = derived_info(data_dir)
    if derived is not None:
        return {
            (str(r.get("source")), str(r.get("run_id"))): r
            for r in derived.get("runs") or []
            if isinstance(r, dict)
        }
    out = {}
    for run in run_manifests(data_dir):
        out[(label, str(run["run_id"]))] = run_summary(label, run)
    return out


def run_summary(label: str, run: dict[str, Any]) -> dict[str, Any]:
    """What the union needs of a run manifest (also what a merged folder keeps of it)."""
    end = as_int(run.get("end")) or as_int(run.get("updated_at"))
    return {
        "source": label,
        "run_id": str(run.get("run_id")),
        "host": run.get("host"),
        "start_ms": as_int(run.get("start")),
        "end_ms": end,
        "interval_s": interval_from_run_manifest(run),
        "series": series_from_run_manifest(run),
    }
