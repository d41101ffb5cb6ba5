"""Prune's keep-or-delete rule for one local sealed file, as one pure function: ``decide``.

``decide(facts)`` reads only its argument (no clock, no disk, no ledger, no
rclone) and answers for one sealed file, a data file and its manifest:

- ``YOUNG``: its period (the hour or day in its folder, never the mtime) ended
  less than ``keep_days`` days ago;
- ``READ_LOCAL``: it is old enough, and its manifest, its data file and the
  ledger must be looked at (the caller does, and calls ``decide`` again): a
  young file's manifest is never read;
- ``UNUSABLE`` (with the reason): where it belongs cannot be told, its manifest
  cannot be trusted or read, a ``.partial`` twin exists, or the data file is
  gone although the ledger neither verified nor pruned it;
- ``UNVERIFIED``: the ledger has no ``upload``/``verified`` record *of this
  remote* with the manifest's md5 and sha256 for the data file (unless only
  the manifest is left), or none with the md5 and sha256 of the manifest's
  bytes now for the manifest;
- ``ASK_REMOTE`` (with the copy): everything local allows deletion, and the
  remote, asked now, must still confirm this copy; the caller asks (data
  file first, then manifest) and calls ``decide`` again with the answer;
- ``REMOTE_LOST`` / ``REMOTE_MISMATCH`` (with the copy and rclone's detail):
  the remote, asked now, no longer holds that copy, or holds a different one;
- ``DELETE`` (with the copies to delete, data file first): old, verified on
  this remote, and present there now with the same hashes.

Which ledger records count (same remote, not withdrawn by a later
``remote_lost``/``remote_mismatch``) is ``store.ledger.VerifiedIndex``'s
answer; this rule also refuses a record of another remote or with other
hashes. A remote that cannot be asked at all is not a per-file fact: the
caller stops the run and deletes nothing (``remote_unreachable``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from orderbooks.store.ledger import ACTION_UPLOAD, REMOTE_LOST, REMOTE_MISMATCH, VERIFIED, same_remote

DAY_MS = 86_400_000

# What ``decide`` answers (``Decision.verdict``).
DELETE = "delete"
READ_LOCAL = "read_local"
ASK_REMOTE = "ask_remote"
YOUNG = "young"
UNUSABLE = "unusable"
UNVERIFIED = "unverified"
#: The copy is gone from the remote (the ledger outcome ``remote_lost``).
LOST = REMOTE_LOST
#: The remote holds a different copy under that name (``remote_mismatch``).
DIFFERENT = REMOTE_MISMATCH
#: Answers the caller gives for one copy, besides LOST and DIFFERENT.
PRESENT = "present"

DATA = "data"
MANIFEST = "manifest"


@dataclass(frozen=True)
class Copy:
    """One local file of a sealed file: the data file (as its manifest describes it) or the manifest."""

    kind: str  # DATA or MANIFEST
    rel: str
    size: int
    md5: str
    sha256: str


@dataclass(frozen=True)
class RemoteAnswer:
    """What the remote, asked now, says about one copy: PRESENT (same hashes), LOST or DIFFERENT."""

    rel: str
    state: str
    detail: str = ""


@dataclass(frozen=True)
class Facts:
    """What is known about one local sealed file; gathered by the caller, judged by ``decide``."""

    rel_manifest: str
    remote: str
    keep_days: int
    now_ms: int
    #: When its period ends; None when the folder and file name do not say (``problem`` says why).
    period_end_ms: int | None = None
    #: Why the manifest cannot be trusted (unreadable, not describing its data file); "" when it can.
    problem: str = ""
    #: The manifest, the data file and the ledger were looked at (the fields below are known).
    local_read: bool = False
    partial_twin: bool = False
    #: The data file as the manifest describes it (None when the manifest could not be read).
    data: Copy | None = None
    data_present: bool = True
    #: The ledger says an earlier prune deleted the data file (only the manifest is left).
    data_pruned: bool = False
    #: The ledger's verified record for the data file with the manifest's hashes, or None.
    data_record: Mapping[str, Any] | None = None
    #: The manifest's bytes now; None when they cannot be read (``manifest_error`` says why).
    manifest: Copy | None = None
    manifest_error: str = ""
    #: The ledger's verified record for the manifest with the hashes of its bytes now, or None.
    manifest_record: Mapping[str, Any] | None = None
    #: What the remote said so far, in the order asked.
    remote_answers: tuple[RemoteAnswer, ...] = ()


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str = ""
    #: ASK_REMOTE: the copy to ask about; LOST / DIFFERENT: the copy lost or different.
    copy: Copy | None = None
    #: DELETE: the copies to delete, data file first.
    victims: tuple[Copy, ...] = ()
    #: UNVERIFIED: which of the two the ledger proves on this remote.
    data_verified: bool = False
    manifest_verified: bool = False

    @property
    def keep(self) -> bool:
        return self.verdict not in (DELETE, READ_LOCAL, ASK_REMOTE)


def cutoff_ms(now_ms: int, keep_days: int) -> int:
    """A file whose period ends after this instant is young."""
    return now_ms - keep_days * DAY_MS


def proves(record: Mapping[str, Any] | None, copy: Copy, remote: str) -> bool:
    """Does this ledger record say *copy*, with its hashes, was verified on *remote*?"""
    return (
        record is not None
        and record.get("action") == ACTION_UPLOAD
        and record.get("outcome") == VERIFIED
        and record.get("path") == copy.rel
        and same_remote(record.get("remote"), remote)
        and record.get("md5") == copy.md5
        and record.get("sha256") == copy.sha256
    )


def decide(facts: Facts) -> Decision:
    """Keep (and why), delete, or first read the local files / ask the remote. Pure: reads only *facts*."""
    if facts.period_end_ms is None:
        return Decision(UNUSABLE, facts.problem or "where the file belongs cannot be told")
    if facts.period_end_ms > cutoff_ms(facts.now_ms, facts.keep_days):
        return Decision(YOUNG, f"its period ended less than {facts.keep_days} days ago")
    if not facts.local_read and not facts.problem:
        return Decision(READ_LOCAL, "old enough: its manifest, data file and ledger records decide")
    if facts.problem or facts.data is None:
        return Decision(UNUSABLE, facts.problem or "the manifest cannot be read")
    if facts.partial_twin:
        return Decision(UNUSABLE, "a .partial with the same name exists")
    data = facts.data
    data_ok = proves(facts.data_record, data, facts.remote)
    if not facts.data_present and not facts.data_pruned and not data_ok:
        return Decision(UNUSABLE, f"data file {data.rel} is missing")
    if facts.manifest is None:
        return Decision(UNUSABLE, facts.manifest_error or "cannot read the manifest")
    manifest = facts.manifest
    manifest_ok = proves(facts.manifest_record, manifest, facts.remote)
    if (facts.data_present and not data_ok) or not manifest_ok:
        return Decision(
            UNVERIFIED,
            "not verified on this remote with these hashes",
            data_verified=data_ok,
            manifest_verified=manifest_ok,
        )
    copies = (data, manifest) if facts.data_present else (manifest,)
    answers = {answer.rel: answer for answer in facts.remote_answers}
    for copy in copies:
        answer = answers.get(copy.rel)
        if answer is None:
            return Decision(ASK_REMOTE, "the remote must hold it now", copy=copy)
        if answer.state == PRESENT:
            continue
        if answer.state == LOST:
            return Decision(LOST, answer.detail or "not on the remote", copy=copy)
        return Decision(DIFFERENT, answer.detail or "the remote copy differs", copy=copy)
    return Decision(DELETE, "verified on this remote and there now", victims=copies)
