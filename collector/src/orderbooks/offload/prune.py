"""``orderbooks prune``: delete local sealed files that are safely on the remote and old enough.

The keep-or-delete rule for one sealed file is ``offload.policy.decide``, a
pure function; ``Pruner.run`` gathers the facts it asks for (the period, the
manifest, the data file, the ledger's verified index, the remote listed now),
records why each file is kept, and deletes what it says. In short, a data file
and its manifest are deleted only when all of these hold:

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

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orderbooks.clock import Clock, SystemClock
from orderbooks.logs import Logger, get_logger
from orderbooks.offload import policy
from orderbooks.offload.rclone import Rclone, RcloneError, RemoteObject
from orderbooks.offload.remote import remote_path_for
from orderbooks.store import paths, removal, results
from orderbooks.store.hashing import hash_file
from orderbooks.store.ledger import ACTION_PRUNE, PRUNED, REMOTE_LOST, REMOTE_MISMATCH, Ledger, VerifiedIndex
from orderbooks.store.sealed import (
    KINDS,
    ManifestProblem,
    Period,
    SealedKind,
    partial_beside,
    read_sealed,
    scan_manifests,
)
from orderbooks.store.walk import Unreadable
from orderbooks.timefmt import iso_ms

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
    #: folders and links that could not be read (store.walk): whatever they hold was not judged
    unreadable: list[Unreadable] = field(default_factory=list)
    #: size of each file in deleted / would_delete
    sizes: dict[str, int] = field(default_factory=dict)
    #: the result document (last-prune.json for a run; the plan for a dry run)
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.kept_remote or self.remote_error or self.unreadable)


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

    def run(self, dry_run: bool = False) -> PruneReport:
        report = PruneReport()
        index = VerifiedIndex.load(self.data_dir, self.remote)
        now = self.clock.wall_ms()
        cutoff = policy.cutoff_ms(now, self.keep_days)
        touched: set[tuple[Path, Path]] = set()  # (top folder of the kind, folder a file was deleted from)
        manifests, report.unreadable = scan_manifests(self.data_dir, self.kinds)
        for item in report.unreadable:
            self.log.warning(
                "unreadable", path=item.path, reason=item.reason, action="not pruned; fix its owner"
            )
        for kind, manifest_path in manifests:
            facts, decision, local = self._judge(report, kind, manifest_path, index, now)
            if report.remote_error:  # the remote cannot be asked: nothing more is pruned this run
                break
            if decision.verdict != policy.DELETE:
                self._keep(report, facts, decision, dry_run)
                continue
            period = kind.locate(self.data_dir, manifest_path)
            for copy in decision.victims:
                victim = Victim(local[copy.rel], copy.rel, copy.size, copy.md5, copy.sha256)
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
            "unreadable": [item.to_json() for item in report.unreadable],
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
                "unreadable": len(report.unreadable),
            },
            "deleted": [{"path": p, "bytes": report.sizes[p]} for p in report.deleted],
            "kept_remote": [{"path": p, "outcome": o, "detail": d} for p, o, d in report.kept_remote],
            "errors": [{"path": p, "error": e} for p, e in report.errors],
            "unreadable": [item.to_json() for item in report.unreadable],
        }
        try:
            results.write_last_prune(self.data_dir, document)
        except OSError as exc:
            self.log.error("prune_result_not_written", error=str(exc))
        if failed:
            self.log.warning(
                "prune_incomplete", **document["totals"], remote_error=report.remote_error or None
            )

    def _judge(
        self, report: PruneReport, kind: SealedKind, manifest_path: Path, index: VerifiedIndex, now: int
    ) -> tuple[policy.Facts, policy.Decision, dict[str, Path]]:
        """Gather what ``policy.decide`` asks for, step by step, until it keeps or deletes the file.

        Returns the facts, the decision and the local path of each copy read. When the
        remote cannot be asked, ``report.remote_error`` is set and the decision is still
        ``ASK_REMOTE``.
        """
        facts = policy.Facts(paths.relative(self.data_dir, manifest_path), self.remote, self.keep_days, now)
        local: dict[str, Path] = {}
        try:
            facts = replace(facts, period_end_ms=kind.locate(self.data_dir, manifest_path).end_ms())
        except ManifestProblem as exc:
            facts = replace(facts, problem=str(exc))
        decision = policy.decide(facts)
        if decision.verdict == policy.READ_LOCAL:
            facts, local = self._read_local(facts, kind, manifest_path, index)
            decision = policy.decide(facts)
        while decision.verdict == policy.ASK_REMOTE:
            assert decision.copy is not None
            answer = self._ask_remote(report, decision.copy)
            if answer is None:
                break
            facts = replace(facts, remote_answers=(*facts.remote_answers, answer))
            decision = policy.decide(facts)
        return facts, decision, local

    def _read_local(
        self, facts: policy.Facts, kind: SealedKind, manifest_path: Path, index: VerifiedIndex
    ) -> tuple[policy.Facts, dict[str, Path]]:
        """The facts an old file is judged on: its manifest, its data file, the ledger's records."""
        try:
            sealed = read_sealed(self.data_dir, manifest_path, kind)
        except ManifestProblem as exc:
            return replace(facts, local_read=True, problem=str(exc)), {}
        local = {sealed.rel_data: sealed.data_path, facts.rel_manifest: manifest_path}
        facts = replace(
            facts,
            local_read=True,
            partial_twin=removal.present(partial_beside(kind, manifest_path)),
            data=policy.Copy(policy.DATA, sealed.rel_data, sealed.bytes, sealed.md5, sealed.sha256),
            data_present=removal.present(sealed.data_path),
            data_pruned=sealed.rel_data in index.pruned,
            data_record=index.verified_entry(sealed.rel_data, sealed.md5, sealed.sha256),
        )
        try:
            on_disk = hash_file(manifest_path)
        except OSError as exc:
            return replace(facts, manifest_error=f"cannot read the manifest: {exc}"), local
        manifest = policy.Copy(policy.MANIFEST, facts.rel_manifest, on_disk.size, on_disk.md5, on_disk.sha256)
        record = index.verified_entry(manifest.rel, manifest.md5, manifest.sha256)
        return replace(facts, manifest=manifest, manifest_record=record), local

    def _ask_remote(self, report: PruneReport, copy: policy.Copy) -> policy.RemoteAnswer | None:
        """Is this copy on the remote now, with its hashes? None (and ``remote_error``) when it cannot say."""
        try:
            outcome, detail = self.check.confirm(copy.rel, copy.size, copy.md5, copy.sha256)
        except RcloneError as exc:
            report.remote_error = str(exc)
            self.log.warning(
                "remote_unreachable", remote=self.remote, error=str(exc), action="nothing pruned"
            )
            return None
        return policy.RemoteAnswer(copy.rel, outcome or policy.PRESENT, detail)

    def _keep(
        self, report: PruneReport, facts: policy.Facts, decision: policy.Decision, dry_run: bool
    ) -> None:
        """Record why a file stays: in the report, the log and (a copy gone from the remote) the ledger."""
        verdict = decision.verdict
        if verdict == policy.YOUNG:
            report.kept_young += 1
        elif verdict == policy.UNUSABLE:
            self._unusable(report, facts.rel_manifest, decision.reason)
        elif verdict == policy.UNVERIFIED:
            assert facts.data is not None
            report.kept_unverified.append(facts.data.rel)
            self.log.info(
                "kept_unverified",
                path=facts.data.rel,
                data_verified=decision.data_verified,
                manifest_verified=decision.manifest_verified,
            )
        elif verdict in (policy.LOST, policy.DIFFERENT):
            assert decision.copy is not None
            self._kept_remote(report, decision.copy, verdict, decision.reason, dry_run)
        else:
            raise ValueError(f"prune cannot keep a file for {verdict!r}")

    def _kept_remote(
        self, report: PruneReport, copy: policy.Copy, outcome: str, detail: str, dry_run: bool
    ) -> None:
        """A verified copy is gone or different on the remote: keep it, and withdraw the ``verified``."""
        report.kept_remote.append((copy.rel, outcome, detail))
        self.log.warning(
            outcome,
            path=copy.rel,
            remote=self.remote,
            detail=detail,
            action="kept; next upload sends it again",
        )
        if not dry_run:
            self.ledger.append(
                {
                    "ts": iso_ms(self.clock.wall_ms()),
                    "action": ACTION_PRUNE,
                    "kind": copy.kind,
                    "path": copy.rel,
                    "bytes": copy.size,
                    "md5": copy.md5,
                    "sha256": copy.sha256,
                    "remote": self.remote,
                    "outcome": outcome,
                    "detail": detail,
                }
            )

    def _unusable(self, report: PruneReport, rel: str, reason: str) -> None:
        report.kept_unusable.append((rel, reason))
        self.log.warning("kept_unusable", path=rel, reason=reason)

    def _delete(self, report: PruneReport, victim: Victim, period: Period) -> bool:
        path, rel, size, md5, sha256 = victim.path, victim.rel, victim.size, victim.md5, victim.sha256
        try:
            removal.delete_durably(path)
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
            for folder in removal.remove_empty_folders(top, period_dir):
                report.removed_dirs.append(paths.relative(self.data_dir, folder))
                self.log.info("removed_empty_folder", path=paths.relative(self.data_dir, folder))
