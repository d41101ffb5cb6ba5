"""The append-only ledger: lines, torn lines, the verified index, the lock."""

from __future__ import annotations

import orjson
import pytest
from orderbooks.store.ledger import (
    Ledger,
    LedgerBusy,
    VerifiedIndex,
    exclusive,
    ledger_path,
)

REMOTE = "gdrive:orderbooks"


def entry(  # noqa: PLR0917 - a test line builder
    path: str,
    outcome: str = "verified",
    md5: str = "a" * 32,
    sha256: str = "b" * 64,
    action="upload",
    remote: str | None = REMOTE,
):
    return {
        "action": action,
        "path": path,
        "md5": md5,
        "sha256": sha256,
        "outcome": outcome,
        "remote": remote,
    }


def test_append_writes_one_json_object_per_line(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.append(entry("raw/x"))
    ledger.append(entry("raw/y", outcome="failed"))
    lines = ledger_path(tmp_path).read_bytes().splitlines()
    assert [orjson.loads(line)["path"] for line in lines] == ["raw/x", "raw/y"]
    assert ledger.read().entries[1]["outcome"] == "failed"
    assert oct(ledger_path(tmp_path).stat().st_mode & 0o777) == oct(0o640)


def test_torn_last_line_is_skipped_and_next_append_starts_fresh(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.append(entry("raw/x"))
    with open(ledger_path(tmp_path), "ab") as handle:
        handle.write(b'{"action": "upl')  # power cut mid-append
    ledger.append(entry("raw/y"))
    result = ledger.read()
    assert [e["path"] for e in result.entries] == ["raw/x", "raw/y"]
    assert result.bad_lines == [2]


def test_verified_index_requires_equal_hashes(tmp_path):
    index = VerifiedIndex(
        [
            entry("raw/a"),
            entry("raw/b", outcome="mismatch"),
            entry("raw/c", md5="c" * 32),
            entry("raw/d", action="prune", outcome="pruned"),
        ],
        REMOTE,
    )
    assert index.is_verified("raw/a", "a" * 32, "b" * 64)
    assert not index.is_verified("raw/a", "a" * 32, "f" * 64)
    assert not index.is_verified("raw/a", "f" * 32, "b" * 64)
    assert not index.is_verified("raw/b", "a" * 32, "b" * 64)
    assert not index.is_verified("raw/c", "a" * 32, "b" * 64)
    assert not index.is_verified("raw/missing", "a" * 32, "b" * 64)
    assert index.pruned == {"raw/d"}


def test_missing_ledger_reads_empty(tmp_path):
    assert Ledger(tmp_path).read().entries == []
    assert not VerifiedIndex.load(tmp_path, REMOTE).is_verified("raw/a", "a" * 32, None)


def test_verified_means_verified_on_this_remote():
    entries = [entry("raw/a"), entry("raw/old", remote=None), entry("raw/b", remote="other:x")]
    here = VerifiedIndex(entries, REMOTE + "/")
    assert here.is_verified("raw/a", "a" * 32, "b" * 64)
    assert not here.is_verified("raw/old", "a" * 32, "b" * 64)  # old line without a remote
    assert not here.is_verified("raw/b", "a" * 32, "b" * 64)
    assert not VerifiedIndex(entries, "new:place").is_verified("raw/a", "a" * 32, "b" * 64)


def test_remote_lost_withdraws_verified_until_verified_again():
    lost = entry("raw/a", action="prune", outcome="remote_lost")
    assert not VerifiedIndex([entry("raw/a"), lost], REMOTE).is_verified("raw/a", "a" * 32, "b" * 64)
    assert VerifiedIndex([entry("raw/a"), lost, entry("raw/a")], REMOTE).is_verified(
        "raw/a", "a" * 32, "b" * 64
    )
    mismatch = entry("raw/a", action="prune", outcome="remote_mismatch")
    assert not VerifiedIndex([entry("raw/a"), mismatch], REMOTE).is_verified("raw/a", "a" * 32, "b" * 64)
    # a withdrawal on another remote changes nothing here
    elsewhere = entry("raw/a", action="prune", outcome="remote_lost", remote="other:x")
    assert VerifiedIndex([entry("raw/a"), elsewhere], REMOTE).is_verified("raw/a", "a" * 32, "b" * 64)


def test_exclusive_lock_refuses_a_second_holder(tmp_path):
    with exclusive(tmp_path), pytest.raises(LedgerBusy), exclusive(tmp_path):
        pass
    with exclusive(tmp_path):  # released after the first
        pass


def test_the_unnamed_remote_of_older_ledgers_counts_only_lines_without_a_remote():
    lost = entry("raw/c", action="prune", outcome="remote_lost", remote=None)
    entries = [entry("raw/a"), entry("raw/old", remote=None), entry("raw/c", remote=None), lost]
    unnamed = VerifiedIndex(entries, None)
    assert unnamed.is_verified("raw/old", "a" * 32, "b" * 64)
    assert not unnamed.is_verified("raw/a", "a" * 32, "b" * 64)  # a named remote's line
    assert not unnamed.is_verified("raw/c", "a" * 32, "b" * 64)  # withdrawn
    assert not VerifiedIndex(entries, REMOTE).is_verified("raw/old", "a" * 32, "b" * 64)
