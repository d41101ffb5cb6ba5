"""Market documents files: ``verify``'s check and startup recovery (layout: ``market_docs_files``).

``check_all`` answers in the shapes of ``verify``'s own checks, so a markets
file is counted and reported like a book file. ``recover`` runs at
``orderbooks collect`` start, after the book files' recovery: every markets
partial of a dead run is cut back to its last complete gzip member and sealed
(``recovered: true``, ``bytes_dropped``); a partial without one complete member
is moved to DATA_DIR/quarantine/markets/...; a sealed file without manifest
gets one rebuilt (``rebuilt: true``); stale temporary files are removed.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderbooks.logs import Logger, get_logger
from orderbooks.store import manifest, paths, sealed
from orderbooks.store.atomic import cut_durably, durable_rename, make_dirs_durable
from orderbooks.store.hashing import hash_file
from orderbooks.store.market_files import (
    MANIFEST_KIND,
    MARKETS_DIR,
    STEM_RE,
    build_manifest,
    day_of,
    manifests,
    read_stats,
)

_COMPARED = (
    "bytes",
    "sha256",
    "md5",
    "records",
    "members",
    "records_by_kind",
    "first_recv_ms",
    "last_recv_ms",
)
_TEMP_RE = re.compile(r"^\..+\.tmp$")

# ---------------------------------------------------------------- verify


def check_file(data_dir: Path, data_file: Path) -> dict[str, Any]:
    """One sealed markets file against its manifest; the shape of ``verify.check_data_file``'s answer."""
    rel = paths.relative(data_dir, data_file)
    problems: list[str] = []
    notes: list[str] = []  # from the manifest comparison
    stats, scan = read_stats(data_file)
    problems.extend(stats.bad_lines[:5])
    if len(stats.bad_lines) > 5:
        problems.append(f"{len(stats.bad_lines) - 5} more bad lines")
    if scan.tail_error is not None:
        problems.append(f"damaged at byte {scan.good_end} of {scan.size}: {scan.tail_error}")
    hashes = hash_file(data_file)
    actual = {
        "bytes": hashes.size,
        "sha256": hashes.sha256,
        "md5": hashes.md5,
        "records": stats.records,
        "members": stats.members,
        "records_by_kind": dict(sorted(stats.by_kind.items())),
        "first_recv_ms": stats.first_recv_ms,
        "last_recv_ms": stats.last_recv_ms,
    }
    recorded: dict[str, Any] | None = None
    manifest_path = paths.manifest_path_for(data_file)
    try:
        day_of(data_dir, data_file)
    except ValueError as exc:
        problems.append(str(exc))
    if not manifest_path.exists():
        problems.append("no manifest")
    else:
        try:
            recorded = sealed.load_file_manifest(manifest_path, (MANIFEST_KIND,)).document
        except sealed.ManifestProblem as exc:
            problems.append(str(exc))
    if recorded is not None:
        found, notes = sealed.compare_with_manifest(recorded, actual, _COMPARED, data_file, rel)
        problems.extend(found)
    return sealed.check_result(
        rel,
        problems,
        notes,
        rows=stats.records,
        members=stats.members,
        size=hashes.size,
        recorded=recorded,
    )


def check_partial(data_dir: Path, partial: Path) -> dict[str, Any]:
    """An open or leftover markets partial; the shape of ``verify.check_partial``'s answer."""
    match = STEM_RE.match(paths.stem_of(partial))
    live = manifest.run_is_live(data_dir, match["run_id"]) if match else None
    stats, scan = read_stats(partial)
    return {
        "path": paths.relative(data_dir, partial),
        "state": "open" if live else ("unknown" if live is None else "leftover"),
        "sealing": paths.manifest_path_for(partial).exists(),
        "bytes": scan.size,
        "members": scan.members,
        "rows": stats.records,
        "rows_flushed_open_member": 0,
        "tail_bytes": scan.tail_bytes,
    }


def check_all(data_dir: Path) -> dict[str, list[Any]]:
    """Everything under DATA_DIR/markets, for ``verify``: files, partials, orphan manifests, stray names."""
    data_dir = Path(data_dir)
    files = [check_file(data_dir, f) for f in paths.iter_files(data_dir, paths.DATA_SUFFIX, top=MARKETS_DIR)]
    partials = [
        check_partial(data_dir, p) for p in paths.iter_files(data_dir, paths.PARTIAL_SUFFIX, top=MARKETS_DIR)
    ]
    orphans = []
    for manifest_path in manifests(data_dir):
        stem = paths.stem_of(manifest_path)
        if not any(
            manifest_path.with_name(stem + s).exists() for s in (paths.DATA_SUFFIX, paths.PARTIAL_SUFFIX)
        ):
            orphans.append(paths.relative(data_dir, manifest_path))
    known = (paths.DATA_SUFFIX, paths.PARTIAL_SUFFIX, paths.MANIFEST_SUFFIX)
    stray = [
        paths.relative(data_dir, Path(dirpath) / name)
        for dirpath, _dirs, names in os.walk(data_dir / MARKETS_DIR)
        for name in sorted(names)
        if name.startswith(".") or not name.endswith(known)
    ]
    return {"files": files, "partials": partials, "orphan_manifests": orphans, "stray": stray}


# ---------------------------------------------------------------- recovery


@dataclass
class DocsRecovery:
    recovered: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    temp_removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    bytes_dropped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def recover(
    data_dir: Path, *, now_ms: int, version: str, host: str, log: Logger | None = None
) -> DocsRecovery:
    """Seal every markets partial of a dead run (cut to its last complete member); see the module docstring.

    A partial without one complete member goes to DATA_DIR/quarantine/markets/...;
    a sealed file without manifest gets one rebuilt (``rebuilt: true``).
    """
    data_dir = Path(data_dir)
    log = log or get_logger("recovery")
    report = DocsRecovery()
    root = data_dir / MARKETS_DIR
    if not root.is_dir():
        return report
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            match = STEM_RE.search(name)
            if _TEMP_RE.match(name) and not (match and manifest.run_is_live(data_dir, match["run_id"])):
                with contextlib.suppress(OSError):
                    (Path(dirpath) / name).unlink()
                    report.temp_removed.append(paths.relative(data_dir, Path(dirpath) / name))
    for partial in paths.iter_files(data_dir, paths.PARTIAL_SUFFIX, top=MARKETS_DIR):
        match = STEM_RE.match(paths.stem_of(partial))
        if match is None:
            report.problems.append(f"{partial}: not a markets file name; left alone")
            continue
        if manifest.run_is_live(data_dir, match["run_id"]):
            continue
        try:
            _recover_partial(
                data_dir, partial, match["run_id"], now_ms=now_ms, version=version, host=host, report=report
            )
        except OSError as exc:
            report.problems.append(f"{partial}: recovery failed: {exc}")
    for data_file in paths.iter_files(data_dir, paths.DATA_SUFFIX, top=MARKETS_DIR):
        match = STEM_RE.match(paths.stem_of(data_file))
        if match is None or paths.manifest_path_for(data_file).exists():
            continue
        stats, scan = read_stats(data_file)
        if not scan.clean:
            report.problems.append(f"{data_file}: damaged at byte {scan.good_end}; no manifest rebuilt")
            continue
        rebuilt = build_manifest(
            data_dir=data_dir,
            data_file=data_file,
            stats=stats,
            run_id=match["run_id"],
            host=host,
            version=version,
            recovered=False,
            bytes_dropped=0,
            rebuilt=True,
            opened_at=None,
            sealed_at=now_ms,
        )
        manifest.write_manifest(paths.manifest_path_for(data_file), rebuilt)
        report.rebuilt.append(paths.relative(data_dir, data_file))
    for rel in report.recovered:
        log.warning("market_documents_recovered", file=rel)
    for problem in report.problems:
        log.error("recovery_problem", problem=problem)
    return report


def _recover_partial(
    data_dir: Path, partial: Path, run_id: str, *, now_ms: int, version: str, host: str, report: DocsRecovery
) -> None:
    final = partial.with_name(paths.stem_of(partial) + paths.DATA_SUFFIX)
    manifest_path = paths.manifest_path_for(partial)
    stats, scan = read_stats(partial)
    if final.exists() or scan.members == 0:
        reason = "a sealed file of the same name exists" if final.exists() else "no complete gzip member"
        target = data_dir / paths.QUARANTINE_DIR / partial.relative_to(data_dir)
        make_dirs_durable(target.parent)
        candidate, n = target, 0
        while candidate.exists():
            n += 1
            candidate = target.with_name(f"{target.name}.{n}")
        durable_rename(partial, candidate)
        report.quarantined.append(paths.relative(data_dir, candidate))
        report.problems.append(f"{paths.relative(data_dir, candidate)}: quarantined ({reason})")
        return
    if scan.clean and manifest_path.exists():
        with contextlib.suppress(OSError, ValueError):
            existing = manifest.read_json(manifest_path)
            hashes = hash_file(partial)
            if isinstance(existing, dict) and (existing.get("bytes"), existing.get("sha256")) == (
                hashes.size,
                hashes.sha256,
            ):
                durable_rename(partial, final)  # the crash hit between the manifest and the rename
                report.completed.append(paths.relative(data_dir, final))
                return
    dropped = scan.tail_bytes
    cut_durably(partial, scan.good_end)
    sealed = build_manifest(
        data_dir=data_dir,
        data_file=final,
        stats=stats,
        run_id=run_id,
        host=host,
        version=version,
        recovered=True,
        bytes_dropped=dropped,
        rebuilt=False,
        opened_at=None,
        sealed_at=now_ms,
    )
    manifest.write_manifest(manifest_path, sealed)
    durable_rename(partial, final)
    report.recovered.append(paths.relative(data_dir, final))
    report.bytes_dropped += dropped
