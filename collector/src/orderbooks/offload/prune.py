"""``orderbooks prune``: delete local sealed files that are safely on the remote and old enough.

A data file and its manifest are deleted only when all of these hold:

- the hour they belong to (from the folder raw/YYYY-MM-DD/HH, which must agree
  with the file name) ended more than ``keep_days`` days ago; the file's mtime
  is never used;
- the manifest is readable and describes that data file;
- the ledger has an ``upload``/``verified`` line *for this remote* for the
  data file with the manifest's md5 and sha256, and one for the manifest with
  the md5 and sha256 of its bytes now (lines of another remote, or without a
  remote, verify nothing here);
- no ``.partial`` with the same stem exists;
- the remote, asked now, holds both copies with those hashes. The remote is
  listed once per run (``lsjson -R --hash``); where it offers no md5 the copy
  is downloaded and hashed. An empty hash never passes, and a same-name
  duplicate with other hashes is a mismatch. A copy missing or different on
  the remote keeps the local file and gets a ``remote_lost`` or
  ``remote_mismatch`` ledger line, which withdraws the earlier ``verified`` so
  the next upload sends the file again. A remote that cannot be listed prunes
  nothing.

Partials, quarantined files and files without a manifest are never looked at.
The data file goes first, then the manifest (so a crash in between leaves a
manifest whose data file the ledger says was pruned: the next prune finishes
it). Every deletion is logged and appended to the ledger as ``prune``/``pruned``;
folders are fsynced, and hour/day folders left empty are removed.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderbooks.clock import Clock, SystemClock
from orderbooks.logs import Logger, get_logger
from orderbooks.offload.rclone import Rclone, RcloneError, RemoteObject
from orderbooks.offload.remote import remote_path_for
from orderbooks.store import paths
from orderbooks.store.atomic import atomic_write_json, fsync_dir
from orderbooks.store.hashing import hash_file
from orderbooks.store.ledger import (
    ACTION_PRUNE,
    PRUNED,
    REMOTE_LOST,
    REMOTE_MISMATCH,
    Ledger,
    VerifiedIndex,
)
from orderbooks.store.sealed import (
    KINDS,
    ManifestProblem,
    Period,
    SealedKind,
    iter_manifests,
    partial_beside,
    read_sealed,
)
from orderbooks.timefmt import iso_ms

DAY_MS = 86_400_000
LAST_PRUNE_NAME = paths.LAST_PRUNE_NAME
PRUNE_RUN_KIND = "orderbooks.prune_run"
#: ``orderbooks prune --dry-run --json``: what a run would delete.
PRUNE_PLAN_KIND = "orderbooks.prune_plan"


@dataclass(frozen=True)
class Victim:
    path: Path
    rel: str
    size: int
    md5: str
    sha256: str


@dataclass
class PruneReport:
    deleted: list[str] = field(default_factory=list)
    would_delete: list[str] = field(default_factory=list)
    kept_young: int = 0
    kept_unverified: list[str] = field(default_factory=list)
    kept_unusable: list[tuple[str, str]] = field(default_factory=list)
    kept_remote: list[tuple[str, str, str]] = field(default_factory=list)  # (path, outcome, detail)
    remote_error: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)
    removed_dirs: list[str] = field(default_factory=list)
    #: size of each file in deleted / would_delete
    sizes: dict[str, int] = field(default_factory=dict)
    #: the result document (last-prune.json for a run; the plan for a dry run)
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.kept_remote or self.remote_error)


def precondition_document(remote: str, error: str, now_ms: int) -> dict[str, Any]:
    """The result of a prune that could not start (data folder, rclone, another run)."""
    return {
        "schema": 1,
        "kind": PRUNE_RUN_KIND,
        "finished_at": iso_ms(now_ms),
        "remote": remote,
        "result": "precondition_failed",
        "error": error,
    }


class RemoteCheck:
    """Is this copy on the remote now, with these hashes? One listing per run, downloads where no md5."""

    def __init__(self, rclone: Rclone, remote: str) -> None:
        self.rclone = rclone
        self.remote = remote
        self._tree: dict[str, list[RemoteObject]] | None = None

    def tree(self) -> dict[str, list[RemoteObject]]:
        if self._tree is None:
            self._tree = self.rclone.list_tree(self.remote)
        return self._tree

    def confirm(self, rel: str, size: int, md5: str, sha256: str) -> tuple[str, str]:
        """(``""``, detail) when the copy is there and equal, else (REMOTE_LOST or REMOTE_MISMATCH, detail).

        Raises RcloneError when the remote cannot be asked.
        """
        objects = self.tree().get(rel, [])
        if not objects:
            return REMOTE_LOST, "not on the remote"
        detail = f"{len(objects)} files with this name on the remote" if len(objects) > 1 else ""
        methods = set()
        for obj in objects:
            if obj.size >= 0 and obj.size != size:
                return REMOTE_MISMATCH, f"remote size {obj.size} != {size} {detail}".strip()
            hashes = {k: v for k, v in obj.hashes.items() if k in ("md5", "sha256")}
            if "md5" not in hashes:
                got, hashes = self.rclone.cat_hashes(remote_path_for(self.remote, rel))
                methods.add("download")
                if got != size:
                    return REMOTE_MISMATCH, f"downloaded size {got} != {size} {detail}".strip()
            else:
                methods.add("remote-hash")
            wanted = {"md5": md5, "sha256": sha256}
            differing = [n for n, v in hashes.items() if v != wanted[n]]
            if differing:
                return REMOTE_MISMATCH, ("remote " + ", ".join(differing) + " differ " + detail).strip()
        return "", f"on the remote now ({'+'.join(sorted(methods))})"


class Pruner:
    def __init__(
        self,
        data_dir: Path,
        keep_days: int,
        remote: str,
        rclone: Rclone,
        *,
        clock: Clock | None = None,
        log: Logger | None = None,
        rclone_version: str = "",
        kinds: tuple[SealedKind, ...] = KINDS,
    ) -> None:
        if keep_days < 0:
            raise ValueError("keep_days must be >= 0")
        self.data_dir = Path(data_dir)
        self.keep_days = keep_days
        self.remote = remote
        self.check = RemoteCheck(rclone, remote)
        self.rclone_version = rclone_version
        self.clock = clock or SystemClock()
        self.log = log or get_logger("prune")
        self.ledger = Ledger(self.data_dir)
        self.kinds = kinds

    def cutoff_ms(self) -> int:
        return self.clock.wall_ms() - self.keep_days * DAY_MS

    def run(self, dry_run: bool = False) -> PruneReport:
        report = PruneReport()
        index = VerifiedIndex.load(self.data_dir, self.remote)
        cutoff = self.cutoff_ms()
        touched: set[tuple[Path, Path]] = set()  # (top folder of the kind, folder a file was deleted from)
        for kind, manifest_path in iter_manifests(self.data_dir, self.kinds):
            rel_manifest = paths.relative(self.data_dir, manifest_path)
            try:
                period = kind.locate(self.data_dir, manifest_path)
            except ManifestProblem as exc:
                self._unusable(report, rel_manifest, str(exc))
                continue
            if period.end_ms() > cutoff:
                report.kept_young += 1
                continue
            try:
                sealed = read_sealed(self.data_dir, manifest_path, kind)
            except ManifestProblem as exc:
                self._unusable(report, rel_manifest, str(exc))
                continue
            if partial_beside(kind, manifest_path).exists():
                self._unusable(report, rel_manifest, "a .partial with the same name exists")
                continue
            data_present = sealed.data_path.exists()
            data_ok = index.is_verified(sealed.rel_data, sealed.md5, sealed.sha256)
            if not data_present and sealed.rel_data not in index.pruned and not data_ok:
                self._unusable(report, rel_manifest, f"data file {sealed.rel_data} is missing")
                continue
            try:
                on_disk = hash_file(manifest_path)
            except OSError as exc:
                self._unusable(report, rel_manifest, f"cannot read the manifest: {exc}")
                continue
            manifest_ok = index.is_verified(rel_manifest, on_disk.md5, on_disk.sha256)
            if (data_present and not data_ok) or not manifest_ok:
                report.kept_unverified.append(sealed.rel_data)
                self.log.info(
                    "kept_unverified",
                    path=sealed.rel_data,
                    data_verified=data_ok,
                    manifest_verified=manifest_ok,
                )
                continue
            checks = [(rel_manifest, on_disk.size, on_disk.md5, on_disk.sha256, "manifest")]
            if data_present:
                checks.insert(0, (sealed.rel_data, sealed.bytes, sealed.md5, sealed.sha256, "data"))
            if not self._on_remote_now(report, checks, dry_run):
                if report.remote_error:
                    break
                continue
            victims = []
            if data_present:
                victims.append(
                    Victim(sealed.data_path, sealed.rel_data, sealed.bytes, sealed.md5, sealed.sha256)
                )
            victims.append(Victim(manifest_path, rel_manifest, on_disk.size, on_disk.md5, on_disk.sha256))
            for victim in victims:
                if dry_run:
                    report.would_delete.append(victim.rel)
                    report.sizes[victim.rel] = victim.size
                    self.log.info("would_delete", path=victim.rel, bytes=victim.size, period=period.label())
                    continue
                if not self._delete(report, victim, period):
                    break
                touched.add((self.data_dir / kind.top, victim.path.parent))
        if dry_run:
            report.document = self._plan_document(report)
        else:
            self._remove_empty_dirs(report, touched)
            self._write_result(report)
        self.log.info(
            "prune_done",
            dry_run=dry_run,
            deleted=len(report.deleted),
            would_delete=len(report.would_delete),
            kept_young=report.kept_young,
            kept_unverified=len(report.kept_unverified),
            kept_unusable=len(report.kept_unusable),
            kept_remote=len(report.kept_remote),
            remote=self.remote,
            remote_error=report.remote_error or None,
            errors=len(report.errors),
            keep_days=self.keep_days,
            cutoff=iso_ms(cutoff),
        )
        return report

    def _plan_document(self, report: PruneReport) -> dict[str, Any]:
        return {
            "schema": 1,
            "kind": PRUNE_PLAN_KIND,
            "dry_run": True,
            "remote": self.remote,
            "keep_days": self.keep_days,
            "would_delete": [{"path": p, "bytes": report.sizes[p]} for p in report.would_delete],
            "kept_young": report.kept_young,
            "kept_unverified": report.kept_unverified,
            "kept_unusable": [{"path": p, "reason": r} for p, r in report.kept_unusable],
            "kept_remote": [{"path": p, "outcome": o, "detail": d} for p, o, d in report.kept_remote],
            "remote_error": report.remote_error or None,
        }

    def _write_result(self, report: PruneReport) -> None:
        """DATA_DIR/uploads/last-prune.json: the newest prune's result, machine-readable, for alarms."""
        failed = report.failed
        report.document = document = {
            "schema": 1,
            "kind": PRUNE_RUN_KIND,
            "finished_at": iso_ms(self.clock.wall_ms()),
            "remote": self.remote,
            "rclone_version": self.rclone_version,
            "keep_days": self.keep_days,
            "result": "failed" if failed else "ok",
            "remote_error": report.remote_error or None,
            "totals": {
                "deleted": len(report.deleted),
                "kept_young": report.kept_young,
                "kept_unverified": len(report.kept_unverified),
                "kept_unusable": len(report.kept_unusable),
                "kept_remote": len(report.kept_remote),
                "errors": len(report.errors),
            },
            "deleted": [{"path": p, "bytes": report.sizes[p]} for p in report.deleted],
            "kept_remote": [{"path": p, "outcome": o, "detail": d} for p, o, d in report.kept_remote],
            "errors": [{"path": p, "error": e} for p, e in report.errors],
        }
        try:
            atomic_write_json(self.data_dir / paths.UPLOADS_DIR / LAST_PRUNE_NAME, document)
        except OSError as exc:
            self.log.error("prune_result_not_written", error=str(exc))
        if failed:
            self.log.warning(
                "prune_incomplete", **document["totals"], remote_error=report.remote_error or None
            )

    def _on_remote_now(
        self, report: PruneReport, checks: list[tuple[str, int, str, str, str]], dry_run: bool
    ) -> bool:
        """Ask the remote for each (path, size, md5, sha256, kind); record what is missing or different."""
        for rel, size, md5, sha256, kind in checks:
            try:
                outcome, detail = self.check.confirm(rel, size, md5, sha256)
            except RcloneError as exc:
                report.remote_error = str(exc)
                self.log.warning(
                    "remote_unreachable", remote=self.remote, error=str(exc), action="nothing pruned"
                )
                return False
            if not outcome:
                continue
            report.kept_remote.append((rel, outcome, detail))
            self.log.warning(
                outcome,
                path=rel,
                remote=self.remote,
                detail=detail,
                action="kept; next upload sends it again",
            )
            if not dry_run:
                self.ledger.append(
                    {
                        "ts": iso_ms(self.clock.wall_ms()),
                        "action": ACTION_PRUNE,
                        "kind": kind,
                        "path": rel,
                        "bytes": size,
                        "md5": md5,
                        "sha256": sha256,
                        "remote": self.remote,
                        "outcome": outcome,
                        "detail": detail,
                    }
                )
            return False
        return True

    def _unusable(self, report: PruneReport, rel: str, reason: str) -> None:
        report.kept_unusable.append((rel, reason))
        self.log.warning("kept_unusable", path=rel, reason=reason)

    def _delete(self, report: PruneReport, victim: Victim, period: Period) -> bool:
        path, rel, size, md5, sha256 = victim.path, victim.rel, victim.size, victim.md5, victim.sha256
        try:
            os.unlink(path)
            fsync_dir(path.parent)
        except OSError as exc:
            report.errors.append((rel, str(exc)))
            self.log.error("delete_failed", path=rel, error=str(exc))
            return False
        report.deleted.append(rel)
        report.sizes[rel] = size
        self.log.info("deleted", path=rel, bytes=size, md5=md5, period=period.label())
        self.ledger.append(
            {
                "ts": iso_ms(self.clock.wall_ms()),
                "action": ACTION_PRUNE,
                "kind": "manifest" if rel.endswith(paths.MANIFEST_SUFFIX) else "data",
                "path": rel,
                "bytes": size,
                "md5": md5,
                "sha256": sha256,
                "remote": self.remote,
                "outcome": PRUNED,
                "detail": f"on the remote now; {period.label()} older than {self.keep_days} days",
            }
        )
        return True

    def _remove_empty_dirs(self, report: PruneReport, touched: set[tuple[Path, Path]]) -> None:
        """Remove the folders files were deleted from, and their parents, when empty (never the top)."""
        for top, period_dir in sorted(touched):
            for folder in (period_dir, period_dir.parent):
                if folder == top or top not in folder.parents:
                    continue
                with contextlib.suppress(OSError):  # not empty (or already gone): keep it
                    folder.rmdir()
                    fsync_dir(folder.parent)
                    report.removed_dirs.append(paths.relative(self.data_dir, folder))
                    self.log.info("removed_empty_folder", path=paths.relative(self.data_dir, folder))
