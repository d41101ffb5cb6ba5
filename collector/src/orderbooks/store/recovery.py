"""Startup recovery: make every file an earlier, crashed run left behind consistent.

``recover()`` runs once when ``orderbooks collect`` starts, before the writer
exists. For every ``.partial`` whose run is not alive (its run lock is free):

* if a manifest beside it already describes it exactly (the crash hit between
  the manifest write and the rename), the seal is completed;
* otherwise it is cut back to the end of its last complete, CRC-checked gzip
  member (``os.truncate`` + fsync); the rows of a member cut short after sync
  flushes (each line checked to be a full row) are written back as one complete
  member; its manifest is rebuilt from the rows kept (``recovered: true``,
  ``rows_salvaged``, ``bytes_dropped``, a ``restart`` gap from its last row to
  now) and it is sealed;
* a partial without one complete member is moved to ``DATA_DIR/quarantine/``
  under the same relative path (``paths.quarantine_path``): kept and
  reported, never deleted.

The failure journal beside a partial (``<stem>.failures.jsonl``) is merged
into the recovered manifest (``failures``, ``gaps``) and removed; it follows
its partial to quarantine. A journal of a dead run without a partial is
removed if its file is sealed (manifest present); if no file exists (an hour
without rows) an empty partial is created for it so that it is sealed like
any other, carrying its gaps; otherwise it is quarantined.

Sealed files without a manifest get one rebuilt from their data
(``rebuilt: true``). Run manifests of crashed runs are closed
(``exit_reason: "crashed"``). Stale temporary files of atomic writes are removed.

``recover_market_documents()`` runs next and does the same for the market
documents (``sealed.MARKETS``) through the same code: one loop over a kind's
partials and sealed files, one completion of an interrupted seal, one
quarantine, one removal of stale temporary files. Only what a kind's contents
are differs (``_CONTENTS``): book partials keep the rows of a member cut short
and carry their failure journal and a ``restart`` gap; a markets partial is cut
to its last complete document and sealed with ``recovered: true`` and
``bytes_dropped``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderbooks.logs import Logger, get_logger
from orderbooks.records import FailureRecord
from orderbooks.store import failure_journal, gzmembers, manifest, market_files, paths, walk
from orderbooks.store import sealed as sealed_model
from orderbooks.store.atomic import (
    atomic_write_bytes,
    cut_durably,
    durable_rename,
    fsync_dir,
    make_dirs_durable,
)
from orderbooks.store.hashing import hash_file


@dataclass
class RecoveryReport:
    recovered: list[Path] = field(default_factory=list)  # sealed data files, recovered=true
    quarantined: list[Path] = field(default_factory=list)  # new paths under quarantine/
    rebuilt: list[Path] = field(default_factory=list)  # manifests rebuilt for sealed files
    completed: list[Path] = field(default_factory=list)  # seals finished (manifest was already written)
    skipped_live: list[Path] = field(default_factory=list)  # partials of a run that is still running
    runs_closed: list[str] = field(default_factory=list)  # run ids marked crashed
    temp_removed: list[Path] = field(default_factory=list)
    journals_removed: list[Path] = field(default_factory=list)  # failure journals settled and deleted
    problems: list[str] = field(default_factory=list)  # could not act; verify will report these
    bytes_dropped: int = 0
    rows_salvaged: int = 0  # rows kept from members cut short after sync flushes
    journal_records: int = 0  # failure records merged from journals into recovered manifests
    journal_lines_skipped: int = 0  # journal lines that did not parse (a torn last line, usually)

    def to_dict(self) -> dict[str, Any]:
        return {
            "recovered": [str(p) for p in self.recovered],
            "quarantined": [str(p) for p in self.quarantined],
            "rebuilt": [str(p) for p in self.rebuilt],
            "completed": [str(p) for p in self.completed],
            "skipped_live": [str(p) for p in self.skipped_live],
            "runs_closed": list(self.runs_closed),
            "temp_removed": [str(p) for p in self.temp_removed],
            "journals_removed": [str(p) for p in self.journals_removed],
            "problems": list(self.problems),
            "bytes_dropped": self.bytes_dropped,
            "rows_salvaged": self.rows_salvaged,
            "journal_records": self.journal_records,
            "journal_lines_skipped": self.journal_lines_skipped,
        }


def recover(
    data_dir: Path,
    *,
    now_ms: int,
    collector_version: str,
    host: str,
    log: Logger | None = None,
) -> RecoveryReport:
    data_dir = Path(data_dir)
    log = log or get_logger("recovery")
    report = RecoveryReport()

    _remove_stale_temp_files(data_dir, (paths.RAW_DIR, paths.RUNS_DIR), report, log)

    journals, unreadable = walk.walk_files(data_dir, paths.FAILURES_SUFFIX)
    _report_unreadable(unreadable, log)
    for journal in journals:
        try:
            _settle_lone_journal(data_dir, journal, report)
        except OSError as exc:
            report.problems.append(f"{journal}: journal recovery failed: {exc}")

    recovered_by_run = _recover_kind(
        _Pass(data_dir, now_ms, collector_version, host, report, log), sealed_model.BOOKS
    )

    _close_crashed_runs(data_dir, now_ms, recovered_by_run, report, log)

    for path in report.recovered:
        log.warning("file_recovered", file=paths.relative(data_dir, path))
    for path in report.quarantined:
        log.error("file_quarantined", file=paths.relative(data_dir, path), action="kept for inspection")
    for path in report.rebuilt:
        log.warning("manifest_rebuilt", file=paths.relative(data_dir, path))
    for problem in report.problems:
        log.error("recovery_problem", problem=problem)
    log.info(
        "recovery_done", **{k: len(v) if isinstance(v, list) else v for k, v in report.to_dict().items()}
    )
    return report


@dataclass
class MarketDocsRecovery:
    """What ``recover_market_documents`` did, each file relative to DATA_DIR (its log's shape)."""

    recovered: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)  # the data files whose manifest was rebuilt
    quarantined: list[str] = field(default_factory=list)
    temp_removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bytes_dropped: int = 0

    @classmethod
    def of(cls, data_dir: Path, report: RecoveryReport) -> MarketDocsRecovery:
        def rel(found: list[Path]) -> list[str]:
            return [paths.relative(data_dir, p) for p in found]

        kind = sealed_model.MARKETS
        return cls(
            recovered=rel(report.recovered),
            completed=rel(report.completed),
            rebuilt=rel([m.with_name(kind.stem(m) + kind.data_suffix) for m in report.rebuilt]),
            quarantined=rel(report.quarantined),
            temp_removed=rel(report.temp_removed),
            problems=list(report.problems),
            bytes_dropped=report.bytes_dropped,
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def recover_market_documents(
    data_dir: Path, *, now_ms: int, version: str, host: str, log: Logger | None = None
) -> MarketDocsRecovery:
    """``recover`` for the market documents under DATA_DIR/markets (see the module docstring)."""
    data_dir = Path(data_dir)
    log = log or get_logger("recovery")
    report = RecoveryReport()
    _remove_stale_temp_files(data_dir, (paths.MARKETS_DIR,), report, log)
    _recover_kind(_Pass(data_dir, now_ms, version, host, report, log), sealed_model.MARKETS)
    found = MarketDocsRecovery.of(data_dir, report)
    for rel in found.recovered:
        log.warning("market_documents_recovered", file=rel)
    for problem in found.problems:
        log.error("recovery_problem", problem=problem)
    return found


@dataclass(frozen=True)
class _Pass:
    """One recovery pass: its data folder, its time, who runs it and its report."""

    data_dir: Path
    now_ms: int
    version: str
    host: str
    report: RecoveryReport
    log: Logger


def _recover_kind(run: _Pass, kind: sealed_model.SealedKind) -> dict[str, list[dict[str, Any]]]:
    """Seal or quarantine every partial of *kind* whose run is dead; rebuild missing manifests.

    Returns the manifests of the files sealed, by run id.
    """
    data_dir, report = run.data_dir, run.report
    recovered_by_run: dict[str, list[dict[str, Any]]] = {}
    partials, unreadable = walk.walk_files(data_dir, kind.partial_suffix, top=kind.top)
    _report_unreadable(unreadable, run.log)
    for partial in partials:
        name = kind.parse(partial)
        if name is None:
            report.problems.append(f"{partial}: not {kind.noun} file name; left alone")
            continue
        if manifest.run_is_live(data_dir, name.run_id):
            report.skipped_live.append(partial)
            continue
        try:
            sealed = _recover_partial(run, kind, partial, name.run_id)
        except OSError as exc:
            report.problems.append(f"{partial}: recovery failed: {exc}")
            run.log.error("recovery_failed", file=str(partial), error=str(exc))
            continue
        if sealed is not None:
            recovered_by_run.setdefault(name.run_id, []).append(sealed)

    for data_file in walk.walk_files(data_dir, kind.data_suffix, top=kind.top)[0]:
        if paths.manifest_path_for(data_file).exists():
            continue
        try:
            _rebuild_manifest(run, kind, data_file)
        except OSError as exc:
            report.problems.append(f"{data_file}: manifest rebuild failed: {exc}")
    return recovered_by_run


def _report_unreadable(unreadable: list[walk.Unreadable], log: Logger) -> None:
    """Recovery never follows a link out of the data folder nor passes over a folder it cannot read."""
    for item in unreadable:
        log.warning(
            "recovery_skipped", path=item.path, reason=item.reason, action="left alone; fix or remove it"
        )


def _recover_partial(
    run: _Pass, kind: sealed_model.SealedKind, partial: Path, run_id: str
) -> dict[str, Any] | None:
    """Complete, cut and seal, or quarantine one partial; its manifest, or None when quarantined."""
    data_dir, report = run.data_dir, run.report
    final = partial.with_name(paths.stem_of(partial) + kind.data_suffix)
    manifest_path = paths.manifest_path_for(partial)
    journal_path = paths.failures_path_for(partial)
    if final.exists():
        _quarantine_with_journal(data_dir, partial, "a sealed file of the same name exists", report)
        return None

    contents = _CONTENTS[kind.name]
    stats, scan = contents.read(partial)

    if scan.clean and manifest_path.exists():
        existing = _read_manifest(manifest_path, kind)
        if existing is not None:
            hashes = hash_file(partial)
            if (existing.bytes, existing.sha256) == (hashes.size, hashes.sha256):
                durable_rename(partial, final)  # the crash hit between the manifest and the rename
                report.completed.append(final)
                _remove_journal(journal_path, report)
                return existing.document

    sealed = contents.cut(run, _Crashed(partial, final, run_id, stats, scan))
    if isinstance(sealed, str):
        _quarantine_with_journal(data_dir, partial, sealed, report)
        return None
    manifest.write_manifest(manifest_path, sealed)
    durable_rename(partial, final)
    report.recovered.append(final)
    report.rows_salvaged += sealed.get("rows_salvaged", 0)
    report.bytes_dropped += sealed["bytes_dropped"]
    _remove_journal(journal_path, report)
    return sealed


@dataclass(frozen=True)
class _Crashed:
    """A partial of a dead run, to cut back to what is whole."""

    partial: Path
    final: Path
    run_id: str
    stats: Any  # its kind's statistics of the complete members
    scan: gzmembers.ScanResult


def _cut_book(run: _Pass, cut: _Crashed) -> dict[str, Any] | str:
    """Keep a book partial's complete members and the rows of one cut short, merge its journal;
    its ``recovered`` manifest (not yet written), or why it is quarantined."""
    data_dir, partial, scan, now_ms, report = run.data_dir, cut.partial, cut.scan, run.now_ms, run.report
    stats: manifest.RowStats = cut.stats
    journal_path = paths.failures_path_for(partial)
    journal = failure_journal.read(journal_path)
    tail = scan.size - scan.good_end
    kept, used = manifest.salvage_rows(partial, scan.good_end) if tail else (b"", 0)
    # An empty partial with journaled failures is an hour without rows: sealed, like the writer does.
    if scan.members == 0 and not kept and (scan.size > 0 or not journal.records):
        return scan.tail_error or "no complete gzip member"

    dropped = tail - used if kept else tail
    salvaged_rows = kept.count(b"\n")
    if kept:
        # The rows of a member cut after sync flushes, rewritten as one complete member.
        # Never truncate first: a crash between the cut and the rewrite would lose them.
        # The new content goes to a temporary file that replaces the partial atomically.
        with open(partial, "rb") as handle:
            head = handle.read(scan.good_end)
        atomic_write_bytes(partial, head + gzmembers.compress_member(kept))
    else:
        cut_durably(partial, scan.good_end)
    if kept:
        stats, _scan = manifest.stats_from_data(partial)
    hashes = hash_file(partial)

    failures = manifest.FailureLog()
    for record in journal.records:
        failures.add(record)
    if journal.bad_inner_lines:
        report.problems.append(f"{journal_path}: {journal.bad_inner_lines} damaged journal lines skipped")
    report.journal_records += len(journal.records)
    report.journal_lines_skipped += journal.bad_lines
    gap_start = stats.last_recv_ms
    if gap_start is None:  # no rows: the gap starts at the last journaled failure
        gap_start = max((r.t_ms for r in journal.records), default=now_ms)
    failures.add(
        FailureRecord(
            t_ms=now_ms,
            cycle=None,
            error="restart",
            message=f"run stopped without sealing this file; recovered at restart, "
            f"{salvaged_rows} rows of an unfinished member kept, {dropped} bytes dropped; "
            f"journal: {len(journal.records)} "
            f"failure records, {journal.bad_lines} unreadable lines skipped",
        ),
        gap_start_ms=gap_start,
        gap_end_ms=now_ms,
    )
    name = paths.parse(partial)
    assert name is not None  # BOOKS.parse read it before
    sealed = manifest.build_file_manifest(
        data_dir=data_dir,
        data_file=cut.final,
        hashes=hashes,
        stats=stats,
        failures=failures,
        cycles_ok=len(stats.cycles),
        cycles_failed=0,
        recovered=True,
        bytes_dropped=dropped,
        rebuilt=False,
        collector_version=run.version,
        host=run.host,
        run_id=name.run_id,
        hour=name.hour.label(),
        opened_at=None,
        sealed_at=now_ms,
    )
    sealed["rows_salvaged"] = salvaged_rows
    return sealed


def _cut_markets(run: _Pass, cut: _Crashed) -> dict[str, Any] | str:
    return market_files.recover_partial(
        data_dir=run.data_dir,
        partial=cut.partial,
        final=cut.final,
        run_id=cut.run_id,
        stats=cut.stats,
        scan=cut.scan,
        now_ms=run.now_ms,
        version=run.version,
        host=run.host,
    )


def _settle_lone_journal(data_dir: Path, journal: Path, report: RecoveryReport) -> None:
    """A journal without a partial beside it (see the module docstring)."""
    stem = paths.stem_of(journal)
    if journal.with_name(stem + paths.PARTIAL_SUFFIX).exists():
        return  # settled with its partial
    name = paths.parse(journal)
    if name is None:
        report.problems.append(f"{journal}: not an orderbooks file name; left alone")
        return
    if manifest.run_is_live(data_dir, name.run_id):
        return  # a live run's hour without rows yet
    if journal.with_name(stem + paths.MANIFEST_SUFFIX).exists():
        _remove_journal(journal, report)  # crash after the seal: the manifest has every record
        return
    if journal.with_name(stem + paths.DATA_SUFFIX).exists():
        _quarantine(data_dir, journal, "its sealed file has no manifest", report)
        return
    if not failure_journal.read(journal).records:
        _quarantine(data_dir, journal, "orphan journal without a readable record", report)
        return
    partial = journal.with_name(stem + paths.PARTIAL_SUFFIX)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640))
    fsync_dir(partial.parent)


def _remove_journal(journal: Path, report: RecoveryReport) -> None:
    try:
        if failure_journal.remove(journal):
            report.journals_removed.append(journal)
    except OSError as exc:
        report.problems.append(f"{journal}: could not remove the failure journal: {exc}")


def _quarantine_with_journal(data_dir: Path, partial: Path, reason: str, report: RecoveryReport) -> None:
    _quarantine(data_dir, partial, reason, report)
    journal = paths.failures_path_for(partial)
    if journal.exists():
        _quarantine(data_dir, journal, "its partial was quarantined", report)


def _rebuild_manifest(run: _Pass, kind: sealed_model.SealedKind, data_file: Path) -> None:
    report = run.report
    name = kind.parse(data_file)
    if name is None:
        report.problems.append(f"{data_file}: not {kind.noun} file name; no manifest rebuilt")
        return
    contents = _CONTENTS[kind.name]
    stats, scan = contents.read(data_file)
    if not scan.clean:
        report.problems.append(
            f"{data_file}: sealed file is damaged at byte {scan.good_end} ({scan.tail_error}); "
            "no manifest rebuilt, file left as is"
        )
        return
    rebuilt = contents.rebuild(
        data_dir=run.data_dir,
        data_file=data_file,
        run_id=name.run_id,
        stats=stats,
        now_ms=run.now_ms,
        version=run.version,
        host=run.host,
    )
    manifest_path = paths.manifest_path_for(data_file)
    manifest.write_manifest(manifest_path, rebuilt)
    report.rebuilt.append(manifest_path)


def _rebuilt_book(
    *, data_dir: Path, data_file: Path, run_id: str, stats: Any, now_ms: int, version: str, host: str
) -> dict[str, Any]:
    """The ``rebuilt`` manifest of a sealed book file; sealed when it was last written."""
    name = paths.parse(data_file)
    assert name is not None  # BOOKS.parse read it before
    return manifest.build_file_manifest(
        data_dir=data_dir,
        data_file=data_file,
        hashes=hash_file(data_file),
        stats=stats,
        failures=manifest.FailureLog(),
        cycles_ok=len(stats.cycles),
        cycles_failed=0,
        recovered=False,
        bytes_dropped=0,
        rebuilt=True,
        collector_version=version,
        host=host,
        run_id=run_id,
        hour=name.hour.label(),
        opened_at=None,
        sealed_at=data_file.stat().st_mtime_ns // 1_000_000,
    )


@dataclass(frozen=True)
class _Contents:
    """What recovery needs to know about one kind's contents; everything else is shared."""

    #: Statistics of the complete members of a file, and its scan.
    read: Callable[[Path], tuple[Any, gzmembers.ScanResult]]
    #: Cut a partial back to what is whole: its manifest (not yet written), or why it is quarantined.
    cut: Callable[[_Pass, _Crashed], dict[str, Any] | str]
    #: The manifest of a sealed file found without one (keyword arguments, see ``_rebuilt_book``).
    rebuild: Callable[..., dict[str, Any]]


_CONTENTS = {
    sealed_model.BOOKS.name: _Contents(manifest.stats_from_data, _cut_book, _rebuilt_book),
    sealed_model.MARKETS.name: _Contents(
        market_files.read_stats, _cut_markets, market_files.rebuilt_manifest
    ),
}


def _quarantine(data_dir: Path, path: Path, reason: str, report: RecoveryReport) -> None:
    """Move *path* to its place under DATA_DIR/quarantine (``paths.quarantine_path``), never over another."""
    target = paths.quarantine_path(data_dir, path)
    make_dirs_durable(target.parent)
    candidate, n = target, 0
    while candidate.exists():
        n += 1
        candidate = target.with_name(f"{target.name}.{n}")
    durable_rename(path, candidate)
    report.quarantined.append(candidate)
    report.problems.append(f"{paths.relative(data_dir, candidate)}: quarantined ({reason})")


def _read_manifest(path: Path, kind: sealed_model.SealedKind) -> sealed_model.FileManifest | None:
    """The manifest at *path* if it passes the loader (else it is rebuilt from the data)."""
    try:
        return sealed_model.load_file_manifest(path, kind.manifest_kinds)
    except sealed_model.ManifestProblem:
        return None


def _remove_stale_temp_files(
    data_dir: Path, tops: tuple[str, ...], report: RecoveryReport, log: Logger
) -> None:
    """Remove ``.<name>.*.tmp`` left under DATA_DIR/<top> by an atomic write that a crash interrupted."""
    for top in tops:
        root = data_dir / top
        if not root.is_dir():
            continue
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                if not paths.TEMP_RE.match(name):
                    continue
                run = paths.RUN_ID_RE.search(name)
                if run is not None and manifest.run_is_live(data_dir, run.group(0)):
                    continue
                path = Path(dirpath) / name
                try:
                    path.unlink()
                except OSError as exc:
                    log.warning("temp_file_not_removed", file=str(path), error=str(exc))
                    continue
                report.temp_removed.append(path)


def _close_crashed_runs(
    data_dir: Path,
    now_ms: int,
    recovered_by_run: dict[str, list[dict[str, Any]]],
    report: RecoveryReport,
    log: Logger,
) -> None:
    runs_dir = data_dir / paths.RUNS_DIR
    if not runs_dir.is_dir():
        return
    for run_path in sorted(runs_dir.glob("*.json")):
        try:
            loaded = sealed_model.load_run_manifest(run_path)
        except sealed_model.ManifestProblem as exc:
            log.warning("run_manifest_invalid", file=str(run_path), error=str(exc), action="left as is")
            continue
        if loaded.exit_reason is not None:
            continue
        run, run_id = loaded.document, loaded.run_id
        if manifest.run_is_live(data_dir, run_id):
            continue
        sealed_files = recovered_by_run.get(run_id, [])
        last_rows = [m["last_recv_ms"] for m in sealed_files if m.get("last_recv_ms") is not None]
        run["end"] = max([run.get("updated_at") or run.get("start") or now_ms, *last_rows])
        run["exit_reason"] = "crashed"
        run["closed_by_recovery"] = {
            "at": now_ms,
            "files_recovered": [m["path"] for m in sealed_files],
        }
        for sealed in sealed_files:
            run["files"].append(manifest.file_entry(sealed))
            run["totals"]["files"] += 1
            run["totals"]["rows"] += sealed["rows"]
        run["updated_at"] = now_ms
        try:
            manifest.write_manifest(run_path, run)
        except OSError as exc:
            report.problems.append(f"{run_path}: could not close crashed run: {exc}")
            continue
        _remove_stale_lock(data_dir, run_id)
        report.runs_closed.append(run_id)
        log.warning("run_closed_as_crashed", run_id=run_id, files_recovered=len(sealed_files))


def _remove_stale_lock(data_dir: Path, run_id: str) -> None:
    lock_path = manifest.run_lock_path(data_dir, run_id)
    if not lock_path.exists():
        return
    try:
        lock = manifest.RunLock(lock_path)
    except OSError:
        return
    lock.release(remove=True)
