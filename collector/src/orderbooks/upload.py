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

import hashlib
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from orderbooks import market_docs_files, paths
from orderbooks.atomic import atomic_write_json
from orderbooks.clock import Clock, SystemClock
from orderbooks.ledger import (
    ACTION_UPLOAD,
    FAILED,
    MISMATCH,
    SKIPPED,
    VERIFIED,
    Ledger,
    VerifiedIndex,
    uploads_dir,
)
from orderbooks.logs import Logger, get_logger, utc_iso_ms
from orderbooks.rclone import Rclone, RcloneError, RemoteObject, find_binary

UPLOAD_RUN_SCHEMA = 1
UPLOAD_RUN_KIND = "orderbooks.upload_run"
UPLOADING_SUFFIX = ".uploading"
#: The newest run's result, machine-readable, for alarms: DATA_DIR/uploads/last-upload.json.
LAST_UPLOAD_NAME = "last-upload.json"
RESULT_OK = "ok"
RESULT_FAILED = "failed"
RESULT_INTERRUPTED = "interrupted"
RESULT_PRECONDITION = "precondition_failed"
HASH_CHUNK = 1 << 20
_HEX = {"md5": re.compile(r"^[0-9a-f]{32}$"), "sha256": re.compile(r"^[0-9a-f]{64}$")}
REMOTE_RE = re.compile(r"^(?P<name>[A-Za-z0-9_. @+-]+):(?P<path>.*)$")


class PreconditionError(Exception):
    """Something outside the data is wrong (binary, config, remote); nothing was touched."""


class ManifestProblem(Exception):
    """A manifest that cannot be trusted; its file is neither uploaded nor pruned."""


# ---------------------------------------------------------------------- sealed files
@dataclass(frozen=True)
class SealedFile:
    """A sealed data file and its manifest, as the manifest describes them."""

    data_path: Path
    manifest_path: Path
    rel_data: str
    rel_manifest: str
    hour: paths.HourKey | market_docs_files.DayKey  # a markets file's period is its UTC day
    bytes: int
    md5: str
    sha256: str


@dataclass(frozen=True)
class Unusable:
    path: str
    reason: str
    #: Set when the manifest is fine but its data file is gone (e.g. a prune interrupted between the two).
    missing_data: str | None = None


def hash_file(path: Path) -> tuple[int, str, str]:
    """(size, md5, sha256) of a local file."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha256 = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            size += len(chunk)
            md5.update(chunk)
            sha256.update(chunk)
    return size, md5.hexdigest(), sha256.hexdigest()


def hour_of(data_dir: Path, manifest_path: Path) -> paths.HourKey | market_docs_files.DayKey:
    """The hour a file belongs to, from its folder (raw/YYYY-MM-DD/HH) and its stem; both must agree."""
    if market_docs_files.in_markets(data_dir, manifest_path):  # markets/YYYY-MM-DD: the day
        try:
            return market_docs_files.day_of(data_dir, manifest_path)
        except ValueError as exc:
            raise ManifestProblem(str(exc)) from None
    rel = Path(manifest_path).relative_to(Path(data_dir) / paths.RAW_DIR)
    if len(rel.parts) != 3:
        raise ManifestProblem(f"not in a raw/YYYY-MM-DD/HH folder: {paths.relative(data_dir, manifest_path)}")
    date, hour, _name = rel.parts
    match = paths.STEM_RE.match(paths.stem_of(manifest_path))
    if not match:
        raise ManifestProblem(f"file name does not follow the naming scheme: {manifest_path.name}")
    if (match["date"], match["hour"]) != (date, hour):
        raise ManifestProblem(f"file name hour {match['date']}T{match['hour']} != folder {date}/{hour}")
    key = paths.HourKey(date, hour)
    try:
        key.start_ms()
    except ValueError as exc:
        raise ManifestProblem(f"folder is not a valid UTC hour: {date}/{hour}") from exc
    return key


def read_sealed(data_dir: Path, manifest_path: Path) -> SealedFile:
    """Parse and check one manifest; raise ManifestProblem with a clear reason."""
    data_dir = Path(data_dir)
    hour = hour_of(data_dir, manifest_path)
    try:
        manifest = orjson.loads(manifest_path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ManifestProblem(f"unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ManifestProblem("manifest is not a JSON object")
    data_path = manifest_path.with_name(paths.stem_of(manifest_path) + paths.DATA_SUFFIX)
    rel_data = paths.relative(data_dir, data_path)
    if manifest.get("file") != data_path.name:
        raise ManifestProblem(f"manifest 'file' is {manifest.get('file')!r}, expected {data_path.name!r}")
    if manifest.get("path") != rel_data:
        raise ManifestProblem(f"manifest 'path' is {manifest.get('path')!r}, expected {rel_data!r}")
    size = manifest.get("bytes")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestProblem(f"manifest 'bytes' is not a size: {size!r}")
    hashes = {}
    for name, pattern in _HEX.items():
        value = manifest.get(name)
        if not isinstance(value, str) or not pattern.match(value):
            raise ManifestProblem(f"manifest {name!r} is missing or not a hex digest: {value!r}")
        hashes[name] = value
    return SealedFile(
        data_path=data_path,
        manifest_path=manifest_path,
        rel_data=rel_data,
        rel_manifest=paths.relative(data_dir, manifest_path),
        hour=hour,
        bytes=size,
        md5=hashes["md5"],
        sha256=hashes["sha256"],
    )


def sealed_manifests(data_dir: Path) -> list[Path]:
    """The manifests of book files (raw/), then of market documents (markets/)."""
    return paths.iter_files(data_dir, paths.MANIFEST_SUFFIX) + market_docs_files.manifests(data_dir)


def find_sealed(data_dir: Path) -> tuple[list[SealedFile], list[Unusable]]:
    """Every manifest under DATA_DIR/raw and DATA_DIR/markets with its data file; never quarantine."""
    found: list[SealedFile] = []
    unusable: list[Unusable] = []
    for manifest_path in sealed_manifests(data_dir):
        rel = paths.relative(data_dir, manifest_path)
        try:
            sealed = read_sealed(data_dir, manifest_path)
        except ManifestProblem as exc:
            unusable.append(Unusable(rel, str(exc)))
            continue
        if not sealed.data_path.is_file():
            unusable.append(Unusable(rel, f"data file {sealed.rel_data} is missing", sealed.rel_data))
            continue
        found.append(sealed)
    return found, unusable


# ---------------------------------------------------------------------- preconditions
def parse_remote(remote: str) -> str:
    """``gdrive:orderbooks`` -> ``gdrive``; anything else is a PreconditionError."""
    match = REMOTE_RE.match(remote or "")
    if not match:
        raise PreconditionError(f"--remote {remote!r} is not REMOTE:PATH with a named remote from the config")
    return match["name"]


def remote_path_for(remote: str, rel: str) -> str:
    if remote.endswith(":") or remote.endswith("/"):
        return remote + rel
    return f"{remote}/{rel}"


def rclone_default_config(environ: dict[str, str] | None = None) -> Path:
    """rclone's own default: $XDG_CONFIG_HOME/rclone/rclone.conf, else ~/.config/rclone/rclone.conf."""
    environ = dict(os.environ) if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
    return Path(base) / "rclone" / "rclone.conf"


def find_config(
    config: str | os.PathLike[str] | None, environ: dict[str, str] | None = None
) -> tuple[Path, str]:
    """Where the rclone config is, as rclone looks: (path, which setting named it).

    1. --rclone-config (or ORDERBOOKS_RCLONE_CONFIG, which the CLI turns into it);
    2. RCLONE_CONFIG; 3. rclone's default path. None of them -> PreconditionError naming all three.
    """
    environ = dict(os.environ) if environ is None else environ
    if config:
        return Path(config), "--rclone-config/ORDERBOOKS_RCLONE_CONFIG"
    if environ.get("RCLONE_CONFIG"):
        return Path(environ["RCLONE_CONFIG"]), "RCLONE_CONFIG"
    default = rclone_default_config(environ)
    if default.exists():
        return default, "rclone's default path"
    raise PreconditionError(
        "no rclone config: looked at --rclone-config and ORDERBOOKS_RCLONE_CONFIG (not set), "
        f"RCLONE_CONFIG (not set) and rclone's default path {default} (does not exist)"
    )


def check_config(config: str | os.PathLike[str] | None, environ: dict[str, str] | None = None) -> Path:
    path, source = find_config(config, environ)
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise PreconditionError(f"rclone config {path} (from {source}) does not exist") from exc
    except OSError as exc:
        raise PreconditionError(f"rclone config {path} cannot be read: {exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise PreconditionError(f"rclone config {path} is not a regular file")
    if info.st_mode & 0o077:
        raise PreconditionError(
            f"rclone config {path} has mode {stat.S_IMODE(info.st_mode):04o}: it holds credentials, "
            f"make it private (chmod 600 {path})"
        )
    if not os.access(path, os.R_OK):
        raise PreconditionError(f"rclone config {path} is not readable by this user")
    return path


def prepare_rclone(
    *,
    remote: str,
    config: str | os.PathLike[str] | None,
    binary: str | None,
    retries: int = 3,
    timeout_s: float = 60.0,
    bwlimit: str | None = None,
    environ: dict[str, str] | None = None,
) -> tuple[Rclone, str]:
    """Check binary, config and remote name, in that order; return (rclone, version)."""
    name = parse_remote(remote)
    found = find_binary(binary)
    if found is None:
        where = f"at {binary}" if binary else "on PATH"
        raise PreconditionError(f"rclone binary not found {where} (install rclone or set --rclone-binary)")
    config_path = check_config(config, environ)
    rclone = Rclone(found, config_path, retries=retries, timeout_s=timeout_s, bwlimit=bwlimit)
    try:
        version = rclone.version()
        remotes = rclone.listremotes()
    except RcloneError as exc:
        raise PreconditionError(f"rclone at {found} does not work with {config_path}: {exc}") from exc
    if name not in remotes:
        known = ", ".join(remotes) or "none"
        raise PreconditionError(f"remote {name!r} is not in {config_path} (remotes there: {known})")
    return rclone, version


# ---------------------------------------------------------------------- one file
@dataclass(frozen=True)
class Expected:
    rel: str
    kind: str  # "data" or "manifest"
    bytes: int
    md5: str
    sha256: str


@dataclass
class FileResult:
    rel: str
    kind: str
    outcome: str
    detail: str
    bytes: int
    md5: str
    sha256: str
    method: str = ""
    transferred: bool = False
    duration_s: float = 0.0
    remote_hashes: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.rel,
            "kind": self.kind,
            "outcome": self.outcome,
            "detail": self.detail,
            "bytes": self.bytes,
            "md5": self.md5,
            "sha256": self.sha256,
            "method": self.method,
            "transferred": self.transferred,
            "duration_s": round(self.duration_s, 3),
            "remote_hashes": self.remote_hashes,
        }


def compare(expected: Expected, obj: RemoteObject, rclone: Rclone, final: str) -> FileResult:
    """Verify a remote object against the expected size and hashes."""
    result = FileResult(
        expected.rel, expected.kind, FAILED, "", expected.bytes, expected.md5, expected.sha256
    )
    if obj.size >= 0 and obj.size != expected.bytes:
        result.outcome = MISMATCH
        result.detail = f"remote size {obj.size} != {expected.bytes}"
        return result
    hashes = {k: v for k, v in obj.hashes.items() if k in ("md5", "sha256")}
    result.method = "remote-hash"
    if "md5" not in hashes:
        try:
            size, hashes = rclone.cat_hashes(final)
        except RcloneError as exc:
            result.detail = f"download for hashing failed: {exc}"
            return result
        result.method = "download"
        if size != expected.bytes:
            result.outcome = MISMATCH
            result.detail = f"downloaded size {size} != {expected.bytes}"
            result.remote_hashes = hashes
            return result
    result.remote_hashes = hashes
    wanted = {"md5": expected.md5, "sha256": expected.sha256}
    differing = [name for name, value in hashes.items() if value != wanted[name]]
    if differing:
        result.outcome = MISMATCH
        result.detail = "remote " + ", ".join(f"{n} {hashes[n]} != {wanted[n]}" for n in differing)
        return result
    result.outcome = VERIFIED
    result.detail = f"{'+'.join(sorted(hashes))} equal ({result.method})"
    return result


def send_and_verify(rclone: Rclone, local: Path, final: str, expected: Expected) -> FileResult:
    """Upload *local* to *final* unless it is there already, then verify *final*."""
    base = FileResult(expected.rel, expected.kind, FAILED, "", expected.bytes, expected.md5, expected.sha256)
    started = time.monotonic()
    try:
        existing = rclone.stat(final)
    except RcloneError as exc:
        base.detail = f"remote not reachable: {exc}"
        base.duration_s = time.monotonic() - started
        return base
    transferred = False
    if existing is None:
        staging = final + UPLOADING_SUFFIX
        try:
            rclone.copyto(local, staging)
            rclone.moveto(staging, final)
        except RcloneError as exc:
            base.detail = f"transfer failed: {exc}"
            base.duration_s = time.monotonic() - started
            return base
        transferred = True
        try:
            existing = rclone.stat(final)
        except RcloneError as exc:
            base.detail = f"uploaded but verification could not ask the remote: {exc}"
            base.transferred = True
            base.duration_s = time.monotonic() - started
            return base
        if existing is None:
            base.detail = "uploaded but the remote does not list the file"
            base.transferred = True
            base.duration_s = time.monotonic() - started
            return base
    result = compare(expected, existing, rclone, final)
    result.transferred = transferred
    if not transferred and result.outcome == VERIFIED:
        result.detail = "already on the remote; " + result.detail
    elif not transferred and result.outcome == MISMATCH:
        result.detail = "a different file already has this name on the remote: " + result.detail
    result.duration_s = time.monotonic() - started
    return result


# ---------------------------------------------------------------------- the run
@dataclass
class UploadReport:
    run_id: str
    results: list[FileResult] = field(default_factory=list)
    unusable: list[Unusable] = field(default_factory=list)
    already: int = 0
    planned: list[str] = field(default_factory=list)
    interrupted: bool = False
    run_manifest: Path | None = None

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(r.outcome == VERIFIED for r in self.results)


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
        return utc_iso_ms(self.clock.wall_ms() / 1000)

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
                _, m_md5, m_sha = hash_file(item.manifest_path)
                manifest_ok = index.is_verified(item.rel_manifest, m_md5, m_sha)
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
            report.planned.append(item.rel_data)
            self.log.info("would_upload", path=item.rel_data, bytes=item.bytes, remote=target)
            print(f"would upload {item.rel_data} ({item.bytes} bytes) -> {target}")
        self.log.info("dry_run_done", would_upload=len(todo), already_verified=len(done))
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
        except KeyboardInterrupt:
            report.interrupted = True
            self.log.warning("upload_interrupted", run_id=run_id)
            raise
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
            size, md5, sha256 = hash_file(item.data_path)
        except OSError as exc:
            size, md5, sha256 = -1, "", ""
            problem = f"cannot read the data file: {exc}"
        else:
            problem = ""
            if (size, md5, sha256) != (item.bytes, item.md5, item.sha256):
                problem = (
                    f"local file does not match its manifest (bytes {size}/{item.bytes}, "
                    f"md5 {md5}/{item.md5}); run `orderbooks verify`"
                )
        if problem:
            result = FileResult(item.rel_data, "data", SKIPPED, problem, item.bytes, item.md5, item.sha256)
            self._record(run_id, result)
            return [result]
        results: list[FileResult] = []
        if self.index.is_verified(item.rel_data, item.md5, item.sha256):
            data_ok = True
        else:
            expected = Expected(item.rel_data, "data", item.bytes, item.md5, item.sha256)
            final = remote_path_for(self.remote, item.rel_data)
            data_result = send_and_verify(self.rclone, item.data_path, final, expected)
            self._record(run_id, data_result)
            results.append(data_result)
            data_ok = data_result.outcome == VERIFIED
        if not data_ok:
            return results
        m_size, m_md5, m_sha = hash_file(item.manifest_path)
        expected = Expected(item.rel_manifest, "manifest", m_size, m_md5, m_sha)
        final = remote_path_for(self.remote, item.rel_manifest)
        manifest_result = send_and_verify(self.rclone, item.manifest_path, final, expected)
        self._record(run_id, manifest_result)
        results.append(manifest_result)
        return results

    def _write_run_manifest(self, report: UploadReport, started_ms: int, seconds: float) -> Path | None:
        runs = uploads_dir(self.data_dir) / "runs"
        try:
            runs.mkdir(parents=True, exist_ok=True)
            target = runs / f"{report.run_id}.json"
            transferred = [r for r in report.results if r.transferred]
            result = RESULT_INTERRUPTED if report.interrupted else RESULT_OK if report.ok else RESULT_FAILED
            document = {
                "schema": UPLOAD_RUN_SCHEMA,
                "kind": UPLOAD_RUN_KIND,
                "run_id": report.run_id,
                "started_at": utc_iso_ms(started_ms / 1000),
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
            atomic_write_json(target, document)
            atomic_write_json(uploads_dir(self.data_dir) / LAST_UPLOAD_NAME, document)
            if result != RESULT_OK:
                self.log.warning(
                    "upload_failed", run_id=report.run_id, result=result, failures=len(document["failures"])
                )
            return target
        except OSError as exc:
            self.log.error("run_manifest_not_written", error=str(exc))
            return None


def record_precondition_failure(data_dir: Path, remote: str, error: str, now_ms: int) -> None:
    """An upload that could not start (config, binary, remote) still leaves a result for alarms."""
    uploads_dir(data_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        uploads_dir(data_dir) / LAST_UPLOAD_NAME,
        {
            "schema": UPLOAD_RUN_SCHEMA,
            "kind": UPLOAD_RUN_KIND,
            "run_id": None,
            "finished_at": utc_iso_ms(now_ms / 1000),
            "remote": remote,
            "result": RESULT_PRECONDITION,
            "error": error,
            "totals": {},
            "files": [],
            "failures": [{"path": None, "outcome": RESULT_PRECONDITION, "detail": error}],
        },
    )
