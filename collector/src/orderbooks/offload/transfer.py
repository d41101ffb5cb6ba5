"""One file to the remote, verified: ``send_and_verify`` and the ``FileResult`` it returns.

The final name is never overwritten: a file not on the remote goes to
``<final>.uploading`` (``copyto``) and is renamed (``moveto``), so an
interrupted transfer never leaves a truncated file under the final name.
The final name is then verified: size, MD5 always, SHA-256 when the remote
offers it; a remote without hashes is verified by downloading the file.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orderbooks.offload.rclone import Rclone, RcloneError, RemoteObject
from orderbooks.store.hashing import FileHashes, Hashed
from orderbooks.store.ledger import FAILED, MISMATCH, VERIFIED

UPLOADING_SUFFIX = ".uploading"


@dataclass(frozen=True)
class Expected(Hashed):
    rel: str
    kind: str  # "data" or "manifest"
    hashes: FileHashes


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
        fields = asdict(self)
        # "rel" is written as "path", in its place (first); duration_s keeps its place
        return {"path": fields.pop("rel"), **fields, "duration_s": round(self.duration_s, 3)}


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
