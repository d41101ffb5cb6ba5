"""Prune's keep-or-delete rule (``offload.policy.decide``) on a table of cases: facts in, decision out.

No disk, no ledger file, no rclone: each case is the facts prune gathers for
one sealed file, and the decision the rule must reach.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from orderbooks.offload import policy
from orderbooks.offload.policy import Copy, Facts, RemoteAnswer, decide

REMOTE = "gdrive:orderbooks"
NOW = 1_768_046_400_000  # 2026-01-10T12:00Z
KEEP_DAYS = 2
OLD_END = NOW - 3 * policy.DAY_MS
REL_DATA = "raw/2026-01-07/05/orderbooks-2026-01-07T05Z-20260107T050000Z-abcdef.jsonl.gz"
REL_MANIFEST = REL_DATA.removesuffix(".jsonl.gz") + ".manifest.json"
DATA = Copy(policy.DATA, REL_DATA, 1234, "d" * 32, "e" * 64)
MANIFEST = Copy(policy.MANIFEST, REL_MANIFEST, 456, "m" * 32, "n" * 64)


def record(copy: Copy, **changes) -> dict:
    """The ledger line upload writes when a copy verified."""
    line = {
        "ts": "2026-01-07T06:10:00.000Z",
        "action": "upload",
        "kind": copy.kind,
        "path": copy.rel,
        "bytes": copy.size,
        "md5": copy.md5,
        "sha256": copy.sha256,
        "remote": REMOTE,
        "outcome": "verified",
        "detail": "remote md5+sha256 equal (remote-hash)",
    }
    return {**line, **changes}


#: What the remote, listed now, says of both copies: there, with the manifest's hashes.
PRESENT = (
    RemoteAnswer(REL_DATA, policy.PRESENT, "on the remote now (remote-hash)"),
    RemoteAnswer(REL_MANIFEST, policy.PRESENT, "on the remote now (remote-hash)"),
)

#: Old, read, verified on this remote, both copies present there with the same hashes.
DELETABLE = Facts(
    rel_manifest=REL_MANIFEST,
    remote=REMOTE,
    keep_days=KEEP_DAYS,
    now_ms=NOW,
    period_end_ms=OLD_END,
    local_read=True,
    data=DATA,
    data_record=record(DATA),
    manifest=MANIFEST,
    manifest_record=record(MANIFEST),
    remote_answers=PRESENT,
)


#: The data file deleted by an earlier prune: only its manifest is left here (and asked about).
MANIFEST_ONLY = replace(DELETABLE, data_present=False, data_pruned=True, remote_answers=PRESENT[1:])


def case(
    name: str, verdict: str, reason: str = "", copy: Copy | None = None, base: Facts = DELETABLE, **changes
):
    return pytest.param(replace(base, **changes), verdict, reason, copy, id=name)


CASES = [
    case("old, verified here, present with the same hashes: delete", policy.DELETE),
    case("young", policy.YOUNG, period_end_ms=NOW - policy.DAY_MS),
    case("young: period not over yet", policy.YOUNG, period_end_ms=NOW + 60_000),
    case(
        "keep_days boundary: ended exactly keep_days ago is old",
        policy.DELETE,
        period_end_ms=NOW - 2 * policy.DAY_MS,
    ),
    case("keep_days 0: a period that ended now is old", policy.DELETE, keep_days=0, period_end_ms=NOW),
    case("unverified: no ledger record at all", policy.UNVERIFIED, data_record=None, manifest_record=None),
    case("unverified: data verified, manifest not", policy.UNVERIFIED, manifest_record=None),
    case("unverified: manifest verified, data not", policy.UNVERIFIED, data_record=None),
    case(
        "verified on another remote",
        policy.UNVERIFIED,
        data_record=record(DATA, remote="other:place"),
        manifest_record=record(MANIFEST, remote="other:place"),
    ),
    case(
        "verified on a remote-less (older) ledger line",
        policy.UNVERIFIED,
        data_record=record(DATA, remote=None),
    ),
    case(
        "verified here under the same name with a trailing slash",
        policy.DELETE,
        data_record=record(DATA, remote=REMOTE + "/"),
    ),
    case("verified with another md5", policy.UNVERIFIED, data_record=record(DATA, md5="0" * 32)),
    case(
        "verified with another sha256", policy.UNVERIFIED, manifest_record=record(MANIFEST, sha256="0" * 64)
    ),
    case(
        "a failed upload is no verified record", policy.UNVERIFIED, data_record=record(DATA, outcome="failed")
    ),
    case(
        "lost on this remote: the data file",
        policy.LOST,
        "not on the remote",
        DATA,
        remote_answers=(RemoteAnswer(REL_DATA, policy.LOST, "not on the remote"),),
    ),
    case(
        "lost on this remote: the manifest",
        policy.LOST,
        "not on the remote",
        MANIFEST,
        remote_answers=(PRESENT[0], RemoteAnswer(REL_MANIFEST, policy.LOST, "not on the remote")),
    ),
    case(
        "different on this remote",
        policy.DIFFERENT,
        "remote md5 differ",
        DATA,
        remote_answers=(RemoteAnswer(REL_DATA, policy.DIFFERENT, "remote md5 differ"),),
    ),
    case(
        "different on this remote: a same-name duplicate",
        policy.DIFFERENT,
        "remote sha256 differ 2 files with this name on the remote",
        MANIFEST,
        remote_answers=(
            PRESENT[0],
            RemoteAnswer(
                REL_MANIFEST, policy.DIFFERENT, "remote sha256 differ 2 files with this name on the remote"
            ),
        ),
    ),
    case(
        "the remote not asked yet: ask about the data file", policy.ASK_REMOTE, copy=DATA, remote_answers=()
    ),
    case(
        "the data file confirmed: ask about the manifest",
        policy.ASK_REMOTE,
        copy=MANIFEST,
        remote_answers=PRESENT[:1],
    ),
    case(
        "manifest only, the data file pruned before: delete the manifest", policy.DELETE, base=MANIFEST_ONLY
    ),
    case(
        "manifest only, data pruned, its record withdrawn: the manifest still decides",
        policy.DELETE,
        base=MANIFEST_ONLY,
        data_record=None,
    ),
    case(
        "manifest only: the remote is asked about the manifest alone",
        policy.ASK_REMOTE,
        copy=MANIFEST,
        base=MANIFEST_ONLY,
        remote_answers=(),
    ),
    case(
        "manifest only, data gone but verified here: delete the manifest",
        policy.DELETE,
        data_present=False,
        remote_answers=PRESENT[1:],
    ),
    case(
        "manifest only, data neither verified nor pruned",
        policy.UNUSABLE,
        f"data file {REL_DATA} is missing",
        data_present=False,
        data_record=None,
    ),
    case(
        "manifest only, manifest unverified",
        policy.UNVERIFIED,
        base=MANIFEST_ONLY,
        manifest_record=None,
        remote_answers=PRESENT,
    ),
    case("a .partial twin", policy.UNUSABLE, "a .partial with the same name exists", partial_twin=True),
    case(
        "where it belongs cannot be told (even when young)",
        policy.UNUSABLE,
        "file name does not follow the naming scheme",
        period_end_ms=None,
        problem="file name does not follow the naming scheme",
    ),
    case(
        "an untrustworthy manifest",
        policy.UNUSABLE,
        "manifest 'path' is not 'raw/x'",
        problem="manifest 'path' is not 'raw/x'",
        data=None,
        local_read=True,
    ),
    case(
        "an untrustworthy manifest of a young file is just young",
        policy.YOUNG,
        period_end_ms=NOW,
        problem="unreadable manifest: not JSON",
        data=None,
    ),
    case(
        "manifest bytes unreadable",
        policy.UNUSABLE,
        "cannot read the manifest: [Errno 13] Permission denied",
        manifest=None,
        manifest_error="cannot read the manifest: [Errno 13] Permission denied",
    ),
    case("old and not read yet: read it", policy.READ_LOCAL, local_read=False),
]


@pytest.mark.parametrize(("facts", "verdict", "reason", "copy"), CASES)
def test_decide(facts, verdict, reason, copy):
    decision = decide(facts)
    assert decision.verdict == verdict
    assert decision.keep == (verdict not in (policy.DELETE, policy.READ_LOCAL, policy.ASK_REMOTE))
    if reason:
        assert decision.reason == reason
    if copy is not None:
        assert decision.copy == copy
    if verdict == policy.DELETE:
        assert decision.victims == ((DATA, MANIFEST) if facts.data_present else (MANIFEST,))
    else:
        assert decision.victims == ()


def test_unverified_says_which_of_the_two_is_verified():
    only_data = decide(replace(DELETABLE, manifest_record=None))
    assert (only_data.data_verified, only_data.manifest_verified) == (True, False)
    only_manifest = decide(replace(DELETABLE, data_record=record(DATA, remote="other:place")))
    assert (only_manifest.data_verified, only_manifest.manifest_verified) == (False, True)
