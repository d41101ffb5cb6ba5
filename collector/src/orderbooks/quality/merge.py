"""Merge several copies of the same collection into one derived data folder.

``merge(out_dir, src_dirs)`` writes each distinct book state ``(token_id,
book.timestamp, book.hash)`` once, in time order: the row as first received (by
any source), plus ``observations``, every sighting of that state (``source``,
``host``, ``run_id``, ``recv_ms``, ``cycle``, ``latency_ms``), so nothing is lost
and coverage can still be computed (quality/union.py). A row without a book
timestamp and hash is its own state.

The output is an ordinary data folder: one sealed file per UTC hour with its
manifest (written like the collector's), and one run manifest; both carry
``derived`` (merged from which sources and runs), so ``orderbooks verify`` accepts
the folder and ``orderbooks quality`` reads it as the union. The sources are only
read. This module decides what goes where; the store writes the files
(``store.merged.HourFileWriter``, ``store.run_manifests.write``).

Memory: hour by hour. Pass 1 reads an hour's files (every source) and keeps, per
state, only its observations; the next hour is read before an hour is written, so
a state seen on both sides of an hour boundary stays one row. Pass 2 re-reads the
hour's files in time order and writes each state's first row. A state still seen
two hours after its first row is written again (counted as ``split_states``).

Conflicts are reported, never resolved: the same ``(token_id, timestamp)`` with
different hashes (both states are kept), and a token mapped to different outcomes
(or markets) by different sources.

Damaged input never comes out looking clean: every sealed file of every source
is checked against its manifest first (``store.merged.sealed_inputs``, the
check ``orderbooks verify`` makes of each file); a file that fails, cannot be
read, or is not sealed (a ``.partial``) is left out and listed in
``left_out``, and the good files are still merged. The market documents
(``markets/``) are merged too: each distinct document once, in one markets file
per UTC day.

``merge`` refuses (``MergeError`` with the exit code) a source that is not a
data folder or holds no sealed file, the same folder given twice (also through
a link or another spelling of its path), an output folder inside a source or a
source inside the output, and an output folder that already holds data.
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orderbooks.quality import reading, union
from orderbooks.quality.merge_folders import MergeError, check_folders
from orderbooks.quality.units import as_int, hour_start_ms
from orderbooks.store import manifest, paths, run_manifests
from orderbooks.store.merged import HourFileWriter, Inputs, read_documents, sealed_inputs, write_markets_day

MERGE_KIND = "orderbooks.merge"
#: Rows per gzip member of a merged file.
ROWS_PER_MEMBER = 500
#: At most this many conflicts are listed (all are counted).
MAX_CONFLICTS = 1000
VERSION = "merge-1"

__all__ = ["MergeError", "MergeResult", "Merger", "check_folders", "merge"]

StateKey = tuple[Any, ...]
#: What a merged row's ``observations`` list holds for each sighting, in this order.
OBSERVATION_FIELDS = ("source", "host", "run_id", "recv_ms", "cycle", "latency_ms")


@dataclass
class State:
    #: tuples in OBSERVATION_FIELDS order (a tuple is a third of a dict's memory)
    observations: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass
class MergeResult:
    out_dir: Path
    run_id: str
    sources: list[dict[str, Any]]
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    states: int = 0
    observations: int = 0
    split_states: int = 0
    hash_conflicts: int = 0
    outcome_conflicts: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    #: {source, path, reason, problems} of every input file not merged (damaged, unreadable, unsealed)
    left_out: list[dict[str, Any]] = field(default_factory=list)
    market_files: list[str] = field(default_factory=list)
    documents: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": MERGE_KIND,
            "out_dir": str(self.out_dir),
            "run_id": self.run_id,
            "sources": self.sources,
            "files": self.files,
            "rows_read": self.rows_read,
            "states": self.states,
            "observations": self.observations,
            "split_states": self.split_states,
            "hash_conflicts": self.hash_conflicts,
            "outcome_conflicts": self.outcome_conflicts,
            "conflicts": self.conflicts,
            "left_out": self.left_out,
            "market_files": self.market_files,
            "documents": self.documents,
        }


def state_key(row: dict[str, Any], source: str) -> StateKey:
    book = row.get("book")
    token = str(row.get("token_id"))
    if isinstance(book, dict) and book.get("timestamp") is not None and book.get("hash"):
        return (token, str(book["timestamp"]), str(book["hash"]))
    return (token, None, source, row.get("recv_ms"), row.get("cycle"))


class Merger:
    def __init__(self, out_dir: Path, src_dirs: list[Path], *, now_ms: int) -> None:
        self.out_dir = Path(out_dir)
        self.sources = union.label_sources(src_dirs)
        self.run_id = paths.new_run_id(now_ms)
        self.now_ms = now_ms
        self.hosts: dict[str, set[str]] = {s.label: set() for s in self.sources}
        self.token_markets: dict[str, dict[tuple[Any, ...], str]] = {}  # token -> {(outcome, cid): source}
        #: (token, timestamp) -> [first hash, hour last seen]: for the hash check, kept two hours
        self.ts_hashes: dict[tuple[str, str], list[Any]] = {}
        self.result = MergeResult(self.out_dir, self.run_id, [])
        self.inputs: dict[str, Inputs] = {}
        for source in self.sources:
            found = self.inputs[source.label] = sealed_inputs(source.data_dir)
            self.result.left_out.extend({"source": source.label, **item} for item in found.left_out)
        self.run = manifest.new_run_manifest(
            run_id=self.run_id, start_ms=now_ms, host=os.uname().nodename, version=VERSION, run_info={}
        )

    # ------------------------------------------------------------ reading

    def hour_files(self) -> dict[int, list[tuple[union.Source, Path]]]:
        """The sources' sealed book files that agree with their manifests, by the hour in their names."""
        hours: dict[int, list[tuple[union.Source, Path]]] = {}
        for source in self.sources:
            books = sorted(self.inputs[source.label].books, key=lambda p: (p.parent.as_posix(), p.name))
            for data_file in books:
                hours.setdefault(reading.file_hour_ms(data_file) or 0, []).append((source, data_file))
        return hours

    def _rows(self, source: union.Source, data_file: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(row, observation) of every row of a source file (a merged source: every observation)."""
        run_id = reading.file_run_id(data_file)
        host = self._host_of(source, data_file)
        for row in reading.file_rows(data_file):
            listed = row.get("observations")
            if source.merged and isinstance(listed, list):
                base = {k: v for k, v in row.items() if k != "observations"}
                for obs in listed:
                    if isinstance(obs, dict):
                        yield {**base, "recv_ms": obs.get("recv_ms"), "cycle": obs.get("cycle")}, obs
                continue
            yield (
                row,
                {
                    "source": source.label,
                    "host": host,
                    "run_id": run_id,
                    "recv_ms": row.get("recv_ms"),
                    "cycle": row.get("cycle"),
                    "latency_ms": row.get("latency_ms"),
                },
            )

    def _host_of(self, source: union.Source, data_file: Path) -> str | None:
        file_manifest = reading.read_manifest(data_file)
        host = file_manifest.get("host") if file_manifest else None
        if host:
            self.hosts[source.label].add(str(host))
        return None if host is None else str(host)

    def scan_hour(self, files: list[tuple[union.Source, Path]]) -> dict[StateKey, State]:
        """Pass 1: every state of the hour's files and its observations."""
        states: dict[StateKey, State] = {}
        for source, data_file in files:
            for row, obs in self._rows(source, data_file):
                self.result.rows_read += 1
                key = state_key(row, source.label)
                sighting = tuple(obs.get(name) for name in OBSERVATION_FIELDS)
                states.setdefault(key, State()).observations.append(sighting)
                self._check_conflicts(row, key, obs)
        return states

    def _check_conflicts(self, row: dict[str, Any], key: StateKey, obs: dict[str, Any]) -> None:
        token, timestamp = key[0], key[1]
        if timestamp is not None:
            seen_hour = hour_start_ms(_recv(obs))
            entry = self.ts_hashes.setdefault((token, timestamp), [key[2], seen_hour])
            entry[1] = max(entry[1], seen_hour)
            first = entry[0]
            if first != key[2]:
                self.result.hash_conflicts += 1
                self._conflict(
                    "hash", token=token, timestamp=timestamp, hashes=sorted({first, key[2]}),
                    source=obs.get("source"), recv_ms=obs.get("recv_ms"),
                )  # fmt: skip
        mapping = (row.get("outcome"), row.get("condition_id"))
        known = self.token_markets.setdefault(token, {})
        if mapping not in known:
            if known:
                self.result.outcome_conflicts += 1
                self._conflict(
                    "outcome", token=token,
                    mappings=[{"outcome": o, "condition_id": c, "source": s} for (o, c), s in known.items()]
                    + [{"outcome": mapping[0], "condition_id": mapping[1], "source": obs.get("source")}],
                )  # fmt: skip
            known[mapping] = str(obs.get("source"))

    def _conflict(self, kind: str, **details: Any) -> None:
        if len(self.result.conflicts) < MAX_CONFLICTS:
            self.result.conflicts.append({"conflict": kind, **details})

    # ------------------------------------------------------------ writing

    def write_hour(
        self, hour_ms: int, files: list[tuple[union.Source, Path]], states: dict[StateKey, State]
    ) -> None:
        """Pass 2: the hour's rows in time order, each state's first row once, with its observations."""
        hour = paths.HourKey.from_epoch_ms(hour_ms)
        out = HourFileWriter(self.out_dir, hour, self.run_id)
        seq = itertools.count()
        streams = [
            ((_recv(row), next(seq), row, obs) for row, obs in self._rows(source, data_file))
            for source, data_file in files
        ]
        stats = manifest.RowStats()
        pending: list[bytes] = []
        with out:
            for _recv_ms, _n, row, obs in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
                key = state_key(row, str(obs.get("source")))
                state = states.pop(key, None)
                if state is None:
                    continue  # written already (a later sighting of this state)
                merged = {k: v for k, v in row.items() if k != "observations"}
                merged["observations"] = [
                    dict(zip(OBSERVATION_FIELDS, o, strict=True))
                    for o in sorted(state.observations, key=_observation_order)
                ]
                self.result.states += 1
                self.result.observations += len(state.observations)
                stats.add_row(merged)
                pending.append(orjson.dumps(merged) + b"\n")
                if len(pending) >= ROWS_PER_MEMBER:
                    _write_member(out, pending, stats)
            if pending:
                _write_member(out, pending, stats)
        file_manifest = manifest.build_file_manifest(
            data_dir=self.out_dir, data_file=out.final, hashes=out.hashes(), stats=stats,
            failures=manifest.FailureLog(), cycles_ok=0, cycles_failed=0, recovered=False,
            bytes_dropped=0, rebuilt=False, collector_version=VERSION, host=self.run["host"],
            run_id=self.run_id, hour=hour.label(), opened_at=self.now_ms, sealed_at=self.now_ms,
        )  # fmt: skip
        file_manifest["derived"] = self.derived(with_runs=False)
        file_manifest["source_files"] = sorted(f"{s.label}:{paths.relative(s.data_dir, f)}" for s, f in files)
        out.seal(file_manifest)
        self.run["files"].append(manifest.file_entry(file_manifest))
        self.result.files.append(file_manifest["path"])

    def derived(self, *, with_runs: bool) -> dict[str, Any]:
        info: dict[str, Any] = {
            "kind": reading.MERGED_KIND,
            "sources": [
                {
                    "source": s.label,
                    "path": str(s.data_dir),
                    "hosts": sorted(self.hosts[s.label]),
                    "merged": s.merged,
                }
                for s in self.sources
            ],
        }
        if with_runs:
            runs: dict[tuple[str, str], dict[str, Any]] = {}
            for source in self.sources:
                runs.update(reading.source_runs(source.data_dir, source.label))
            info["runs"] = [runs[k] for k in sorted(runs)]
        return info

    def run_merge(self) -> MergeResult:
        hours = self.hour_files()
        pending: tuple[int, list[tuple[union.Source, Path]], dict[StateKey, State]] | None = None
        written_before: set[StateKey] = set()
        for hour_ms in sorted(hours):
            states = self.scan_hour(hours[hour_ms])
            self.result.split_states += sum(1 for k in states if k in written_before)
            if pending is not None:
                p_hour, p_files, p_states = pending
                for key in [k for k in states if k in p_states]:
                    p_states[key].observations.extend(states.pop(key).observations)
                written_before = set(p_states)
                self.write_hour(p_hour, p_files, p_states)
                self._forget_timestamps(p_hour)
            pending = (hour_ms, hours[hour_ms], states)
        if pending is not None:
            self.write_hour(*pending)
        self.merge_markets()
        self.result.sources = self.derived(with_runs=False)["sources"]
        self.finish()
        return self.result

    def merge_markets(self) -> None:
        """Every distinct market document of the sources once, in one markets file per UTC day."""
        days: dict[paths.DayKey, dict[bytes, tuple[int, int, dict[str, Any]]]] = {}
        files: dict[paths.DayKey, list[str]] = {}
        order = itertools.count()
        for source in self.sources:
            for data_file in self.inputs[source.label].markets:
                name = paths.parse_markets(data_file)
                if name is None:
                    continue
                rel = paths.relative(source.data_dir, data_file)
                files.setdefault(name.day, []).append(f"{source.label}:{rel}")
                kept = days.setdefault(name.day, {})
                for doc in read_documents(data_file):
                    key = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
                    if key not in kept:
                        kept[key] = (_recv(doc), next(order), doc)
        for day in sorted(days, key=lambda d: d.start_ms()):
            documents = [doc for _recv_ms, _n, doc in sorted(days[day].values(), key=lambda v: v[:2])]
            extra = {"derived": self.derived(with_runs=False), "source_files": sorted(files[day])}
            written = write_markets_day(
                self.out_dir, day, self.run_id, documents,
                host=self.run["host"], version=VERSION, now_ms=self.now_ms, extra=extra,
            )  # fmt: skip
            self.result.market_files.append(written["path"])
            self.result.documents += len(documents)

    def _forget_timestamps(self, written_hour_ms: int) -> None:
        """Keep (token, timestamp) pairs for the hash check only while they can still recur:
        a pair not seen in the hour just written or the next one is dropped."""
        for key in [k for k, (_, seen) in self.ts_hashes.items() if seen < written_hour_ms]:
            del self.ts_hashes[key]

    def finish(self) -> None:
        self.run["end"] = self.run["updated_at"] = self.now_ms
        self.run["exit_reason"] = "merged"
        self.run["derived"] = self.derived(with_runs=True)
        self.run["totals"]["rows"] = self.result.states
        self.run["totals"]["files"] = len(self.result.files)
        self.run["merge"] = {
            k: v
            for k, v in self.result.to_dict().items()
            if k not in ("files", "sources", "out_dir", "market_files")
        }
        run_manifests.write(self.out_dir, self.run)


def _observation_order(sighting: tuple[Any, ...]) -> tuple[int, str]:
    return as_int(sighting[3]) or 0, str(sighting[0])


def _recv(item: dict[str, Any]) -> int:
    return as_int(item.get("recv_ms")) or 0


def _write_member(out: HourFileWriter, lines: list[bytes], stats: manifest.RowStats) -> None:
    out.write_member(lines)
    stats.members += 1
    lines.clear()


def merge(out_dir: Path, src_dirs: list[Path], *, now_ms: int) -> MergeResult:
    """Merge *src_dirs* into *out_dir* (which must not hold data yet); see the module docstring."""
    check_folders(Path(out_dir), [Path(s) for s in src_dirs])
    return Merger(Path(out_dir), [Path(s) for s in src_dirs], now_ms=now_ms).run_merge()
