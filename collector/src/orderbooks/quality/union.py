"""Quality of several copies of the same collection: what ``orderbooks quality A B ...`` measures.

Several hosts collect the same books; each host's data folder (or a local copy of
it) is a *source*. ``analyze_union(dirs)`` returns the single-folder report of each
source under ``sources`` and, at the top level, the figures of their union: a
token-cycle is covered when any source has a row for it.

Cycles of different hosts are not the same numbers, so each source row is put on
one common grid of slots, one per interval: a run's cycles are consecutive slots
(``slot = cycle + offset``), the offset fixed by the run's first row
(``round((recv_ms - cycle * interval) / interval)``). A host that polled every cycle
so fills every slot once; two hosts fill the same slots, at most one apart at the
edges. The union's rows (one per token and slot, the first received) are fed to the
same ``Analysis`` a single folder uses, so coverage, gaps and their causes
(from every source's manifests) mean what they mean for one folder. Each union gap
lists ``missing_sources``: the sources with a gap of their own overlapping it (or no
row of that market at all).

A merged folder (``orderbooks merge``) is read the same way: each merged row stands
for every observation it lists, each under its original source and run, so the
merged folder's coverage is the union's. An hour's files are read together, merged
in time order as they stream; memory holds one row per file (a merged file: the
observations of the book states still open), never an hour or a day.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderbooks.quality import folder, reading
from orderbooks.quality.analysis import Analysis, RunInfo
from orderbooks.quality.report import build, public
from orderbooks.quality.units import as_int
from orderbooks.store.folder import is_folder

UNION_KIND = "orderbooks.quality.union"
#: Run id of the single run the union's rows are fed to the analysis under.
UNION_RUN = "union"


# ---------------------------------------------------------------- rows as sightings


def slim(row: dict[str, Any]) -> dict[str, Any]:
    """A row without book levels: what the analysis looks at (empty/one-sided, timestamp, hash)."""
    out = {k: row.get(k) for k in ("series", "slug", "token_id", "outcome", "window_start", "window_end")}
    book = row.get("book")
    if isinstance(book, dict):
        bids, asks = book.get("bids"), book.get("asks")
        out["book"] = {
            "timestamp": book.get("timestamp"),
            "hash": book.get("hash"),
            "bids": [0] if isinstance(bids, list) and bids else [],
            "asks": [0] if isinstance(asks, list) and asks else [],
        }
    else:
        out["book"] = None
    if row.get("book_errors"):
        out["book_errors"] = True
    return out


@dataclass(order=True)
class Sighting:
    """One poll of one token by one source, ready to be put on the slot grid."""

    recv_ms: int
    seq: int
    source: str = field(compare=False)
    run_id: str = field(compare=False)
    cycle: int | None = field(compare=False)
    latency_ms: Any = field(compare=False)
    row: dict[str, Any] = field(compare=False)


def sightings_of_file(data_file: Path, label: str, merged: bool, seq: Iterator[int]) -> Iterator[Sighting]:
    """A file's sightings in time order: its rows (files are written in time order), or for a
    merged file every observation, held back only until no later row can come before it."""
    run_id = reading.file_run_id(data_file)
    held: list[Sighting] = []
    for row in reading.file_rows(data_file):
        small = slim(row)
        observations = row.get("observations") if merged else None
        if isinstance(observations, list):
            mine = [
                Sighting(
                    recv,
                    next(seq),
                    str(obs.get("source")),
                    str(obs.get("run_id")),
                    as_int(obs.get("cycle")),
                    obs.get("latency_ms"),
                    small,
                )
                for obs in observations
                if isinstance(obs, dict) and (recv := as_int(obs.get("recv_ms"))) is not None
            ]
            if not mine:
                continue
            first = min(s.recv_ms for s in mine)  # later rows were first received at or after it
            while held and held[0].recv_ms <= first:
                yield heapq.heappop(held)
            for sighting in mine:
                heapq.heappush(held, sighting)
            continue
        recv = as_int(row.get("recv_ms"))
        if recv is None:
            continue
        yield Sighting(recv, next(seq), label, run_id, as_int(row.get("cycle")), row.get("latency_ms"), small)
    while held:
        yield heapq.heappop(held)


# ---------------------------------------------------------------- the slot grid


class SlotGrid:
    """Puts (source, run, cycle, recv_ms) on one grid of slots of *interval_ms*."""

    def __init__(self, interval_ms: float) -> None:
        self.interval_ms = interval_ms
        self.offsets: dict[tuple[str, str], int] = {}

    def slot(self, source: str, run_id: str, cycle: int | None, recv_ms: int) -> int:
        if cycle is None:
            return int(recv_ms // self.interval_ms)
        key = (source, run_id)
        offset = self.offsets.get(key)
        if offset is None:
            offset = round((recv_ms - cycle * self.interval_ms) / self.interval_ms)
            self.offsets[key] = offset
        return offset + cycle


# ---------------------------------------------------------------- the union


@dataclass
class Source:
    label: str
    data_dir: Path
    merged: bool
    hosts: set[str] = field(default_factory=set)


def label_sources(dirs: Iterable[Path]) -> list[Source]:
    """One source per folder, labelled by the folder's name (made unique)."""
    out: list[Source] = []
    used: Counter[str] = Counter()
    for given in dirs:
        data_dir = Path(given)
        name = data_dir.resolve().name or str(data_dir)
        used[name] += 1
        label = name if used[name] == 1 else f"{name}#{used[name]}"
        out.append(Source(label, data_dir, reading.derived_info(data_dir) is not None))
    return out


def analyze_union(
    dirs: list[Path],
    *,
    interval_s: float | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> dict[str, Any]:
    """The union report of *dirs* (see the module docstring and docs/quality.md)."""
    sources = label_sources(dirs)
    for source in sources:
        if not is_folder(source.data_dir):
            raise reading.QualityError(f"data folder {source.data_dir} does not exist or is not a folder")
    reports = {}
    for source in sources:
        if source.merged:
            reports[source.label] = union_of([source], interval_s, since_ms, until_ms)
        else:
            reports[source.label] = folder.analyze(
                source.data_dir, interval_s=interval_s, since_ms=since_ms, until_ms=until_ms
            )
    if len(sources) == 1 and sources[0].merged:
        report = reports[sources[0].label]
    else:
        report = union_of(sources, interval_s, since_ms, until_ms)
    report["sources"] = [
        {"source": s.label, "data_dir": str(s.data_dir), "merged": s.merged, **_brief(reports[s.label])}
        for s in sources
    ]
    _mark_missing_sources(report, sources, reports)
    return report


def _brief(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("interval_s", "interval_source", "span", "files", "runs", "totals", "series", "gaps", "problems")
    return {k: report.get(k) for k in keys}


def union_of(
    sources: list[Source], interval_s: float | None, since_ms: int | None, until_ms: int | None
) -> dict[str, Any]:
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for source in sources:
        runs.update(reading.source_runs(source.data_dir, source.label))
    interval = interval_s or _common_interval(runs.values())
    analysis = Analysis(sources[0].data_dir, interval_s=interval, since_ms=since_ms, until_ms=until_ms)
    run = RunInfo(UNION_RUN, interval, "option" if interval_s else "runs")
    analysis.add_run(run)
    grid = SlotGrid(interval * 1000)
    last_slot: dict[str, int] = {}
    seen_runs: set[tuple[str, str]] = set()
    skipped = 0
    seq = itertools.count()
    hours: dict[int, list[tuple[Source, Path]]] = {}
    for source in sources:
        for hour_ms, files in reading.files_by_hour(source.data_dir, since_ms, until_ms).items():
            hours.setdefault(hour_ms, []).extend((source, f) for f in files)
    carry: list[Sighting] = []  # sightings of a merged file's rows that belong to a later hour
    hour_list = sorted(hours)
    for index, hour_ms in enumerate(hour_list):
        streams: list[Iterator[Sighting]] = [iter(sorted(carry))]
        carry = []
        for source, data_file in hours[hour_ms]:
            analysis.files_read += 1
            file_manifest = reading.read_manifest(data_file)
            if file_manifest is not None:
                analysis.add_failures(file_manifest)
                if file_manifest.get("host"):
                    source.hosts.add(str(file_manifest["host"]))
            streams.append(sightings_of_file(data_file, source.label, source.merged, seq))
        # Later hours' files only hold rows (and observations) received from their hour on.
        horizon = hour_list[index + 1] if index + 1 < len(hour_list) else None
        for sighting in heapq.merge(*streams):
            if horizon is not None and sighting.recv_ms >= horizon:
                carry.append(sighting)
                continue
            token = str(sighting.row.get("token_id"))
            slot = grid.slot(sighting.source, sighting.run_id, sighting.cycle, sighting.recv_ms)
            if token in last_slot and slot <= last_slot[token]:
                skipped += 1
                continue
            last_slot[token] = slot
            seen_runs.add((sighting.source, sighting.run_id))
            row = {**sighting.row, "recv_ms": sighting.recv_ms, "cycle": slot}
            row["latency_ms"] = sighting.latency_ms
            analysis.add_row(row, run)
    used = [runs[key] for key in seen_runs if key in runs]
    starts = [r["start_ms"] for r in used if r.get("start_ms")]
    ends = [r["end_ms"] for r in used if r.get("end_ms")]
    run.start_ms = min(starts) if starts else None
    run.end_ms = max(ends) if ends else None
    for info in runs.values():
        analysis.configured_series.update(info.get("series") or [])
    report = public(build(analysis))
    report["kind"] = UNION_KIND
    report["interval_source"] = "option" if interval_s else "run_manifest"
    report["data_dir"] = [str(s.data_dir) for s in sources]
    report["union"] = {
        "sources": [s.label for s in sources],
        "hosts": sorted({h for s in sources for h in s.hosts}),
        "source_runs": len(seen_runs),
        "rows_already_covered": skipped,
        "method": "one slot per token and interval; a run's cycles are consecutive slots",
    }
    return report


def _common_interval(runs: Iterable[dict[str, Any]]) -> float:
    counts = Counter(r["interval_s"] for r in runs if r.get("interval_s"))
    return counts.most_common(1)[0][0] if counts else 1.0


def _mark_missing_sources(
    report: dict[str, Any], sources: list[Source], reports: dict[str, dict[str, Any]]
) -> None:
    """Each union gap: which sources were missing there (their own gap overlaps, or no such market)."""
    for gap in report.get("gaps", []):
        missing = []
        for source in sources:
            own = reports[source.label]
            market_seen = any(
                m["series"] == gap["series"] and m["slug"] == gap["slug"] and m["rows"]
                for m in own.get("markets", [])
            )
            overlaps = any(
                g["series"] == gap["series"]
                and g["slug"] == gap["slug"]
                and g["start_ms"] < gap["end_ms"]
                and gap["start_ms"] < g["end_ms"]
                for g in own.get("gaps", [])
            )
            if overlaps or not market_seen or own is report:
                missing.append(source.label)
        # No source's own gap overlaps (an edge of the span, under its slack): none had a row there.
        gap["missing_sources"] = missing or [s.label for s in sources]
