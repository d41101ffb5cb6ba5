"""``orderbooks upload``: sealed files -> remote, each verified by hash, recorded in the ledger.

For each sealed data file that has a manifest (never a ``.partial``, never a
quarantined file), oldest first:

1. skip it if the ledger already holds ``verified`` lines for the data file and
   its manifest with today's hashes (idempotent re-runs send nothing);
2. hash the local file and compare with its manifest (a local file that does
   not match its manifest is ``skipped`` and never sent);
3. ask the remote whether the final name exists (``lsjson --stat --hash``);
   if not, ``copyto`` to ``<final>.uploading`` and ``moveto`` the final name,
   so an interrupted transfer never leaves a truncated file under the final
   name; an existing final name is never overwritten;
4. verify the final name: size, MD5 always, SHA-256 when the remote offers it;
   a remote without hashes (e.g. WebDAV) is verified by downloading the file
   through ``rclone cat`` and hashing it. Equal -> ``verified``; different ->
   ``mismatch`` (logged at error level, local file kept); no answer -> ``failed``;
5. then the same for the manifest (expected hashes: its local bytes).

Each outcome is one ledger line; the run ends with an upload run manifest
DATA_DIR/uploads/runs/<run_id>.json.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderbooks.clock import Clock, SystemClock
from orderbooks.logs import Logger, get_logger
from orderbooks.offload.rclone import Rclone
from orderbooks.offload.remote import remote_path_for
from orderbooks.offload.transfer import Expected, FileResult, send_and_verify
from orderbooks.store import paths, results
from orderbooks.store.hashing import hash_file
from orderbooks.store.ledger import (
    ACTION_UPLOAD,
    FAILED,
    MISMATCH,
    SKIPPED,
    VERIFIED,
    Ledger,
    VerifiedIndex,
)
from orderbooks.store.sealed import SealedFile, Unusable, find_sealed
from orderbooks.timefmt import iso_ms

UPLOAD_RUN_SCHEMA = 1
UPLOAD_RUN_KIND = "orderbooks.upload_run"
#: ``orderbooks upload --dry-run --json``: what a run would send.
UPLOAD_PLAN_KIND = "orderbooks.upload_plan"
#: The newest run's result, machine-readable, for alarms: DATA_DIR/uploads/last-upload.json.
LAST_UPLOAD_NAME = paths.LAST_UPLOAD_NAME
RESULT_OK = "ok"
RESULT_FAILED = "failed"
RESULT_INTERRUPTED = "interrupted"
RESULT_PRECONDITION = "precondition_failed"


# ---------------------------------------------------------------------- the run
@dataclass
class UploadReport:
    run_id: str
    results: list[FileResult] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)
    already: int = 0
    #: dry run: what would be sent, as {"path", "bytes", "remote"}
    planned: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False
    run_manifest: Path | None = None
    #: the run manifest's content (also when it could not be written)
    document: dict[str, Any] = field(default_factory=dict)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.outcome == VERIFIED for r in self.results)


class UploadInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT/SIGTERM; ``report`` holds what it did (its run manifest is written)."""

    def __init__(self, report: UploadReport) -> None:
        super().__init__(f"upload {report.run_id} interrupted")
        self.report = report


class Uploader:
    def __init__(
        self,
        data_dir: Path,
        remote: str,
        rclone: Rclone | None,
        *,
        rclone_version: str = "",
        clock: Clock | None = None,
        log: Logger | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.remote = remote
        self.rclone = rclone
        self.rclone_version = rclone_version
        self.clock = clock or SystemClock()
        self.log = log or get_logger("upload")
        self.ledger = Ledger(self.data_dir)
        self.index = VerifiedIndex([], remote)

    def _now_iso(self) -> str:
        return iso_ms(self.clock.wall_ms())

    def _record(self, run_id: str, result: FileResult) -> None:
        entry = {
            "ts": self._now_iso(),
            "action": ACTION_UPLOAD,
            "kind": result.kind,
            "path": result.rel,
            "bytes": result.bytes,
            "md5": result.md5,
            "sha256": result.sha256,
            "remote": self.remote,
            "outcome": result.outcome,
            "detail": result.detail,
            "method": result.method,
            "run_id": run_id,
        }
        self.ledger.append(entry)
        self.index.add(entry)
        fields = {
            "path": result.rel,
            "kind": result.kind,
            "outcome": result.outcome,
            "detail": result.detail,
            "bytes": result.bytes,
            "remote": self.remote,
        }
        if result.outcome == VERIFIED:
            self.log.info("file_verified", **fields, transferred=result.transferred)
        elif result.outcome == MISMATCH:
            self.log.error("file_mismatch", **fields, remote_hashes=result.remote_hashes)
        else:
            self.log.warning("file_not_uploaded", **fields)

    def plan(self) -> tuple[list[SealedFile], list[SealedFile], list[Unusable]]:
        """(to send, already verified, unusable) from the disk and the ledger."""
        sealed, unusable = find_sealed(self.data_dir)
        self.index = index = VerifiedIndex.load(self.data_dir, self.remote)
        # A manifest whose data file was pruned (prune interrupted before the manifest) is prune's to finish.
        unusable = [u for u in unusable if not (u.missing_data and u.missing_data in index.pruned)]
        todo: list[SealedFile] = []
        done: list[SealedFile] = []
        for item in sealed:
            data_ok = index.is_verified(item.rel_data, item.md5, item.sha256)
            manifest_ok = False
            if data_ok:
                on_disk = hash_file(item.manifest_path)
                manifest_ok = index.is_verified(item.rel_manifest, on_disk.md5, on_disk.sha256)
            (done if data_ok and manifest_ok else todo).append(item)
        return todo, done, unusable

    def dry_run(self) -> UploadReport:
        report = UploadReport(run_id="dry-run")
        todo, done, unusable = self.plan()
        report.already = len(done)
        report.unusable = unusable
        for item in unusable:
            self.log.warning("would_skip", path=item.path, reason=item.reason)
        for item in todo:
            target = remote_path_for(self.remote, item.rel_data)
            report.planned.append({"path": item.rel_data, "bytes": item.bytes, "remote": target})
            self.log.info("would_upload", path=item.rel_data, bytes=item.bytes, remote=target)
        self.log.info("dry_run_done", would_upload=len(todo), already_verified=len(done))
        report.document = {
            "schema": UPLOAD_RUN_SCHEMA,
            "kind": UPLOAD_PLAN_KIND,
            "dry_run": True,
            "remote": self.remote,
            "would_upload": report.planned,
            "already_verified": report.already,
            "unusable": [{"path": u.path, "reason": u.reason} for u in unusable],
        }
        return report

    def run(self, run_id: str | None = None) -> UploadReport:
        assert self.rclone is not None
        run_id = run_id or paths.new_run_id(self.clock.wall_ms())
        report = UploadReport(run_id=run_id)
        started_ms = self.clock.wall_ms()
        started = time.monotonic()
        self.log.info("upload_start", run_id=run_id, remote=self.remote, rclone=self.rclone_version)
        try:
            todo, done, unusable = self.plan()
            report.already = len(done)
            report.unusable = unusable
            for item in unusable:
                result = FileResult(item.path, "manifest", SKIPPED, item.reason, 0, "", "")
                report.results.append(result)
                self._record(run_id, result)
            for item in todo:
                report.results.extend(self._one(run_id, item))
        except KeyboardInterrupt as exc:
            report.interrupted = True
            self.log.warning("upload_interrupted", run_id=run_id)
            raise UploadInterrupted(report) from exc
        finally:
            report.run_manifest = self._write_run_manifest(report, started_ms, time.monotonic() - started)
            self.log.info(
                "upload_done",
                run_id=run_id,
                verified=report.count(VERIFIED),
                already_verified=report.already,
                mismatch=report.count(MISMATCH),
                failed=report.count(FAILED),
                skipped=report.count(SKIPPED),
                interrupted=report.interrupted,
            )
        return report

    def _one(self, run_id: str, item: SealedFile) -> list[FileResult]:
        assert self.rclone is not None
        try:
            on_disk = hash_file(item.data_path)
        except OSError as exc:
            problem = f"cannot read the data file: {exc}"
        else:
            problem = ""
            if on_disk != item.hashes:
                problem = (
                    f"local file does not match its manifest (bytes {on_disk.size}/{item.bytes}, "
                    f"md5 {on_disk.md5}/{item.md5}); run `orderbooks verify`"
                )
        if problem:
            result = FileResult(item.rel_data, "data", SKIPPED, problem, item.bytes, item.md5, item.sha256)
            self._record(run_id, result)
            return [result]
        results: list[FileResult] = []
        if self.index.is_verified(item.rel_data, item.md5, item.sha256):
            data_ok = True
        else:
            expected = Expected(item.rel_data, "data", item.hashes)
            final = remote_path_for(self.remote, item.rel_data)
            data_result = send_and_verify(self.rclone, item.data_path, final, expected)
            self._record(run_id, data_result)
            results.append(data_result)
            data_ok = data_result.outcome == VERIFIED
        if not data_ok:
            return results
        expected = Expected(item.rel_manifest, "manifest", hash_file(item.manifest_path))
        final = remote_path_for(self.remote, item.rel_manifest)
        manifest_result = send_and_verify(self.rclone, item.manifest_path, final, expected)
        self._record(run_id, manifest_result)
        results.append(manifest_result)
        return results

    def _run_document(self, report: UploadReport, started_ms: int, seconds: float) -> dict[str, Any]:
        """The upload run manifest: DATA_DIR/uploads/runs/<run_id>.json (and last-upload.json)."""
        transferred = [r for r in report.results if r.transferred]
        result = RESULT_INTERRUPTED if report.interrupted else RESULT_OK if report.ok else RESULT_FAILED
        return {
            "schema": UPLOAD_RUN_SCHEMA,
            "kind": UPLOAD_RUN_KIND,
            "run_id": report.run_id,
            "started_at": iso_ms(started_ms),
            "finished_at": self._now_iso(),
            "duration_s": round(seconds, 3),
            "remote": self.remote,
            "result": result,
            "rclone_binary": self.rclone.binary if self.rclone else None,
            "rclone_version": self.rclone_version,
            "interrupted": report.interrupted,
            "totals": {
                "files": len(report.results),
                "verified": report.count(VERIFIED),
                "mismatch": report.count(MISMATCH),
                "failed": report.count(FAILED),
                "skipped": report.count(SKIPPED),
                "already_verified": report.already,
                "bytes_transferred": sum(r.bytes for r in transferred),
                "bytes_verified": sum(r.bytes for r in report.results if r.outcome == VERIFIED),
            },
            "files": [r.to_json() for r in report.results],
            "failures": [
                {"path": r.rel, "outcome": r.outcome, "detail": r.detail}
                for r in report.results
                if r.outcome != VERIFIED
            ],
        }

    def _write_run_manifest(self, report: UploadReport, started_ms: int, seconds: float) -> Path | None:
        report.document = document = self._run_document(report, started_ms, seconds)
        try:
            target = results.write_upload_run(self.data_dir, report.run_id, document)
        except OSError as exc:
            self.log.error("run_manifest_not_written", error=str(exc))
            return None
        finally:
            if document["result"] != RESULT_OK:
                self.log.warning(
                    "upload_failed",
                    run_id=report.run_id,
                    result=document["result"],
                    failures=len(document["failures"]),
                )
        return target


def precondition_document(remote: str, error: str, now_ms: int) -> dict[str, Any]:
    """The result of an upload that could not start (config, binary, remote)."""
    return {
        "schema": UPLOAD_RUN_SCHEMA,
        "kind": UPLOAD_RUN_KIND,
        "run_id": None,
        "finished_at": iso_ms(now_ms),
        "remote": remote,
        "result": RESULT_PRECONDITION,
        "error": error,
        "totals": {},
        "files": [],
        "failures": [{"path": None, "outcome": RESULT_PRECONDITION, "detail": error}],
    }


def record_precondition_failure(data_dir: Path, document: dict[str, Any]) -> None:
    """An upload that could not start still leaves its result (``precondition_document``) for alarms."""
    results.write_last_upload(data_dir, document)
