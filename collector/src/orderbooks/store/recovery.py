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
  under the same relative path: kept and reported, never deleted.

The failure journal beside a partial (``<stem>.failures.jsonl``) is merged
into the recovered manifest (``failures``, ``gaps``) and removed; it follows
its partial to quarantine. A journal of a dead run without a partial is
removed if its file is sealed (manifest present); if no file exists (an hour
without rows) an empty partial is created for it so that it is sealed like
any other, carrying its gaps; otherwise it is quarantined.

Sealed files without a manifest get one rebuilt from their data
(``rebuilt: true``). Run manifests of crashed runs are closed
(``exit_reason: "crashed"``). Stale temporary files of atomic writes are removed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderbooks.logs import Logger, get_logger
from orderbooks.records import FailureRecord
from orderbooks.store import failure_journal, filenames, gzmembers, manifest, paths
from orderbooks.store import sealed as sealed_model
from orderbooks.store.atomic import (
    atomic_write_bytes,
    cut_durably,
    durable_rename,
    fsync_dir,
    make_dirs_durable,
)
from orderbooks.store.hashing import hash_file

RUN_ID_RE = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")
TEMP_RE = re.compile(r"^\..+\.tmp$")


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
    recovered_by_run: dict[str, list[dict[str, Any]]] = {}

    _remove_stale_temp_files(data_dir, report, log)

    for journal in paths.iter_files(data_dir, paths.FAILURES_SUFFIX):
        try:
            _settle_lone_journal(data_dir, journal, report)
        except OSError as exc:
            report.problems.append(f"{journal}: journal recovery failed: {exc}")

    for partial in paths.iter_files(data_dir, paths.PARTIAL_SUFFIX):
        name = filenames.parse(partial)
        if name is None:
            report.problems.append(f"{partial}: not an orderbooks file name; left alone")
            continue
        run_id = name.run_id
        if manifest.run_is_live(data_dir, run_id):
            report.skipped_live.append(partial)
            continue
        try:
            sealed = _recover_partial(
                data_dir, partial, name, now_ms=now_ms, version=collector_version, host=host, report=report
            )
        except OSError as exc:
            report.problems.append(f"{partial}: recovery failed: {exc}")
            log.error("recovery_failed", file=str(partial), error=str(exc))
            continue
        if sealed is not None:
            recovered_by_run.setdefault(run_id, []).append(sealed)

    for data_file in paths.iter_files(data_dir, paths.DATA_SUFFIX):
        if paths.manifest_path_for(data_file).exists():
            continue
        try:
            _rebuild_manifest(data_dir, data_file, version=collector_version, host=host, report=report)
        except OSError as exc:
            report.problems.append(f"{data_file}: manifest rebuild failed: {exc}")

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


def _recover_partial(
    data_dir: Path,
    partial: Path,
    name: filenames.BookFileName,
    *,
    now_ms: int,
    version: str,
    host: str,
    report: RecoveryReport,
) -> dict[str, Any] | None:
    stem = paths.stem_of(partial)
    final = partial.with_name(stem + paths.DATA_SUFFIX)
    manifest_path = paths.manifest_path_for(partial)
    journal_path = paths.failures_path_for(partial)
    if final.exists():
        _quarantine_with_journal(data_dir, partial, "a sealed file of the same name exists", report)
        return None

    stats, scan = manifest.stats_from_data(partial)

    if scan.clean and manifest_path.exists():
        existing = _read_manifest(manifest_path)
        if existing is not None:
            hashes = hash_file(partial)
            if (existing.bytes, existing.sha256) == (hashes.size, hashes.sha256):
                durable_rename(partial, final)
                report.completed.append(final)
                _remove_journal(journal_path, report)
                return existing.document

    journal = failure_journal.read(journal_path)
    tail = scan.size - scan.good_end
    kept, used = manifest.salvage_rows(partial, scan.good_end) if tail else (b"", 0)
    # An empty partial with journaled failures is an hour without rows: sealed, like the writer does.
    if scan.members == 0 and not kept and (scan.size > 0 or not journal.records):
        _quarantine_with_journal(data_dir, partial, scan.tail_error or "no complete gzip member", report)
        return None

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
    hour = name.hour
    sealed = manifest.build_file_manifest(
        data_dir=data_dir,
        data_file=final,
        hashes=hashes,
        stats=stats,
        failures=failures,
        cycles_ok=len(stats.cycles),
        cycles_failed=0,
        recovered=True,
        bytes_dropped=dropped,
        rebuilt=False,
        collector_version=version,
        host=host,
        run_id=name.run_id,
        hour=hour.label(),
        opened_at=None,
        sealed_at=now_ms,
    )
    sealed["rows_salvaged"] = salvaged_rows
    manifest.write_manifest(manifest_path, sealed)
    durable_rename(partial, final)
    report.recovered.append(final)
    report.rows_salvaged += salvaged_rows
    report.bytes_dropped += dropped
    _remove_journal(journal_path, report)
    return sealed


def _settle_lone_journal(data_dir: Path, journal: Path, report: RecoveryReport) -> None:
    """A journal without a partial beside it (see the module docstring)."""
    stem = paths.stem_of(journal)
    if journal.with_name(stem + paths.PARTIAL_SUFFIX).exists():
        return  # settled with its partial
    name = filenames.parse(journal)
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


def _rebuild_manifest(
    data_dir: Path, data_file: Path, *, version: str, host: str, report: RecoveryReport
) -> None:
    name = filenames.parse(data_file)
    if name is None:
        report.problems.append(f"{data_file}: not an orderbooks file name; no manifest rebuilt")
        return
    stats, scan = manifest.stats_from_data(data_file)
    if not scan.clean:
        report.problems.append(
            f"{data_file}: sealed file is damaged at byte {scan.good_end} ({scan.tail_error}); "
            "no manifest rebuilt, file left as is"
        )
        return
    rebuilt = manifest.build_file_manifest(
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
        run_id=name.run_id,
        hour=name.hour.label(),
        opened_at=None,
        sealed_at=data_file.stat().st_mtime_ns // 1_000_000,
    )
    manifest_path = paths.manifest_path_for(data_file)
    manifest.write_manifest(manifest_path, rebuilt)
    report.rebuilt.append(manifest_path)


def _quarantine(data_dir: Path, partial: Path, reason: str, report: RecoveryReport) -> None:
    relative_to_raw = partial.relative_to(data_dir / paths.RAW_DIR)
    target = data_dir / paths.QUARANTINE_DIR / relative_to_raw
    make_dirs_durable(target.parent)
    candidate, n = target, 0
    while candidate.exists():
        n += 1
        candidate = target.with_name(f"{target.name}.{n}")
    durable_rename(partial, candidate)
    report.quarantined.append(candidate)
    report.problems.append(f"{paths.relative(data_dir, candidate)}: quarantined ({reason})")


def _read_manifest(path: Path) -> sealed_model.FileManifest | None:
    """The manifest at *path* if it passes the loader (else it is rebuilt from the data)."""
    try:
        return sealed_model.load_file_manifest(path)
    except sealed_model.ManifestProblem:
        return None


def _remove_stale_temp_files(data_dir: Path, report: RecoveryReport, log: Logger) -> None:
    """Remove ``.<name>.*.tmp`` left by an atomic write that a crash interrupted."""
    for top in (paths.RAW_DIR, paths.RUNS_DIR):
        root = data_dir / top
        if not root.is_dir():
            continue
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                if not TEMP_RE.match(name):
                    continue
                run = RUN_ID_RE.search(name)
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
